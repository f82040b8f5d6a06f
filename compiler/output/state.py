"""What the incremental compile remembers between runs: parsed specs, emitted units, the tree.

Three caches, each one file:
- `yaml`: each spec file's parsed data and source positions, by the sha256 of its bytes (parsing
  YAML with positions is most of loading);
- `units-<out>`: for each emission unit (compiler/build.py), the key of what it read
  (compiler/middle/reach.py) and the files it made, as (path, sha256, owner): a unit whose key
  has not changed is not emitted again;
- `tree-<out>` (local only): every entry of generated/ as the last compile left it (kind, inode,
  size, mtime, and the sha256 of each file mlopsc wrote), so that a compile can tell with one
  lstat per entry, without reading a byte, that generated/ is still exactly that tree, and then
  rewrite only the files that change (compiler/output/writer.py's `update_in_place`).

Where they live. By default in `.mlopsc/cache/` beside generated/: local, never committed
(`.mlopsc` ignores itself in Git), safe to delete, never trusted across compiler versions. Each
file starts with a JSON header line naming the format, the compiler's identity and the file's own
device and inode: a `.mlopsc/` someone committed anyway is a new inode in every clone, so a pull
request can never plant a cache (the payload after the header is only read once the header
matched). `--cache DIR` (for CI) keeps `yaml` and `units-<out>` in DIR instead: a directory
outside the repository that the CI system restores, written only by default-branch jobs
(docs/CI.md); there the inode check cannot hold (a restored file is new) and DIR is trusted as
the CI configuration is. The tree record stays local: a CI clone has no earlier tree.

The payload is `marshal` data (plain dicts, lists, tuples and strings), the fastest format Python
reads; anything unreadable, of another format or another compiler is simply no cache.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..files import MAX_DATA_BYTES
from .writer import ensure_work_dir, kind_of, parents_of, walk_entries, work_dir

FORMAT = 1
CACHE_DIR = "cache"
# Files whose mtime lies this close to the moment the tree was recorded may have been changed
# again within the file system's timestamp granularity (a few ms): they are hashed, not trusted
# by their stat (git's "racy" entries).
RACY_NS = 50_000_000
MAX_CACHE_BYTES = 4 * MAX_DATA_BYTES


def cache_dir(out_dir: Path, explicit: Path | None = None) -> Path:
    return explicit if explicit is not None else work_dir(out_dir) / CACHE_DIR


def local_dir_ready(directory: Path, create: bool) -> bool:
    """Whether `.mlopsc/cache` is a real directory, never a symlink (a committed or planted one
    would lead reads and writes out of the repository). With `create`, whatever else holds that
    name in mlopsc's scratch space loses it (unlinked, never followed) and the directory is made;
    `.mlopsc` itself is the output stage's to vouch for (O001)."""
    try:
        mode = os.lstat(directory).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        return True
    if not create:
        return False
    if mode is not None:
        os.unlink(directory)
    directory.mkdir()
    return True


def _read(path: Path, compiler: str, check_identity: bool, records: bool = False):
    """The payload of one cache file, or None (missing, foreign, planted, damaged). With
    `records`, the file is a log of marshal records: their list (a damaged tail is dropped)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CACHE_BYTES:
            return None
        os.set_blocking(fd, True)
        found: list = []
        try:
            header = json.loads(f.readline(4096).decode("utf-8"))
            if header.get("format") != FORMAT or header.get("compiler") != compiler:
                return None
            if check_identity and header.get("file") != [info.st_dev, info.st_ino]:
                return None
            if not records:
                return marshal.loads(f.read())
            body = memoryview(f.read())
            at = 0
            while at < len(body):  # each record: its length (8 bytes, little-endian), then it
                size = int.from_bytes(body[at:at + 8], "little")
                found.append(marshal.loads(body[at + 8:at + 8 + size]))
                at += 8 + size
            return found
        except (ValueError, EOFError, TypeError, AttributeError, UnicodeDecodeError, RecursionError):
            return found if records else None


def _record(value) -> bytes:
    data = marshal.dumps(value)
    return len(data).to_bytes(8, "little") + data


def _write(path: Path, compiler: str, payload, records: list | None = None) -> None:
    """Write atomically (a temporary file renamed over it), the header naming its own inode;
    `records` instead of a payload makes a log (see _read)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a name in mlopsc's scratch space (or the CI's cache): never followed
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    info = os.fstat(fd)
    header = json.dumps({"format": FORMAT, "compiler": compiler, "file": [info.st_dev, info.st_ino]})
    with os.fdopen(fd, "wb") as f:
        f.write(header.encode() + b"\n")
        if records is None:
            f.write(marshal.dumps(payload))
        else:
            for record in records:
                f.write(_record(record))
    os.replace(tmp, path)


