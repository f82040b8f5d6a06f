"""The inventory: which files under generated/ the compiler wrote, with their sha256.

The output stage writes it; the front end reads the previous compile's (the promotion history is
trusted only if it is what the inventory recorded). Both use this one definition of the format.

It is split so that no file grows with the repository and a one-project change rewrites only
that project's part and a small index:
- `.mlopsc-inventory.json`, the index: `files` (path -> sha256) of the repository-wide files
  (lineage index and team pages, Argo CD, schemas, the promotion history) and of every part;
- `.mlopsc-inventory/<team>/<project>.json`, one part per project: `project` ("team/project") and
  `files` (path -> sha256) of the files that come from that project's spec.
An index of the earlier single-file format (`files` for every path, `projects` naming each
project's paths) is still read, so a repository compiled by an earlier mlopsc upgrades in place.

The inventory is committed, so a pull request can change it: it is data, never trusted as a path.
Every path it names must be a plain relative path inside generated/ (compiler/files.py's
`safe_relative`); an inventory naming any other path (`../../proc/self/environ`, `/etc/passwd`)
owns nothing, and `unsafe` lists what it named (and in which of its files) so that the output
stage can refuse it by name. Its files are read through compiler/files.py (regular file, no
symlink, bounded) and parsed without recursion limits mattering (a 2,000-deep nesting is just an
unreadable inventory; an unreadable part owns nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .files import UnsafeFile, read_inside, safe_relative

INVENTORY = ".mlopsc-inventory.json"
INVENTORY_PARTS = ".mlopsc-inventory"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def part_path(project: str) -> str:
    """Where a project's part of the inventory lives ("team/project" are validated names)."""
    return f"{INVENTORY_PARTS}/{project}.json"


def is_inventory(rel: str) -> bool:
    """The index or one of its parts: written by the output stage itself, never by a back end."""
    return rel == INVENTORY or rel.startswith(INVENTORY_PARTS + "/")


@dataclass(frozen=True)
class Inventory:
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256, the parts' paths included
    owners: dict[str, str] = field(default_factory=dict)  # path -> "team/project"; none: repository-wide
    readable: bool = False  # False when generated/ has no (parseable, trustworthy) inventory
    # Paths the inventory names that are not plain relative paths inside generated/: (the
    # inventory file naming it, the path as printable text, escaped). Such an inventory is not
    # trusted at all (files and owners are empty).
    unsafe: tuple[tuple[str, str], ...] = ()


def load_inventory(out_dir: Path, *, parts: bool = True) -> Inventory:
    """The inventory in out_dir, read as untrusted data: none when out_dir is a symlink, or the
    index is not a regular file, or it cannot be parsed. Without `parts`, only the index (the
    repository-wide files, e.g. the promotion history's record)."""
    out_dir = Path(out_dir)
    try:
        if stat.S_ISLNK(os.lstat(out_dir).st_mode):
            return Inventory()
        index = read_inside(out_dir, INVENTORY)
    except (OSError, UnsafeFile):
        return Inventory()

    def read_part(rel: str) -> bytes | None:
        try:
            return read_inside(out_dir, rel)
        except (OSError, UnsafeFile):
            return None

    return parse_inventory(index, read_part if parts else None)


def _load_json(raw: bytes) -> dict | None:
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("files", {}), dict):
            return None
        return data
    except (ValueError, RecursionError):
        return None


def parse_inventory(raw: bytes, read_part: Callable[[str], bytes | None] | None = None) -> Inventory:
    """An index's bytes (and its parts, by `read_part(path)`) → Inventory; an unreadable index (a
    merge conflict) owns nothing, and one that names a path outside generated/ owns nothing and
    lists it in `unsafe`."""
    data = _load_json(raw)
    if data is None or "files" not in data:
        return Inventory()
    try:
        files = {str(k): str(v) for k, v in data["files"].items()}
        named = {path: INVENTORY for path in files}
        owners = {str(p): str(key) for key, paths in data.get("projects", {}).items() for p in paths}
        named.update((path, INVENTORY) for path in owners)
    except (ValueError, TypeError, AttributeError):
        return Inventory()
    if read_part is not None:
        for rel in sorted(files):
            if not rel.startswith(INVENTORY_PARTS + "/") or unsafe_path(rel):
                continue
            part = _load_json(read_part(rel) or b"")
            if part is None or not isinstance(part.get("project"), str):
                continue  # an unreadable part owns nothing: compile takes its files over
            try:
                own = {str(k): str(v) for k, v in part.get("files", {}).items()}
            except (ValueError, TypeError, AttributeError):
                continue
            for path, digest in own.items():
                named.setdefault(path, rel)
                files.setdefault(path, digest)
                owners[path] = part["project"]
    unsafe = tuple((named[path], shown) for path in sorted(named) if (shown := unsafe_path(path)))
    if unsafe:
        return Inventory(unsafe=unsafe)
    return Inventory(files, owners, True)


def unsafe_path(path: str) -> str | None:
    """The path as printable text when it is not how mlopsc writes a path inside generated/
    (a plain relative path, normalised); None when it is."""
    try:
        if safe_relative(path) != path:  # `./a`, `a//b`: not how mlopsc writes a path
            raise UnsafeFile(path, "is not a normalised path")
    except UnsafeFile as exc:
        return exc.path
    return None


def read_inventory(out_dir: Path) -> dict[str, str]:
    """path -> sha256 of every repository-wide file the last compile wrote ({} without an
    inventory): the index alone, which is what the front end reads back."""
    return load_inventory(out_dir, parts=False).files


def _json(body: dict) -> bytes:
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def render_inventory(hashes: dict[str, str], owners: dict[str, str]) -> dict[str, bytes]:
    """The inventory's files for the produced files `hashes` (path -> sha256, no inventory file
    among them), the index last: {path: bytes}."""
    by_project: dict[str, dict[str, str]] = {}
    repository_wide: dict[str, str] = {}
    for path in sorted(hashes):
        owner = owners.get(path)
        if owner is None:
            repository_wide[path] = hashes[path]
        else:
            by_project.setdefault(owner, {})[path] = hashes[path]
    rendered: dict[str, bytes] = {}
    for project in sorted(by_project):
        data = _json({"generator": "mlopsc", "project": project, "files": by_project[project]})
        rendered[part_path(project)] = data
        repository_wide[part_path(project)] = sha256(data)
    rendered[INVENTORY] = _json({"generator": "mlopsc", "files": dict(sorted(repository_wide.items()))})
    return rendered
