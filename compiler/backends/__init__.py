"""Back ends: one emitter per target, each a pure function from the checked repository to
documents. Emitters never import each other and never touch the disk; `compiler.output` turns
their documents into bytes and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# yaml: one object; yaml-stream: a list of objects as a multi-document file;
# json: one object; text: an already rendered string (Markdown, HTML).
DocumentFormat = Literal["yaml", "yaml-stream", "json", "text"]


@dataclass(frozen=True)
class Document:
    path: str  # POSIX path relative to the output directory
    content: Any
    format: DocumentFormat = "yaml"
    header: str = ""  # comment lines written before YAML content (e.g. KFP's "# PIPELINE DEFINITION")
    # Kubernetes objects keep the emitter's order (apiVersion, kind, metadata, spec first);
    # KFP IR is written with sorted keys, as kfp's own compiler does.
    sort_keys: bool = False
    # The project (`team/project`) whose spec this document comes from, or None for documents
    # about the whole repository; lets `compile --select` write only the selected projects.
    owner: str | None = None
