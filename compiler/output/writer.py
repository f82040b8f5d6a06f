"""The only stage that writes to disk: the generated tree, its inventory, pruning and --check.

Ownership. The compiler owns exactly the files listed in its inventory (compiler/inventory.py:
`generated/.mlopsc-inventory.json` for the repository-wide files, and one part per project under
`generated/.mlopsc-inventory/`: path → sha256 of what it wrote, by the project it comes from).
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
A full compile streams (`write_stream`): each file goes into the staging tree as soon as the
process that made it has serialised it (hard-linked from the old tree when it is the same bytes),
and only its hash is kept. `write_tree` (files already in memory: --select, release, tests) is
the same function over a dict, so both follow every rule below.
The guarantee is against the process dying, not against power loss: files are not fsynced (a
compile is reproducible from the specs and Git holds the truth).

In place, for an incremental compile (`update_in_place`): when generated/ is verified to be
exactly the tree the last compile left (compiler/output/state.py) and only a few files change,
rebuilding and swapping the whole tree would cost more than the change. Then the new files are
staged in a journal in `.mlopsc` with the list of what to replace and remove, the list is committed
by one rename, and each file is renamed into place (each file is replaced atomically). A kill
after the commit leaves the journal: the next compile finishes it before anything else, so
generated/ is again the whole new tree (--check, which writes nothing, reports the drift and
says so); a kill before it leaves generated/ untouched. The plan names its own device and inode
and only plain paths inside generated/: a journal committed to the repository is never carried
out, only dropped.

Trust. generated/ and the inventory are committed, so a pull request controls them. The writer
and --check read generated/ only through compiler/files.py (regular files, no symlink followed),
take every inventory path through `safe_relative`, and write only inside the output directory and
`.mlopsc/`, never through a symlink. What they refuse, with a located diagnostic and exit 1,
touching nothing:
- O001: the output directory, a directory on its way inside the repository, or `.mlopsc`, is a
  symlink or not a directory;
- O002: a file or directory mlopsc did not write stands where it writes a file or a directory
  (mlopsc never moves, renames or removes a file it does not own);
- O003: the inventory names a path outside generated/ (it is not trusted at all);
- O004: a symlink, FIFO, socket or device anywhere in generated/ (mlopsc never writes one, never
  follows one and never carries one into the new tree; --check reports it as drift by name).
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import errno
import json
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..codes import INVENTORY_UNTRUSTED, OUTPUT_IN_THE_WAY, OUTPUT_LOCATION, OUTPUT_NOT_REGULAR
from ..diagnostics import Diagnostic, Position
from ..files import MAX_DATA_BYTES, UnsafeFile, open_inside, read_inside
from ..inventory import INVENTORY, Inventory, is_inventory, load_inventory, render_inventory, sha256, unsafe_path

# Beside the output directory: mlopsc's scratch space (staging trees, the fingerprint of the last
# compile). It holds a `.gitignore` of `*`, so Git never shows it, as pytest and mypy do.
WORK_DIR = ".mlopsc"


class OutputRefused(Exception):
    """The output stage will not touch generated/: located diagnostics say why (exit 1)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.headline() for d in diagnostics))
        self.diagnostics = diagnostics


