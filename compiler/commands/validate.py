"""`mlopsc validate`: every diagnostic of every file, nothing written."""

from __future__ import annotations

from ..build import load_and_check
from ..diagnostics import summary_line
from .common import add_format, exit_code, layout, print_diagnostics


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="check every spec and print all diagnostics")
    add_format(p)
    p.set_defaults(run=run)


def run(args) -> int:
    checked = load_and_check(layout(args))
    print_diagnostics(args, checked.diagnostics)
    if args.format == "text" and not checked.diagnostics:
        print(summary_line(len(checked.repo.projects), checked.diagnostics))
    return exit_code(checked.diagnostics)
