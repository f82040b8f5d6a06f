"""The fingerprint of the last compile: a compile or --check with nothing to do skips the work,
and any change to anything the output depends on makes it do the work again."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import edit, run_mlopsc

from compiler.commands import compile as compile_command
from compiler.output import fingerprint

FRAUD = "specs/risk/fraud-detection.yaml"
EVIDENCE = "evidence/risk/fraud-detection/run-0142.json"
ISVC = "generated/deploy/serving/production/risk/fraud-detection/inferenceservice-fraud-api.yaml"


@pytest.fixture
def compiled(example_repo: Path) -> Path:
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    return example_repo


@pytest.fixture
def loads(monkeypatch) -> list[int]:
    """Counts how often compile loads the specs (a fingerprint hit never does)."""
    calls: list[int] = []
    real = compile_command.load_and_check

    def counting(layout, *args):
        calls.append(1)
        return real(layout, *args)

    monkeypatch.setattr(compile_command, "load_and_check", counting)
    return calls


def test_nothing_changed_so_nothing_is_loaded(compiled, loads):
    result = run_mlopsc("compile", cwd=compiled)
    assert result.code == 0 and "up to date (no input changed" in result.err
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0
    assert loads == []


@pytest.mark.parametrize("change", ["spec", "new spec", "deleted spec", "evidence", "settings",
                                    "mlopsc itself", "hand edit", "deleted output"])
def test_any_change_runs_the_full_compile(compiled, loads, monkeypatch, change):
    if change == "spec":
        edit(compiled / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    elif change == "new spec":
        (compiled / "specs/risk/notes.yaml").write_text("not: a project\n")
    elif change == "deleted spec":
        (compiled / "specs/growth/merchant-recs.yaml").unlink()
    elif change == "evidence":
        edit(compiled / EVIDENCE, '"auc": 0.941', '"auc": 0.942')
    elif change == "settings":
        edit(compiled / "mlopsc.yaml", "s3://ml-artifacts/pipelines", "s3://ml-artifacts/other")
    elif change == "mlopsc itself":
        monkeypatch.setattr(fingerprint, "compiler_identity", lambda: "another mlopsc")
    elif change == "hand edit":
        edit(compiled / ISVC, "minReplicas: 3", "minReplicas: 30")
    elif change == "deleted output":
        (compiled / ISVC).unlink()
    run_mlopsc("compile", "--check", cwd=compiled)
    assert loads == [1]


def test_a_hand_edit_is_still_reported_by_the_check(compiled):
    edit(compiled / ISVC, "minReplicas: 3", "minReplicas: 30")
    result = run_mlopsc("compile", "--check", cwd=compiled)
    assert result.code == 1 and "1 edited by hand" in result.err


def test_library_versions_are_part_of_mlopsc_s_identity(monkeypatch):
    identities = []
    for pyyaml in ("6.0.3", "7.0"):
        monkeypatch.setattr(fingerprint.metadata, "version",
                            lambda name, pyyaml=pyyaml: pyyaml if name == "PyYAML" else "1.0")
        fingerprint.compiler_identity.cache_clear()
        identities.append(fingerprint.compiler_identity())
    monkeypatch.undo()
    fingerprint.compiler_identity.cache_clear()
    assert identities[0] != identities[1]


def test_warnings_are_reported_again_without_loading(example_repo, loads):
    edit(example_repo / FRAUD, "  sources:\n", "  sources:\n    unread:\n      uri: s3://risk-lake/unread/\n"
                                               "      version: \"2026-11-01\"\n")
    first = run_mlopsc("compile", cwd=example_repo)
    again = run_mlopsc("compile", "--format", "github", cwd=example_repo)
    assert loads == [1]
    assert "warning[W001]" in first.err
    assert again.err.startswith(f"::warning file={FRAUD},line=11,col=5,title=W001::source `unread`")


def test_check_never_writes_a_fingerprint_and_select_never_trusts_one(example_repo, loads):
    assert run_mlopsc("compile", "--check", cwd=example_repo).code == 1
    assert not (example_repo / ".mlopsc").exists()
    assert run_mlopsc("compile", "--select", "team:risk", cwd=example_repo).code == 0
    assert not (example_repo / ".mlopsc" / "generated.fingerprint.json").exists()
    assert run_mlopsc("compile", "--select", "team:risk", cwd=example_repo).code == 0
    assert len(loads) == 3


def test_a_corrupt_fingerprint_is_ignored(compiled, loads):
    (compiled / ".mlopsc/generated.fingerprint.json").write_text("{not json")
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0
    assert loads == [1]


def test_the_scratch_directory_never_shows_in_git(compiled):
    subprocess.run(["git", "init", "-q"], cwd=compiled, check=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=compiled,
                            check=True, capture_output=True, text=True).stdout
    assert ".mlopsc/" not in status and "generated/" in status
    body = json.loads((compiled / ".mlopsc/generated.fingerprint.json").read_text())
    assert str(compiled) not in json.dumps(body)  # relative paths: a moved checkout still matches
    moved = compiled.parent / "moved"
    compiled.rename(moved)  # `mv` of a checkout
    assert "no input changed" in run_mlopsc("compile", cwd=moved).err


def test_a_fingerprint_copied_or_committed_elsewhere_is_never_trusted(compiled, loads):
    """A pull request can commit `.mlopsc/` (`git add -f`): in a fresh clone its fingerprint is a
    new file, so it can never make CI's --check skip the full check."""
    edit(compiled / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")  # K003
    copy = shutil.copytree(compiled, compiled.parent / "clone")
    fingerprint_file = copy / ".mlopsc/generated.fingerprint.json"
    body = json.loads(fingerprint_file.read_text())
    # Forge it for the clone's own inputs, as an attacker who knows the files could.
    for rel in body["inputs"]:
        body["inputs"][rel] = __import__("hashlib").sha256((copy / rel).read_bytes()).hexdigest()
    fingerprint_file.write_text(json.dumps(body))
    result = run_mlopsc("compile", "--check", cwd=copy)
    assert result.code == 1 and "error[K003]" in result.err
    assert loads == [1]