# ------------------------------------------------------------------------------------- location
def _kind(path: Path) -> str | None:
    """'dir', 'file', 'link' or 'special' (FIFO, socket, device) without following a symlink."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return "special"
    return kind_of(mode)


def kind_of(mode: int) -> str:
    """An lstat mode as 'dir', 'file', 'link' or 'special'."""
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "special"


def _location_problem(path: Path, label: str) -> Diagnostic | None:
    kind = _kind(path)
    if kind == "link":
        return OUTPUT_LOCATION.at(Position(label), f"`{label}` is a symlink; mlopsc never writes through one "
                                  "(it would write wherever it points): replace it with a directory")
    if kind not in (None, "dir"):
        return OUTPUT_LOCATION.at(Position(label), f"`{label}` exists and is not a directory; move it away "
                                  "or choose another --out")
    return None


def location_problems(root: Path, out: str) -> list[Diagnostic]:
    """Why mlopsc may not read or write the output directory `out` (relative to `root`): it, a
    directory on its way inside the repository, or `.mlopsc` beside it is a symlink or not a
    directory. An absolute `--out` is the user's own choice, like `-C`: only it and `.mlopsc` are
    checked."""
    problems: list[Diagnostic] = []
    pure = PurePosixPath(out)
    if pure.is_absolute() or ".." in pure.parts:
        checked = [(Path(os.path.abspath(root / out)), out)]
    else:
        parts = [p for p in pure.parts if p != "."]
        checked = [(root.joinpath(*parts[:i]), "/".join(parts[:i])) for i in range(1, len(parts) + 1)]
    if not checked:
        return [OUTPUT_LOCATION.at(Position(out), "the output directory cannot be the repository root; "
                                   "choose a directory with --out")]
    out_dir = checked[-1][0]
    work = Path(os.path.abspath(out_dir)).parent / WORK_DIR
    work_label = str(PurePosixPath(checked[-1][1]).parent / WORK_DIR).removeprefix("./")
    for path, label in [*checked, (work, work_label)]:
        problem = _location_problem(path, label)
        if problem is not None:
            problems.append(problem)
            break
        if _kind(path) is None and path != work:
            break  # compile creates it (and what lies below it)
    return problems


# ---------------------------------------------------------------------------------------- check
@dataclass
class Drift:
    """How generated/ differs from what a compile would write (paths relative to it)."""

    changed: list[str] = field(default_factory=list)  # compile would write other bytes
    hand_edited: list[str] = field(default_factory=list)  # not what the last compile wrote either
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)  # written before, no longer produced
    # Entries compile refuses (O002, O004): (path, why); never read, never shown in the diff.
    in_the_way: list[tuple[str, str]] = field(default_factory=list)
    diff: str = ""

    @property
    def clean(self) -> bool:
        return not (self.changed or self.hand_edited or self.missing or self.orphaned or self.in_the_way)

    def summary(self) -> str:
        parts = [(len(self.changed), "changed"), (len(self.hand_edited), "edited by hand"),
                 (len(self.missing), "missing"), (len(self.orphaned), "orphaned"),
                 (len(self.in_the_way), "in the way")]
        return ", ".join(f"{n} {what}" for n, what in parts if n) or "no differences"


def check_tree(out_dir: Path, files: dict[str, bytes], owners: dict[str, str] | None = None,
               out_label: str = "generated", *, with_diff: bool = True, hashes: dict[str, str] | None = None,
               bytes_of: Callable[[list[str]], dict[str, bytes]] | None = None) -> Drift:
    """Compare what a full compile would write with the tree on disk, writing nothing and reading
    only regular files inside it (OutputRefused for an untrusted inventory).

    `files` are the produced files' bytes; `hashes` (the incremental check) names further produced
    files by their sha256 only, and `bytes_of(paths)` gives the bytes of those that differ, for
    the diff."""
    known = {p: sha256(b) for p, b in files.items()}
    known.update(hashes or {})
    inventory_files = render_inventory(known, owners or {})
    expected_bytes = {**files, **inventory_files}
    expected = {**known, **{p: sha256(b) for p, b in inventory_files.items()}}
    previous = load_inventory(out_dir)
    if previous.unsafe:
        raise OutputRefused(_untrusted_inventory(out_dir, previous, out_label))
    entries = scan(out_dir)
    drift = Drift()
    drift.in_the_way = _obstacles(expected, entries, previous)
    blocked = {rel for rel, _ in drift.in_the_way}
    differing: list[tuple[str, bytes | None]] = []  # (path, what is on disk; None: missing)
    for rel in sorted(expected):
        kind = entries.get(rel)
        if rel in blocked or kind in ("link", "special"):
            continue
        current = _read(out_dir, rel) if kind == "file" else None
        if current is None:
            if not any(parent in blocked for parent in parents_of(rel)):
                drift.missing.append(rel)
                differing.append((rel, None))
            continue
        if sha256(current) == expected[rel]:
            continue
        if rel != INVENTORY and previous.files.get(rel) not in (None, sha256(current)):
            drift.hand_edited.append(rel)
        else:
            drift.changed.append(rel)
        differing.append((rel, current))
    diff: list[str] = []
    if with_diff:
        unknown = [rel for rel, _ in differing if rel not in expected_bytes]
        if unknown and bytes_of is not None:
            expected_bytes.update(bytes_of(unknown))
        for rel, current in differing:
            if current is None:
                diff.extend(_udiff(b"", expected_bytes[rel], f"{out_label}/{rel}", missing=True))
            else:
                diff.extend(_udiff(current, expected_bytes[rel], f"{out_label}/{rel}"))
    for rel in sorted(p for p in previous.files if p not in expected and entries.get(p) == "file"):
        current = _read(out_dir, rel)
        if current is None:
            continue
        drift.orphaned.append(rel)
        if with_diff:
            diff.extend(_udiff(current, b"", f"{out_label}/{rel}", removed=True))
    drift.diff = "".join(diff)
    return drift


def _read(out_dir: Path, rel: str) -> bytes | None:
    """The bytes of a regular file in generated/, never through a symlink; None otherwise."""
    try:
        return read_inside(out_dir, rel)
    except (UnsafeFile, OSError):  # OSError: no generated/ at all
        return None


def shown(rel: str) -> str:
    """A path from the disk as it may be printed: control characters escaped (a file name with a
    newline never forges a line of output)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in rel):
        return rel.encode("unicode_escape", "backslashreplace").decode("ascii")
    return rel


