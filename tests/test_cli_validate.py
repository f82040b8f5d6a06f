"""`mlopsc validate` as a user meets it: every error of every file in one run, sorted, in the
`path:line:col: error[CODE]: message` form, with the source line and a caret on a terminal, the
same as a JSON list, and exit codes 0 (clean or warnings), 1 (errors) and 2 (bad usage)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES_RELEASE_IMAGE, REPO, edit, line_col, run_mlopsc

from compiler.diagnostics import Diagnostic, Position, Severity, render_text

FRAUD = "specs/risk/fraud-detection.yaml"
RECS = "specs/growth/merchant-recs.yaml"
HEADLINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning)"
                      r"\[(?P<code>[A-Z]\d{3})\]: (?P<message>.+)$")


def break_three_files(root: Path) -> list[tuple[str, int, int, str]]:
    """Errors in the config and both specs, one of them unparseable; the expected spots, sorted."""
    edit(root / "mlopsc.yaml", "  deploymentMode: Standard", "  deploymentMod: Standard")
    edit(root / FRAUD, "memory: 16Gi", "memory: 16GB")
    edit(root / FRAUD, "registry.example.com/risk/fraud-features@", "ghcr.io/risk/fraud-features@")
    edit(root / RECS, "  team: growth\n", "  team: growth\n  team: growth\n")
    return [
        ("mlopsc.yaml", *line_col(root / "mlopsc.yaml", "deploymentMod"), "S001"),
        (RECS, *line_col(root / RECS, "team: growth", 2), "Y004"),
        (FRAUD, *line_col(root / FRAUD, "ghcr.io"), "P003"),
        (FRAUD, *line_col(root / FRAUD, "16GB"), "K002"),
    ]


def test_every_error_of_every_file_in_one_run_sorted(example_repo):
    expected = break_three_files(example_repo)
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[-1] == "4 error(s), 0 warning(s)"
    found = [HEADLINE.match(line) for line in lines[:-1]]
    assert all(found), lines
    assert [(m["path"], int(m["line"]), int(m["column"]), m["code"]) for m in found] == expected
    assert all(m["severity"] == "error" for m in found)
    assert "did you mean `deploymentMode`" in found[0]["message"]


def test_json_is_the_same_list_as_the_text(example_repo):
    break_three_files(example_repo)
    text = run_mlopsc("validate", cwd=example_repo)
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert result.code == 1
    items = json.loads(result.out)
    assert [f"{d['path']}:{d['line']}:{d['column']}: {d['severity']}[{d['code']}]: {d['message']}"
            for d in items] == text.out.splitlines()[:-1]
    assert all(set(d) >= {"path", "line", "column", "severity", "code", "message"} for d in items)


def test_github_annotations_carry_file_line_and_column(example_repo):
    expected = break_three_files(example_repo)
    result = run_mlopsc("validate", "--format", "github", cwd=example_repo)
    assert result.code == 1
    spots = re.findall(r"^::error file=([^,]+),line=(\d+),col=(\d+),title=([A-Z]\d{3})::", result.out, re.M)
    assert [(p, int(line), int(col), code) for p, line, col, code in spots] == expected


def test_clean_repository_exits_0_and_prints_one_summary_line(example_repo):
    result = run_mlopsc("validate", cwd=example_repo)
    assert (result.code, result.out) == (0, "2 project(s), 0 error(s), 0 warning(s)\n")
    assert json.loads(run_mlopsc("validate", "--format", "json", cwd=example_repo).out) == []


def test_warnings_alone_exit_0(example_repo):
    edit(example_repo / FRAUD, "outputs: {train: dataset, test: dataset}",
         "outputs: {train: dataset, test: dataset, audit: dataset}")
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 0
    assert "warning[W002]: output `features.audit` is read, evaluated or served by nothing" in result.out
    assert result.out.splitlines()[-1] == "0 error(s), 1 warning(s)"


def test_mlopsc_yaml_is_optional(example_repo):
    """Without it the documented defaults apply (staging → production, any team, any registry);
    only the release image has no default, and the examples serve models, so P010 asks for it."""
    (example_repo / "mlopsc.yaml").unlink()
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert result.code == 1
    assert [(d["code"], d["path"], d["line"]) for d in json.loads(result.out)] == [("P010", "mlopsc.yaml", 1)]
    (example_repo / "mlopsc.yaml").write_text(
        f"apiVersion: mlopsc.dev/v1\nkind: Repository\nkubeflow:\n  releaseImage: {EXAMPLES_RELEASE_IMAGE}\n")
    result = run_mlopsc("validate", cwd=example_repo)
    assert (result.code, result.out) == (0, "2 project(s), 0 error(s), 0 warning(s)\n")


def test_missing_specs_dir_is_a_located_error_not_bad_usage(tmp_path):
    """What the repository holds is never command-line misuse: exit 1 with Y008, not exit 2."""
    result = run_mlopsc("validate", cwd=tmp_path)
    assert result.code == 1
    assert result.out.startswith("specs:1:1: error[Y008]: specs directory 'specs' does not exist: ")
    assert "Traceback" not in result.err
    nowhere = run_mlopsc("--specs", "nowhere", "validate", cwd=REPO)
    assert nowhere.code == 1 and "nowhere:1:1: error[Y008]: specs directory 'nowhere' does not exist" in nowhere.out


def test_a_specs_option_outside_the_repository_is_bad_usage(example_repo):
    for option in ("../elsewhere", "/etc"):
        result = run_mlopsc("--specs", option, "validate", cwd=example_repo)
        assert result.code == 2, option
        assert result.err.startswith(f"mlopsc: error: --specs {option}: ")


def test_unknown_option_and_command_are_bad_usage(example_repo):
    assert run_mlopsc("validate", "--format", "xml", cwd=example_repo).code == 2
    assert run_mlopsc("valdate", cwd=example_repo).code == 2


def test_empty_specs_dir_is_valid(tmp_path):
    (tmp_path / "specs").mkdir()
    assert run_mlopsc("validate", cwd=tmp_path).code == 0


def test_source_line_and_caret_under_the_column(example_repo):
    break_three_files(example_repo)
    edit(example_repo / FRAUD, "      format: parquet\n      pii", "\tformt: parquet\n      pii")
    diagnostics = [
        Diagnostic(Position(FRAUD, *line_col(example_repo / FRAUD, "16GB")), Severity.ERROR, "K002", "bad"),
        Diagnostic(Position(FRAUD, 999, 1), Severity.WARNING, "W001", "past the end"),
    ]
    text = render_text(diagnostics, example_repo, color=False, show_source=True)
    lines = text.splitlines()
    line, column = diagnostics[0].position.line, diagnostics[0].position.column
    assert lines[0] == f"{FRAUD}:{line}:{column}: error[K002]: bad"
    source = (example_repo / FRAUD).read_text().splitlines()[line - 1]
    assert lines[1] == f"{line:>4} | {source}"
    caret = lines[2].index("^")
    assert lines[1][caret:caret + 4] == "16GB"
    # A position past the end of the file shows no source line, and nothing breaks.
    assert lines[3] == f"{FRAUD}:999:1: warning[W001]: past the end"
    assert lines[4] == "1 error(s), 1 warning(s)"


def test_a_terminal_gets_colour_source_and_caret(example_repo):
    break_three_files(example_repo)
    primary, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "compiler", "-C", str(example_repo), "validate"],
                            stdout=secondary, stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(timeout=60) == 1, proc.stderr.read()
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    assert "\x1b[1;31merror[K002]\x1b[0m" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines()
    at = next(i for i, line in enumerate(plain) if "[K002]" in line)
    assert "memory: 16GB" in plain[at + 1]
    caret = plain[at + 2].index("^")
    assert plain[at + 1][caret:caret + 4] == "16GB"


def test_an_unknown_field_does_not_hide_the_files_other_errors(example_repo):
    """A typo'd key is dropped after it is reported, so the rest of the file is still checked."""
    edit(example_repo / FRAUD, "      format: parquet\n      pii", "      formt: parquet\n      pii")
    edit(example_repo / FRAUD, "commit: 94efdd6f628eda9c1ae893467c9652808443ef3e", "commit: main")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert result.code == 1
    errors = [d for d in json.loads(result.out) if d["severity"] == "error"]
    assert [(d["code"], d["line"], d["column"]) for d in errors] == [
        ("S001", *line_col(example_repo / FRAUD, "formt")),
        ("P004", *line_col(example_repo / FRAUD, "main")),
    ]


def test_a_warnings_caret_has_the_warnings_colour(example_repo):
    diagnostics = [Diagnostic(Position(FRAUD, 1, 1), Severity.WARNING, "W001", "unused"),
                   Diagnostic(Position(FRAUD, 2, 1), Severity.ERROR, "K002", "bad")]
    lines = render_text(diagnostics, example_repo, color=True, show_source=True).splitlines()
    assert lines[0].startswith(f"{FRAUD}:1:1: \x1b[1;33mwarning[W001]")
    assert lines[2].strip() == "\x1b[1;33m^\x1b[0m"  # yellow like its label, not an error's red
    assert lines[5].strip() == "\x1b[1;31m^\x1b[0m"
