"""What each emission unit reads, as one digest per unit: the incremental compile's keys.

A back end emits in units (compiler/build.py): a project's files, a team's lineage page, or a
repository-wide file. A unit's key changes whenever anything it can read changes, and this module
says what that is, from the lineage graph ("what a change can reach is what the graph says it
reaches"):

- every unit reads the repository-wide inputs: this compiler, the layout and mlopsc.yaml
  (`global_digest`);
- a project's unit reads its own spec and evidence, everything upstream of it (an imported
  model's release, an upstream dataset's recipe version: the whole ancestry, as one Merkle digest
  over the project graph), its direct consumers, and its entries of the promotion history as this
  compile extends it (their numbers depend on the history read back and on other projects' new
  pins: the entries themselves are the key, so a promotion elsewhere re-emits nothing here);
- a team's lineage page reads its teams' projects and the projects one hop away from them (the
  page shows those), with their ancestry, and the list of teams (colours follow it);
- a repository-wide unit (`""`, or a back end without units) reads everything, the whole
  promotion history included.

Over-approximating is safe (a unit is emitted again for nothing); missing a dependency would make
an incremental compile write other bytes than a compile from scratch, which
tests/test_incremental.py looks for over random edit sequences.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import networkx as nx

from ..frontend.loader import release_evidence_paths
from .check import CheckedRepository

# What a project unit or team unit is: the back end module's declaration (`UNIT_SCOPE`).
PROJECT, TEAM = "project", "team"


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def project_graph(checked: CheckedRepository) -> nx.DiGraph:
    """Projects, with an edge where a node of one feeds a node of another."""
    g = checked.lineage.graph
    projects = nx.DiGraph()
    projects.add_nodes_from(checked.lineage.projects)
    node_project = dict(g.nodes(data="project"))
    for a, b in g.edges:
        pa, pb = node_project.get(a), node_project.get(b)
        if pa != pb and pa in checked.lineage.projects and pb in checked.lineage.projects:
            projects.add_edge(pa, pb)
    return projects


def own_digests(checked: CheckedRepository) -> dict[str, str]:
    """Each project's own inputs: its spec file (path and bytes) and the evidence it names."""
    evidence = checked.repo.evidence
    own = {}
    for key, project in checked.lineage.projects.items():
        named = sorted(set(release_evidence_paths(project)))
        own[key] = _digest([project.path, project.source_sha256,
                            *(repr(evidence.get(path)) for path in named)])
    return own


def global_digest(checked: CheckedRepository, compiler: str) -> str:
    """What every unit reads: `compiler` (the compiler's identity), the layout and the settings."""
    repo = checked.repo
    return _digest([compiler, repo.specs_dir, repo.out_dir, repr(repo.config), str(repo.config_valid)])


def history_digests(checked: CheckedRepository) -> tuple[str, dict[str, str]]:
    """The promotion history as this compile extends it (compiler/middle/promotion.py): a digest
    of all of it (with why the history read back is not trusted, if it is not), and of each
    project's entries."""
    from . import promotion

    history = checked.repo.promotion_history
    entries = promotion.extend(history.entries, promotion.current_pins(checked.projects), checked.config)
    by_project: dict[str, list[str]] = {}
    for entry in entries:
        by_project.setdefault(entry.project, []).append(repr(entry))
    whole = _digest([history.path, repr(history.problems), *(repr(e) for e in entries)])
    return whole, {project: _digest(lines) for project, lines in by_project.items()}


def upstream_digests(projects: nx.DiGraph, own: dict[str, str]) -> dict[str, str]:
    """Each project's own digest combined with everything upstream of it (a Merkle digest over
    the project graph; projects that feed each other share one)."""
    condensed = nx.condensation(projects)
    members = condensed.graph["mapping"]  # project -> component
    by_component: dict[int, str] = {}
    for component in nx.topological_sort(condensed):
        parents = sorted(by_component[c] for c in condensed.predecessors(component))
        mine = sorted(own[p] for p in condensed.nodes[component]["members"])
        by_component[component] = _digest(["upstream", *mine, "parents", *parents])
    return {p: by_component[members[p]] for p in projects}


def unit_keys(checked: CheckedRepository, units: list[tuple[str, str | None, str | None]],
              compiler: str) -> dict[tuple[str, str | None], str]:
    """(back end, unit) -> key, for `units` given as (back end, unit, scope)."""
    projects = project_graph(checked)
    own = own_digests(checked)
    upstream = upstream_digests(projects, own)
    everything = global_digest(checked, compiler)
    whole_history, history_of = history_digests(checked)
    all_projects = _digest([whole_history, *(f"{key}={own[key]}" for key in sorted(own))])
    teams: dict[str, list[str]] = {}
    for key, project in checked.lineage.projects.items():
        teams.setdefault(project.model.metadata.team, []).append(key)
    team_list = ",".join(sorted(teams))
    keys = {}
    for backend, unit, scope in units:
        if unit and scope == PROJECT and unit in projects:
            reads = [upstream[unit], "consumers", *sorted(own[c] for c in projects.successors(unit)),
                     "history", history_of.get(unit, "")]
        elif unit and scope == TEAM:
            members = set(teams.get(unit, ()))
            near = members | {n for p in members for n in (*projects.predecessors(p), *projects.successors(p))}
            reads = [team_list, *(f"{p}={upstream[p]}" for p in sorted(near))]
        else:
            reads = ["everything", all_projects]
        keys[(backend, unit)] = _digest([backend, unit or "", everything, *reads])
    return keys
