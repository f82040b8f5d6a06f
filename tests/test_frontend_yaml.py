"""Reading spec files: positions of keys and values, what safe YAML means here, and hostile files
(nesting bombs, alias bombs, recursive aliases, control characters) that must end in a
diagnostic, not in a crash, a hang or a traceback."""

from __future__ import annotations

import datetime
import json

import pytest
import yaml
from conftest import edit, line_col, run_mlopsc

from compiler.frontend.yaml_source import MAX_DEPTH, load_yaml

FRAUD = "specs/risk/fraud-detection.yaml"


def load(text: str):
    doc, problems = load_yaml(text.encode("utf-8"), "spec.yaml")
    return doc, [(p.code, p.position.line, p.position.column, p.message) for p in problems]


def test_every_key_and_value_has_its_position():
    doc, problems = load("a:\n  b: [x, {c: 1}]\n  'd e': >\n    folded\n")
    assert problems == []
    assert doc.data == {"a": {"b": ["x", {"c": 1}], "d e": "folded\n"}}
    assert doc.key_positions[("a", "b")] == (2, 3)
    assert doc.value_positions[("a", "b")] == (2, 6)
    assert doc.value_positions[("a", "b", 1, "c")] == (2, 14)
    assert doc.key_positions[("a", "d e")] == (3, 3)
    # A path that does not exist falls back to its nearest ancestor.
    assert str(doc.position(("a", "b", 7, "zz"))) == "spec.yaml:2:6"


def test_dates_stay_strings_and_keys_are_names_as_written():
    doc, problems = load("version: 2026-11-01\n1: one\non: true\nnull: x\n")
    assert problems == []
    assert doc.data == {"version": "2026-11-01", "1": "one", "on": True, "null": "x"}


def test_merge_keys_work_and_own_keys_win_without_a_duplicate_error():
    doc, problems = load("base: &b {cpu: '1', memory: 1Gi}\nbig:\n  <<: *b\n  cpu: '8'\n")
    assert problems == []
    assert doc.data["big"] == {"cpu": "8", "memory": "1Gi"}
    # A merged value points at the text it came from.
    assert doc.value_positions[("big", "memory")] == (1, 29)


def test_duplicate_key_names_the_first_one():
    _, problems = load("a: 1\nb: 2\na: 3\n")
    assert problems == [("Y004", 3, 1, "duplicate key `a` (first on line 1); YAML would silently keep "
                                       "only the last value")]


def test_tags_are_refused():
    _, problems = load("a: !!python/object/apply:os.system [ls]\nb: !!binary aGk=\nc: !!set {x}\n")
    assert [(code, line) for code, line, *_ in problems] == [("Y005", 1), ("Y005", 2), ("Y005", 3)]


def test_recursive_alias_is_refused():
    _, problems = load("a: &x [1, *x]\nb: &y {<<: *y}\n")
    assert [(code, line) for code, line, *_ in problems] == [("Y005", 1), ("Y005", 2)]