def forget(out_dir: Path, name: str) -> None:
    directory = cache_dir(out_dir)
    if local_dir_ready(directory, create=False):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(directory / name)


# ------------------------------------------------------------------------------------- yaml
class YamlCache:
    """sha256 of a spec's bytes -> (data, key positions, value positions); `get`/`put` for the
    front end (compiler/frontend/loader.py), `save` keeps exactly what this compile used."""

    def __init__(self, entries: dict | None = None):
        self.entries = entries if isinstance(entries, dict) else {}
        self.stored = set(self.entries)  # what the cache file holds already
        self.used: set[str] = set()

    def get(self, digest: str):
        value = self.entries.get(digest)
        if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], dict) and isinstance(value[2], dict):
            self.used.add(digest)
            return value
        return None

    def put(self, digest: str, value) -> None:
        self.entries[digest] = value
        self.used.add(digest)


def load_yaml_cache(directory: Path, compiler: str, local: bool) -> YamlCache:
    entries = {}
    for record in _read(directory / "yaml", compiler, local, records=True) or ():
        if isinstance(record, tuple) and len(record) == 2:
            entries[record[0]] = record[1]
    return YamlCache(entries)


def save_yaml_cache(directory: Path, compiler: str, cache: YamlCache) -> None:
    """The cache is a log: what this compile parsed anew is appended (a one-spec change writes
    one record, not the whole cache); once most records are stale it is written afresh."""
    stored = cache.stored
    new = sorted(d for d in cache.used if d not in stored)
    path = directory / "yaml"
    if len(stored - cache.used) > max(len(cache.used), 64) or not stored:
        if cache.used:
            _write(path, compiler, None, records=[(d, cache.entries[d]) for d in sorted(cache.used)])
        return
    if new:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        with os.fdopen(fd, "ab") as f:
            for digest in new:
                f.write(_record((digest, cache.entries[digest])))


# ------------------------------------------------------------------------------------ units
UnitFiles = list  # [(path, sha256, owner or None)]


def load_units(directory: Path, out_name: str, compiler: str, local: bool) -> dict:
    """unit id -> (key, files) of the last compile (or the CI cache)."""
    data = _read(directory / f"units-{out_name}", compiler, local)
    if not isinstance(data, dict):
        return {}
    return {uid: entry for uid, entry in data.items() if _unit_entry(entry)}


def _unit_entry(entry) -> bool:
    """(key, [(path, sha256, owner or None), ...]): anything else (a damaged cache) is no entry."""
    return (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
            and isinstance(entry[1], list)
            and all(isinstance(f, tuple) and len(f) == 3 and isinstance(f[0], str) and isinstance(f[1], str)
                    and (f[2] is None or isinstance(f[2], str)) for f in entry[1]))


def save_units(directory: Path, out_name: str, compiler: str, units: dict) -> None:
    _write(directory / f"units-{out_name}", compiler, units)


# ------------------------------------------------------------------------------------- tree
@dataclass
class Tree:
    """generated/ as the last compile left it: entry -> (kind, inode, size, mtime_ns, sha256 or
    "" when mlopsc did not write it or it is a directory); "" is generated/ itself."""

    entries: dict[str, tuple] = field(default_factory=dict)
    recorded_ns: int = 0
    owners: dict[str, str] = field(default_factory=dict)  # as in the inventory

    def hashes(self) -> dict[str, str]:
        return {rel: e[4] for rel, e in self.entries.items() if e[0] == "file" and e[4]}


def _entry(info: os.stat_result, sha: str = "") -> tuple:
    return (kind_of(info.st_mode), info.st_ino, info.st_size, info.st_mtime_ns, sha)


