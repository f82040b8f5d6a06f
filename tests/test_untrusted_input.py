"""A pull request is untrusted input (issue 15): the front end reads only regular files inside the
repository, never through a symlink, bounded in size; a hostile value never crashes mlopsc, hangs
it, makes it print what it should not have read, or forges a diagnostic line.

Each reproducer of the issue has a test here, next to a test of its class.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, edit, run_mlopsc

from compiler.diagnostics import Diagnostic, Position, Severity, printable, render_github, render_json, render_text
from compiler.frontend.yaml_source import load_yaml

SPEC = "specs/risk/fraud-detection.yaml"
CANARY_EVIDENCE = "evidence/risk/fraud-detection/run-0151.json"
SECRET = "hunter2-do-not-print"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the repository, holding what a pull request must never make mlopsc read."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secrets.env").write_text(f"apiVersion: {SECRET}\nkind: {SECRET}\n")
    return path


def codes_of(result) -> list[str]:
    return [d["code"] for d in json.loads(result.out)]


def validate_json(repo: Path):
    result = run_mlopsc("validate", "--format", "json", cwd=repo)
    assert "Traceback" not in result.err
    return result


# ------------------------------------------------------------------ specs and mlopsc.yaml (item 2)
def test_a_spec_symlinked_to_a_secrets_file_is_refused_and_never_echoed(example_repo, outside):
    link = example_repo / "specs/risk/leak.yaml"
    link.symlink_to(outside / "secrets.env")
    for fmt in ("text", "json", "github"):
        result = run_mlopsc("validate", "--format", fmt, cwd=example_repo)
        assert result.code == 1
        assert SECRET not in result.out + result.err
        assert "S004" not in result.out
    text = run_mlopsc("validate", cwd=example_repo).out
    assert ("specs/risk/leak.yaml:1:1: error[Y006]: specs/risk/leak.yaml is a symlink; mlopsc reads only "
            "regular files inside the repository and never follows a symlink") in text


def test_every_entry_under_specs_that_is_not_a_regular_file_is_refused(example_repo, outside):
    """The class: symlinks (to files, to directories, inside or out), FIFOs; none is followed or opened."""
    (example_repo / "specs/risk/inside.yaml").symlink_to(example_repo / SPEC)
    (example_repo / "specs/away").symlink_to(outside)
    (example_repo / "specs/risk/new\nline.yaml").symlink_to(outside / "secrets.env")
    os.mkfifo(example_repo / "specs/risk/pipe.yaml")
    result = validate_json(example_repo)
    assert result.code == 1
    refused = {(d["path"], d["code"]) for d in json.loads(result.out) if d["code"] == "Y006"}
    assert refused == {("specs/risk/inside.yaml", "Y006"), ("specs/away", "Y006"), ("specs/risk/pipe.yaml", "Y006"),
                       ("specs/risk/new\\nline.yaml", "Y006")}
    messages = " ".join(d["message"] for d in json.loads(result.out))
    assert "a FIFO, not a regular file" in messages


def test_a_spec_whose_file_name_holds_a_newline_is_y006_shown_escaped(example_repo):
    (example_repo / "specs/risk/a\nforged:1:1: error[FAKE]: b.yaml").write_text("a: 1\n")
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 1
    assert not any(line.startswith("forged") for line in result.out.splitlines())
    assert ("specs/risk/a\\nforged:1:1: error[FAKE]: b.yaml:1:1: error[Y006]: specs/risk/a\\nforged:1:1: "
            "error[FAKE]: b.yaml is not a valid file path (control characters or backslashes)") in result.out


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/stdin", "outside"])
def test_mlopsc_yaml_symlinked_anywhere_is_refused_without_reading_it(example_repo, outside, target):
    config = example_repo / "mlopsc.yaml"
    config.unlink()
    config.symlink_to(outside / "secrets.env" if target == "outside" else target)
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 1
    assert result.out.startswith("mlopsc.yaml:1:1: error[Y006]: mlopsc.yaml is a symlink; mlopsc reads only "
                                 "regular files inside the repository")
    assert SECRET not in result.out + result.err


def test_mlopsc_yaml_on_stdin_does_not_hang(tmp_path):
    """The reproducer as CI would meet it: a subprocess whose stdin never ends."""
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "mlopsc.yaml").symlink_to("/dev/stdin")
    done = subprocess.run([sys.executable, "-m", "compiler", "-C", str(repo), "validate"], stdin=subprocess.PIPE,
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 1 and "error[Y006]" in done.stdout and "Traceback" not in done.stderr


def test_mlopsc_yaml_that_is_a_directory_is_y006(example_repo):
    (example_repo / "mlopsc.yaml").unlink()
    (example_repo / "mlopsc.yaml").mkdir()
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 1
    assert result.out.startswith("mlopsc.yaml:1:1: error[Y006]: mlopsc.yaml is a directory; mlopsc reads only "
                                 "regular files")


def test_specs_directory_that_is_a_symlink_or_a_file_is_y008(example_repo, tmp_path):
    moved = tmp_path / "specs-elsewhere"
    (example_repo / "specs").rename(moved)
    (example_repo / "specs").symlink_to(moved)
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 1
    assert result.out.startswith("specs:1:1: error[Y008]: specs directory 'specs' is a symlink or not a directory")
    assert codes_of(validate_json(example_repo)) == ["Y008"]  # nothing under it was read
    (example_repo / "specs").unlink()
    (example_repo / "specs").write_text("not a directory\n")
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 1 and "error[Y008]" in result.err
    assert not (example_repo / "generated").exists()


def test_a_spec_larger_than_the_bound_is_y007_and_not_read(example_repo):
    big = example_repo / "specs/risk/big.yaml"
    big.write_bytes(b"# padding\n" * (450 * 1024))  # 4.4 MiB
    result = validate_json(example_repo)
    assert result.code == 1
    [diag] = [d for d in json.loads(result.out) if d["path"] == "specs/risk/big.yaml"]
    assert (diag["code"], diag["message"]) == ("Y007", "specs/risk/big.yaml is larger than 4 MiB; a spec or "
                                                       "settings file is a few KB (is it the file you meant?)")


# ------------------------------------------------------------------ evidence (item 4) and its class
def test_evidence_replaced_by_a_fifo_is_e001_without_hanging(example_repo):
    path = example_repo / CANARY_EVIDENCE
    path.unlink()
    os.mkfifo(path)
    result = validate_json(example_repo)
    assert result.code == 1
    [message] = [d["message"] for d in json.loads(result.out) if d["code"] == "E001"]
    assert message == (f"evidence `{CANARY_EVIDENCE}` is not a regular file (a device, FIFO or socket); "
                       f"mlopsc reads only regular files")


@pytest.mark.parametrize("kind", ["symlink-outside", "symlink-inside", "directory", "dotdot"])
def test_evidence_is_read_only_as_a_regular_file_inside(example_repo, outside, kind):
    path = example_repo / CANARY_EVIDENCE
    if kind == "dotdot":
        edit(example_repo / SPEC, CANARY_EVIDENCE, "evidence/../../outside/run.json")
    else:
        copy = (outside if kind == "symlink-outside" else example_repo) / "copy.json"
        copy.write_bytes(path.read_bytes())
        path.unlink()
        if kind == "directory":
            path.mkdir()
        else:
            path.symlink_to(copy)
    result = validate_json(example_repo)
    assert result.code == 1
    [message] = [d["message"] for d in json.loads(result.out) if d["code"] == "E001"]
    expected = {"symlink-outside": "is a symlink; mlopsc reads only regular files inside the repository",
                "symlink-inside": "is a symlink; mlopsc reads only regular files inside the repository",
                "directory": "is a directory; mlopsc reads only regular files", "dotdot": "the path leaves the repository"}[kind]
    assert message.endswith(expected)


# ------------------------------------------------------------------ YAML core tags (item 6)
def test_bool_tag_with_a_value_that_is_no_bool_is_y009(example_repo):
    edit(example_repo / SPEC, "pii: true", "pii: !!bool maybe")
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 1
    assert ("specs/risk/fraud-detection.yaml:15:12: error[Y009]: `maybe` is not a `!!bool` value; remove the tag "
            "or write a valid value") in result.out


@pytest.mark.parametrize("value", ["!!bool maybe", "!!bool ''", '!!int ""', "!!int abc", "!!int 0b", "!!int ':'",
                                   '!!float ""', "!!float abc", "!!int " + "9" * 5000])
def test_every_core_tag_constructor_error_is_a_diagnostic(value):
    doc, diags = load_yaml(f"a: {value}\n".encode(), "x.yaml")
    assert [d.code for d in diags] == ["Y009"]
    assert diags[0].position == Position("x.yaml", 1, 4)
    assert doc.data == {"a": None}


def test_plain_values_that_only_look_like_numbers_stay_text():
    doc, diags = load_yaml(("a: " + "9" * 5000 + "\n").encode(), "x.yaml")
    assert diags == [] and doc.data == {"a": "9" * 5000}


# ------------------------------------------------------------------ promotion history (item 8)
@pytest.mark.parametrize("depth", [2000, 50_000])
def test_history_nested_deep_is_e007_not_a_crash(bundled_repo, depth):
    """2,000 is the issue's reproducer (whether json parses it depends on the recursion limit the
    process runs with: either way it is no history); 50,000 is too deep for any limit."""
    history = bundled_repo / "generated/promotion/history.json"
    history.write_text("[" * depth + "]" * depth)
    for command in ("validate", "compile"):
        result = run_mlopsc(command, cwd=bundled_repo)
        assert result.code == 1, command
        assert "Traceback" not in result.err
        assert "generated/promotion/history.json:1:1: error[E007]: " in result.out + result.err
        if depth == 50_000:
            assert ("generated/promotion/history.json:1:1: error[E007]: generated/promotion/history.json is not "
                    "valid JSON (nested too deeply); the history is not trusted") in result.out + result.err


def test_history_with_a_5000_digit_number_is_e007_not_a_crash(bundled_repo):
    history = bundled_repo / "generated/promotion/history.json"
    history.write_text(history.read_text().replace('"seq": 1', '"seq": ' + "9" * 5000, 1))
    result = run_mlopsc("validate", "--format", "json", cwd=bundled_repo)
    assert result.code == 1 and "Traceback" not in result.err
    assert "E007" in codes_of(result)


def test_history_symlinked_outside_is_not_read(bundled_repo, outside):
    history = bundled_repo / "generated/promotion/history.json"
    history.unlink()
    history.symlink_to(outside / "secrets.env")
    result = run_mlopsc("validate", cwd=bundled_repo)
    assert result.code == 1 and SECRET not in result.out
    assert ("error[E007]: generated/promotion/history.json cannot be read: generated/promotion/history.json is a "
            "symlink") in result.out


# ------------------------------------------------------------------ graph depth (item 10)
def chain_repo(root: Path, steps: int) -> Path:
    (root / "specs/growth").mkdir(parents=True)
    (root / "mlopsc.yaml").write_bytes((REPO / "mlopsc.yaml").read_bytes())
    image = "registry.example.com/growth/segments@sha256:" + "f" * 64
    lines = ["apiVersion: mlopsc.dev/v1", "kind: MLProject",
             "metadata: {name: chain, team: growth, owners: [a@example.com]}", "spec:", "  sources:",
             f"    s: {{uri: 's3://lake/x/', version: 'sha256:{'a' * 64}'}}", "  steps:"]
    for i in range(steps):
        source = "sources.s" if i == 0 else f"steps.s{i - 1}.outputs.o"
        lines += [f"    s{i}:", f"      image: {image}",
                  f"      code: {{repo: 'https://git.example.com/g/s.git', commit: '{'ab' * 20}'}}",
                  "      command: [python]", f"      inputs: {{i: '{source}'}}", "      outputs: {o: dataset}"]
    (root / "specs/growth/chain.yaml").write_text("\n".join(lines) + "\n")
    return root


def test_a_chain_of_1500_steps_compiles(tmp_path):
    repo = chain_repo(tmp_path / "repo", 1500)
    result = run_mlopsc("compile", cwd=repo)
    assert result.code == 0, result.err[-2000:]
    events = json.loads((repo / "generated/lineage/openlineage/growth/chain.json").read_text())
    last = next(e for e in events if e.get("job", {}).get("name", "").endswith("s1499"))
    assert last["outputs"][0]["facets"]["version"]["datasetVersion"].startswith("sha256:")


def test_openlineage_versions_need_no_recursion_over_graph_depth(tmp_path):
    """The class: with Python's stack at a few frames above the caller, a long chain still works."""
    from compiler.backends import openlineage
    from compiler.build import Layout, load_and_check

    checked = load_and_check(Layout(chain_repo(tmp_path / "repo", 300)))
    limit = sys.getrecursionlimit()
    depth = len(__import__("inspect").stack())
    sys.setrecursionlimit(depth + 150)
    try:
        assert len(openlineage.events(checked)) > 300
    finally:
        sys.setrecursionlimit(limit)


