"""`mlopsc explain CODE`: a code's rule page (what it checks, why, an example and its fix);
without CODE, the whole catalogue, one line per code."""

from __future__ import annotations

import sys

from ..codes import CATALOGUE, explain


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="explain a diagnostic code: what it checks, why, an example "
                                       "and its fix (all codes without an argument)")
    p.add_argument("code", nargs="?")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..explain import load_page, render_text

    if args.code is None:
        for entry in CATALOGUE.values():
            print(f"{entry.code}  {entry.name:<24} {entry.summary}")
        return 0
    text = explain(args.code)
    if text is None:
        print(f"mlopsc: error: unknown code {args.code!r}; `mlopsc explain` lists them all", file=sys.stderr)
        return 2
    page = load_page(args.code)
    print(render_text(page) if page is not None else text, end="")
    return 0
