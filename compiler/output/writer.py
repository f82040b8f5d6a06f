"""The only stage that writes to disk: the generated tree, its inventory, pruning and --check.

Ownership. The compiler owns exactly the files listed in `generated/.mlopsc-inventory.json`
(`files`: path → sha256 of what it wrote; `projects`: which project's spec each file comes from).
A compile rewrites every file it produces, removes owned files it no longer produces, and carries
every other file (a hand-written README) into the new tree untouched. A path the compiler
produces is its own even when the inventory does not list it (a lost or conflicted inventory):
such a file is taken over, and the compile says so.

Atomicity. A compile never edits generated/ in place. It builds the complete new tree in
`.mlopsc/generated.staging` beside it (same file system; the `.mlopsc` directory ignores itself
in Git), then swaps the two directories in one system call (Linux renameat2 RENAME_EXCHANGE,
macOS renamex_np RENAME_SWAP) and deletes the old tree. A kill -9 at any moment therefore leaves
generated/ entirely as before or entirely new; what a killed run leaves in `.mlopsc` is removed
by the next compile. Git and Argo CD only ever read committed trees, so neither can observe a
half-written state either.
The guarantee is against the process dying, not against power loss: files are not fsynced (a
compile is reproducible from the specs and Git holds the truth).
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import errno
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..frontend.loader import UsageError
from ..inventory import INVENTORY, Inventory, load_inventory, render_inventory, sha256

# Beside the output directory: mlopsc's scratch space (staging trees, the fingerprint of the last
# compile). It holds a `.gitignore` of `*`, so Git never shows it, as pytest and mypy do.
WORK_DIR = ".mlopsc"


def expected_tree(files: dict[str, bytes], owners: dict[str, str]) -> dict[str, bytes]:
    """Everything a full compile puts under generated/: the files plus their inventory."""
    tree = dict(files)
    tree[INVENTORY] = render_inventory({p: sha256(b) for p, b in files.items()}, owners)
    return tree


# ---------------------------------------------------------------------------------------- check
@dataclass
class Drift:
    """How generated/ differs from what a compile would write (paths relative to it)."""

    changed: list[str] = field(default_factory=list)  # compile would write other bytes
    hand_edited: list[str] = field(default_factory=list)  # not what the last compile wrote either
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)  # written before, no longer produced
    diff: str = ""

    @property
    def clean(self) -> bool:
        return not (self.changed or self.hand_edited or self.missing or self.orphaned)

    def summary(self) -> str:
        parts = [(len(self.changed), "changed"), (len(self.hand_edited), "edited by hand"),
                 (len(self.missing), "missing"), (len(self.orphaned), "orphaned")]
        return ", ".join(f"{n} {what}" for n, what in parts if n) or "no differences"


def check_tree(out_dir: Path, files: dict[str, bytes], owners: dict[str, str] | None = None,
               out_label: str = "generated", *, with_diff: bool = True) -> Drift:
    """Compare what a full compile would write with the tree on disk, writing nothing."""
    expected = expected_tree(files, owners or {})
    previous = load_inventory(out_dir)
    drift = Drift()
    diff: list[str] = []
    for rel in sorted(expected):
        try:
            current = (out_dir / rel).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            drift.missing.append(rel)
            if with_diff:
                diff.extend(_udiff(b"", expected[rel], f"{out_label}/{rel}", missing=True))
            continue
        if current == expected[rel]:
            continue
        if rel != INVENTORY and previous.files.get(rel) not in (None, sha256(current)):
            drift.hand_edited.append(rel)
        else:
            drift.changed.append(rel)
        if with_diff:
            diff.extend(_udiff(current, expected[rel], f"{out_label}/{rel}"))
    drift.orphaned = sorted(p for p in previous.files if p not in expected and (out_dir / p).is_file())
    for rel in drift.orphaned:
        if with_diff:
            diff.extend(_udiff((out_dir / rel).read_bytes(), b"", f"{out_label}/{rel}", removed=True))
    drift.diff = "".join(diff)
    return drift


def _udiff(old: bytes, new: bytes, label: str, missing: bool = False, removed: bool = False) -> list[str]:
    a = old.decode("utf-8", "replace").splitlines(keepends=True)
    b = new.decode("utf-8", "replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, "/dev/null" if missing else f"a/{label}",
                                      "/dev/null" if removed else f"b/{label}"))
    return [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]


# ---------------------------------------------------------------------------------------- write
@dataclass
class WriteReport:
    """What a compile did to generated/, by the inventory's account."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)  # produced now, but not written by mlopsc before
    kept: int = 0  # files mlopsc does not own, carried over untouched
    written: bool = False  # False: generated/ already was exactly this tree; nothing was touched
    tree: dict[str, str] = field(default_factory=dict)  # sha256 of every owned file and the inventory


def work_dir(out_dir: Path) -> Path:
    return Path(os.path.realpath(out_dir)).parent / WORK_DIR


