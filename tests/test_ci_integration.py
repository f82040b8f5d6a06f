"""What users copy into their CI: the pre-commit hooks, the GitHub Actions workflow, and the
`--format github` annotations. Every mlopsc command they contain must parse with the real CLI,
and the workflow's steps must do what docs/CI.md says when run against a real pull request."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, edit, run_mlopsc
from test_plan import commit, git

from compiler.cli import build_parser

HOOKS = REPO / ".pre-commit-hooks.yaml"
WORKFLOW = REPO / "docs" / "examples" / "github-actions.yml"
FRAUD = "specs/risk/fraud-detection.yaml"


def mlopsc_commands(script: str) -> list[list[str]]:
    """Every `mlopsc …` command line in a shell script, as argv (shell redirections dropped)."""
    commands = []
    for line in script.splitlines():
        line = line.strip()
        if line.startswith("mlopsc "):
            argv = shlex.split(line.split(">")[0].replace('"origin/${BASE_REF}"', "origin/main"))
            commands.append(argv)
    return commands


def parses(argv: list[str]) -> bool:
    assert argv[0] == "mlopsc"
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit:
        return False
    return True


# ----------------------------------------------------------------------------------- pre-commit
def test_pre_commit_hooks_run_real_commands_on_the_right_files():
    hooks = yaml.safe_load(HOOKS.read_text())
    assert [h["id"] for h in hooks] == ["mlopsc-validate", "mlopsc-compile", "mlopsc-check"]
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert parses(shlex.split(hook["entry"])), hook["entry"]
        files = re.compile(hook["files"])
        for path in ("mlopsc.yaml", "specs/risk/fraud-detection.yaml", "specs/growth/recs.yml",
                     "evidence/risk/fraud-detection/run-0142.json"):
            assert files.search(path), (hook["id"], path)
        assert not files.search("README.md") and not files.search("docs/specs/x.yaml")
    compile_hooks = [h for h in hooks if "compile" in h["entry"]]
    assert all(re.search(h["files"], "generated/deploy/x.yaml") for h in compile_hooks)


def test_the_hook_repository_installs_the_mlopsc_command():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'mlopsc = "compiler.cli:main"' in pyproject  # what `entry: mlopsc …` runs


# ------------------------------------------------------------------------------- GitHub Actions
@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_validates_gates_drift_and_plans(workflow):
    steps = workflow["jobs"]["gate"]["steps"]
    scripts = [s.get("run", "") for s in steps]
    commands = [argv for script in scripts for argv in mlopsc_commands(script)]
    assert [argv[1] for argv in commands] == ["validate", "plan", "compile"]
    assert all(parses(argv) for argv in commands), commands
    assert all("--format" in argv and argv[argv.index("--format") + 1] == "github" for argv in commands)
    assert ["mlopsc", "compile", "--check", "--cache", "$RUNNER_TEMP/mlopsc-cache", "--format", "github"] in commands
    # The cache: restored on every run, saved only by pushes to main, at the path the gate uses.
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert "if" not in restore and save["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert restore["with"]["path"] == save["with"]["path"] == "${{ runner.temp }}/mlopsc-cache"
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # plan reads the base branch from Git history
    assert workflow["permissions"]["pull-requests"] == "write"
    comment = next(s for s in steps if "github-script" in s.get("uses", ""))
    assert "<!-- mlopsc-plan" in comment["with"]["script"]


def test_every_command_in_the_ci_docs_parses():
    text = (REPO / "docs" / "CI.md").read_text()
    commands = [shlex.split(m.replace('"origin/$BASE_REF"', "origin/main")
                            .replace('"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"', "origin/main"))
                for m in re.findall(r"`(mlopsc [a-z][^`]*)`", text) if "…" not in m and "<" not in m]
    assert len(commands) >= 8
    for argv in commands:
        argv = [a for a in argv if a != ">" and a != "plan.md"]
        assert parses(argv), argv


@pytest.fixture
def pull_request(example_repo: Path, tmp_path: Path):
    """A specs repository with main compiled and a pull request branch checked out, plus an
    `mlopsc` on PATH that runs this checkout."""
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    git(example_repo, "init", "-q", "-b", "main")
    commit(example_repo, "main")
    git(example_repo, "update-ref", "refs/remotes/origin/main", "main")  # what fetch-depth: 0 gives
    git(example_repo, "checkout", "-q", "-b", "pr")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mlopsc"
    shim.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(REPO))} exec {shlex.quote(sys.executable)} -m compiler \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return example_repo, bin_dir


def run_step(step: dict, repo: Path, bin_dir: Path, summary: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "BASE_REF": "main",
           "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(summary.parent)}
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True)


def test_the_workflow_steps_on_a_pull_request(workflow, pull_request, tmp_path):
    repo, bin_dir = pull_request
    steps = [s for s in workflow["jobs"]["gate"]["steps"] if "mlopsc " in s.get("run", "")]
    validate, plan, drift = steps
    summary = tmp_path / "summary.md"
    edit(repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    commit(repo, "more production replicas, generated/ forgotten")

    assert run_step(validate, repo, bin_dir, summary).returncode == 0
    result = run_step(plan, repo, bin_dir, summary)
    assert result.returncode == 0, result.stderr
    comment = (repo / "plan.md").read_text()
    assert comment.startswith("<!-- mlopsc-plan") and "replicas 3–12 → 4–12" in comment
    assert summary.read_text() == comment
    result = run_step(drift, repo, bin_dir, summary)
    assert result.returncode == 1
    assert f"::error file=generated/deploy/serving/production/risk/fraud-detection/inferenceservice-fraud-api.yaml" in result.stderr
    assert "+    minReplicas: 4" in result.stdout

    (repo / "plan.md").unlink()
    assert run_mlopsc("compile", cwd=repo).code == 0
    commit(repo, "compiled")
    assert run_step(drift, repo, bin_dir, summary).returncode == 0
    assert (tmp_path / "mlopsc-cache" / "units-generated").is_file()  # what a push to main saves


def test_the_workflow_stops_at_validate_with_inline_annotations(workflow, pull_request, tmp_path):
    repo, bin_dir = pull_request
    validate = next(s for s in workflow["jobs"]["gate"]["steps"] if "mlopsc validate" in s.get("run", ""))
    edit(repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")
    result = run_step(validate, repo, bin_dir, tmp_path / "summary.md")
    assert result.returncode == 1
    assert re.search(rf"^::error file={FRAUD},line=\d+,col=\d+,title=K003::replicas.min 13", result.stdout, re.M)


# --------------------------------------------------------------------------------- --format github
@pytest.mark.parametrize("command", [["validate"], ["compile"], ["compile", "--check"]])
def test_compile_and_validate_annotate_errors_for_github(example_repo, command):
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")
    result = run_mlopsc(*command, "--format", "github", cwd=example_repo)
    assert result.code == 1
    annotations = [l for l in (result.out + result.err).splitlines() if l.startswith("::")]
    assert len(annotations) == 1
    assert re.fullmatch(rf"::error file={FRAUD},line=\d+,col=\d+,title=K003::replicas\.min 13 .*", annotations[0])