def parents_of(rel: str) -> list[str]:
    """Every directory on the way to `rel`, outermost first."""
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _obstacles(expected, entries: dict[str, str], previous: Inventory) -> list[tuple[str, str]]:
    """What stands where the compiler writes and is not its own (path, why), sorted by path:
    any symlink or special file, a directory where a file goes, a file mlopsc did not write
    where a directory goes."""
    found: dict[str, str] = {}
    for rel, kind in entries.items():
        if kind == "link":
            found[rel] = "is a symlink; mlopsc never writes one, nor follows or keeps one: remove it"
        elif kind == "special":
            found[rel] = ("is not a regular file (a FIFO, socket or device); mlopsc never writes one: "
                          "remove it")
    for rel in sorted(expected):
        if entries.get(rel) == "dir" and rel not in found:
            found[rel] = ("is a directory mlopsc did not write, where it writes a file: move it away "
                          "(mlopsc never moves what it does not own)")
        for parent in parents_of(rel):
            if entries.get(parent) == "file" and parent not in previous.files and parent not in found:
                found[parent] = (f"is a file mlopsc did not write, where it writes a directory (for "
                                 f"{rel}): move it away (mlopsc never moves what it does not own)")
    return sorted(found.items())


def inventory_problems(out_dir: Path, out_label: str = "generated") -> list[Diagnostic]:
    """O003 for each path the inventory names outside generated/ (an untrusted inventory)."""
    previous = load_inventory(out_dir)
    return _untrusted_inventory(out_dir, previous, out_label) if previous.unsafe else []


def _untrusted_inventory(out_dir: Path, previous: Inventory, out_label: str) -> list[Diagnostic]:
    diagnostics = []
    for named_in, shown in previous.unsafe:
        try:
            lines = read_inside(out_dir, named_in).decode("utf-8", "replace").splitlines()
        except (UnsafeFile, OSError):
            lines = []
        line, column = 1, 1
        for number, text in enumerate(lines, 1):
            at = text.find(shown[:40])
            if at >= 0:
                line, column = number, at + 1
                break
        diagnostics.append(INVENTORY_UNTRUSTED.at(
            Position(f"{out_label}/{named_in}", line, column),
            f"the inventory names `{shown}`, which is not a path inside {out_label}/; an inventory "
            f"naming it is not trusted: restore {out_label}/{named_in} from Git or delete it "
            f"(compile then takes over the files it produces)"))
    return diagnostics


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
    inventory_only: bool = False  # written, and only the inventory's own files changed
    tree: dict[str, str] = field(default_factory=dict)  # sha256 of every owned file and the inventory


def work_dir(out_dir: Path) -> Path:
    return Path(os.path.abspath(out_dir)).parent / WORK_DIR


