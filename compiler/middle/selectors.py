"""Selectors over the lineage graph, as dbt users know them.

An expression is a space-separated union of terms; a term may be a comma-separated intersection
of atoms (dbt's `a,b`). An atom is a method or a node id, optionally wrapped in graph operators:

  risk/fraud-detection:sources.transactions    that node
  <atom>+                                      it and everything downstream (descendants)
  +<atom>                                      it and everything upstream (ancestors)
  +<atom>+                                     both
  team:<team>                                  every node of the team's projects
  project:<team>/<name>                        every node of one project
  kind:<kind>                                  every node of a kind (source, step, serving, …)
  <atom>,<atom>                                nodes both select (dbt's intersection)

Node ids always carry `<team>/<project>:` before their first colon, and method names never
contain `/`, so `team:risk` and `risk/fraud-detection:steps.train` cannot be confused.
Graph operators apply to every node a method selects (`+team:growth` is growth and all it reads).
"""

from __future__ import annotations

import re

import networkx as nx

from ..frontend.loader import UsageError, did_you_mean
from .graph import NODE_KINDS

METHODS = ("team", "project", "kind")
_ATOM_RE = re.compile(r"^(?P<up>\+)?(?P<body>[^+]+)(?P<down>\+)?\Z")


class SelectorError(UsageError):
    """A selector expression that names nothing or cannot be parsed (exit 2)."""


def select_nodes(graph: nx.DiGraph, expression: str) -> set[str]:
    """The node ids an expression selects; SelectorError when a term names nothing."""
    terms = expression.split()
    if not terms:
        raise SelectorError("empty selector: name a node id, `team:<t>`, `project:<team>/<name>` or "
                            "`kind:<kind>`, with `+` before or after for ancestors or descendants")
    selected: set[str] = set()
    for term in terms:
        atoms = term.split(",")
        if any(not a for a in atoms):
            raise SelectorError(f"selector {term!r}: an empty term around `,`")
        common = _select_atom(graph, atoms[0])
        for atom in atoms[1:]:
            common &= _select_atom(graph, atom)
        selected |= common
    return selected


def select_projects(graph: nx.DiGraph, expression: str) -> set[str]:
    """The `team/project` keys of the projects that own a selected node."""
    return {graph.nodes[n]["project"] for n in select_nodes(graph, expression)}


def _select_atom(graph: nx.DiGraph, atom: str) -> set[str]:
    m = _ATOM_RE.match(atom)
    if not m:
        example = atom.replace("+", "") or "kind:serving"
        raise SelectorError(f"selector {atom!r}: one `+` goes before (ancestors) or after "
                            f"(descendants) a node or method, e.g. `+{example}+`")
    upstream, body, downstream = bool(m["up"]), m["body"], bool(m["down"])
    base = _match(graph, body)
    result = set(base)
    if upstream:
        result |= _reachable(base, graph.predecessors)
    if downstream:
        result |= _reachable(base, graph.successors)
    return result


def _reachable(start: set[str], neighbours) -> set[str]:
    """Every node reachable from any of `start`, in one walk (a method can select thousands)."""
    seen = set(start)
    stack = list(start)
    while stack:
        for nxt in neighbours(stack.pop()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _match(graph: nx.DiGraph, body: str) -> set[str]:
    method, sep, value = body.partition(":")
    if sep and "/" not in method:
        if method not in METHODS:
            raise SelectorError(f"unknown selector method `{method}:`{did_you_mean(method, METHODS)}; "
                                f"methods are {', '.join(m + ':' for m in METHODS)}")
        # The method names are the node attributes they match.
        found = {n for n, v in graph.nodes(data=method) if v == value}
        if not found and not (method == "kind" and value in NODE_KINDS):  # a kind may have no nodes yet
            known = sorted(NODE_KINDS if method == "kind" else {v for _, v in graph.nodes(data=method)})
            hint = did_you_mean(value, known) or f" (known: {', '.join(known)})"
            if method == "kind":
                raise SelectorError(f"`{value}` is not a node kind{hint}")
            raise SelectorError(f"no {method} `{value}` in the lineage graph{hint}")
        return found
    if body in graph:
        return {body}
    raise SelectorError(f"no node `{body}` in the lineage graph{_node_hint(graph, body)}")


def _node_hint(graph: nx.DiGraph, body: str) -> str:
    """Suggest a node id, a `project:` selector or the full id of a project-local name."""
    projects = {p for _, p in graph.nodes(data="project")}
    if body in projects:
        return f" (to select a whole project, write `project:{body}`)"
    if body in {t for _, t in graph.nodes(data="team")}:
        return f" (to select a whole team, write `team:{body}`)"
    hint = did_you_mean(body, graph.nodes)
    if hint:
        return hint
    # `sources.transactions` or `train`: suggest the full ids that end with it.
    endings = sorted(n for n in graph.nodes if n.endswith((":" + body, "." + body)))
    if endings:
        shown = ", ".join(f"`{n}`" for n in endings[:3]) + (", …" if len(endings) > 3 else "")
        return f" (node ids carry their project: {shown})"
    return ""
