"""`mlopsc compile`: validate, then write generated/ (or, with --check, compare without writing)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..build import load_and_check, render_all
from ..frontend.loader import UsageError
from ..diagnostics import summary_line
from ..frontend.loader import discover_spec_files
from ..output import fingerprint
from ..output.writer import (Drift, OutputRefused, check_tree, interrupted, inventory_problems, location_problems,
                             shown, tidy, write_tree)
from .common import add_format, exit_code, layout, print_diagnostics


# Projects from which a compile uses every core by default (below, one process).
PARALLEL_FROM = 16


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="validate the specs and write generated/")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 with a diff when generated/ differs from what compile "
                        "would write (changed, missing, orphaned or hand-edited files)")
    p.add_argument("--select", metavar="EXPR",
                   help="write only the files of the projects that own the selected lineage nodes "
                        "(e.g. `project:risk/fraud-detection`, `team:growth`, `+<node>+`); every "
                        "other file stays as it is. --check always checks the whole repository")
    p.add_argument("--jobs", "-j", type=_jobs, metavar="N", default=None,
                   help="processes that emit and serialise in parallel (default: the number of "
                        "cores, from 16 projects on; 1 below); the output is the same bytes whatever N is")
    p.add_argument("--cache", metavar="DIR", type=Path,
                   help="keep the compile caches (parsed specs, emitted units) in DIR, outside the "
                        "repository, instead of .mlopsc/cache: for a CI cache that only default-branch "
                        "jobs write (docs/CI.md); with it, --check emits only what changed")
    add_format(p)
    p.set_defaults(run=run)


def _cache_option(args, where) -> Path | None:
    """--cache DIR as an absolute path; it must lie outside the repository, where a pull request
    cannot commit one (exit 2 otherwise)."""
    if args.cache is None:
        return None
    directory = Path(os.path.abspath(Path(getattr(args, "start", ".")) / args.cache))
    root = Path(os.path.abspath(where.root))
    if directory == root or root in directory.parents:
        raise UsageError(f"--cache {args.cache}: the cache must be outside the repository (a pull "
                         f"request could commit one there); e.g. --cache ~/.cache/mlopsc")
    return directory


def _jobs(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args) -> int:
    from ..incremental import Caches, check as incremental_check, compile_tree, verified_tree

    where = layout(args)
    cache_dir = _cache_option(args, where)
    # generated/ as a symlink, an inventory naming /proc/self/environ: never read, never written,
    # and said first (the front end would only see an untrusted promotion history).
    refused = location_problems(where.root, where.out)
    if refused:
        return _refused(args, refused)
    # generated/ exactly as the last compile left it (one lstat per entry): its inventory is the
    # one that compile wrote, and only the files that change need writing.
    # A killed compile's committed journal is finished by the whole write, never taken for the
    # tree the record or the fingerprint describe.
    pending = interrupted(where.out_dir)
    tree = verified_tree(where) if not args.select and not pending else None
    refused = inventory_problems(where.out_dir, args.out) if tree is None else []
    if refused:
        return _refused(args, refused)
    if not args.select and not args.verbose and not pending:  # --verbose reports what a full load finds
        # Nothing the last compile depended on has changed: it would write the same bytes.
        unchanged = fingerprint.lookup(where, tree)
        if unchanged is not None:
            print_diagnostics(args, unchanged, sys.stderr)
            if args.check:
                _up_to_date(args, len(discover_spec_files(where.root, where.specs)), unchanged)
                return 0
            tidy(where.out_dir)
            print(f"mlopsc: {args.out}/ is up to date (no input changed since the last compile)",
                  file=sys.stderr)
            return 0
    # A fresh clone's --check has no local cache to trust (a committed one is never read):
    # without --cache it recomputes everything.
    caches = Caches.open(where, cache_dir) if (cache_dir is not None or not args.check) else None
    checked = load_and_check(where, caches.yaml if caches is not None else None)
    print_diagnostics(args, checked.diagnostics, sys.stderr)
    if args.verbose and args.format == "text":
        from ..middle.promotion import info_lines

        for line in info_lines(checked.repo.projects, checked.repo.promotion_history, checked.config):
            print(line, file=sys.stderr)
    if checked.has_errors:  # nothing written, not even a cache
        print("mlopsc: nothing written: fix the errors above", file=sys.stderr)
        return exit_code(checked.diagnostics)
    from ..jobs import default_jobs

    # By default, processes only where they pay for their start: a few projects compile faster alone.
    jobs = args.jobs or (default_jobs() if len(checked.projects) >= PARALLEL_FROM else 1)
    if not args.check and not args.select:
        # Only the units whose inputs changed are emitted; the files that changed are written in
        # place, or (a fresh generated/, or many changes) the whole tree is streamed into a
        # staging tree by the processes that make the files and swapped in. The writer's
        # refusals are the same either way.
        try:
            report = compile_tree(where, checked, jobs, caches, args.out, tree)
        except OutputRefused as exc:
            return _refused(args, exc.diagnostics)
        return _report_written(args, report, where, checked, None)
    if args.check and caches is not None:
        if args.select:
            print("mlopsc: --check compares the whole repository; --select is ignored", file=sys.stderr)
        try:
            return _report_drift(args, where, incremental_check(where, checked, jobs, caches, args.out),
                                 len(checked.repo.projects), checked.diagnostics)
        except OutputRefused as exc:
            return _refused(args, exc.diagnostics)
    rendered = render_all(checked, jobs)
    files: dict[str, bytes] = {}
    owners: dict[str, str] = {}
    for path, data, owner in rendered:
        files[path] = data
        if owner is not None:
            owners[path] = owner
    files = dict(sorted(files.items()))
    if args.check:
        if args.select:
            print("mlopsc: --check compares the whole repository; --select is ignored", file=sys.stderr)
        try:
            return _report_drift(args, where, check_tree(where.out_dir, files, owners, args.out),
                                 len(checked.repo.projects), checked.diagnostics)
        except OutputRefused as exc:
            return _refused(args, exc.diagnostics)
    selected = None
    if args.select:
        from ..middle.selectors import select_projects

        selected = select_projects(checked.lineage.graph, args.select)
    try:
        report = write_tree(where.out_dir, files, owners, only_projects=selected, out_label=args.out)
    except OutputRefused as exc:
        return _refused(args, exc.diagnostics)
    return _report_written(args, report, where, checked, selected)


def _report_written(args, report, where, checked, selected) -> int:
    if selected is None:
        fingerprint.record(where, checked, report.tree)
    scope = (f" for {len(selected)} selected project(s) ({', '.join(sorted(selected))})"
             if selected is not None else "")
    for path in report.taken_over:
        print(f"mlopsc: note: took over {args.out}/{path}: mlopsc produces it, but its inventory did "
              f"not list it", file=sys.stderr)
    if not report.written:
        print(f"mlopsc: {args.out}/ is up to date{scope}", file=sys.stderr)
        return 0
    changes = ", ".join(f"{n} {what}" for n, what in ((len(report.added), "added"),
                                                       (len(report.updated), "updated"),
                                                       (len(report.removed), "removed")) if n)
    kept = f"; kept {report.kept} file(s) mlopsc does not own" if report.kept else ""
    print(f"mlopsc: wrote {args.out}/{scope}: {changes or ('rewrote its inventory' if report.inventory_only else 'restored to what mlopsc wrote')}{kept}",
          file=sys.stderr)
    return 0


def _refused(args, diagnostics) -> int:
    print_diagnostics(args, diagnostics, sys.stderr)
    print(f"mlopsc: nothing written to {args.out}/: fix the errors above", file=sys.stderr)
    return 1


def _up_to_date(args, projects: int, diagnostics) -> None:
    if args.format == "text":
        print(f"mlopsc: {args.out}/ is up to date: {summary_line(projects, diagnostics)}", file=sys.stderr)


def _report_drift(args, where, drift: Drift, projects: int, diagnostics) -> int:
    if drift.clean:
        _up_to_date(args, projects, diagnostics)
        return 0
    sys.stdout.write(drift.diff)
    for path, why in drift.in_the_way:  # never read, never diffed: named only
        sys.stderr.write(f"mlopsc: {args.out}/{shown(path)} {why}\n")
    if args.format == "github":
        # One annotation per file, so the pull request shows which generated files are stale.
        for paths, why in ((drift.changed, "differs from what `mlopsc compile` writes"),
                           (drift.hand_edited, "was edited by hand; generated files are rewritten by `mlopsc compile`"),
                           (drift.missing, "is missing; `mlopsc compile` writes it"),
                           (drift.orphaned, "is no longer produced; `mlopsc compile` removes it")):
            for path in paths:
                sys.stderr.write(f"::error file={args.out}/{path},title=generated drift::{args.out}/{path} {why}\n")
        for path, why in drift.in_the_way:
            path = shown(path)
            sys.stderr.write(f"::error file={args.out}/{path},title=generated drift::{args.out}/{path} {why}\n")
    if interrupted(where.out_dir):
        print(f"mlopsc: note: a compile was killed while it replaced files in {args.out}/; `mlopsc compile` "
              f"finishes it", file=sys.stderr)
    print(f"mlopsc: {args.out}/ is out of date: {drift.summary()}; run `mlopsc compile` and commit "
          f"the result", file=sys.stderr)
    return 1
