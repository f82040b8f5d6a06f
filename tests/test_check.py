"""`mlopsc compile --check`, CI's drift gate: writes nothing, exits 1 with a diff on any drift."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import edit, run_mlopsc
from test_atomic import snapshot
from test_output import FRAUD, PRODUCTION_SERVING, drop_production

ISVC = f"generated/{PRODUCTION_SERVING}/inferenceservice-fraud-api.yaml"


@pytest.fixture
def compiled(example_repo: Path) -> Path:
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    return example_repo


def check(repo: Path, *args: str):
    before = snapshot(repo / "generated") if (repo / "generated").exists() else None
    result = run_mlopsc("compile", "--check", *args, cwd=repo)
    after = snapshot(repo / "generated") if (repo / "generated").exists() else None
    assert after == before, "--check wrote to generated/"
    return result


def test_a_fresh_compile_passes_the_gate_silently(compiled):
    result = check(compiled)
    assert (result.code, result.out) == (0, "")


def test_a_spec_change_not_compiled_fails_with_a_unified_diff(compiled):
    edit(compiled / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    result = check(compiled)
    assert result.code == 1
    assert f"--- a/{ISVC}\n+++ b/{ISVC}\n" in result.out
    assert "-    minReplicas: 3\n+    minReplicas: 4\n" in result.out
    assert "changed" in result.err and "run `mlopsc compile`" in result.err


def test_a_deleted_generated_file_is_missing(compiled):
    (compiled / ISVC).unlink()
    result = check(compiled)
    assert result.code == 1
    assert f"--- /dev/null\n+++ b/{ISVC}\n" in result.out
    assert "1 missing" in result.err


def test_files_compile_would_remove_are_orphaned(compiled):
    drop_production(compiled)
    result = check(compiled)
    assert result.code == 1
    assert f"--- a/{ISVC}\n+++ /dev/null\n" in result.out
    assert "orphaned" in result.err


def test_a_hand_edit_is_named_as_such(compiled):
    path = compiled / ISVC
    path.write_text(path.read_text().replace("minReplicas: 3", "minReplicas: 30"))
    result = check(compiled)
    assert result.code == 1
    assert "+    minReplicas: 3\n" in result.out
    assert "1 edited by hand" in result.err


def test_a_hand_edit_of_the_promotion_history_fails_the_gate(compiled):
    history = compiled / "generated/promotion/history.json"
    history.write_text(history.read_text() + "\n")
    result = check(compiled)
    assert result.code == 1
    assert "promotion/history.json" in result.out + result.err


def test_check_without_any_generated_tree_writes_nothing(example_repo):
    result = check(example_repo)
    assert result.code == 1
    assert not (example_repo / "generated").exists()
    assert "missing" in result.err


def test_the_diff_applies_with_git_and_then_the_gate_passes(compiled):
    edit(compiled / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    (compiled / "generated/model-cards/risk/fraud-detection.md").unlink()
    drop_production(compiled)
    result = check(compiled)
    assert result.code == 1
    patch = compiled / "drift.patch"
    patch.write_text(result.out)
    subprocess.run(["git", "apply", "--unsafe-paths", "--directory=", str(patch)], cwd=compiled,
                   check=True, capture_output=True)
    patch.unlink()
    assert check(compiled).code == 0


def test_github_format_annotates_each_stale_file(compiled):
    edit(compiled / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    result = check(compiled, "--format", "github")
    assert result.code == 1
    assert f"::error file={ISVC},title=generated drift::" in result.err


def test_errors_in_the_specs_fail_the_gate_with_diagnostics_not_a_diff(compiled):
    edit(compiled / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")
    result = check(compiled)
    assert result.code == 1
    assert result.out == ""
    assert "error[K003]" in result.err