def ensure_work_dir(out_dir: Path) -> Path:
    """`.mlopsc` beside the output directory, a real directory (OutputRefused if it is not)."""
    path = work_dir(out_dir)
    try:
        path.mkdir()
    except FileExistsError:
        if _kind(path) != "dir":
            raise OutputRefused([OUTPUT_LOCATION.at(Position(WORK_DIR), f"`{WORK_DIR}` is a symlink or "
                                                    "not a directory; mlopsc keeps its scratch space there: "
                                                    "remove it")]) from None
    try:
        fd = os.open(path / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as f:
        f.write("# mlopsc's scratch space (staging trees, fingerprints): never commit it\n*\n")
    return path


def staging_dir(out_dir: Path) -> Path:
    return work_dir(out_dir) / f"{Path(os.path.abspath(out_dir)).name}.staging"


def retired_dir(out_dir: Path) -> Path:
    """Only used where directories cannot be swapped in one call (see _swap_in)."""
    return work_dir(out_dir) / f"{Path(os.path.abspath(out_dir)).name}.retired"


def journal_dir(out_dir: Path) -> Path:
    """An in-place update's staged files and plan (see update_in_place)."""
    return work_dir(out_dir) / f"{Path(os.path.abspath(out_dir)).name}.journal"


def _refuse_location(out_dir: Path, out_label: str) -> None:
    """The output directory and `.mlopsc` themselves: real directories or absent, never symlinks."""
    for path, label in ((out_dir, out_label), (work_dir(out_dir), WORK_DIR)):
        problem = _location_problem(path, label)
        if problem is not None:
            raise OutputRefused([problem])


def write_tree(out_dir: Path, files: dict[str, bytes], owners: dict[str, str] | None = None, *,
               only_projects: set[str] | None = None, out_label: str = "generated") -> WriteReport:
    """Replace generated/ atomically with `files` (+ inventory), carrying unowned files over.

    With `only_projects`, write only the files those projects own; every other file (other
    projects', repository-wide ones) stays exactly as it is on disk, inventory entry included.
    OutputRefused, before anything is touched, for what the module docstring lists.
    This is `write_stream` over files already in memory: one implementation, one set of rules.
    """
    owners = owners or {}
    if only_projects is not None:
        files = {p: b for p, b in files.items() if owners.get(p) in only_projects}

    def produce(stage: "Stager"):
        for rel, data in files.items():
            digest, same = stage(rel, data)
            yield rel, digest, owners.get(rel), same

    return write_stream(out_dir, produce, only_projects=only_projects, out_label=out_label, planned=files)


Staged = tuple[str, str, "str | None", bool]  # (path, sha256, owning project, already on disk as is)


def write_stream(out_dir: Path, produce: Callable[[Stager], Iterable[Staged]], *,
                 only_projects: set[str] | None = None, out_label: str = "generated",
                 planned: Iterable[str] | None = None) -> WriteReport:
    """Replace generated/ atomically with what `produce` makes, holding none of its bytes.

    `produce(stage)` makes the files and hands each to `stage(path, bytes) -> (sha256, already on
    disk as is)`, which writes it into the staging tree at once (hard-linking the old file when it
    is the same bytes), and yields (path, sha256, owner, already on disk as is) for each: the
    processes that make the files can write them too (compiler/build.py's render_all), and only
    hashes come back, so a full compile's memory does not grow with its output.

    Every refusal is the same as for any write (the module docstring's list): the output
    location, an untrusted inventory, and a symlink or special file anywhere in generated/ are
    refused before anything is produced (then nothing at all is written, not even into the
    staging tree); what stands where a produced path goes is refused once all paths are known
    (at once when the caller knows them, `planned`), and a refused or failed compile removes the
    staging tree: generated/ is never touched before the swap.
    """
    out_dir = Path(os.path.abspath(out_dir))
    _refuse_location(out_dir, out_label)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir.parent):
        recover_interrupted(out_dir)
        previous = load_inventory(out_dir)
        if previous.unsafe:
            raise OutputRefused(_untrusted_inventory(out_dir, previous, out_label))
        entries = scan(out_dir)
        # Symlinks and special files are refused whatever is produced; so is anything in the way
        # of a path known in advance: say so before producing anything.
        early = _obstacles([INVENTORY, *(planned or ())], entries, previous)
        staging = None
        new_work_dir = _kind(work_dir(out_dir)) is None
        if not early:
            ensure_work_dir(out_dir)
            staging = staging_dir(out_dir)
            staging.mkdir()
        try:
            stager = Stager(staging, out_dir, entries)
            hashes, owners, same = _collect(produce(stager))
            fresh = set(hashes)
            if only_projects is not None:
                # Everything the selection does not own keeps its inventory entry (and its file).
                kept = {p: h for p, h in previous.files.items()
                        if previous.owners.get(p) not in only_projects and not is_inventory(p)}
                for p, h in kept.items():
                    if p not in hashes:
                        hashes[p] = h
                        if p in previous.owners:
                            owners[p] = previous.owners[p]
            # The inventory's parts are staged like any produced file (an unchanged part is
            # hard-linked); its index is written last, by _finish.
            produced_same = same
            inventory_files = render_inventory(hashes, owners)
            inventory = inventory_files.pop(INVENTORY)
            for rel, data in inventory_files.items():
                hashes[rel], unchanged = stager(rel, data)
                same = same and unchanged
            fresh.update(inventory_files)
            hashes = dict(sorted(hashes.items()))
            obstacles = _obstacles([INVENTORY, *fresh], entries, previous)
            if obstacles or staging is None:  # (no staging tree: `early` found obstacles)
                raise OutputRefused([
                    (OUTPUT_NOT_REGULAR if entries.get(rel) in ("link", "special") else OUTPUT_IN_THE_WAY)
                    .at(Position(f"{out_label}/{shown(rel)}"), f"`{out_label}/{shown(rel)}` {why}")
                    for rel, why in obstacles])
            report = _report(previous, hashes, entries)
            report.tree = {**hashes, INVENTORY: sha256(inventory)}
            carried, carried_dirs = _carried(entries, previous, fresh, hashes)
            report.kept = sum(1 for p in carried if p not in hashes)
            report.taken_over = sorted(p for p in fresh if p not in previous.files and entries.get(p) == "file"
                                       and previous.readable and not is_inventory(p))
            if same and _read(out_dir, INVENTORY) == inventory and \
                    not any(p not in hashes and entries.get(p) == "file" for p in previous.files):
                _discard(staging)  # generated/ already is this tree: touch nothing
                return report
            report.inventory_only = produced_same and not (report.added or report.updated or report.removed)
            _finish(staging, out_dir, inventory, carried, carried_dirs)
        except BaseException:
            _discard(staging)
            if staging is not None and new_work_dir:  # made for this compile only: leave no trace
                shutil.rmtree(work_dir(out_dir), ignore_errors=True)
            raise
        _swap_in(staging, out_dir)
        report.written = True
        return report


