"""Diagnostics: what every stage reports about the user's input.

A diagnostic always carries a file, a 1-based line and column and a stable rule code, so that
editors, CI annotations and people can all find the exact spot. Rendering lives here too, so the
text and JSON forms can never disagree.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .files import MAX_SPEC_BYTES, UnsafeFile, read_inside


def printable(text: str) -> str:
    """`text` with every character that is not printable escaped as Python writes it (`\\n`,
    `\\x1b`, `\\u202e`, a lone surrogate `\\ud800`). Names, paths and values in a message come
    from the pull request: a newline could forge a diagnostic line, an escape sequence could
    repaint the terminal, a lone surrogate could not even be encoded. Diagnostics apply it to
    their path, message and notes when they are made, so every output format shows the same."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(c: str) -> str:
    special = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
    if c in special:
        return special[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file: repository-relative POSIX path, 1-based line and column."""

    path: str
    line: int = 1
    column: int = 1

    def __post_init__(self) -> None:
        if not self.path.isprintable():
            object.__setattr__(self, "path", printable(self.path))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    position: Position
    severity: Severity
    code: str
    message: str
    # Extra lines shown under the message with --verbose (e.g. which earlier pin allowed a promotion).
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.message.isprintable():
            object.__setattr__(self, "message", printable(self.message))
        if not all(n.isprintable() for n in self.notes):
            object.__setattr__(self, "notes", tuple(printable(n) for n in self.notes))

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        p = self.position
        return (p.path, p.line, p.column, self.code, self.message)

    def headline(self) -> str:
        return f"{self.position}: {self.severity.value}[{self.code}]: {self.message}"

    def to_json(self) -> dict:
        data = {
            "path": self.position.path,
            "line": self.position.line,
            "column": self.position.column,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
        }
        if self.notes:
            data["notes"] = list(self.notes)
        return data


def render_text(diagnostics: list[Diagnostic], root: Path, *, color: bool, show_source: bool,
                verbose: bool = False, cwd: str = "") -> str:
    """`path:line:col: error[CODE]: message`, with the offending line and a caret on a terminal.

    `cwd` is where the user stands, relative to the root (POSIX, "" for the root itself): paths
    are shown relative to it, as `git status` shows them (`fraud-detection.yaml`, `../../mlopsc.yaml`),
    so a terminal or editor opens them from there."""
    out: list[str] = []
    line_cache: dict[str, list[str]] = {}
    for d in diagnostics:
        head = d.headline()
        if cwd:
            head = display_path(d.position.path, cwd) + head[len(d.position.path):]
        tint = "\x1b[1;31m" if d.is_error else "\x1b[1;33m"  # red errors, yellow warnings
        if color:
            label = f"{d.severity.value}[{d.code}]"
            head = head.replace(label, f"{tint}{label}\x1b[0m", 1)
        out.append(head)
        if show_source:
            src = _source_line(root, d.position, line_cache)
            if src is not None:
                gutter = f"{d.position.line:>4} | "
                out.append(gutter + src)
                pad = " " * (len(gutter) + max(d.position.column - 1, 0))
                out.append(pad + (f"{tint}^\x1b[0m" if color else "^"))
        if verbose:
            out.extend(f"  = note: {n}" for n in d.notes)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if diagnostics:
        out.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(out) + ("\n" if out else "")


def summary_line(projects: int, diagnostics: list[Diagnostic]) -> str:
    """The one line a clean run ends with (a run with diagnostics ends with their count)."""
    errors = sum(d.is_error for d in diagnostics)
    return f"{projects} project(s), {errors} error(s), {len(diagnostics) - errors} warning(s)"


def display_path(path: str, cwd: str) -> str:
    """A repository-relative path as seen from `cwd` (repository-relative too)."""
    return posixpath.relpath(path, cwd) if cwd else path


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2, sort_keys=True) + "\n"


def render_github(diagnostics: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands, so diagnostics show up inline on the pull request."""
    lines = []
    for d in diagnostics:
        kind = "error" if d.is_error else "warning"
        msg = d.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        p = d.position
        lines.append(f"::{kind} file={p.path},line={p.line},col={p.column},title={d.code}::{msg}")
    return "\n".join(lines) + ("\n" if lines else "")


def _source_line(root: Path, pos: Position, cache: dict[str, list[str]]) -> str | None:
    if pos.path not in cache:
        # Through compiler.files like every read: the position's file is a spec, never followed
        # through a symlink; what cannot be read is simply not shown.
        try:
            cache[pos.path] = read_inside(root, pos.path, MAX_SPEC_BYTES).decode("utf-8").splitlines()
        except (UnsafeFile, OSError, UnicodeDecodeError):
            cache[pos.path] = []
    lines = cache[pos.path]
    if 1 <= pos.line <= len(lines):
        return printable(lines[pos.line - 1].expandtabs(1))
    return None
