"""Compile cost follows the change: emit only the units whose inputs changed, write only the
files that change.

The pipeline is the same as a full compile's (compiler/build.py): every spec is loaded (from the
parse cache where its bytes are unchanged) and the whole repository is checked, so diagnostics
never depend on what changed. Then each emission unit is keyed by what it reads
(compiler/middle/reach.py); a unit whose key the caches know (compiler/output/state.py) is not
emitted again, its files are known by their sha256. When generated/ is verified to be exactly
the tree the last compile left, the few files that differ are written in place
(compiler/output/writer.py's update_in_place); otherwise the whole tree is written as always.

Anything global (mlopsc.yaml, the promotion history, this compiler) is in every key, so it
invalidates everything. tests/test_incremental.py compares an incremental compile with one from
scratch, byte for byte, over random edit sequences.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .build import Layout, render_units, unit_id, unit_scope, work_units
from .inventory import sha256
from .middle import reach
from .middle.check import CheckedRepository
from .output import state
from .output.writer import (NotIncremental, WriteReport, check_tree, update_in_place, write_stream)

# Above this share of stale units (and this many), writing the whole tree (atomically swapped)
# costs about the same as writing in place: do that.
IN_PLACE_SHARE = 0.1
IN_PLACE_ALWAYS = 50
# Fewer stale units than this are emitted in this process (forking costs more than they do).
PARALLEL_FROM = 64


@dataclass
class Caches:
    """The caches one compile reads and writes: local in `.mlopsc/cache`, or `--cache DIR`."""

    compiler: str
    directory: Path
    local: bool
    yaml: state.YamlCache
    units: dict = field(default_factory=dict)
    out_dir: Path = Path("generated")

    @property
    def out_name(self) -> str:
        return self.out_dir.name

    @classmethod
    def open(cls, where: Layout, explicit: Path | None) -> "Caches":
        from .output.fingerprint import compiler_identity

        compiler = compiler_identity()
        directory = state.cache_dir(where.out_dir, explicit)
        local = explicit is None
        out_dir = Path(os.path.abspath(where.out_dir))
        if local and not state.local_dir_ready(directory, create=False):
            return cls(compiler, directory, local, state.YamlCache(), {}, out_dir)  # none (yet)
        return cls(compiler, directory, local, state.load_yaml_cache(directory, compiler, local),
                   state.load_units(directory, out_dir.name, compiler, local), out_dir)

    def save(self, units: dict | None) -> None:
        """Keep what this compile parsed and emitted (never fails a compile: it is a cache)."""
        from .output.writer import OutputRefused, ensure_work_dir

        try:
            if self.local:  # .mlopsc/cache: .mlopsc is made (with its .gitignore) first
                ensure_work_dir(self.out_dir)
                state.local_dir_ready(self.directory, create=True)
            else:
                self.directory.mkdir(parents=True, exist_ok=True)
            state.save_yaml_cache(self.directory, self.compiler, self.yaml)
            if units is not None:
                state.save_units(self.directory, self.out_name, self.compiler, units)
        except (OSError, OutputRefused):
            pass


def _keyed_units(checked: CheckedRepository, compiler: str):
    works = work_units(checked)
    ids = [unit_id(w) for w in works]
    keys = reach.unit_keys(checked, [(uid, w[1], unit_scope(w)) for uid, w in zip(ids, works)], compiler)
    return [(w, uid, keys[(uid, w[1])]) for w, uid in zip(works, ids)]


def _jobs(jobs: int, stale: int) -> int:
    return jobs if stale >= PARALLEL_FROM else 1


def verified_tree(where: Layout) -> state.Tree | None:
    """generated/ as the last compile left it, if it still is exactly that (else None)."""
    from .output.fingerprint import compiler_identity

    tree = state.load_tree(where.out_dir, compiler_identity())
    return tree if tree is not None and state.verify_tree(where.out_dir, tree) else None


def compile_tree(where: Layout, checked: CheckedRepository, jobs: int, caches: Caches,
                 out_label: str, tree: state.Tree | None) -> WriteReport:
    """Write generated/ for `checked`, in place when that is all that changes and `tree` (from
    verified_tree) says what generated/ holds. OutputRefused as any write."""
    keyed, stale = _stale_units(checked, caches)
    if not caches.local:
        tree = None  # the tree record and the units it was made from live together, locally
    if tree is not None and len(stale) <= max(IN_PLACE_SHARE * len(keyed), IN_PLACE_ALWAYS):
        try:
            return _in_place(where, checked, jobs, caches, keyed, stale, tree, out_label)
        except NotIncremental:
            pass  # the caches and the tree disagree about a file: write the whole tree
    return _whole(where, checked, jobs, caches, keyed, out_label)


def _stale_units(checked: CheckedRepository, caches: Caches) -> tuple[list, list]:
    """Every unit as (work, id, key), and those of them whose key the caches do not know."""
    keyed = _keyed_units(checked, caches.compiler)
    return keyed, [(w, uid, key) for w, uid, key in keyed if _known_key(caches.units, uid) != key]


def _known_key(known: dict, uid: str):
    entry = known.get(uid)
    return entry[0] if isinstance(entry, tuple) and len(entry) == 2 else None


@dataclass
class _Produced:
    """Every file this compile produces: known from the caches, or emitted now."""

    units: dict = field(default_factory=dict)  # unit id -> (key, [(path, sha256, owner)]): for the caches
    files: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # path -> (sha256, owner)
    new_bytes: dict[str, bytes] = field(default_factory=dict)  # the files emitted now
    cached_in: dict[str, tuple] = field(default_factory=dict)  # path -> the cached unit (work) it is from

    def add(self, path: str, sha: str, owner: str | None) -> None:
        if path in self.files:
            raise AssertionError(f"two back ends emit {path}")  # a compiler bug, not user input
        self.files[path] = (sha, owner)

    @property
    def owners(self) -> dict[str, str]:
        return {path: owner for path, (_, owner) in self.files.items() if owner is not None}


def _produce(checked: CheckedRepository, caches: Caches, keyed: list, stale: list, jobs: int) -> _Produced:
    """The cached units' files by their sha256, and the stale units emitted (bytes kept)."""
    produced = _Produced()
    stale_ids = {uid for _, uid, _ in stale}
    for work, uid, _ in keyed:
        if uid not in stale_ids:
            produced.units[uid] = caches.units[uid]
            for path, sha, owner in caches.units[uid][1]:
                produced.add(path, sha, owner)
                produced.cached_in[path] = work
    key_of = {uid: key for _, uid, key in stale}
    for work, files in render_units(checked, [w for w, _, _ in stale], _jobs(jobs, len(stale))):
        listed = []
        for path, data, owner in files:
            digest = sha256(data)
            produced.add(path, digest, owner)
            produced.new_bytes[path] = data
            listed.append((path, digest, owner))
        produced.units[unit_id(work)] = (key_of[unit_id(work)], listed)
    return produced


