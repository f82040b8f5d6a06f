"""The repository-wide lineage graph: one networkx DiGraph for every team's projects.

Edges point downstream, the way data flows:

  source ──reads──▶ step ──produces──▶ artifact ──reads──▶ step (same or another project)
  code ──built-from──▶ step       image ──runs-image──▶ step
  model artifact ──evaluates──▶ evaluation ──produces──▶ gate ──gated-by──▶ serving
  model artifact ──serves──▶ serving ──releases──▶ release (one per environment, and canary)
  serving ──monitored-by──▶ monitor ◀──reads── source (continuous evaluation's inputs)
  evaluation ──runs──▶ monitor (the evaluation whose code the monitor runs on the model in service)

Building the graph resolves every reference, so unresolved references (R001/R004) and type
mismatches (R002) are reported here, where the resolution happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .. import codes
from ..diagnostics import Diagnostic
from ..frontend.loader import LoadedProject, LoadedRepository, did_you_mean
from ..frontend.models import Evaluation, Step
from . import refs
from .gates import parse_gate

NODE_KINDS = ("source", "code", "image", "step", "artifact", "evaluation", "gate", "serving", "release", "monitor")
EDGE_KINDS = ("reads", "produces", "built-from", "runs-image", "evaluates", "gated-by", "serves", "releases",
              "monitored-by", "runs")


@dataclass
class LineageGraph:
    graph: nx.DiGraph
    projects: dict[str, LoadedProject] = field(default_factory=dict)
    _by_project: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    def kind(self, nid: str) -> str:
        return self.graph.nodes[nid]["kind"]

    def nodes_of(self, kind: str) -> list[str]:
        return sorted(n for n, k in self.graph.nodes(data="kind") if k == kind)

    def nodes_of_project(self, key: str) -> list[str]:
        """The nodes of one project (`team/project`), sorted; indexed on first use."""
        if self._by_project is None:
            by_project: dict[str, list[str]] = {}
            for n, project in self.graph.nodes(data="project"):
                by_project.setdefault(project, []).append(n)
            self._by_project = {k: sorted(v) for k, v in by_project.items()}
        return self._by_project.get(key, [])


def build_graph(repo: LoadedRepository) -> tuple[LineageGraph, list[Diagnostic]]:
    g = nx.DiGraph()
    diags: list[Diagnostic] = []
    projects: dict[str, LoadedProject] = {}
    for project in repo.projects:
        # Duplicate project keys are reported by the naming rules; the first one wins here.
        projects.setdefault(project.key, project)
    # A project whose metadata names another team or project than its file's place (N003/N006)
    # is still what the other projects mean by the place's name: no R001 on top of that error.
    misnamed = {p.path_key for p in repo.projects if p.path_key != p.key and p.path_key not in projects}
    builder = _Builder(g, projects, diags, repo.broken_keys | misnamed)
    for key in sorted(projects):
        builder.add_project_nodes(projects[key])
    builder.node_ids = set(g)
    for key in sorted(projects):
        builder.add_project_edges(projects[key])
    g.add_edges_from(builder.edges)  # in one call: per edge, add_edge costs more than the edge
    return LineageGraph(g, projects), diags


class _Builder:
    def __init__(self, g: nx.DiGraph, projects: dict[str, LoadedProject], diags: list[Diagnostic],
                 broken_keys: set[str]):
        self.g = g
        self.broken_keys = broken_keys
        self.projects = projects
        self.diags = diags
        self.node_ids: set[str] = set()  # every node, once all are added
        self.edges: list[tuple[str, str, dict]] = []  # (from, to, attributes), added at the end

    # -- nodes -------------------------------------------------------------------------------
    def _node(self, nid: str, kind: str, project: LoadedProject, where: tuple, **attrs: Any) -> None:
        line, column = project.doc.line_column(where, key=True)
        self.g.add_node(nid, kind=kind, project=project.key, team=project.model.metadata.team,
                        file=project.path, line=line, column=column,
                        **{k: v for k, v in attrs.items() if v is not None})

    def add_project_nodes(self, project: LoadedProject) -> None:
        p, spec = project.key, project.model.spec
        for name, src in spec.sources.items():
            self._node(refs.source_id(p, name), "source", project, ("spec", "sources", name),
                       label=name, uri=src.uri, version=str(src.version), format=src.format,
                       pii=src.pii)
        for section, items in (("steps", spec.steps), ("evaluations", spec.evaluations)):
            for name, item in items.items():
                base = ("spec", section, name)
                if section == "steps":
                    self._node(refs.step_id(p, name), "step", project, base, label=name)
                    for out, typ in item.outputs.items():
                        self._node(refs.artifact_id(p, name, out), "artifact", project,
                                   base + ("outputs", out), label=f"{name}.{out}", type=typ)
                else:
                    gates = [str(parse_gate(t) or t) for t in item.gates]
                    self._node(refs.evaluation_id(p, name), "evaluation", project, base, label=name,
                               metrics=list(item.metrics), gates=gates)
                    for i, text in enumerate(item.gates):
                        self._node(refs.gate_id(p, name, i), "gate", project, base + ("gates", i),
                                   label=str(text), evaluation=name)
                self._node(refs.container_part_id(p, section, name, "code"), "code", project,
                           base + ("code",), label=f"{item.code.repo}@{item.code.commit[:12]}",
                           repo=item.code.repo, commit=item.code.commit, path=item.code.path)
                self._node(refs.container_part_id(p, section, name, "image"), "image", project,
                           base + ("image",), label=item.image.rsplit("/", 1)[-1].split("@")[0],
                           image=item.image)
        for name, target in spec.serving.items():
            runtime = "kserve" if target.runtime.kserve else "container"
            self._node(refs.serving_id(p, name), "serving", project, ("spec", "serving", name),
                       label=name, runtime=runtime,
                       format=target.runtime.kserve.format if target.runtime.kserve else None)
            for env, se in target.environments.items():
                path = ("spec", "serving", name, "environments", env)
                for canary, rel in ((False, se.release), (True, se.canary.release if se.canary else None)):
                    if rel is None:
                        continue
                    self._node(refs.release_id(p, name, env, canary), "release", project,
                               path + (("canary",) if canary else ("release",)),
                               label=f"{name}@{env}" + (" (canary)" if canary else ""),
                               environment=env, canary=canary, uri=rel.uri, digest=rel.digest,
                               evidence=rel.evidence,
                               percent=se.canary.percent if canary else None)
            evaluate = target.monitoring.evaluate if target.monitoring else None
            if evaluate is not None:
                self._node(refs.monitor_id(p, name), "monitor", project, ("spec", "serving", name, "monitoring", "evaluate"),
                           label=f"{name} monitor", evaluation=evaluate.evaluation, schedule=evaluate.schedule)

    # -- edges -------------------------------------------------------------------------------
    def _edge(self, a: str, b: str, kind: str, **attrs: Any) -> None:
        if a in self.node_ids and b in self.node_ids:
            self.edges.append((a, b, {"kind": kind, **attrs}))

    def add_project_edges(self, project: LoadedProject) -> None:
        p, spec = project.key, project.model.spec
        for section, items in (("steps", spec.steps), ("evaluations", spec.evaluations)):
            for name, item in items.items():
                target = refs.step_id(p, name) if section == "steps" else refs.evaluation_id(p, name)
                self._edge(refs.container_part_id(p, section, name, "code"), target, "built-from")
                self._edge(refs.container_part_id(p, section, name, "image"), target, "runs-image")
                for inp, text in item.inputs.items():
                    resolved = self.resolve(project, text, ("spec", section, name, "inputs", inp))
                    if resolved:
                        self._edge(resolved, target, "reads", input=inp,
                                   cross=refs.split_node_id(resolved)[0] != p)
                if isinstance(item, Step):
                    for out in item.outputs:
                        self._edge(target, refs.artifact_id(p, name, out), "produces", output=out)
                if isinstance(item, Evaluation):
                    model = self.resolve(project, item.model, ("spec", section, name, "model"),
                                         expect="model")
                    if model:
                        self._edge(model, target, "evaluates")
                    for i in range(len(item.gates)):
                        self._edge(target, refs.gate_id(p, name, i), "produces")
        for name, serving in spec.serving.items():
            sid = refs.serving_id(p, name)
            model = self.resolve(project, serving.model, ("spec", "serving", name, "model"), expect="model")
            if model:
                self._edge(model, sid, "serves")
            for i, ev_name in enumerate(serving.gates):
                if ev_name not in spec.evaluations:
                    if project.is_broken(("spec", "evaluations", ev_name)):
                        continue
                    self.diags.append(codes.UNKNOWN_EVALUATION.at(
                        project.doc.position(("spec", "serving", name, "gates", i)),
                        f"serving target `{name}` is gated by evaluation `{ev_name}`, which this "
                        f"project does not define{did_you_mean(str(ev_name), spec.evaluations)}"))
                    continue
                evaluation = spec.evaluations[ev_name]
                ev_model = self.resolve(project, evaluation.model, (), expect="model", report=False)
                if model and ev_model and ev_model != model:
                    self.diags.append(codes.GATE_OTHER_MODEL.at(
                        project.doc.position(("spec", "serving", name, "gates", i)),
                        f"evaluation `{ev_name}` evaluates {evaluation.model}, but `{name}` serves "
                        f"{serving.model}: its gates say nothing about the served model"))
                for gi in range(len(evaluation.gates)):
                    self._edge(refs.gate_id(p, ev_name, gi), sid, "gated-by")
            for env, se in serving.environments.items():
                self._edge(sid, refs.release_id(p, name, env), "releases")
                self._edge(sid, refs.release_id(p, name, env, canary=True), "releases")
            evaluate = serving.monitoring.evaluate if serving.monitoring else None
            if evaluate is not None:
                mid = refs.monitor_id(p, name)
                self._edge(sid, mid, "monitored-by")
                if evaluate.evaluation in spec.evaluations:
                    self._edge(refs.evaluation_id(p, evaluate.evaluation), mid, "runs")
                    inputs = {**spec.evaluations[evaluate.evaluation].inputs, **evaluate.inputs}
                else:
                    inputs = dict(evaluate.inputs)
                for inp, text in sorted(inputs.items()):
                    ref = refs.parse_ref(text)
                    # Only sources feed a monitor (rule M004 reports anything else).
                    if ref is not None and ref.source is not None and ref.project is None:
                        self._edge(refs.source_id(p, ref.source), mid, "reads", input=inp, cross=False)

    def resolve(self, project: LoadedProject, text: Any, path: tuple, *, expect: str | None = None,
                report: bool = True) -> str | None:
        """A reference → the node id it names, or None after reporting why not."""

        def fail(code, message):
            if report:
                self.diags.append(code.at(project.doc.position(path), message))
            return None

        ref = refs.parse_ref(text)
        if ref is None:
            meant = refs.suggest_reference(text)
            hint = f" (did you mean `{meant}`?)" if meant else ""
            return fail(codes.MALFORMED_REFERENCE,
                        f"`{text}` is not a reference: use `sources.<name>`, `steps.<step>.outputs.<output>` "
                        f"or `<team>/<project>:<ref>`{hint}")
        key = ref.in_project(project.key)
        target = self.projects.get(key)
        if target is None:
            if key in self.broken_keys:
                return None  # that project's file has errors of its own; do not pile on
            return fail(codes.UNRESOLVED_REFERENCE,
                        f"`{text}` names project `{key}`, which does not exist{did_you_mean(key, self.projects)}")
        tspec = target.model.spec
        where = "" if ref.project is None else f" in `{key}`"
        into = ("spec", "sources", ref.source) if ref.source is not None else \
            ("spec", "steps", ref.step, "outputs", ref.output)
        if target.is_broken(into):
            report = False  # a typo there (reported) hides what it defines; do not pile on
        if ref.source is not None:
            if ref.source not in tspec.sources:
                return fail(codes.UNRESOLVED_REFERENCE, f"`{text}`: no source `{ref.source}`{where}"
                                                        f"{did_you_mean(ref.source, tspec.sources)}")
            actual = "dataset"
        else:
            step = tspec.steps.get(ref.step)
            if step is None:
                return fail(codes.UNRESOLVED_REFERENCE, f"`{text}`: no step `{ref.step}`{where}"
                                                        f"{did_you_mean(ref.step, tspec.steps)}")
            if ref.output not in step.outputs:
                return fail(codes.UNRESOLVED_REFERENCE,
                            f"`{text}`: step `{ref.step}`{where} has no output `{ref.output}`"
                            f"{did_you_mean(ref.output, step.outputs)}")
            actual = step.outputs[ref.output]
        if expect and actual != expect:
            return fail(codes.TYPE_MISMATCH, f"`{text}` is a {actual}, but a {expect} is expected here")
        return ref.node_id(project.key)
