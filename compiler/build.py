"""The compiler's pipeline, stage by stage: front end → middle → back ends → (output).

Commands call these functions; they never reach into a stage's internals. Back ends are imported
only here and only when documents are wanted, so `validate` and `graph` stay quick.
"""

from __future__ import annotations

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


def load_and_check(layout: Layout) -> CheckedRepository:
    return check_repository(load_repository(layout.root, layout.specs, layout.config,
                                            out_dir=layout.out))


def emitters():
    """Every back end, in no particular order: each owns its own paths under generated/."""
    from .backends import (argocd, jsonschema, kfp, kubernetes, lineage_html, lineage_json, model_card,
                           monitoring, openlineage, promotion_history, schedules)

    return [jsonschema.emit, lineage_json.emit, lineage_html.emit, openlineage.emit,
            kfp.emit, kubernetes.emit, argocd.emit, model_card.emit,
            promotion_history.emit, schedules.emit, monitoring.emit]


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
