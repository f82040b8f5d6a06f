"""Lineage export: the graph as JSON node-link data (one file per project in generated/), DOT and Mermaid."""

from __future__ import annotations

import json

import networkx as nx

from ..middle.check import CheckedRepository
from . import Document
from ..layout import LINEAGE_DIR


def node_link(g: nx.DiGraph) -> dict:
    """Deterministic node-link data: nodes and edges sorted by id."""
    nodes = [{"id": n, **{k: g.nodes[n][k] for k in sorted(g.nodes[n])}} for n in sorted(g.nodes)]
    edges = [{"source": a, "target": b, **{k: d[k] for k in sorted(d)}}
             for a, b, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[1]))]
    return {"directed": True, "nodes": nodes, "edges": edges}


def to_json(g: nx.DiGraph) -> str:
    return json.dumps(node_link(g), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _dot_id(text: str) -> str:
    """A DOT double-quoted ID: JSON escapes quotes and backslashes as DOT does (but not non-ASCII,
    which DOT would show as a literal `\\u00e9`)."""
    return json.dumps(str(text), ensure_ascii=False)


def to_dot(g: nx.DiGraph) -> str:
    shapes = {"source": "cylinder", "artifact": "note", "step": "box", "evaluation": "box",
              "gate": "diamond", "serving": "component", "release": "tab", "code": "folder",
              "image": "box3d"}
    lines = ["digraph lineage {", "  rankdir=LR;", "  node [fontname=\"Helvetica\"];"]
    by_project: dict[str, list[str]] = {}
    for n in sorted(g.nodes):
        by_project.setdefault(g.nodes[n]["project"], []).append(n)
    for i, (project, nodes) in enumerate(sorted(by_project.items())):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_id(project)};")
        for n in nodes:
            d = g.nodes[n]
            lines.append(f"    {_dot_id(n)} [label={_dot_id(d.get('label', n))}, "
                         f"shape={shapes.get(d['kind'], 'ellipse')}];")
        lines.append("  }")
    for a, b, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])):
        lines.append(f"  {_dot_id(a)} -> {_dot_id(b)} [label={_dot_id(d['kind'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(g: nx.DiGraph) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    lines = ["flowchart LR"]
    by_project: dict[str, list[str]] = {}
    for n in sorted(g.nodes):
        by_project.setdefault(g.nodes[n]["project"], []).append(n)
    for i, (project, nodes) in enumerate(sorted(by_project.items())):
        lines.append(f"  subgraph p{i}[\"{project}\"]")
        for n in nodes:
            label = str(g.nodes[n].get("label", n)).replace('"', "#quot;")
            lines.append(f"    {ids[n]}[\"{g.nodes[n]['kind']}: {label}\"]")
        lines.append("  end")
    for a, b, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])):
        lines.append(f"  {ids[a]} -->|{d['kind']}| {ids[b]}")
    return "\n".join(lines) + "\n"


def project_path(project_key: str) -> str:
    return f"{LINEAGE_DIR}/graph/{project_key}.json"


def emit(checked: CheckedRepository) -> list[Document]:
    """`lineage/graph.json` indexes one node-link file per project: the project's nodes and the
    edges into them (so a cross-project edge is in its consumer's file). Together they are
    `mlopsc graph --format json`; a change to one project rewrites its own file."""
    return [doc for unit in units(checked) for doc in emit_unit(checked, unit)]


def units(checked: CheckedRepository) -> list[str]:
    """What emit_unit can make on its own: "" the index, then each project's file."""
    return [""] + [p.key for p in checked.projects]


def emit_unit(checked: CheckedRepository, unit: str) -> list[Document]:
    if not unit:
        keys = sorted(p.key for p in checked.projects)
        return [Document(f"{LINEAGE_DIR}/graph.json", {
            "directed": True, "projects": {key: project_path(key)[len(LINEAGE_DIR) + 1:] for key in keys}},
            "json")]
    g = checked.lineage.graph
    nodes = checked.lineage.nodes_of_project(unit)
    data = node_link(g.subgraph(nodes))
    edges = [(a, b, d) for n in nodes for a, b, d in g.in_edges(n, data=True)]
    data["edges"] = [{"source": a, "target": b, **{k: d[k] for k in sorted(d)}}
                     for a, b, d in sorted(edges, key=lambda e: (e[0], e[1]))]
    return [Document(project_path(unit), data, "json", owner=unit)]