def ensure_work_dir(out_dir: Path) -> Path:
    path = work_dir(out_dir)
    path.mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# mlopsc's scratch space (staging trees, fingerprints): never commit it\n*\n")
    return path


def staging_dir(out_dir: Path) -> Path:
    return work_dir(out_dir) / f"{Path(os.path.realpath(out_dir)).name}.staging"


def retired_dir(out_dir: Path) -> Path:
    """Only used where directories cannot be swapped in one call (see _swap_in)."""
    return work_dir(out_dir) / f"{Path(os.path.realpath(out_dir)).name}.retired"


def write_tree(out_dir: Path, files: dict[str, bytes], owners: dict[str, str] | None = None, *,
               only_projects: set[str] | None = None) -> WriteReport:
    """Replace generated/ atomically with `files` (+ inventory), carrying unowned files over.

    With `only_projects`, write only the files those projects own; every other file (other
    projects', repository-wide ones) stays exactly as it is on disk, inventory entry included.
    """
    owners = owners or {}
    out_dir = Path(os.path.realpath(out_dir))
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output path {out_dir.name!r} exists and is not a directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir.parent):
        recover_interrupted(out_dir)
        previous = load_inventory(out_dir)
        fresh, hashes, new_owners = _target(previous, files, owners, only_projects)
        inventory = render_inventory(hashes, new_owners)
        report = _report(previous, hashes, out_dir)
        report.tree = {**hashes, INVENTORY: sha256(inventory)}
        entries = _scan(out_dir)
        carried, carried_dirs = _carried(entries, previous, fresh, hashes)
        _refuse_conflicts(fresh, entries, previous)
        report.kept = sum(1 for p in carried if p not in hashes)
        report.taken_over = sorted(p for p in fresh if p not in previous.files and entries.get(p) == "file"
                                   and previous.readable)
        if _unchanged(out_dir, fresh, inventory, previous, hashes):
            return report
        ensure_work_dir(out_dir)
        staging = staging_dir(out_dir)
        _build(staging, out_dir, fresh, inventory, carried, carried_dirs)
        _swap_in(staging, out_dir)
        report.written = True
        return report


def tidy(out_dir: Path) -> None:
    """Remove a killed compile's leftovers, when nothing else needs writing."""
    out_dir = Path(os.path.realpath(out_dir))
    if staging_dir(out_dir).exists() or retired_dir(out_dir).exists():
        with _locked(out_dir.parent):
            recover_interrupted(out_dir)


def recover_interrupted(out_dir: Path) -> None:
    """Remove what a killed compile left beside generated/ (never inside it)."""
    retired = retired_dir(out_dir)
    if retired.is_dir():
        if out_dir.exists():
            shutil.rmtree(retired)
        else:  # killed between the two renames of the fallback swap: put the old tree back
            os.rename(retired, out_dir)
    staging = staging_dir(out_dir)
    if staging.is_dir():
        shutil.rmtree(staging)


def _target(previous: Inventory, files: dict[str, bytes], owners: dict[str, str],
            only_projects: set[str] | None):
    """The files to write now, and the inventory (hashes, owners) of the resulting tree."""
    if only_projects is None:
        fresh = files
        hashes = {p: sha256(b) for p, b in files.items()}
        return fresh, hashes, {p: owners[p] for p in files if p in owners}
    fresh = {p: b for p, b in files.items() if owners.get(p) in only_projects}
    # Everything the selection does not own keeps its inventory entry (and its file, as it is).
    hashes = {p: h for p, h in previous.files.items() if previous.owners.get(p) not in only_projects}
    new_owners = {p: previous.owners[p] for p in hashes if p in previous.owners}
    for p, b in fresh.items():
        hashes[p] = sha256(b)
        new_owners[p] = owners[p]
    return fresh, hashes, new_owners


def _report(previous: Inventory, hashes: dict[str, str], out_dir: Path) -> WriteReport:
    return WriteReport(
        added=sorted(p for p in hashes if p not in previous.files),
        updated=sorted(p for p in hashes if p in previous.files and previous.files[p] != hashes[p]),
        removed=sorted(p for p in previous.files if p not in hashes and (out_dir / p).is_file()))


def _scan(out_dir: Path) -> dict[str, str]:
    """Every entry under generated/: relative POSIX path -> 'file', 'dir' or 'link'."""
    entries: dict[str, str] = {}
    if not out_dir.is_dir():
        return entries
    prefix = len(str(out_dir)) + 1
    for top, dirs, names in os.walk(out_dir):
        rel_top = top[prefix:].replace(os.sep, "/")
        subdirs = set(dirs)
        for name in dirs + names:
            rel = f"{rel_top}/{name}" if rel_top else name
            path = os.path.join(top, name)
            entries[rel] = "link" if os.path.islink(path) else ("dir" if name in subdirs else "file")
    return entries


