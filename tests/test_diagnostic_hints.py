"""Diagnostics a newcomer can act on: one typo gives one error (no knock-on errors from the node
that holds it), a fix wherever one is knowable, and YAML syntax errors in plain words that name
the line which opened the block."""

from __future__ import annotations

import pytest

from conftest import edit, line_col, run_mlopsc

from compiler.frontend.yaml_source import load_yaml

FRAUD = "specs/risk/fraud-detection.yaml"


def headlines(root):
    result = run_mlopsc("validate", cwd=root)
    return result.code, result.out.splitlines()[:-1]


def test_a_misspelt_outputs_is_one_error_not_four(bundled_repo):
    edit(bundled_repo / FRAUD, "      outputs: {model: model}", "      ouputs: {model: model}")
    line, column = line_col(bundled_repo / FRAUD, "ouputs")
    assert headlines(bundled_repo) == (1, [
        f"{FRAUD}:{line}:{column}: error[S001]: unknown field `ouputs` in `spec.steps.train` (did you mean `outputs`?)"])


def test_a_misspelt_required_field_is_not_also_missing(bundled_repo):
    edit(bundled_repo / FRAUD, "      metrics: [auc", "      metircs: [auc")
    edit(bundled_repo / FRAUD, "      inputs: {train: steps", "      inptus: {train: steps")
    code, lines = headlines(bundled_repo)
    assert code == 1
    assert [line.split(": ", 2)[1] for line in lines] == ["error[S001]", "error[S001]"], lines
    assert "(did you mean `metrics`?)" in lines[1] and "(did you mean `inputs`?)" in lines[0]


def test_a_real_error_beside_a_typo_in_another_node_is_still_reported(bundled_repo):
    edit(bundled_repo / FRAUD, "      outputs: {model: model}", "      ouputs: {model: model}")
    edit(bundled_repo / FRAUD, "memory: 16Gi", "memory: 16GB")
    code, lines = headlines(bundled_repo)
    assert [line.split(": ", 2)[1] for line in lines] == ["error[K002]", "error[S001]"]


@pytest.mark.parametrize("written, meant", [("16GB", "16Gi"), ("16gb", "16Gi"), ("512MiB", "512Mi"),
                                            ("2 Gi", "2Gi"), ("16 GB", "16Gi"), ("16 bytes", None), ("lots", None)])
def test_a_memory_quantity_near_miss_suggests_the_binary_unit(bundled_repo, written, meant):
    edit(bundled_repo / FRAUD, "memory: 16Gi", f'memory: "{written}"')
    code, lines = headlines(bundled_repo)
    assert code == 1 and len(lines) == 1 and "error[K002]" in lines[0]
    if meant:
        assert lines[0].endswith(f"): did you mean `{meant}`?")
    else:
        assert "did you mean" not in lines[0]


def test_an_undeclared_team_says_where_and_how_to_declare_it(bundled_repo):
    edit(bundled_repo / "mlopsc.yaml", "  payments:\n", "  paymentz:\n")
    code, lines = headlines(bundled_repo)
    assert code == 1
    assert lines[0].endswith("error[N004]: team `payments` is not declared in mlopsc.yaml (teams: growth, "
                             "paymentz, risk) (did you mean `paymentz`?); to declare it, add "
                             "`payments: {}` under `teams:` in mlopsc.yaml"), lines


@pytest.mark.parametrize("text, where, message", [
    ("spec:\n  steps:\n    train:\n      image: x\n     code: y\n", (5, 6),
     "this line is not indented like the mapping opened at line 3, whose keys start at column 5: "
     "indent it to column 5, or to column 7 like line 4"),
    ("a:\n  b: 1\n  - x\n", (3, 3), "a list item cannot stand among the keys of the mapping opened at "
                                    "line 2: put it under a key (`key:` then `- item` indented below)"),
    ("a: {b: 1\nc: 2\n", (1, 4), "the `{` opened here (line 1) is not closed where line 2 starts: add "
                                 "the closing `}`, or a `,` between items"),
    ("a: [1, 2\nb: 3\n", (1, 4), "the `[` opened here (line 1) is not closed where line 2 starts: add "
                                 "the closing `]`, or a `,` between items"),
    ("a: 'abc\n", (1, 4), "the quote opened here (line 1) is never closed: add the closing quote"),
    ("a:\n  - x\n  y\n", (3, 3), "this line is neither `key: value` nor a list item: add the `:` after "
                                 "the key, or `- ` before an item"),
    ("- a\nb: 1\n", (2, 1), "this line is not indented like the list opened at line 1: each item "
                            "starts with `- ` at column 1"),
    ("a: b: c\n", (1, 5), "unexpected `:` here: a value cannot hold `key: value` on its line. Either "
                          "this line is indented deeper than it belongs (under a key that already has "
                          "a value), or the value contains `: ` and needs quotes"),
])
def test_yaml_syntax_errors_in_plain_words(text, where, message):
    _, diagnostics = load_yaml(text.encode(), "f.yaml")
    [d] = diagnostics
    assert (d.code, (d.position.line, d.position.column), d.message) == ("Y001", where, message)
    assert d.notes[0].startswith("libyaml says: ")  # the parser's own words, with --verbose


@pytest.mark.parametrize("old, new", [
    ("      outputs: {model: model}", "      ouputs: {model: model}"),
    ("      inputs: {train: steps", "      inptus: {train: steps"),
    ("  sources:", "  sorces:"),
    ("  evaluations:", "  evalutions:"),
    ("      metrics: [auc", "      metircs: [auc"),
    ("      gates: [holdout]", "      gats: [holdout]"),
    ("      model: steps.train.outputs.model\n      gates", "      modle: steps.train.outputs.model\n      gates"),
    ("        kserve: {format: xgboost}", "        kserv: {format: xgboost}"),
    ("          release:", "          relase:"),
    ("      image: registry.example.com/risk/fraud-train", "      imgae: registry.example.com/risk/fraud-train"),
    ("      code: {repo: https://git.example.com/risk/fraud.git, commit: 94ef",
     "      cod: {repo: https://git.example.com/risk/fraud.git, commit: 94ef"),
])
def test_one_typo_is_one_error(bundled_repo, old, new):
    edit(bundled_repo / FRAUD, old, new)
    code, lines = headlines(bundled_repo)
    typo = new.split(":")[0].strip()
    assert code == 1 and len(lines) == 1, lines
    assert f"error[S001]: unknown field `{typo}`" in lines[0] and "(did you mean `" in lines[0]


@pytest.mark.parametrize("old, new, code", [
    ("  team: risk\n", "  team: rsk\n", "N003"),
    ("  name: fraud-detection\n", "  name: fraud-detecton\n", "N006"),
])
def test_a_typo_in_the_project_s_name_or_team_is_one_error_not_one_per_reader(bundled_repo, old, new, code):
    """growth and payments read risk/fraud-detection, and its evidence names it: none of that is
    reported again while the file's place says which project it is."""
    edit(bundled_repo / FRAUD, old, new)
    code_, lines = headlines(bundled_repo)
    assert code_ == 1 and len(lines) == 1 and f"error[{code}]" in lines[0], lines


def test_a_misspelt_reference_is_r001_without_the_unused_source_it_meant(bundled_repo):
    edit(bundled_repo / FRAUD, "labels: sources.chargebacks", "labels: sources.chargebaks")
    code, lines = headlines(bundled_repo)
    assert code == 1 and len(lines) == 1 and "error[R001]" in lines[0]
    assert lines[0].endswith("(did you mean `chargebacks`?)")
