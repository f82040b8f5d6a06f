"""`mlopsc graph`: the lineage graph as JSON node-link data, DOT or Mermaid."""

from __future__ import annotations

import sys

import networkx as nx

from ..backends import lineage_json
from ..build import load_and_check
from ..frontend.loader import UsageError, did_you_mean
from .common import layout, print_diagnostics

FORMATS = {"json": lineage_json.to_json, "dot": lineage_json.to_dot, "mermaid": lineage_json.to_mermaid}


def add_parser(sub) -> None:
    p = sub.add_parser("graph", help="print the repository-wide lineage graph")
    p.add_argument("--format", choices=sorted(FORMATS), default="json")
    p.add_argument("--select", metavar="NODE", help="keep NODE with all its ancestors and descendants")
    p.set_defaults(run=run)


def select(g: nx.DiGraph, node: str) -> nx.DiGraph:
    if node not in g:
        raise UsageError(f"no node {node!r} in the lineage graph{did_you_mean(node, g.nodes)}")
    keep = {node} | nx.ancestors(g, node) | nx.descendants(g, node)
    return g.subgraph(keep)


def run(args) -> int:
    checked = load_and_check(layout(args))
    errors = [d for d in checked.diagnostics if d.is_error]
    if errors:
        args.format = "text"
        print_diagnostics(args, errors, sys.stderr)
        return 1
    g = checked.lineage.graph
    if args.select:
        g = select(g, args.select)
    sys.stdout.write(FORMATS[args.format](g))
    return 0
