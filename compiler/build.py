"""The compiler's pipeline, stage by stage: front end → middle → back ends → (output).

Commands call these functions; they never reach into a stage's internals. Back ends are imported
only here and only when documents are wanted, so `validate` and `graph` stay quick.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .backends import Document
from .frontend.loader import load_repository
from .middle.check import CheckedRepository, check_repository
from .output.serialize import serialize


@dataclass(frozen=True)
class Layout:
    """Where things are, relative to the repository root (the command line's defaults)."""

    root: Path
    specs: str = "specs"
    out: str = "generated"
    config: str = "mlopsc.yaml"

    @property
    def out_dir(self) -> Path:
        return self.root / self.out


def load_and_check(layout: Layout, yaml_cache=None) -> CheckedRepository:
    return check_repository(load_repository(layout.root, layout.specs, layout.config,
                                            out_dir=layout.out, yaml_cache=yaml_cache))


@functools.lru_cache(maxsize=1)
def emitters():
    """Every back end, in no particular order: each owns its own paths under generated/."""
    from .backends import (argocd, jsonschema, kfp, kubernetes, lineage_html, lineage_json, model_card,
                           monitoring, openlineage, promotion_history, schedules)

    return (jsonschema.emit, lineage_json.emit, lineage_html.emit, openlineage.emit,
            kfp.emit, kubernetes.emit, argocd.emit, model_card.emit,
            promotion_history.emit, schedules.emit, monitoring.emit)


def emit_documents(checked: CheckedRepository) -> list[Document]:
    documents: list[Document] = []
    for emit in emitters():
        documents.extend(emit(checked))
    return documents


def render_files(documents: list[Document]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for doc in documents:
        if doc.path in files:
            raise AssertionError(f"two back ends emit {doc.path}")  # a compiler bug, not user input
        files[doc.path] = serialize(doc)
    return files


# ------------------------------------------------------------------ emission in units, in parallel
# An emitter module may also offer `units(checked) -> [str]` and `emit_unit(checked, unit) ->
# [Document]` (its `emit` being every unit's documents): a project, a team's page, the
# repository-wide files. Those units are emitted and serialised independently, on all cores
# (compiler/jobs.py); an emitter without them is one unit. The bytes never depend on how many
# processes made them.
Rendered = tuple[str, bytes, "str | None"]  # (path, bytes, owning project)


def work_units(checked: CheckedRepository) -> list[tuple[int, str | None]]:
    """(index into emitters(), unit or None for the whole emitter), in a stable order."""
    import sys

    units = []
    for i, emit in enumerate(emitters()):
        module = sys.modules[emit.__module__]
        if getattr(module, "emit", None) is emit and hasattr(module, "units") and hasattr(module, "emit_unit"):
            units.extend((i, unit) for unit in module.units(checked))
        else:
            units.append((i, None))
    return units


def unit_id(work: tuple[int, str | None]) -> str:
    """A unit's stable name across compiles (its back end and unit): the incremental caches' key."""
    return f"{emitters()[work[0]].__module__.rpartition('.')[2]}:{work[1] if work[1] is not None else '*'}"


def unit_scope(work: tuple[int, str | None]) -> str | None:
    """What a unit is about, as the back end declares it (`UNIT_SCOPE`, default a project); None
    for a unit about the whole repository (compiler/middle/reach.py keys each by what it reads)."""
    import sys

    if not work[1]:
        return None
    return getattr(sys.modules[emitters()[work[0]].__module__], "UNIT_SCOPE", "project")


def render_unit(checked: CheckedRepository, work: tuple[int, str | None]) -> list[Rendered]:
    import sys

    emit = emitters()[work[0]]
    documents = emit(checked) if work[1] is None else sys.modules[emit.__module__].emit_unit(checked, work[1])
    return [(doc.path, serialize(doc), doc.owner) for doc in documents]


def _stage_unit(shared, work):
    """In a worker: render one unit and hand each file to the output stage's stager."""
    checked, stage = shared
    staged = []
    for path, data, owner in render_unit(checked, work):
        digest, unchanged = stage(path, data)
        staged.append((path, digest, owner, unchanged))
    return staged


def _unit_with_files(shared, work):
    checked, stage = shared
    return work, (_stage_unit(shared, work) if stage is not None else render_unit(checked, work))


def render_units(checked: CheckedRepository, works: list, jobs: int = 1, stage=None):
    """(work, its files) for each of `works`: files as render_unit's (path, bytes, owner), or with
    `stage` as _stage_unit's (path, sha256, owner, unchanged); by `jobs` processes."""
    from .jobs import parallel_map

    yield from parallel_map(_unit_with_files, (checked, stage), works, jobs)


def render_all(checked: CheckedRepository, jobs: int = 1, stage=None):
    """Every file a compile writes, as (path, bytes, owner), in no particular order; with jobs > 1
    emitted and serialised by that many processes. With `stage` (compiler/output/writer.py's
    Stager), the processes also write each file, and this yields (path, sha256, owner, unchanged)."""
    from .jobs import parallel_map

    if stage is not None:
        for staged in parallel_map(_stage_unit, (checked, stage), work_units(checked), jobs):
            yield from staged
        return
    seen: set[str] = set()
    for rendered in parallel_map(render_unit, checked, work_units(checked), jobs):
        for path, data, owner in rendered:
            if path in seen:
                raise AssertionError(f"two back ends emit {path}")  # a compiler bug, not user input
            seen.add(path)
            yield path, data, owner
