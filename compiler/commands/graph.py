"""`mlopsc graph`: the lineage graph as JSON node-link data, DOT, Mermaid or OpenLineage events."""

from __future__ import annotations

import sys

from ..backends import lineage_json, openlineage
from ..build import load_and_check
from ..middle.selectors import select_nodes
from .common import layout, print_diagnostics

GRAPH_FORMATS = {"json": lineage_json.to_json, "dot": lineage_json.to_dot, "mermaid": lineage_json.to_mermaid}
FORMATS = sorted([*GRAPH_FORMATS, "openlineage"])


def add_parser(sub) -> None:
    p = sub.add_parser("graph", help="print the repository-wide lineage graph",
                       description="Print the lineage graph. `--format openlineage` prints static "
                                   "OpenLineage JobEvent and DatasetEvent records as a JSON list.")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("--select", metavar="SELECTOR",
                   help="keep only the selected nodes: a node id alone keeps it with all its ancestors "
                        "and descendants; `team:<t>`, `project:<team>/<name>`, `kind:<kind>` or a node id "
                        "with `+` before (ancestors) or after (descendants); space-separated terms are a "
                        "union (quote them)")
    p.set_defaults(run=run)


def run(args) -> int:
    checked = load_and_check(layout(args))
    errors = [d for d in checked.diagnostics if d.is_error]
    if errors:
        args.format = "text"
        print_diagnostics(args, errors, sys.stderr)
        return 1
    g = checked.lineage.graph
    selection = args.select
    if selection is not None and selection.strip() in g:
        # A bare node id keeps its lineage: the node with all its ancestors and descendants.
        selection = f"+{selection.strip()}+"
    selected = select_nodes(g, selection) if selection is not None else None
    if args.format == "openlineage":
        sys.stdout.write(openlineage.to_json(checked, selected))
    else:
        sys.stdout.write(GRAPH_FORMATS[args.format](g if selected is None else g.subgraph(selected)))
    return 0
