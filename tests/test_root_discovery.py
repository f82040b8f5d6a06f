"""Every command finds the repository root by walking up to mlopsc.yaml, as git finds .git, and
shows paths relative to where the user stands (as `git status` does); clean runs end with one
summary line."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, edit, line_col, run_mlopsc

FRAUD = "specs/risk/fraud-detection.yaml"


def mlopsc(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compiler", *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_validate_from_a_team_folder_finds_the_root_and_shows_paths_from_there(bundled_repo):
    edit(bundled_repo / FRAUD, "memory: 16Gi", "memory: 16GB")
    line, column = line_col(bundled_repo / FRAUD, "16GB")
    result = mlopsc("validate", cwd=bundled_repo / "specs" / "risk")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0].startswith(f"fraud-detection.yaml:{line}:{column}: error[K002]: ")
    elsewhere = mlopsc("validate", cwd=bundled_repo / "evidence")
    assert elsewhere.stdout.splitlines()[0].startswith(f"../{FRAUD}:{line}:{column}: error[K002]: ")
    at_root = mlopsc("validate", cwd=bundled_repo)
    assert at_root.stdout.splitlines()[0].startswith(f"{FRAUD}:{line}:{column}: error[K002]: ")


def test_dash_c_starts_in_a_directory_like_git(bundled_repo):
    result = run_mlopsc("validate", cwd=bundled_repo / "specs" / "growth")
    assert (result.code, result.out, result.err) == (0, "4 project(s), 0 error(s), 0 warning(s)\n", "")


def test_clean_validate_and_compile_check_end_with_one_summary_line(bundled_repo):
    result = mlopsc("validate", cwd=bundled_repo / "specs")
    assert (result.returncode, result.stdout) == (0, "4 project(s), 0 error(s), 0 warning(s)\n")
    check = mlopsc("compile", "--check", cwd=bundled_repo / "specs" / "payments")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stderr.splitlines()[-1] == "mlopsc: generated/ is up to date: 4 project(s), 0 error(s), 0 warning(s)"


def test_without_mlopsc_yaml_above_the_start_directory_is_the_root(tmp_path):
    (tmp_path / "specs").mkdir()
    result = run_mlopsc("validate", cwd=tmp_path)
    assert (result.code, result.out) == (0, "0 project(s), 0 error(s), 0 warning(s)\n")


def test_path_arguments_start_where_the_user_stands(bundled_repo):
    result = mlopsc("evidence", "write", "--project", "risk/fraud-detection", "--serving", "fraud-api",
                    "--model-uri", "s3://m/", "--model-digest", "sha256:" + "ab" * 32, "--metric", "auc=0.95",
                    "--pipeline-version", "v1", "--run", "r1", "--output", "run-9.json",
                    cwd=bundled_repo / "evidence" / "risk")
    assert result.returncode == 0, result.stderr
    assert (bundled_repo / "evidence" / "risk" / "run-9.json").is_file()
