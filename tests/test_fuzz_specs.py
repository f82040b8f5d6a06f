"""Property: whatever a spec file contains, mlopsc answers with positioned diagnostics, never a
traceback. Hypothesis mutates the bundled specs and mlopsc.yaml (drops keys, changes the types of
values, inserts keys, swaps scalars for lists and maps) or their bytes (truncation, random and
invalid UTF-8 bytes, duplicated lines and keys, tabs, anchors, aliases and tags), then runs the
real pipeline: load, check and, when that finds no error, every back end.

CI runs 250 derandomized examples, so it is stable; explore further with random seeds by
setting MLOPSC_FUZZ_EXAMPLES, e.g. `MLOPSC_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz_specs.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_repo
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compiler.build import Layout, emit_documents, load_and_check, render_files
from compiler.codes import CATALOGUE
from compiler.frontend.yaml_source import load_yaml

EXPLORE = os.environ.get("MLOPSC_FUZZ_EXAMPLES")
TARGETS = ["mlopsc.yaml"] + sorted(p.relative_to(REPO).as_posix() for p in (REPO / "specs").glob("*/*.yaml"))
ORIGINAL = {path: (REPO / path).read_bytes() for path in TARGETS}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["latest", "sha256:", "steps.train.outputs.model", "${inputs.x}",
                                     "risk/fraud-detection:sources.transactions", "auc >=", "500m", "-1"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
# Snippets YAML treats specially, spliced in at the start of a value or a line.
SPECIAL = ["&a ", "*a", "*nowhere ", "!!python/object:os.system ", "!custom ", "!!binary ", "<<: *a\n",
           "? [a, b]\n", "--- \n", "...\n", "%YAML 1.1\n", "\t", "{", "[", "'", '"', "|\n", ">-\n", "#",
           "\ufeff", "\x00", "\x85", "\u2028", "é"]


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, prefix + (index,))


def _mutate_data(draw, data):
    """Change the parsed document in 1-3 ways and write it back as YAML."""
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        leaf = path[-1]
        action = draw(st.sampled_from(["drop", "retype", "insert", "wrap", "rename"]))
        if action == "drop":
            del parent[leaf]
        elif action == "retype":
            parent[leaf] = draw(values)
        elif action == "insert" and isinstance(parent[leaf], dict):
            parent[leaf][draw(st.text(max_size=10))] = draw(values)
        elif action == "wrap":
            parent[leaf] = draw(st.sampled_from([[parent[leaf]], {"value": parent[leaf]}]))
        elif action == "rename" and isinstance(parent, dict):
            value = parent.pop(leaf)
            parent[str(leaf)[:-1] + draw(st.sampled_from(["", "s", "_", "-", "X"]))] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


def _mutate_bytes(draw, raw: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        lines = raw.split(b"\n")
        action = draw(st.sampled_from(["truncate", "insert", "special", "duplicate", "delete", "tab", "swap"]))
        at = draw(st.integers(0, len(raw)))
        row = draw(st.integers(0, max(len(lines) - 1, 0)))
        if action == "truncate":
            raw = raw[:at]
        elif action == "insert":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=6)) + raw[at:]
        elif action == "special":
            raw = raw[:at] + draw(st.sampled_from(SPECIAL)).encode("utf-8") + raw[at:]
        elif action == "duplicate":  # the same key twice, mostly
            raw = b"\n".join(lines[:row + 1] + lines[row:])
        elif action == "delete":
            raw = b"\n".join(lines[:row] + lines[row + 1:])
        elif action == "tab":
            lines[row] = re.sub(rb"^ {1,4}", b"\t", lines[row])
            raw = b"\n".join(lines)
        elif action == "swap" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[row], lines[other] = lines[other], lines[row]
            raw = b"\n".join(lines)
    return raw


@st.composite
def mutated_file(draw):
    target = draw(st.sampled_from(TARGETS))
    raw = ORIGINAL[target]
    if draw(st.booleans()):
        doc, _ = load_yaml(raw, target)
        raw = _mutate_data(draw, doc.data)
    else:
        raw = _mutate_bytes(draw, raw)
    return target, raw


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory) -> Path:
    return copy_repo(REPO, tmp_path_factory.mktemp("fuzz") / "repo")


def _lines(raw: bytes) -> list[str]:
    return raw.decode("utf-8", "replace").removeprefix("\ufeff").split("\n")


@settings(max_examples=int(EXPLORE or 250), deadline=None, derandomize=not EXPLORE, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutated_file())
def test_mutated_specs_get_positioned_diagnostics_never_a_traceback(scratch_repo, case):
    target, raw = case
    path = scratch_repo / target
    path.write_bytes(raw)
    try:
        checked = load_and_check(Layout(scratch_repo))
        for d in checked.diagnostics:
            assert d.code in CATALOGUE, d
            assert d.position.path and (scratch_repo / d.position.path).is_file(), d
            assert d.position.line >= 1 and d.position.column >= 1, d
            lines = _lines(raw if d.position.path == target else ORIGINAL[d.position.path])
            # The spot exists in the file: a line of it (or the one after the last), a column
            # within that line (or just past its end).
            assert d.position.line <= len(lines) + 1, d
            if d.position.line <= len(lines):
                assert d.position.column <= len(lines[d.position.line - 1]) + 1, d
            else:
                assert d.position.column == 1, d
        event("errors" if checked.has_errors else "compiled")
        if not checked.has_errors:
            files = render_files(emit_documents(checked))
            assert files and all(isinstance(content, bytes) for content in files.values())
    finally:
        path.write_bytes(ORIGINAL[target])
