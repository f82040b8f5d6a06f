"""Impact analysis: everything a change reaches downstream in the lineage graph, across teams.

A change starts at nodes: named directly (a node id or selector), as a whole spec file, as an
evidence file (the releases that cite it), or as the difference between two versions of the
repository (`changed_nodes`, what `mlopsc impact --base` compares). The impact is those nodes
and all their descendants, grouped by team and project, with the environments that serve the
reached models and the owners to notify. Nodes that only exist in the older version (a deleted
step, a deleted project) are followed through the older graph, so a deletion still reaches the
other teams that read from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import networkx as nx

from ..frontend.models import as_plain
from .graph import LineageGraph
from . import refs

# What the report lists per project, in this order; code, image and gate nodes are details of
# the steps and evaluations they belong to.
LISTED_KINDS = ("source", "step", "artifact", "evaluation", "serving", "monitor")


def project_nodes(lineage: LineageGraph, project_key: str) -> set[str]:
    return {n for n, p in lineage.graph.nodes(data="project") if p == project_key}


def evidence_nodes(lineage: LineageGraph, path: str) -> set[str]:
    """The releases and canaries that cite an evidence file."""
    return {n for n, e in lineage.graph.nodes(data="evidence") if e == path}


def fingerprints(lineage: LineageGraph) -> dict[str, str]:
    """Per node, the part of its spec that defines it (positions excluded): two versions of a
    repository differ at a node exactly when its fingerprint does."""
    specs = {key: as_plain(p.model.spec) for key, p in lineage.projects.items()}
    result = {}
    for nid, data in lineage.graph.nodes(data=True):
        project, local = refs.split_node_id(nid)
        fragment = _fragment(specs[project], local.split("."), data["kind"])
        result[nid] = json.dumps(fragment, sort_keys=True, default=str)
    return result


def _fragment(spec: dict, parts: list[str], kind: str):
    node = spec
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node.get(part)
    if kind == "serving":  # environments are release nodes of their own
        node = {k: v for k, v in node.items() if k != "environments"}
    elif kind == "release" and parts[-1] != "canary":
        node = {k: v for k, v in node.items() if k != "canary"}
    return node


def changed_nodes(old: LineageGraph, new: LineageGraph, projects: set[str]) -> tuple[set[str], set[str]]:
    """Nodes of `projects` that differ between two versions: (changed or added in the new graph,
    removed from the old one)."""
    before, after = fingerprints(old), fingerprints(new)
    changed, removed = set(), set()
    for nid, fp in after.items():
        if new.graph.nodes[nid]["project"] in projects and before.get(nid) != fp:
            changed.add(nid)
    for nid in before:
        if old.graph.nodes[nid]["project"] in projects and nid not in after:
            removed.add(nid)
    return changed, removed


@dataclass
class Reached:
    node: str
    kind: str
    label: str
    removed: bool = False  # only in the older version of the repository
    type: str | None = None  # artifact type (dataset, model, metrics)


@dataclass
class ProjectImpact:
    key: str
    owners: list[str]
    nodes: dict[str, list[Reached]] = field(default_factory=dict)  # kind -> reached nodes


@dataclass
class Release:
    project: str
    serving: str
    environment: str
    canary: bool
    digest: str | None
    node: str
    removed: bool = False


@dataclass
class TeamImpact:
    team: str
    owners: list[str]
    projects: list[ProjectImpact]
    environments: dict[str, list[Release]]  # environment -> releases reached


@dataclass
class Impact:
    start: list[str]
    teams: list[TeamImpact]
    causes: list[str] = field(default_factory=list)  # what the user named, or the files changed

    def summary(self) -> str:
        """`reaches 2 steps, 3 artifacts, 1 serving target and 2 releases in 2 teams`."""
        counts = {k: 0 for k in LISTED_KINDS}
        for t in self.teams:
            for p in t.projects:
                for kind, items in p.nodes.items():
                    counts[kind] += len(items)
        releases = sum(len(r) for t in self.teams for r in t.environments.values())
        names = {"source": "source", "step": "step", "artifact": "artifact",
                 "evaluation": "evaluation", "serving": "serving target", "monitor": "continuous evaluation"}
        parts = [f"{n} {names[k]}{'s' if n != 1 else ''}" for k, n in counts.items() if n]
        if releases:
            parts.append(f"{releases} release{'s' if releases != 1 else ''}")
        if not parts:
            return "reaches nothing"
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        teams = len(self.teams)
        return f"reaches {listed} in {teams} team{'s' if teams != 1 else ''}"

    def to_json(self) -> dict:
        return {
            "causes": self.causes,
            "start": self.start,
            "teams": [{
                "team": t.team, "owners": t.owners,
                "projects": [{"project": p.key, "owners": p.owners,
                              **{kind: [_plain(r) for r in items] for kind, items in p.nodes.items()}}
                             for p in t.projects],
                "environments": {env: [_plain(r) for r in rels] for env, rels in t.environments.items()},
            } for t in self.teams],
        }


def _plain(obj) -> dict:
    return {k: v for k, v in obj.__dict__.items() if v is not None and v is not False}


def analyse(new: LineageGraph, start: set[str], *, old: LineageGraph | None = None,
            removed: set[str] = frozenset(), team_owners: dict[str, list[str]] | None = None,
            causes: list[str] = ()) -> Impact:
    """The impact of changing `start` (nodes of `new`) and removing `removed` (nodes of `old`)."""
    g = new.graph
    reached = _downstream(g, start)
    gone: set[str] = set()
    if old is not None and removed:
        for nid in _downstream(old.graph, removed):
            (reached if nid in g else gone).add(nid)
    graphs = {nid: g for nid in reached} | {nid: old.graph for nid in gone}
    owners_of = {**_project_owners(old), **_project_owners(new)}
    teams: dict[str, TeamImpact] = {}
    projects: dict[str, ProjectImpact] = {}
    for nid in sorted(graphs):
        data = graphs[nid].nodes[nid]
        team, key = data["team"], data["project"]
        t = teams.setdefault(team, TeamImpact(team, [], [], {}))
        if key not in projects:
            projects[key] = ProjectImpact(key, owners_of.get(key, []))
            t.projects.append(projects[key])
        if data["kind"] in LISTED_KINDS:
            projects[key].nodes.setdefault(data["kind"], []).append(
                Reached(nid, data["kind"], data.get("label", nid), nid in gone, data.get("type")))
        elif data["kind"] == "release":
            serving = refs.split_node_id(nid)[1].split(".")[1]
            t.environments.setdefault(data["environment"], []).append(Release(
                key, serving, data["environment"], data.get("canary", False), data.get("digest"),
                nid, nid in gone))
    for t in teams.values():
        t.projects.sort(key=lambda p: p.key)
        for p in t.projects:
            p.nodes = {k: p.nodes[k] for k in LISTED_KINDS if k in p.nodes}
        t.environments = {env: t.environments[env] for env in sorted(t.environments)}
        emails = [o for p in t.projects for o in p.owners] + list((team_owners or {}).get(t.team, []))
        t.owners = sorted(set(emails))
    return Impact(sorted(start | set(removed)), [teams[k] for k in sorted(teams)], list(causes))


def _downstream(g: nx.DiGraph, start: set[str]) -> set[str]:
    """The start nodes and everything below them, in one walk."""
    reached = {n for n in start if n in g}
    stack = list(reached)
    while stack:
        for nxt in g.successors(stack.pop()):
            if nxt not in reached:
                reached.add(nxt)
                stack.append(nxt)
    return reached


def _project_owners(lineage: LineageGraph | None) -> dict[str, list[str]]:
    if lineage is None:
        return {}
    return {key: list(p.model.metadata.owners) for key, p in lineage.projects.items()}


# -- rendering -----------------------------------------------------------------------------------
_HEADINGS = {"source": "sources", "step": "steps", "artifact": "artifacts", "evaluation": "evaluations",
             "serving": "serving", "monitor": "monitors"}


def _item(r: Reached) -> str:
    text = r.label + (f" ({r.type})" if r.type else "")
    return text + (" [removed]" if r.removed else "")


def _release(r: Release) -> str:
    what = f"{r.project} {r.serving}" + (" canary" if r.canary else "")
    digest = f" @ {r.digest[:19]}…" if r.digest else ""
    return what + digest + (" [removed]" if r.removed else "")


def render_text(impact: Impact) -> str:
    lines = [f"changed: {', '.join(impact.causes)}"] if impact.causes else []
    lines.append(f"impact: the change {impact.summary()}")
    for t in impact.teams:
        lines.append("")
        lines.append(f"team {t.team}" + (f" — notify {', '.join(t.owners)}" if t.owners else ""))
        for p in t.projects:
            lines.append(f"  {p.key}")
            for kind, items in p.nodes.items():
                lines.append(f"    {_HEADINGS[kind] + ':':13} {', '.join(_item(r) for r in items)}")
        for env, releases in t.environments.items():
            lines.append(f"  environment {env}: {'; '.join(_release(r) for r in releases)}")
    return "\n".join(lines) + "\n"


def render_markdown(impact: Impact) -> str:
    teams = ", ".join(f"`{t.team}`" for t in impact.teams)
    causes = ", ".join(f"`{c}`" for c in impact.causes)
    lines = ["## Lineage impact", ""] + ([f"Changed: {causes}", ""] if causes else []) + [
             f"The change {impact.summary()}" + (f": {teams}." if teams else "."), ""]
    for t in impact.teams:
        lines.append(f"### Team `{t.team}`")
        lines.append("")
        if t.owners:
            lines.append("Notify: " + ", ".join(t.owners))
            lines.append("")
        lines.append("| project | " + " | ".join(_HEADINGS[k] for k in LISTED_KINDS) + " |")
        lines.append("|---" * (len(LISTED_KINDS) + 1) + "|")
        for p in t.projects:
            cells = [", ".join(f"`{_item(r)}`" for r in p.nodes.get(k, [])) for k in LISTED_KINDS]
            lines.append(f"| `{p.key}` | " + " | ".join(cells) + " |")
        if t.environments:
            lines.append("")
            lines.append("| environment | releases reached |")
            lines.append("|---|---|")
            for env, releases in t.environments.items():
                lines.append(f"| `{env}` | " + "<br>".join(_release(r) for r in releases) + " |")
        lines.append("")
    return "\n".join(lines)
