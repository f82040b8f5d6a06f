"""Rules over the whole lineage graph: cycles (within and across projects) and unused things."""

from __future__ import annotations

import networkx as nx

from ... import codes
from ...diagnostics import Position
from . import RuleContext, rule

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


@rule
def unused(ctx: RuleContext):
    g = ctx.lineage.graph
    for nid, data in g.nodes(data=True):
        if ctx.lineage.projects[data["project"]].broken:
            continue  # an unknown field (a misspelt `inputs`?) may hide the reader; S001 says so
        if data["kind"] == "source" and g.out_degree(nid) == 0:
            yield codes.UNUSED_SOURCE.at(Position(data["file"], data["line"], data["column"]),
                                         f"source `{data['label']}` is read by no step or evaluation")
        # Metrics outputs are for people (the KFP UI shows them), so they need no reader.
        elif data["kind"] == "artifact" and data.get("type") != "metrics" and g.out_degree(nid) == 0:
            yield codes.UNUSED_OUTPUT.at(Position(data["file"], data["line"], data["column"]),
                                         f"output `{data['label']}` is read, evaluated or served by nothing")
