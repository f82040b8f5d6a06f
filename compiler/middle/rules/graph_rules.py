"""Rules over the whole lineage graph: cycles (within and across projects) and unused things."""

from __future__ import annotations

import networkx as nx

from ... import codes
from ...diagnostics import Position
from .. import refs
from . import RuleContext, rule, tasks

# Only data dependencies can form a cycle; serving and gates hang off the end of the flow.
_FLOW_KINDS = {"step", "artifact", "evaluation"}


@rule
def cycles(ctx: RuleContext):
    g = ctx.lineage.graph
    kinds = dict(g.nodes(data="kind"))
    # A plain graph of the flow edges: networkx walks a subgraph view several times slower.
    flow = nx.DiGraph((u, v) for u, v in g.edges if kinds[u] in _FLOW_KINDS and kinds[v] in _FLOW_KINDS)
    for component in sorted(nx.strongly_connected_components(flow), key=min):
        start = min(component)
        if len(component) == 1 and not flow.has_edge(start, start):
            continue
        cycle = nx.find_cycle(flow.subgraph(component), source=start)
        tasks = [u for u, _ in cycle if g.nodes[u]["kind"] != "artifact"]
        projects = {g.nodes[t]["project"] for t in tasks}
        across = " across projects" if len(projects) > 1 else f" in {min(projects)}"
        # Within one project the local names (steps.train) say it; across projects, full node ids.
        names = [t if len(projects) > 1 else t.partition(":")[2] for t in tasks]
        ring = " → ".join(names + names[:1])
        # Reported at every input that closes the ring, so each team involved sees it.
        for u, v in cycle:
            if g.nodes[v]["kind"] == "artifact":
                continue
            data = g.nodes[v]
            section = "steps" if data["kind"] == "step" else "evaluations"
            input_name = g.edges[u, v].get("input")
            path = ("spec", section, data["label"]) + (("inputs", input_name) if input_name else ("model",))
            pos = ctx.lineage.projects[data["project"]].doc.position(path)
            yield codes.CYCLE.at(pos, f"dependency cycle{across}: {ring}")


def _dangling(ctx: RuleContext) -> set[str]:
    """Projects with a reference that does not resolve (R001/R004), and the projects such a
    reference points into: one of their sources or outputs may be what it meant."""
    g = ctx.lineage.graph
    found: set[str] = set()
    for project in ctx.repo.projects:
        texts = [text for task in tasks(project) for text in task.item.inputs.values()]
        texts += [task.item.model for task in tasks(project) if task.is_evaluation]
        texts += [target.model for target in project.model.spec.serving.values()]
        for text in texts:
            ref = refs.parse_ref(text)
            if ref is None:
                found.add(project.key)
            elif ref.node_id(project.key) not in g:
                found.update((project.key, ref.in_project(project.key)))
    return found


@rule
def unused(ctx: RuleContext):
    g = ctx.lineage.graph
    dangling = _dangling(ctx)
    for nid, data in g.nodes(data=True):
        if ctx.lineage.projects[data["project"]].broken or data["project"] in dangling:
            # An unknown field (a misspelt `inputs`?) or a reference that does not resolve may be
            # the reader: its S001 or R001 says so; one typo, one diagnostic.
            continue
        if data["kind"] == "source" and g.out_degree(nid) == 0:
            yield codes.UNUSED_SOURCE.at(Position(data["file"], data["line"], data["column"]),
                                         f"source `{data['label']}` is read by no step or evaluation")
        # Metrics outputs are for people (the KFP UI shows them), so they need no reader.
        elif data["kind"] == "artifact" and data.get("type") != "metrics" and g.out_degree(nid) == 0:
            yield codes.UNUSED_OUTPUT.at(Position(data["file"], data["line"], data["column"]),
                                         f"output `{data['label']}` is read, evaluated or served by nothing")
