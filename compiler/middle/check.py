"""The middle stage's entry point: loaded specs → lineage graph → rules → checked repository."""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Diagnostic
from ..frontend.loader import LoadedProject, LoadedRepository
from .graph import LineageGraph, build_graph
from .rules import RuleContext, run_rules


@dataclass
class CheckedRepository:
    """What every back end receives: the models, the graph and the verdict on them."""

    repo: LoadedRepository
    lineage: LineageGraph
    diagnostics: list[Diagnostic]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    @property
    def config(self):
        return self.repo.config

    @property
    def projects(self) -> list[LoadedProject]:
        """Projects by key, one per key (duplicates were reported)."""
        return [self.lineage.projects[k] for k in sorted(self.lineage.projects)]


def check_repository(repo: LoadedRepository) -> CheckedRepository:
    lineage, diagnostics = build_graph(repo)
    diagnostics = list(repo.diagnostics) + diagnostics
    diagnostics += run_rules(RuleContext(repo, lineage))
    unique = sorted(set(diagnostics), key=Diagnostic.sort_key)
    return CheckedRepository(repo, lineage, unique)
