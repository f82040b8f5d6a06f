"""Evidence files: what a pipeline's release task wrote about a model (LANGUAGE.md, "Evidence").

The front end reads every evidence file a release names, once, and keeps either the parsed record
or the reason it could not be read; the promotion rules and the back ends (lineage annotations,
model cards) use the result and never read the files themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..files import MAX_SPEC_BYTES, UnsafeFile, read_inside


class _Record(BaseModel):
    # Evidence is written by tools; extra fields are tolerated so newer writers stay readable.
    model_config = ConfigDict(extra="allow", frozen=True)


class EvidenceModel(_Record):
    uri: str
    digest: str


class EvidenceLineage(_Record):
    code: dict[str, str] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)
    pipelineVersion: str | None = None
    run: str | None = None


class Evidence(_Record):
    project: str
    serving: str
    model: EvidenceModel
    metrics: dict[str, float]
    lineage: EvidenceLineage = Field(default_factory=EvidenceLineage)


@dataclass(frozen=True)
class EvidenceFile:
    """One evidence path as a release names it: the record, or why there is none."""

    path: str
    record: Evidence | None
    problem: str | None = None


def parse_json(raw: bytes):
    """UTF-8 JSON text → data, or ValueError saying why not. Beyond json.loads: nesting too deep
    for Python is an error, not a RecursionError, and so is a lone surrogate (`"\\ud800"`): no
    UTF-8 file can hold one, so nothing mlopsc writes or prints could."""
    try:
        data = json.loads(raw.decode("utf-8"))
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end].encode("unicode_escape").decode("ascii")
        raise ValueError(f"`{bad}` is a lone surrogate, not a character") from None
    return data


def load_evidence(root: Path, rel_path: str) -> EvidenceFile:
    """Read one evidence file through compiler.files: a regular file inside the repository, found
    without following a symlink, at most MAX_SPEC_BYTES; anything else is the reason there is none."""
    try:
        raw = read_inside(root, rel_path, MAX_SPEC_BYTES)
    except UnsafeFile as exc:
        if exc.reason.startswith("leaves the repository") or exc.reason.startswith("is an absolute path"):
            return EvidenceFile(rel_path, None, "the path leaves the repository")
        if exc.reason == "does not exist":
            return EvidenceFile(rel_path, None, "cannot be read (it does not exist)")
        return EvidenceFile(rel_path, None, exc.reason)
    try:
        data = parse_json(raw)
    except ValueError as exc:
        return EvidenceFile(rel_path, None, f"is not valid UTF-8 JSON ({exc})")
    try:
        return EvidenceFile(rel_path, Evidence.model_validate(data))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        return EvidenceFile(rel_path, None, f"is not an evidence record (`{where}`: {first['msg'].lower()})")
