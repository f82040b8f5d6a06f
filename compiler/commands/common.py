"""Helpers every command shares: the layout from the global options and printing diagnostics."""

from __future__ import annotations

import argparse
import sys

from ..build import Layout
from ..diagnostics import Diagnostic, render_github, render_json, render_text


def layout(args: argparse.Namespace) -> Layout:
    return Layout(root=args.root, specs=args.specs, out=args.out, config=args.config)


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json", "github"], default="text",
                        help="diagnostics as text (with source and caret on a terminal), a JSON list, "
                             "or GitHub Actions annotations")
    parser.add_argument("-v", "--verbose", action="store_true", help="show notes under diagnostics")


def print_diagnostics(args: argparse.Namespace, diagnostics: list[Diagnostic], stream=None) -> None:
    stream = stream or sys.stdout
    fmt = getattr(args, "format", "text")
    if fmt == "json":
        stream.write(render_json(diagnostics))
    elif fmt == "github":
        stream.write(render_github(diagnostics))
    else:
        tty = stream.isatty()
        stream.write(render_text(diagnostics, args.root, color=tty, show_source=tty,
                                 verbose=getattr(args, "verbose", False), cwd=getattr(args, "cwd", "")))
    stream.flush()


def exit_code(diagnostics: list[Diagnostic]) -> int:
    return 1 if any(d.is_error for d in diagnostics) else 0