def _discard(staging: Path | None) -> None:
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)


class Stager:
    """Writes one produced file into the staging tree; usable from forked workers (it holds only
    paths and the scan of generated/). Without a staging tree (the compile is refused anyway), it
    only hashes."""

    def __init__(self, staging: Path | None, out_dir: Path, entries: dict[str, str]):
        self.staging, self.out_dir, self.entries = staging, out_dir, entries

    def __call__(self, rel: str, data: bytes) -> tuple[str, bool]:
        digest = sha256(data)
        if self.staging is None:
            return digest, False
        parent = rel.rpartition("/")[0]
        if parent:
            os.makedirs(self.staging / parent, exist_ok=True)
        same, linked = _reuse(self.out_dir, rel, self.staging / rel, data) if self.entries.get(rel) == "file" \
            else (False, False)
        if not linked:
            _write_new(self.staging / rel, data)
        return digest, same


def _collect(staged: Iterable[Staged]) -> tuple[dict[str, str], dict[str, str], bool]:
    """(hashes, owners, every file already on disk as is) of what was staged."""
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
    return hashes, owners, same


def tidy(out_dir: Path) -> None:
    """Remove a killed compile's leftovers, when nothing else needs writing."""
    out_dir = Path(os.path.abspath(out_dir))
    if _kind(work_dir(out_dir)) != "dir":
        return
    if any(_kind(path) is not None for path in (staging_dir(out_dir), retired_dir(out_dir), journal_dir(out_dir))):
        with _locked(out_dir.parent):
            recover_interrupted(out_dir)