def record_tree(out_dir: Path, hashes: dict[str, str], owners: dict[str, str]) -> Tree:
    """Every entry under generated/ now (one walk), with the sha256 mlopsc wrote for its files."""
    out_dir = Path(os.path.abspath(out_dir))
    tree = Tree(recorded_ns=time.time_ns(), owners=dict(owners))
    tree.entries[""] = _entry(os.lstat(out_dir))
    for rel, path in walk_entries(out_dir):
        tree.entries[rel] = _entry(os.lstat(path), hashes.get(rel, ""))
    return tree


def load_tree(out_dir: Path, compiler: str) -> Tree | None:
    directory = cache_dir(out_dir)
    if not local_dir_ready(directory, create=False):
        return None
    data = _read(directory / f"tree-{Path(os.path.abspath(out_dir)).name}", compiler, True)
    if not isinstance(data, dict):
        return None
    try:
        return Tree(dict(data["entries"]), int(data["recorded_ns"]), dict(data["owners"]))
    except (KeyError, TypeError, ValueError):
        return None


def save_tree(out_dir: Path, compiler: str, tree: Tree) -> None:
    ensure_work_dir(out_dir)
    directory = cache_dir(out_dir)
    local_dir_ready(directory, create=True)
    _write(directory / f"tree-{Path(os.path.abspath(out_dir)).name}", compiler,
           {"entries": tree.entries, "recorded_ns": tree.recorded_ns, "owners": tree.owners})


def verify_tree(out_dir: Path, tree: Tree, *, directories_only: bool = False) -> bool:
    """Whether generated/ is still exactly the recorded tree: every entry the same kind, inode,
    size and mtime, no entry added, removed or renamed over in any directory (its mtime would
    differ), and every file changed too close to the recording for its mtime to tell read and
    hashed. `directories_only`: just the directories, enough to see that no compile wrote since
    a full verification (every write renames or creates an entry)."""
    try:
        return _verify(Path(os.path.abspath(out_dir)), tree, directories_only)
    except OSError:  # e.g. a directory that cannot be listed: not the tree compile left
        return False
    except (TypeError, ValueError, IndexError):  # a damaged record: no record
        return False


def _verify(out_dir: Path, tree: Tree, directories_only: bool) -> bool:
    import hashlib

    racy_from = tree.recorded_ns - RACY_NS
    children: dict[str, set[str]] | None = None  # directory -> names in it, made when needed
    for rel, recorded in tree.entries.items():
        if directories_only and recorded[0] != "dir":
            continue
        path = os.path.join(out_dir, rel) if rel else str(out_dir)
        try:
            now = _entry(os.lstat(path), recorded[4])
        except OSError:
            return False
        if now != recorded:
            return False
        if recorded[3] >= racy_from:
            if recorded[0] == "dir":
                if children is None:
                    children = {}
                    for entry in tree.entries:
                        if entry:
                            parent, _, name = entry.rpartition("/")
                            children.setdefault(parent, set()).add(name)
                if set(os.listdir(path)) != children.get(rel, set()):
                    return False
            elif recorded[0] == "file" and recorded[4]:
                try:
                    with open(path, "rb") as f:
                        if hashlib.sha256(f.read()).hexdigest() != recorded[4]:
                            return False
                except OSError:
                    return False
    return True


def update_tree(out_dir: Path, tree: Tree, written: dict[str, str], removed: list[str],
                owners: dict[str, str]) -> Tree:
    """The record after update_in_place: the written files and every directory on their way
    looked at again, the removed entries dropped."""
    out_dir = Path(os.path.abspath(out_dir))
    entries = dict(tree.entries)
    touched_dirs = {""}
    for rel in removed:
        entries.pop(rel, None)
        touched_dirs.update(parents_of(rel))
    for rel, sha in written.items():
        entries[rel] = _entry(os.lstat(out_dir / rel), sha)
        touched_dirs.update(parents_of(rel))
    for rel in sorted(touched_dirs):
        path = out_dir / rel if rel else out_dir
        try:
            entries[rel] = _entry(os.lstat(path))
        except FileNotFoundError:  # pruned: empty once its files went
            entries.pop(rel, None)
    return Tree(entries, time.time_ns(), dict(owners))
