"""The inventory: which files under generated/ the compiler wrote, with their sha256.

The output stage writes it; the front end reads the previous compile's (the promotion history is
trusted only if it is what the inventory recorded). Both use this one definition of the format:
`files` (path -> sha256 of what mlopsc wrote) and `projects` (which project's spec each file
comes from; files about the whole repository are in no project).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

INVENTORY = ".mlopsc-inventory.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Inventory:
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    owners: dict[str, str] = field(default_factory=dict)  # path -> "team/project"; none: repository-wide
    readable: bool = False  # False when generated/ has no (parseable) inventory


def load_inventory(out_dir: Path) -> Inventory:
    try:
        return parse_inventory((out_dir / INVENTORY).read_bytes())
    except OSError:
        return Inventory()


def parse_inventory(raw: bytes) -> Inventory:
    """An inventory's bytes → Inventory; an unreadable one (a merge conflict) owns nothing."""
    try:
        data = json.loads(raw.decode("utf-8"))
        files = data["files"]
        projects = data.get("projects", {})
        owners = {str(p): str(key) for key, paths in projects.items() for p in paths}
        return Inventory({str(k): str(v) for k, v in files.items()}, owners, True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return Inventory()


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
