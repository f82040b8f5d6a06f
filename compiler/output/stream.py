"""Writing generated/ from a stream of files, holding none of them: a full compile's memory stays
flat however many projects there are.

`write_stream(out_dir, files)` does what `writer.write_tree` does for a full compile (same tree,
same inventory, same atomic swap, same refusals, same report) but takes an iterable of
(path, bytes, owner) and writes each file into the staging tree as it arrives, keeping only its
sha256: the back ends' output (111 MB at 1,000 projects) is never in memory at once. The order
differs only in when the refusals are checked: after the staging tree is built (it sits beside
generated/, which nothing touches before the swap) instead of before; a refused compile removes
the staging tree and changes nothing, as before.

It uses the writer's own steps (compiler/output/writer.py) for everything but the loop that
writes files, so the two cannot drift apart in what they write.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from ..frontend.loader import UsageError
from ..inventory import INVENTORY, load_inventory, render_inventory, sha256
from . import writer


def write_stream(out_dir: Path, files) -> writer.WriteReport:
    """`files`: an iterable of (path, bytes, owner); or a function that, given `stage(path, bytes)
    -> (sha256, already on disk as is)`, which writes one file into the staging tree, returns an
    iterable of (path, sha256, owner, already on disk as is), so that the processes that make the
    files can write them too (the staging tree exists before it is called)."""
    out_dir = Path(os.path.realpath(out_dir))
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output path {out_dir.name!r} exists and is not a directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with writer._locked(out_dir.parent):
        writer.recover_interrupted(out_dir)
        previous = load_inventory(out_dir)
        entries = writer._scan(out_dir)
        writer.ensure_work_dir(out_dir)
        staging = writer.staging_dir(out_dir)
        staging.mkdir()
        try:
            if callable(files):
                hashes, owners, same = _collect(files(Stager(staging, out_dir, entries)))
            else:
                hashes, owners, same = _fill(staging, out_dir, files, entries)
            inventory = render_inventory(hashes, owners)
            report = writer._report(previous, hashes, out_dir)
            report.tree = {**hashes, INVENTORY: sha256(inventory)}
            fresh = set(hashes)  # the writer's steps only ask which paths are produced
            carried, carried_dirs = writer._carried(entries, previous, fresh, hashes)
            writer._refuse_conflicts(fresh, entries, previous)
            report.kept = sum(1 for p in carried if p not in hashes)
            report.taken_over = sorted(p for p in fresh if p not in previous.files
                                       and entries.get(p) == "file" and previous.readable)
            if same and _unchanged_rest(out_dir, inventory, previous, hashes):
                shutil.rmtree(staging)
                return report
            _finish(staging, out_dir, inventory, carried, carried_dirs)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        writer._swap_in(staging, out_dir)
        report.written = True
        return report


def _fill(staging: Path, out_dir: Path, files, entries: dict[str, str]) -> tuple[dict[str, str], dict[str, str], bool]:
    """Write every file into staging as it comes; (hashes, owners, all already on disk as is)."""
    hashes: dict[str, str] = {}
    owners: dict[str, str] = {}
    made: set[str] = set()
    same = True
    for rel, data, owner in files:
        if rel in hashes:
            raise AssertionError(f"two back ends emit {rel}")  # a compiler bug, not user input
        hashes[rel] = sha256(data)
        if owner is not None:
            owners[rel] = owner
        parent = rel.rpartition("/")[0]
        if parent and parent not in made:
            os.makedirs(staging / parent, exist_ok=True)
            parts = parent.split("/")
            made.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        if entries.get(rel) == "file" and writer._reuse(out_dir / rel, staging / rel, data):
            continue
        same = False
        writer._write_new(staging / rel, data)
    return dict(sorted(hashes.items())), owners, same


class Stager:
    """Writes one file into the staging tree (hard-linking the old one when it is the same bytes);
    usable from forked workers: it holds only paths."""

    def __init__(self, staging: Path, out_dir: Path, entries: dict[str, str]):
        self.staging, self.out_dir, self.entries = staging, out_dir, entries

    def __call__(self, rel: str, data: bytes) -> tuple[str, bool]:
        parent = rel.rpartition("/")[0]
        if parent:
            os.makedirs(self.staging / parent, exist_ok=True)
        if self.entries.get(rel) == "file" and writer._reuse(self.out_dir / rel, self.staging / rel, data):
            return sha256(data), True
        writer._write_new(self.staging / rel, data)
        return sha256(data), False


def _collect(staged) -> tuple[dict[str, str], dict[str, str], bool]:
    hashes: dict[str, str] = {}
    owners: dict[str, str] = {}
    same = True
    for rel, digest, owner, unchanged in staged:
        if rel in hashes:
            raise AssertionError(f"two back ends emit {rel}")  # a compiler bug, not user input
        hashes[rel] = digest
        if owner is not None:
            owners[rel] = owner
        same = same and unchanged
    return dict(sorted(hashes.items())), owners, same


def _unchanged_rest(out_dir: Path, inventory: bytes, previous, hashes: dict[str, str]) -> bool:
    """With every produced file already on disk as is: is the rest of generated/ the target too?"""
    try:
        if (out_dir / INVENTORY).read_bytes() != inventory:
            return False
    except OSError:
        return False
    return not any(p not in hashes and (out_dir / p).is_file() for p in previous.files)


def _finish(staging: Path, out_dir: Path, inventory: bytes, carried: list[str], carried_dirs: list[str]) -> None:
    """The inventory and everything carried over, as writer._build does after the files."""
    for rel in sorted(set(carried_dirs) | {"/".join(rel.split("/")[:i]) for rel in carried
                                           for i in range(1, rel.count("/") + 1)}):
        os.makedirs(staging / rel, exist_ok=True)
    writer._write_new(staging / INVENTORY, inventory)
    for rel in carried:
        writer._carry(out_dir / rel, staging / rel)
    if out_dir.is_dir():
        os.chmod(staging, stat.S_IMODE(out_dir.stat().st_mode))
