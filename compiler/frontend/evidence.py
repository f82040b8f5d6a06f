"""Evidence files: what a pipeline's release task wrote about a model (LANGUAGE.md, "Evidence").

The front end reads every evidence file a release names, once, and keeps either the parsed record
or the reason it could not be read; the promotion rules and the back ends (lineage annotations,
model cards) use the result and never read the files themselves.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..files import MAX_SPEC_BYTES, UnsafeFile, read_inside

# A metric is a finite JSON number: not a boolean, not a string, not Infinity, NaN or a literal
# (1e400) that overflows a double. Gates compare them and the lineage annotations hold them as
# JSON, which has no Infinity.
Metric = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Record(BaseModel):
    # Evidence is written by tools; extra fields are tolerated so newer writers stay readable.
    # defer_build: one validator, built when the first evidence file is read (as in the spec models).
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


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
    metrics: dict[str, Metric]
    lineage: EvidenceLineage = Field(default_factory=EvidenceLineage)


@dataclass(frozen=True)
class EvidenceFile:
    """One evidence path as a release names it: the record, or why there is none."""

    path: str
    record: Evidence | None
    problem: str | None = None
    # Metrics that are not finite JSON numbers: (name, line, column of the value, what it is).
    bad_metrics: tuple[tuple[str, int, int, str], ...] = ()


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
    bad = _bad_metrics(data, raw)
    if bad:
        names = ", ".join(f"`{shown(name)}`" for name, *_ in bad)
        return EvidenceFile(rel_path, None, f"has metrics that are not finite numbers ({names})", bad)
    try:
        return EvidenceFile(rel_path, Evidence.model_validate(data))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        return EvidenceFile(rel_path, None, f"is not an evidence record (`{where}`: {first['msg'].lower()})")


def shown(name: str) -> str:
    """A metric name as printed in a diagnostic: JSON escapes for anything unprintable."""
    return name if name.isprintable() and name.isascii() else json.dumps(name)[1:-1]


def metric_problem(value: object) -> str | None:
    """Why a metric value is not a finite JSON number, or None."""
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, str):
        return f"the string {json.dumps(value, ensure_ascii=True)[:40]}"
    if isinstance(value, int):
        return None if abs(value) <= 2**1023 else "a number too large for a double"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return None if math.isfinite(value) else "Infinity (or a number too large for a double)"
    return {dict: "a JSON object", list: "a JSON array"}.get(type(value), "null")


def _bad_metrics(data: object, raw: bytes) -> tuple[tuple[str, int, int, str], ...]:
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        return ()  # the shape check reports it
    found = []
    text = raw.decode("utf-8", errors="replace")
    for name, value in metrics.items():
        problem = metric_problem(value)
        if problem is not None:
            found.append((name, *_value_position(text, name), problem))
    return tuple(found)


def _value_position(text: str, metric: str) -> tuple[int, int]:
    """Line and column of a metric's value in the evidence text (the `metrics` key, or 1:1, when
    the file spells the key with escapes)."""
    start = text.find('"metrics"')
    if start < 0:
        return 1, 1
    found = re.compile(re.escape(json.dumps(metric, ensure_ascii=False)) + r"\s*:\s*").search(text, start)
    index = found.end() if found else start
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