def test_alias_bomb_is_refused_quickly():
    """Nine levels of nine aliases: 387 million strings if expanded."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    _, problems = load("\n".join(lines) + "\n")
    assert len(problems) == 1
    assert problems[0][0] == "Y005" and "aliases expand" in problems[0][3]


def test_deep_nesting_is_refused_without_crashing():
    # libyaml's composer overflows the C stack (a segfault) somewhere past 20,000 levels.
    for depth in (MAX_DEPTH + 1, 60_000):
        _, problems = load("a: " + "[" * depth + "]" * depth + "\n")
        assert [(code, message) for code, _, _, message in problems] == [
            ("Y005", f"nested more than {MAX_DEPTH} levels deep")]
    _, problems = load("a: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n")
    assert problems == []


def test_control_characters_and_tabs_are_positioned():
    _, problems = load("a: ok\nb: é\x07\n")
    assert problems == [("Y001", 2, 5, "control characters are not allowed (character 0x7)")]
    _, problems = load("a:\n\tb: 1\n")
    assert problems[0][:3] == ("Y001", 2, 1) and "never tabs" in problems[0][3]


def test_invalid_utf8_is_positioned_by_character():
    doc, problems = load_yaml("a: éé\nb: x".encode("utf-8") + b"\xc3(", "spec.yaml")
    assert [(p.code, p.position.line, p.position.column) for p in problems] == [("Y002", 2, 5)]
    assert doc.data is None


def test_byte_order_mark_is_accepted():
    doc, problems = load_yaml(b"\xef\xbb\xbfa: 1\n", "spec.yaml")
    assert problems == [] and doc.data == {"a": 1}


def test_empty_and_scalar_documents_are_wrong_kind(example_repo):
    (example_repo / FRAUD).write_text("")
    (example_repo / "specs/growth/merchant-recs.yaml").write_text("just words\n")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    found = {(d["path"], d["code"], d["line"], d["column"], d["message"]) for d in json.loads(result.out)}
    assert (FRAUD, "S004", 1, 1, "expected a mapping with apiVersion: mlopsc.dev/v1 and kind: MLProject, "
                                 "but the document is empty") in found
    assert ("specs/growth/merchant-recs.yaml", "S004", 1, 1,
            "expected a mapping with apiVersion: mlopsc.dev/v1 and kind: MLProject, but the document is "
            "just 'just words'") in found


def test_a_broken_project_does_not_cascade_into_its_readers(example_repo):
    """growth reads the fraud model; when the fraud spec cannot be read, only its own error shows."""
    edit(example_repo / FRAUD, "kind: MLProject\n", "kind: MLProject\nkind: MLProject\n")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert [(d["code"], d["path"]) for d in json.loads(result.out)] == [("Y004", FRAUD)]


def test_evidence_path_with_a_nul_byte_is_a_diagnostic(example_repo):
    edit(example_repo / FRAUD, "evidence: evidence/risk/fraud-detection/run-0142.json",
         'evidence: "evidence/risk/\\0run-0142.json"')
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert result.code == 1, result.err
    e001 = [d for d in json.loads(result.out) if d["code"] == "E001"]
    line, column = line_col(example_repo / FRAUD, '"evidence/risk/\\0run')
    assert (e001[0]["line"], e001[0]["column"]) == (line, column)


# Plain scalars that YAML 1.1 types, their near misses, and names: what the resolver decides.
_PLAIN_WORDS = ["true", "True", "TRUE", "yes", "No", "on", "off", "y", "n", "null", "Null", "~", "", "0",
                "-1", "+2", "0x1f", "0b101", "017", "1_000", "1:30", "1.5", ".5", "-.inf", ".NaN", "1e3",
                "2026-11-01", "2026-11-01 10:00:00", "<<x", "features", "train", "none", "nope",
                "o", "t1", "-x", "+x", ".x", "0.0.1", "tru", "yesterday"]


@pytest.mark.parametrize("word", _PLAIN_WORDS)
def test_plain_scalars_are_typed_as_safe_load_types_them_except_dates(word):
    text = f"v: {word}\n"
    expected = yaml.safe_load(text)["v"]
    if isinstance(expected, (datetime.date, datetime.datetime)):
        expected = word  # dates stay strings (see above)
    doc, problems = load(text)
    assert problems == []
    assert doc.data == {"v": expected}
    assert type(doc.data["v"]) is type(expected)


def test_loading_leaves_the_cyclic_collector_as_it_found_it(example_repo):
    """Loading pauses the collector (it would only rescan a growing heap): afterwards, and after
    a usage error, it is running again, or still paused if the caller had paused it."""
    import gc

    from compiler.frontend.loader import UsageError, load_repository

    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            assert load_repository(example_repo).projects
            assert gc.isenabled() is enabled
            with pytest.raises(UsageError):
                load_repository(example_repo, specs_dir="../elsewhere")
            assert gc.isenabled() is enabled
    finally:
        gc.enable()
