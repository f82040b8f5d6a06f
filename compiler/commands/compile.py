"""`mlopsc compile`: validate, then write generated/ (or, with --check, compare without writing)."""

from __future__ import annotations

import sys

from ..build import emit_documents, load_and_check, render_files
from ..output.writer import check_tree, write_tree
from .common import add_format, exit_code, layout, print_diagnostics


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="validate the specs and write generated/")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 with a diff when generated/ differs from what compile would write")
    add_format(p)
    p.set_defaults(run=run)


def run(args) -> int:
    where = layout(args)
    checked = load_and_check(where)
    print_diagnostics(args, checked.diagnostics, sys.stderr)
    if checked.has_errors:
        print("mlopsc: nothing written: fix the errors above", file=sys.stderr)
        return exit_code(checked.diagnostics)
    files = render_files(emit_documents(checked))
    if args.check:
        drift = check_tree(where.out_dir, files, args.out)
        if drift.clean:
            return 0
        sys.stdout.write(drift.diff)
        print(f"mlopsc: {args.out}/ is out of date: {len(drift.changed)} changed, {len(drift.missing)} "
              f"missing, {len(drift.orphaned)} orphaned; run `mlopsc compile` and commit the result",
              file=sys.stderr)
        return 1
    write_tree(where.out_dir, files)
    print(f"mlopsc: wrote {len(files)} files to {args.out}/", file=sys.stderr)
    return 0
