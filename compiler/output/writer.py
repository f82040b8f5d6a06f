"""The only stage that writes to disk: the generated tree, its inventory, pruning and --check.

The compiler owns exactly the files listed in `generated/.mlopsc-inventory.json` (path → sha256).
A compile writes the new tree, removes owned files it no longer produces, and never touches a file
it does not own (a hand-written README in generated/ survives).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

INVENTORY = ".mlopsc-inventory.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_inventory(out_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((out_dir / INVENTORY).read_text(encoding="utf-8"))
        files = data.get("files", {})
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def inventory_bytes(files: dict[str, bytes]) -> bytes:
    body = {"generator": "mlopsc", "files": {p: sha256(files[p]) for p in sorted(files)}}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


@dataclass
class Drift:
    changed: list[str]
    missing: list[str]
    orphaned: list[str]
    diff: str

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.orphaned)


def check_tree(out_dir: Path, files: dict[str, bytes], out_label: str = "generated") -> Drift:
    """Compare what compile would write with the tree on disk, writing nothing."""
    expected = dict(files)
    expected[INVENTORY] = inventory_bytes(files)
    owned = read_inventory(out_dir)
    changed, missing, diff = [], [], []
    for rel in sorted(expected):
        path = out_dir / rel
        try:
            current = path.read_bytes()
        except OSError:
            missing.append(rel)
            diff.extend(_udiff(b"", expected[rel], f"{out_label}/{rel}", missing=True))
            continue
        if current != expected[rel]:
            changed.append(rel)
            diff.extend(_udiff(current, expected[rel], f"{out_label}/{rel}"))
    orphaned = sorted(p for p in owned if p not in expected and (out_dir / p).exists())
    for rel in orphaned:
        diff.extend(_udiff((out_dir / rel).read_bytes(), b"", f"{out_label}/{rel}", removed=True))
    return Drift(changed, missing, orphaned, "".join(diff))


def _udiff(old: bytes, new: bytes, label: str, missing: bool = False, removed: bool = False) -> list[str]:
    a = old.decode("utf-8", "replace").splitlines(keepends=True)
    b = new.decode("utf-8", "replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, "/dev/null" if missing else f"a/{label}",
                                      "/dev/null" if removed else f"b/{label}"))
    return [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]


def write_tree(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write the files, prune owned files no longer produced, then record the inventory."""
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = read_inventory(out_dir)
    for rel, data in sorted(files.items()):
        path = out_dir / rel
        if path.exists() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".mlopsc-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    for rel in sorted(set(previous) - set(files)):
        path = out_dir / rel
        if path.is_file():
            path.unlink()
            _remove_empty_parents(path.parent, out_dir)
    (out_dir / INVENTORY).write_bytes(inventory_bytes(files))


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    while directory != stop and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
