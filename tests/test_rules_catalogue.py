"""The catalogue of diagnostic codes stays whole: every code is documented, explained and tested."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import REPO, run_mlopsc

from compiler.codes import CATALOGUE

THIS_FILE = "test_rules_catalogue.py"

# How a code counts as tested (documented here for everyone adding a code): some tests/test_*.py
# must assert that mlopsc *reports* it. Naming the code somewhere (a comment, `explain X000`, or
# `"X000" in result.err`, which any message mentioning it would pass) is not enough. It counts in
# any of these structured forms:
# 1. the rendered diagnostic inside an `assert`: a string holding `error[X000]`, `warning[X000]`
#    (text output) or `title=X000` (GitHub annotations);
# 2. the bare code `"X000"` inside an `assert` that compares structured diagnostics, e.g.
#    `assert codes(repo) == [("X000", path, line, col)]`, `assert d.code == "X000"`,
#    `assert at(repo, "X000") == [(3, 5)]` — but not a text search (`"X000" in result.err`),
#    not `... == []` and not `not in` (those assert it is *not* reported);
# 3. the code in an unpacking that requires exactly the reported diagnostics:
#    `[(line, col, message)] = found(repo, "X000")`;
# 4. the first argument of a row of tests/test_rules_spec.py's `Case` table (its test asserts
#    the code is reported at the exact spot).
CODE = re.compile(r"[A-Z]\d{3}")
RENDERED = re.compile(r"(?:error\[|warning\[|title=)([A-Z]\d{3})\b")
OUTPUT_STREAMS = {"err", "out", "stderr", "stdout"}
ASSERTING_TABLES = {"Case"}


def _literals(node: ast.AST):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub


def _not_counted(node: ast.AST) -> tuple[set[int], set[int]]:
    """ids of literals asserted absent (`not in`, `== []`), and of literals only searched for in
    output text (`"X000" in result.err`)."""
    negative: set[int] = set()
    searched: set[int] = set()
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Compare):
            continue
        if any(isinstance(op, ast.NotIn) for op in sub.ops) or any(
                isinstance(c, ast.List) and not c.elts for c in sub.comparators):
            negative.update(id(lit) for lit in _literals(sub))
        if any(isinstance(op, ast.In) for op in sub.ops) and any(
                isinstance(c, ast.Attribute) and c.attr in OUTPUT_STREAMS for c in sub.comparators):
            searched.update(id(lit) for lit in _literals(sub))
    return negative, searched


def asserted_codes(source: str) -> set[str]:
    """The codes a test module asserts are reported (see the rules above)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            negative, searched = _not_counted(node.test)
            for lit in _literals(node.test):
                if id(lit) in negative:
                    continue
                found.update(RENDERED.findall(lit.value))
                if CODE.fullmatch(lit.value) and id(lit) not in searched:
                    found.add(lit.value)
        elif isinstance(node, ast.Assign) and any(isinstance(t, (ast.List, ast.Tuple)) for t in node.targets):
            found.update(lit.value for lit in _literals(node.value) if CODE.fullmatch(lit.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ASSERTING_TABLES
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and CODE.fullmatch(node.args[0].value)):
            found.add(node.args[0].value)
    return found


def test_every_code_has_a_test_that_asserts_it_is_reported():
    """A new code without such a test fails CI (how a code counts: the comment above)."""
    tested: set[str] = set()
    for path in sorted((REPO / "tests").glob("test_*.py")):
        if path.name != THIS_FILE:
            tested |= asserted_codes(path.read_text(encoding="utf-8"))
    untested = sorted(set(CATALOGUE) - tested)
    assert not untested, f"codes no test asserts are reported: {untested}"


@pytest.mark.parametrize("source, counted", [
    ('assert "error[K003]" in result.err', {"K003"}),
    ('assert "::warning file=a,title=W001::x" == out', {"W001"}),
    ('assert codes(repo) == [("E006", SPEC, 3, 4)]', {"E006"}),
    ('assert d["code"] == "N002"', {"N002"}),
    ('[(line, col, message)] = found(repo, "E001")', {"E001"}),
    ('Case("S001", FRAUD, [], "formt")', {"S001"}),
    ('assert "E007" in check.err', set()),  # any message naming E007 would pass
    ('assert at(repo, "K015") == []', set()),  # asserts it is NOT reported
    ('assert "K014" not in codes', set()),
    ('assert "error[K003]" not in result.err', set()),
    ('result = run_mlopsc("explain", "R003", cwd=p)', set()),
    ('# "K042" in a comment', set()),
    ('CODES = {"E001", "E002"}', set()),
])
def test_what_counts_as_asserting_a_code_is_reported(source, counted):
    assert asserted_codes(source) == counted


def test_codes_are_well_formed_and_distinct():
    names = [entry.name for entry in CATALOGUE.values()]
    assert len(names) == len(set(names))
    for code, entry in CATALOGUE.items():
        assert re.fullmatch(r"[YSNRPGKEWOM]\d{3}", code), code
        assert entry.code == code
        assert re.fullmatch(r"[a-z0-9-]+", entry.name), entry.name
        assert entry.summary.endswith(".") and len(entry.summary) > 20, code
        # W codes are the warnings; every other prefix is an error.
        assert (entry.severity.value == "warning") == code.startswith("W"), code


def test_explain_prints_every_code_and_its_doc(tmp_path):
    for code, entry in CATALOGUE.items():
        result = run_mlopsc("explain", code.lower(), cwd=tmp_path)
        assert result.code == 0
        assert result.out.startswith(f"{code} ({entry.name}, {entry.severity.value})")
        assert entry.summary in result.out