def recover_interrupted(out_dir: Path) -> None:
    """Remove what a killed compile left beside generated/ (never inside it). Anything else
    under those two names in `.mlopsc` (a symlink) loses its name, never its target."""
    if _kind(work_dir(out_dir)) != "dir":
        return
    _finish_journal(out_dir)
    retired = retired_dir(out_dir)
    kind = _kind(retired)
    if kind == "dir":
        if _kind(out_dir) is not None:
            shutil.rmtree(retired)
        else:  # killed between the two renames of the fallback swap: put the old tree back
            os.rename(retired, out_dir)
    elif kind is not None:
        os.unlink(retired)
    staging = staging_dir(out_dir)
    kind = _kind(staging)
    if kind == "dir":
        shutil.rmtree(staging)
    elif kind is not None:
        os.unlink(staging)


def _finish(staging: Path, out_dir: Path, inventory: bytes, carried: list[str], carried_dirs: list[str]) -> None:
    """After the produced files: the inventory, and everything carried over as it is."""
    wanted_dirs = set(carried_dirs)
    for rel in carried:
        wanted_dirs.update(parents_of(rel))
    for rel in sorted(wanted_dirs):  # a parent sorts before its children
        os.makedirs(staging / rel, exist_ok=True)
    _write_new(staging / INVENTORY, inventory)
    for rel in carried:
        _carry(out_dir, rel, staging / rel)
    if _kind(out_dir) == "dir":
        os.chmod(staging, stat.S_IMODE(os.lstat(out_dir).st_mode))


def _report(previous: Inventory, hashes: dict[str, str], entries: dict[str, str]) -> WriteReport:
    """Counts the produced files; the inventory's own files are bookkeeping, not output."""
    return WriteReport(
        added=sorted(p for p in hashes if p not in previous.files and not is_inventory(p)),
        updated=sorted(p for p in hashes if p in previous.files and previous.files[p] != hashes[p]
                       and not is_inventory(p)),
        removed=sorted(p for p in previous.files if p not in hashes and entries.get(p) == "file"
                       and not is_inventory(p)))


def scan(out_dir: Path) -> dict[str, str]:
    """Every entry under generated/: relative POSIX path -> 'file', 'dir', 'link' or 'special',
    found without following a symlink (a symlinked directory is a 'link', never entered)."""
    if _kind(out_dir) != "dir":
        return {}
    return {rel: _kind(Path(path)) or "special" for rel, path in walk_entries(out_dir)}


def walk_entries(out_dir: Path) -> Iterator[tuple[str, str]]:
    """(relative POSIX path, full path) of every entry under out_dir, found without following a
    symlink (a symlinked directory is listed, never entered)."""
    prefix = len(str(out_dir)) + 1
    for top, dirs, names in os.walk(out_dir):
        rel_top = top[prefix:].replace(os.sep, "/")
        for name in dirs + names:
            yield (f"{rel_top}/{name}" if rel_top else name), os.path.join(top, name)