def _in_place(where, checked, jobs, caches, keyed, stale, tree, out_label) -> WriteReport:
    produced = _produce(checked, caches, keyed, stale, jobs)
    entries = {rel: entry[0] for rel, entry in tree.entries.items() if rel}
    report, written, removed = update_in_place(
        where.out_dir, tree.hashes(), entries, produced.files, produced.new_bytes, out_label=out_label,
        still_as_recorded=lambda: state.verify_tree(where.out_dir, tree, directories_only=True))
    if report.written:
        try:
            state.save_tree(where.out_dir, caches.compiler,
                            state.update_tree(where.out_dir, tree, written, removed, produced.owners))
        except OSError:  # no record is always safe: the next compile writes the whole tree
            state.forget(where.out_dir, f"tree-{caches.out_name}")
    caches.save(produced.units)
    return report


def _whole(where, checked, jobs, caches, keyed, out_label) -> WriteReport:
    units: dict = {}
    key_of = {uid: key for _, uid, key in keyed}

    def produce(stage):
        for work, staged in render_units(checked, [w for w, _, _ in keyed], jobs, stage):
            uid = unit_id(work)
            units[uid] = (key_of[uid], [(path, digest, owner) for path, digest, owner, _ in staged])
            yield from staged

    report = write_stream(where.out_dir, produce, out_label=out_label)
    owners = {path: owner for files in units.values() for path, _, owner in files[1] if owner is not None}
    if caches.local:
        try:
            state.save_tree(where.out_dir, caches.compiler, state.record_tree(where.out_dir, report.tree, owners))
        except OSError:
            state.forget(where.out_dir, f"tree-{caches.out_name}")
    caches.save(units)
    return report


def check(where: Layout, checked: CheckedRepository, jobs: int, caches: Caches, out_label: str):
    """--check with the caches: emit only the stale units; a cached unit's files are compared
    with generated/ by their sha256, and emitted again only to show a diff where they differ."""
    keyed, stale = _stale_units(checked, caches)
    produced = _produce(checked, caches, keyed, stale, jobs)

    def bytes_of(paths: list[str]) -> dict[str, bytes]:
        """The bytes of cached files that differ from disk, for the diff: their units again."""
        works = sorted({produced.cached_in[p] for p in paths}, key=lambda w: (w[0], w[1] or ""))
        found: dict[str, bytes] = {}
        for _, rendered in render_units(checked, works, 1):
            found.update((path, data) for path, data, _ in rendered)
        return found

    hashes = {path: sha for path, (sha, _) in produced.files.items()}
    drift = check_tree(where.out_dir, produced.new_bytes, produced.owners, out_label, hashes=hashes,
                       bytes_of=bytes_of)
    caches.save(produced.units)
    return drift