def _carried(entries: dict[str, str], previous: Inventory, fresh: dict[str, bytes],
             hashes: dict[str, str]) -> tuple[list[str], list[str]]:
    """Files (and empty directories) to carry into the new tree as they are: everything the
    compiler does not own, plus owned files it keeps without rewriting them (--select)."""
    owned_dirs = {p.rsplit("/", i)[0] for p in previous.files for i in range(1, p.count("/") + 1)}
    non_empty = {rel.rsplit("/", 1)[0] for rel in entries if "/" in rel}
    files, dirs = [], []
    for rel, kind in sorted(entries.items()):
        if rel == INVENTORY or rel in fresh:
            continue
        if kind == "dir":
            if rel not in owned_dirs and rel not in non_empty:
                dirs.append(rel)  # an empty directory someone made
        elif rel not in previous.files or rel in hashes:
            files.append(rel)  # not ours, or ours and kept as it is; else pruned
    return files, dirs


def _refuse_conflicts(fresh: dict[str, bytes], entries: dict[str, str], previous: Inventory) -> None:
    """Stop before touching anything when a path the compiler must write is blocked by something
    it did not write: a directory where a file goes, or a file (or symlink) where a directory goes."""
    for rel in sorted(fresh):
        if entries.get(rel) == "dir":
            raise UsageError(f"cannot write {rel}: a directory mlopsc did not write is in the way")
        parts = rel.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if entries.get(parent) in ("file", "link") and parent not in previous.files:
                raise UsageError(f"cannot write {rel}: {parent} is a file mlopsc did not write; move it away")


def _unchanged(out_dir: Path, fresh: dict[str, bytes], inventory: bytes, previous: Inventory,
               hashes: dict[str, str]) -> bool:
    """True when generated/ already is the target tree, so a compile need not touch it."""
    try:
        if (out_dir / INVENTORY).read_bytes() != inventory:
            return False
        if any((out_dir / p).read_bytes() != data for p, data in fresh.items()):
            return False
    except OSError:
        return False
    return not any(p not in hashes and (out_dir / p).is_file() for p in previous.files)


def _build(staging: Path, out_dir: Path, fresh: dict[str, bytes], inventory: bytes,
           carried: list[str], carried_dirs: list[str]) -> None:
    staging.mkdir()
    wanted_dirs = set(carried_dirs)
    for rel in list(fresh) + carried:
        parts = rel.split("/")
        wanted_dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    for rel in sorted(wanted_dirs):  # a parent sorts before its children
        os.mkdir(staging / rel)
    for rel, data in fresh.items():
        if not _reuse(out_dir / rel, staging / rel, data):
            _write_new(staging / rel, data)
    _write_new(staging / INVENTORY, inventory)
    for rel in carried:
        _carry(out_dir / rel, staging / rel)
    if out_dir.is_dir():
        os.chmod(staging, stat.S_IMODE(out_dir.stat().st_mode))


def _reuse(old: Path, new: Path, data: bytes) -> bool:
    """Hard-link the old tree's file into the new one when it already holds exactly `data`.

    Creating a file costs a file system far more than reading one and adding a name to it, and
    most compiles change few files; an unchanged file also keeps its inode and mtime. Nothing
    ever writes into a file in place, so the two trees sharing it until the old one is deleted
    is harmless. A symlink, an executable or any other difference gets a new file instead.
    """
    try:
        fd = os.open(old, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o111 or info.st_size != len(data):
            return False
        if f.read() != data:
            return False
    try:
        os.link(old, new)
    except OSError:  # no hard links on this file system
        return False
    return True


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _carry(src: Path, dest: Path) -> None:
    """Put an existing file into the new tree unchanged: a hard link (same inode, no copy)."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
        return
    try:
        os.link(src, dest)
    except OSError:  # a file system without hard links
        shutil.copy2(src, dest)


def _swap_in(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(staging, out_dir)  # one atomic rename: there is no old tree
        return
    if _exchange(staging, out_dir):
        shutil.rmtree(staging)  # now the old tree
        return
    # No atomic swap here: two renames. A kill between them leaves generated/ missing for a moment;
    # recover_interrupted() puts the old tree back on the next run.
    retired = retired_dir(out_dir)
    os.rename(out_dir, retired)
    os.rename(staging, out_dir)
    shutil.rmtree(retired)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 2  # macOS sys/stdio.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one system call; False where the platform cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - Windows
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        fn = libc.renameat2
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):  # pragma: no cover - macOS
        fn = libc.renamex_np
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        rc = fn(os.fsencode(a), os.fsencode(b), _RENAME_SWAP)
    else:  # pragma: no cover
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # e.g. a file system that does not implement the exchange
    raise OSError(err, os.strerror(err), str(a), None, str(b))


@contextlib.contextmanager
def _locked(directory: Path):
    """One compile at a time per output directory: an advisory lock on its parent directory
    (no lock file to leave behind)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
