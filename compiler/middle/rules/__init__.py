"""The rules that check loaded specs and the lineage graph.

Each rule is a function `rule(ctx) -> iterable of Diagnostic`, registered with `@rule`, and
reports only codes from `compiler.codes` (so every code has a doc line for `mlopsc explain`).
Rules read models, positions and the graph; they never import back ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ...diagnostics import Diagnostic
from ...frontend.loader import LoadedRepository
from ..graph import LineageGraph


@dataclass
class RuleContext:
    repo: LoadedRepository
    lineage: LineageGraph

    @property
    def root(self) -> Path:
        return self.repo.root

    @property
    def config(self):
        return self.repo.config


Rule = Callable[[RuleContext], Iterable[Diagnostic]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def run_rules(ctx: RuleContext) -> list[Diagnostic]:
    # Importing the modules registers their rules; the order of the list does not matter
    # because diagnostics are sorted by position before anyone sees them.
    from . import containers, evidence, gates, graph_rules, names, pinning, serving  # noqa: F401

    found: list[Diagnostic] = []
    for fn in RULES:
        found.extend(fn(ctx))
    return found
