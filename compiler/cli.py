"""`mlopsc`: the command line. Each command lives in compiler/commands/<name>.py."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import traceback
from pathlib import Path

# Each module defines add_parser(subparsers) and run(args) -> exit code. Only the module of the
# command that runs is imported (see build_parser): each brings its own dependencies (the KFP REST
# client, tarfile, asyncio for the language server), which the other commands' start-up never pays.
COMMANDS = ["compile", "validate", "schema", "graph", "explain", "evidence", "promote", "impact", "plan",
            "schedules", "release", "new", "init", "lsp"]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with `command`, only that command's sub-parser (its module is
    the only one imported); without, every command's (for `--help` and for usage errors)."""
    parser = argparse.ArgumentParser(
        prog="mlopsc", description="The MLOps GitOps compiler: specs/ → generated/ (Kubeflow Pipelines, "
                                   "KServe, Argo CD) through one lineage graph.")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if command is None else [command]:
        importlib.import_module(f".commands.{name.replace('-', '_')}", __package__).add_parser(sub)
    return parser


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-C", "--root", type=Path, default=None,
                        help="run as if mlopsc was started in this directory (default: the current "
                             "one); the repository root is the nearest directory upwards that holds "
                             "mlopsc.yaml, as git finds .git")
    parser.add_argument("--specs", default="specs", help="specs directory, relative to the root")
    parser.add_argument("--out", default="generated", help="output directory, relative to the root")
    parser.add_argument("--config", default="mlopsc.yaml", help="repository settings file")


class _NotACommandLine(Exception):
    pass


class _CommandFinder(argparse.ArgumentParser):
    """The global options and a command name, nothing else: what argparse makes of the command
    line before the sub-command's own options. It never prints; any trouble means "ask the full
    parser", which reports it."""

    def error(self, message):
        raise _NotACommandLine(message)


def command_named(argv: list[str] | None) -> str | None:
    """The command the command line runs, read as the full parser reads it, or None when there is
    none to be sure of (`--help`, a misspelt command, a malformed global option)."""
    finder = _CommandFinder(prog="mlopsc", add_help=False)
    _global_options(finder)
    finder.add_argument("-h", "--help", action="store_true")  # `mlopsc -h compile` lists every command
    finder.add_argument("command", nargs="?")
    try:
        known, _ = finder.parse_known_args(argv)
    except _NotACommandLine:
        return None
    return known.command if known.command in COMMANDS and not known.help else None


def _never_fail_to_print() -> None:
    """Whatever the terminal's encoding, printing never raises: a character it cannot show is
    written as its escape (diagnostics escape what is not printable already; this is for the rest)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that cannot change its errors
                pass


def main(argv: list[str] | None = None) -> int:
    _never_fail_to_print()
    # A compile allocates millions of small, acyclic objects (YAML nodes, positions, documents)
    # that all live to the end; collecting every 700 allocations spent a third of a 1,000-project
    # load in the collector, and more the more projects. Collect rarely, and restore on the way out.
    collect_every = gc.get_threshold()
    collecting = gc.isenabled()
    gc.set_threshold(50_000, *collect_every[1:])
    try:
        # Importing the command's modules (pydantic, networkx, the spec models) makes objects that
        # live as long as the process: no collection while importing (each pass over them took
        # 10 ms), and frozen after, so that no later collection scans them again. Undone on the
        # way out, for callers that run main() many times (the tests).
        gc.disable()
        try:
            from .frontend.loader import UsageError
            parser = build_parser(command_named(argv))
        finally:
            gc.freeze()
            if collecting:
                gc.enable()
        return _run(parser, argv, UsageError)
    finally:
        gc.unfreeze()
        gc.set_threshold(*collect_every)


def _run(parser: argparse.ArgumentParser, argv: list[str] | None, usage_error: type[Exception]) -> int:
    try:
        args = parser.parse_args(argv)
        locate(args)
        return args.run(args)
    except usage_error as exc:
        print(f"mlopsc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # a bug in mlopsc, never the user's input: say so plainly
        traceback.print_exc()
        print("mlopsc: internal error (a bug in mlopsc, not in your specs); please report it "
              "with the traceback above", file=sys.stderr)
        return 3


def locate(args: argparse.Namespace) -> None:
    """Find the repository root from where the user stands (`-C` or the current directory), and
    remember that place: diagnostics show paths relative to it, and path arguments start there."""
    import os

    from .layout import find_root

    start = (args.root or Path(".")).absolute()
    config = Path(args.config)
    root = find_root(start, args.config) if not config.is_absolute() and len(config.parts) == 1 else start
    if root != start or args.root is None:
        args.root = root if root != start else Path(".")
    args.start = start
    rel = Path(os.path.relpath(start, root))
    # Where the user stands, relative to the root ("" at the root or outside it).
    args.cwd = "" if rel == Path(".") or rel.parts[:1] == ("..",) else rel.as_posix()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