def _carried(entries: dict[str, str], previous: Inventory, fresh: set[str],
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


def _reuse(out_dir: Path, rel: str, new: Path, data: bytes) -> tuple[bool, bool]:
    """(the old tree's file holds exactly `data`, it was hard-linked into the new tree as `new`).

    Creating a file costs a file system far more than reading one and adding a name to it, and
    most compiles change few files; an unchanged file also keeps its inode and mtime. Nothing
    ever writes into a file in place, so the two trees sharing it until the old one is deleted
    is harmless. A symlink (anywhere on the way) is never read; an executable file, or a file
    system without hard links, gets a new file instead.
    """
    try:
        fd = open_inside(out_dir, rel)
    except (UnsafeFile, OSError):
        return False, False
    with os.fdopen(fd, "rb") as f:
        os.set_blocking(fd, True)
        info = os.fstat(fd)
        if info.st_size != len(data) or f.read() != data:
            return False, False
    if info.st_mode & 0o111:
        return True, False
    try:
        os.link(out_dir / rel, new, follow_symlinks=False)
    except OSError:  # no hard links on this file system
        return True, False
    return True, True


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


# Where a hard link cannot be made, a file is copied instead; any other error is a real problem.
_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


def _carry(out_dir: Path, rel: str, dest: Path) -> None:
    """Put an existing regular file into the new tree unchanged, at exactly the same path: a hard
    link (same inode, no copy), else a copy of its bytes. Never anywhere else: a name that is
    already taken is an error, never a reason to put the file somewhere it was not."""
    try:
        os.link(out_dir / rel, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        fd = open_inside(out_dir, rel)
        with os.fdopen(fd, "rb") as f:
            os.set_blocking(fd, True)
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            _write_new(dest, f.read())
        os.chmod(dest, mode)


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


# ------------------------------------------------------------------------------- in place
class NotIncremental(Exception):
    """update_in_place cannot do this change (a file's bytes are unknown): write the whole tree."""


def update_in_place(out_dir: Path, previous_hashes: dict[str, str], entries: dict[str, str],
                    produced: dict[str, tuple[str, str | None]], new_bytes: dict[str, bytes], *,
                    still_as_recorded: Callable[[], bool], out_label: str = "generated",
                    ) -> tuple[WriteReport, dict[str, str], list[str]]:
    """Bring generated/ from the verified previous tree to the produced one, touching only what
    changes: `previous_hashes` (path -> sha256 of every file the last compile wrote, inventory
    included) and `entries` (path -> kind, every entry on disk) describe generated/ now, as the
    caller verified; `produced` is path -> (sha256, owner) of every file the compile makes, and
    `new_bytes` the bytes of each one that may differ from disk. `still_as_recorded()` is asked
    again under the lock (another compile may have written since): NotIncremental when it says
    no. Returns the report, the files written (path -> sha256) and the paths removed. Refusals
    are write_stream's (O002, O004)."""
    out_dir = Path(os.path.abspath(out_dir))
    hashes = {rel: sha for rel, (sha, _) in produced.items()}
    owners = {rel: owner for rel, (_, owner) in produced.items() if owner is not None}
    inventory_files = render_inventory(hashes, owners)
    payload = {rel: data for rel, data in new_bytes.items() if rel in hashes}
    for rel, data in inventory_files.items():
        hashes[rel] = sha256(data)
        payload[rel] = data
    changed = sorted(rel for rel, sha in hashes.items() if previous_hashes.get(rel) != sha)
    if any(rel not in payload for rel in changed):
        raise NotIncremental(next(rel for rel in changed if rel not in payload))
    gone = sorted(rel for rel in previous_hashes if rel not in hashes and entries.get(rel) == "file")
    previous = Inventory({p: h for p, h in previous_hashes.items() if p != INVENTORY}, {}, True)
    obstacles = _obstacles([rel for rel in changed if previous_hashes.get(rel) is None], entries, previous)
    if obstacles:
        raise OutputRefused([
            (OUTPUT_NOT_REGULAR if entries.get(rel) in ("link", "special") else OUTPUT_IN_THE_WAY)
            .at(Position(f"{out_label}/{shown(rel)}"), f"`{out_label}/{shown(rel)}` {why}")
            for rel, why in obstacles])
    report = _report(Inventory(previous_hashes, {}, True), hashes, entries)
    report.tree = dict(sorted(hashes.items()))
    report.kept = sum(1 for rel, kind in entries.items()
                      if kind == "file" and rel not in previous_hashes and rel not in hashes)
    if not changed and not gone:
        return report, {}, []
    # Directories that only held removed files go too, as a full compile would not make them.
    emptied = _emptied_dirs(entries, gone, changed)
    plan = [["write", rel, str(i)] for i, rel in enumerate(changed)] + [["remove", rel] for rel in gone] + \
        [["rmdir", rel] for rel in emptied]
    with _locked(out_dir.parent):
        if _kind(journal_dir(out_dir)) is not None:
            raise NotIncremental("a killed compile's journal is pending")  # the whole write finishes it
        recover_interrupted(out_dir)  # a killed whole write's leftovers (or anything planted there)
        if not still_as_recorded():
            raise NotIncremental("generated/ changed since it was verified")
        ensure_work_dir(out_dir)
        journal = journal_dir(out_dir)
        journal.mkdir()
        try:
            for i, rel in enumerate(changed):
                _write_new(journal / str(i), payload[rel])
            _write_plan(journal / "plan.tmp", plan)
        except BaseException:
            shutil.rmtree(journal, ignore_errors=True)
            raise
        os.rename(journal / "plan.tmp", journal / "plan")  # the commit point
        _finish_journal(out_dir)
    report.written = True
    report.inventory_only = not (report.added or report.updated or report.removed)
    return report, {rel: hashes[rel] for rel in changed}, gone + emptied


def interrupted(out_dir: Path) -> bool:
    """Whether a killed in-place update left its committed journal (the next compile finishes it)."""
    return _committed_plan(journal_dir(out_dir)) is not None


def _write_plan(path: Path, ops: list) -> None:
    """The journal's plan, naming its own device and inode: a journal committed to the repository
    (`git add -f .mlopsc`) is a new file in every clone, so it is never carried out."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    info = os.fstat(fd)
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps({"file": [info.st_dev, info.st_ino], "ops": ops}).encode())


_JOURNAL_OPS = {"write": 3, "remove": 2, "rmdir": 2}  # what each step holds


def _committed_plan(journal: Path) -> list | None:
    """The steps of the journal this machine's compile committed, or None: no journal, killed
    before its commit, or a plan it did not write (another file, a step leaving generated/)."""
    if _kind(journal) != "dir":
        return None
    try:
        fd = open_inside(journal, "plan")
    except (UnsafeFile, OSError):
        return None
    with os.fdopen(fd, "rb") as f:
        os.set_blocking(fd, True)
        info = os.fstat(fd)
        try:
            body = json.loads(f.read(MAX_DATA_BYTES))
        except (ValueError, RecursionError):
            return None
    if not isinstance(body, dict) or body.get("file") != [info.st_dev, info.st_ino] or \
            not isinstance(body.get("ops"), list):
        return None
    for op in body["ops"]:
        if not (isinstance(op, list) and op and _JOURNAL_OPS.get(op[0]) == len(op)
                and all(isinstance(part, str) for part in op) and unsafe_path(op[1]) is None
                and (op[0] != "write" or op[2].isdigit())):
            return None
    return body["ops"]


def _emptied_dirs(entries: dict[str, str], gone: list[str], changed: list[str]) -> list[str]:
    """Directories left empty once `gone` are removed (deepest first), none that gets a file."""
    remaining: dict[str, int] = {}
    for rel in entries:
        if "/" in rel:
            parent = rel.rsplit("/", 1)[0]
            remaining[parent] = remaining.get(parent, 0) + 1
    kept = {parent for rel in changed for parent in parents_of(rel)}
    emptied: list[str] = []
    for rel in gone:
        for parent in reversed(parents_of(rel)):
            remaining[parent] -= 1
            if remaining[parent] or parent in kept:
                break
            emptied.append(parent)  # and its own parent loses an entry: the loop goes on up
    return sorted(set(emptied), key=lambda r: (-r.count("/"), r))


def _finish_journal(out_dir: Path) -> None:
    """Apply a committed journal (idempotent: what was applied before a kill is applied again or
    skipped), or drop one that was never committed."""
    journal = journal_dir(out_dir)
    if _kind(journal) != "dir":
        if _kind(journal) is not None:
            os.unlink(journal)
        return
    # None: killed before the commit (generated/ was never touched), or not this compile's.
    for op in _committed_plan(journal) or ():
        target = out_dir / op[1]
        if op[0] == "write":
            staged = journal / op[2]
            if _kind(staged) == "file":
                os.makedirs(target.parent, exist_ok=True)
                os.replace(staged, target)
        elif op[0] == "remove":
            if _kind(target) == "file":
                os.unlink(target)
        elif op[0] == "rmdir":
            with contextlib.suppress(FileNotFoundError, OSError):
                os.rmdir(target)
    shutil.rmtree(journal)
