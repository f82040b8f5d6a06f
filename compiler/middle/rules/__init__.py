"""The rules that check loaded specs and the lineage graph.

Each rule is a function `rule(ctx) -> iterable of Diagnostic`, registered with `@rule`, and
reports only codes from `compiler.codes` (so every code has a doc line for `mlopsc explain`).
Rules read models, positions and the graph; they never import back ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ...diagnostics import Diagnostic
from ...frontend.loader import LoadedProject, LoadedRepository
from ...frontend.models import Evaluation, Step
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


class Task(NamedTuple):
    """A step or an evaluation: both become pipeline tasks and share most fields. (Immutable; a
    named tuple because the rules make one per task per rule, 60,000 at 1,000 projects, and a
    frozen dataclass took three times as long to make.)"""

    path: tuple  # ("spec", "steps" | "evaluations", name): where it is in its spec
    name: str
    item: Step | Evaluation

    @property
    def is_evaluation(self) -> bool:
        return self.path[1] == "evaluations"

    @property
    def what(self) -> str:
        return f"{'evaluation' if self.is_evaluation else 'step'} `{self.name}`"


def tasks(project: LoadedProject) -> Iterator[Task]:
    spec = project.model.spec
    for section in ("steps", "evaluations"):
        for name, item in getattr(spec, section).items():
            yield Task(("spec", section, name), name, item)


def containers_in(project: LoadedProject) -> Iterator[tuple[tuple, object]]:
    """(path, container-like model) for steps, evaluations and container runtimes: everything
    that becomes a container with an image, env and a command."""
    for task in tasks(project):
        yield task.path, task.item
    for name, target in project.model.spec.serving.items():
        if target.runtime.container is not None:
            yield ("spec", "serving", name, "runtime", "container"), target.runtime.container


def resources_in(project: LoadedProject) -> Iterator[tuple[tuple, object]]:
    """(path, Resources) for every task and serving environment that sets resources."""
    for task in tasks(project):
        if task.item.resources is not None:
            yield task.path + ("resources",), task.item.resources
    for name, target in project.model.spec.serving.items():
        for env, se in target.environments.items():
            if se.resources is not None:
                yield ("spec", "serving", name, "environments", env, "resources"), se.resources


def releases_in(project: LoadedProject) -> Iterator[tuple[str, object, str, tuple, object]]:
    """(serving name, target, environment, path, Release) for every release and canary release."""
    for sname, target in project.model.spec.serving.items():
        for env, se in target.environments.items():
            base = ("spec", "serving", sname, "environments", env)
            if se.release is not None:
                yield sname, target, env, base + ("release",), se.release
            if se.canary is not None:
                yield sname, target, env, base + ("canary", "release"), se.canary.release


Rule = Callable[[RuleContext], Iterable[Diagnostic]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def run_rules(ctx: RuleContext) -> list[Diagnostic]:
    # Importing the modules registers their rules; the order of the list does not matter
    # because diagnostics are sorted by position before anyone sees them.
    from . import (capacity, cluster, containers, evidence, gates, graph_rules, monitoring, names,  # noqa: F401
                   pinning, schedules, serving, storage, writeback)

    found: list[Diagnostic] = []
    for fn in RULES:
        found.extend(fn(ctx))
    return found
