"""`mlopsc schema`: the JSON Schema of MLProject (default) or Repository."""

from __future__ import annotations

import json

from ..backends.jsonschema import SCHEMAS, schema_for


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the spec language")
    p.add_argument("--kind", choices=sorted(SCHEMAS), default="MLProject")
    p.set_defaults(run=run)


def run(args) -> int:
    print(json.dumps(schema_for(args.kind), indent=2, sort_keys=True))
    return 0
