"""The inventory: which files under generated/ the compiler wrote, with their sha256.

The output stage writes it; the front end reads the previous compile's (the promotion history is
trusted only if it is what the inventory recorded). Both use this one definition of the format:
`files` (path -> sha256 of what mlopsc wrote) and `projects` (which project's spec each file
comes from; files about the whole repository are in no project).

The inventory is committed, so a pull request can change it: it is data, never trusted as a path.
Every path it names must be a plain relative path inside generated/ (compiler/files.py's
`safe_relative`); an inventory naming any other path (`../../proc/self/environ`, `/etc/passwd`)
owns nothing, and `unsafe` lists what it named so that the output stage can refuse it by name.
It is read through compiler/files.py (regular file, no symlink, bounded) and parsed without
recursion limits mattering (a 2,000-deep nesting is just an unreadable inventory).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .files import UnsafeFile, read_inside, safe_relative

INVENTORY = ".mlopsc-inventory.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Inventory:
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    owners: dict[str, str] = field(default_factory=dict)  # path -> "team/project"; none: repository-wide
    readable: bool = False  # False when generated/ has no (parseable, trustworthy) inventory
    # Paths the inventory names that are not plain relative paths inside generated/ (as printable
    # text, escaped): such an inventory is not trusted at all (files and owners are empty).
    unsafe: tuple[str, ...] = ()


def load_inventory(out_dir: Path) -> Inventory:
    """The inventory in out_dir, read as untrusted data: none when out_dir is a symlink, or the
    inventory is not a regular file, or it cannot be parsed."""
    try:
        if stat.S_ISLNK(os.lstat(out_dir).st_mode):
            return Inventory()
        return parse_inventory(read_inside(Path(out_dir), INVENTORY))
    except (OSError, UnsafeFile):
        return Inventory()


def parse_inventory(raw: bytes) -> Inventory:
    """An inventory's bytes → Inventory; an unreadable one (a merge conflict) owns nothing, and
    one that names a path outside generated/ owns nothing and lists it in `unsafe`."""
    try:
        data = json.loads(raw.decode("utf-8"))
        files = data["files"]
        projects = data.get("projects", {})
        owners = {str(p): str(key) for key, paths in projects.items() for p in paths}
        files = {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return Inventory()
    unsafe = []
    for path in sorted({*files, *owners}):
        try:
            if safe_relative(path) != path:  # `./a`, `a//b`: not how mlopsc writes a path
                raise UnsafeFile(path, "is not a normalised path")
        except UnsafeFile as exc:
            unsafe.append(exc.path)
    if unsafe:
        return Inventory(unsafe=tuple(unsafe))
    return Inventory(files, owners, True)


def read_inventory(out_dir: Path) -> dict[str, str]:
    """path -> sha256 of every file the last compile wrote ({} without an inventory)."""
    return load_inventory(out_dir).files


def render_inventory(hashes: dict[str, str], owners: dict[str, str]) -> bytes:
    projects: dict[str, list[str]] = {}
    for path in sorted(owners):
        if path in hashes:
            projects.setdefault(owners[path], []).append(path)
    body = {"generator": "mlopsc", "files": {p: hashes[p] for p in sorted(hashes)},
            "projects": {k: projects[k] for k in sorted(projects)}}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