# ------------------------------------------------------------------ what diagnostics print (11, 16)
FORGED = "train\nspecs/x.yaml:1:1: error[FAKE]: injected"


def test_a_newline_in_a_name_cannot_forge_a_diagnostic_line(example_repo):
    edit(example_repo / SPEC, "    train:\n", f"    {json.dumps(FORGED)}:\n")
    for fmt in ("text", "json", "github"):
        result = run_mlopsc("validate", "--format", fmt, cwd=example_repo)
        assert result.code == 1
        lines = (result.out + result.err).splitlines()
        assert all("train\\\\nspecs/x.yaml" in line or "train\\nspecs/x.yaml" in line
                   for line in lines if "error[FAKE]" in line), fmt
        assert not any(line.startswith("specs/x.yaml") for line in lines)
    assert "train\\nspecs/x.yaml:1:1: error[FAKE]: injected" in run_mlopsc("validate", cwd=example_repo).out


@pytest.mark.parametrize("where", ["evidence", "file name"])
def test_a_lone_surrogate_prints_escaped_in_every_format(example_repo, where):
    """In evidence (`"\\ud800"`) or in a file name that is not UTF-8 (Python reads byte 0xff as the
    lone surrogate U+DCFF): exit 1, the diagnostic shows the escape, on an ASCII-only stdout too."""
    if where == "evidence":
        path = example_repo / CANARY_EVIDENCE
        path.write_text(path.read_text().replace('"project": "risk/fraud-detection"', '"project": "\\ud800"'))
        shown = b"\\ud800"
    else:
        with open(os.fsencode(example_repo / "specs/risk") + b"/bad\xff.yaml", "wb") as fh:
            fh.write(b"a: 1\n")
        shown = b"specs/risk/bad\\udcff.yaml"
    for fmt in ("text", "json", "github"):
        done = subprocess.run([sys.executable, "-m", "compiler", "-C", str(example_repo), "validate", "--format", fmt],
                              capture_output=True, timeout=120, cwd=REPO, env={**os.environ, "PYTHONIOENCODING": "ascii"})
        assert done.returncode == 1, done.stderr.decode()[-2000:]
        assert b"Traceback" not in done.stderr
        assert (shown.replace(b"\\", b"\\\\") if fmt == "json" else shown) in done.stdout, fmt


