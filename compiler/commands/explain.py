"""`mlopsc explain CODE`: what a diagnostic code means; without CODE, the whole catalogue."""

from __future__ import annotations

import sys

from ..codes import CATALOGUE, explain


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="explain a diagnostic code (all codes without an argument)")
    p.add_argument("code", nargs="?")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.code is None:
        for entry in CATALOGUE.values():
            print(f"{entry.code}  {entry.name:<24} {entry.summary}")
        return 0
    text = explain(args.code)
    if text is None:
        print(f"mlopsc: error: unknown code {args.code!r}; `mlopsc explain` lists them all", file=sys.stderr)
        return 2
    print(text, end="")
    return 0