def test_evidence_and_history_with_a_lone_surrogate_are_refused_when_read(example_repo, bundled_repo):
    path = example_repo / CANARY_EVIDENCE
    path.write_text(path.read_text().replace('"project": "risk/fraud-detection"', '"project": "\\ud800"'))
    [message] = [d["message"] for d in json.loads(validate_json(example_repo).out) if d["code"] == "E001"]
    assert message.endswith("is not valid UTF-8 JSON (`\\ud800` is a lone surrogate, not a character)")
    history = bundled_repo / "generated/promotion/history.json"
    history.write_text(history.read_text().replace('"digest": "', '"digest": "\\udfff', 1))
    result = run_mlopsc("compile", cwd=bundled_repo)
    assert result.code == 1 and "Traceback" not in result.err
    assert ("error[E007]: generated/promotion/history.json is not valid JSON (`\\udfff` is a lone surrogate, "
            "not a character)") in result.err


@pytest.mark.parametrize("raw, shown", [("a\nb", "a\\nb"), ("a\rb", "a\\rb"), ("tab\there", "tab\\there"),
                                         ("\x1b[2J", "\\x1b[2J"), ("\x7f\x85", "\\x7f\\x85"),
                                         ("\u202eevil", "\\u202eevil"), ("\ud800", "\\ud800"),
                                         ("\U000e0001", "\\U000e0001"), ("naïve → ok", "naïve → ok")])
def test_diagnostics_escape_what_is_not_printable_in_path_message_and_notes(raw, shown):
    d = Diagnostic(Position(f"specs/{raw}.yaml", 2, 3), Severity.ERROR, "S003", f"bad {raw}", (f"note {raw}",))
    assert printable(raw) == shown
    assert (d.position.path, d.message, d.notes) == (f"specs/{shown}.yaml", f"bad {shown}", (f"note {shown}",))
    for text in (render_text([d], Path("/nonexistent"), color=False, show_source=True, verbose=True),
                 render_github([d]), render_json([d])):
        text.encode("ascii", "backslashreplace").decode("ascii").encode("utf-8")  # always encodable
        assert raw not in text or raw.isprintable()
