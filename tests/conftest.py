"""Shared fixtures: the contract's examples, the bundled specs, and running the CLI in-process."""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# CI and developers have ../shared beside the checkout.
SHARED = Path(os.environ.get("MLOPSC_SHARED", REPO.parent / "shared"))
# The contract's examples as shipped (read-only). They have serving targets but no
# kubeflow.releaseImage, which such a repository must set (P010): as a correct repository the
# tests use EXAMPLES, a copy with a release image pinned by digest and nothing else changed.
CONTRACT_EXAMPLES = SHARED / "spec" / "examples"
EXAMPLES_RELEASE_IMAGE = "registry.example.com/ml/mlopsc@sha256:" + "5e" * 32
RELEASE_IMAGE_LINE = f"  releaseImage: {EXAMPLES_RELEASE_IMAGE}\n"
CRDS = SHARED / "crds"
KFP_GOLDEN = SHARED / "kfp-golden"


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_mlopsc(*args: str, cwd: Path) -> Result:
    """Run the CLI in this process (fast), from `cwd` as the repository root."""
    from compiler.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["-C", str(cwd), *args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


def copy_repo(src: Path, dest: Path, *, with_generated: bool = False) -> Path:
    """A writable copy of a spec repository (mlopsc.yaml, specs/, evidence/)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("mlopsc.yaml", "specs", "evidence") + (("generated",) if with_generated else ()):
        path = src / name
        if path.is_dir():
            shutil.copytree(path, dest / name)
        elif path.is_file():
            shutil.copy2(path, dest / name)
    return dest


def _examples_with_release_image() -> Path:
    root = Path(tempfile.mkdtemp(prefix="mlopsc-examples-"))
    atexit.register(shutil.rmtree, root, True)
    copy = copy_repo(CONTRACT_EXAMPLES, root / "examples")
    config = copy / "mlopsc.yaml"
    text = config.read_text(encoding="utf-8")
    anchor = "  pipelineRoot: s3://ml-artifacts/pipelines\n"
    assert text.count(anchor) == 1, "the contract's mlopsc.yaml changed: update tests/conftest.py"
    config.write_text(text.replace(anchor, anchor + RELEASE_IMAGE_LINE), encoding="utf-8")
    return copy


EXAMPLES = _examples_with_release_image()


@pytest.fixture(scope="session")
def checked_examples():
    """The contract's examples, loaded and checked once per test run (read it, never change it)."""
    from compiler.build import Layout, load_and_check

    result = load_and_check(Layout(EXAMPLES))
    assert not result.has_errors, result.diagnostics
    return result


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of ../shared/spec/examples (with EXAMPLES' release image) to change freely."""
    return copy_repo(EXAMPLES, tmp_path / "examples")


@pytest.fixture
def bundled_repo(tmp_path: Path) -> Path:
    """A copy of this repository's bundled specs (and their committed generated/)."""
    return copy_repo(REPO, tmp_path / "bundled", with_generated=True)


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace text in a spec file; fails loudly if the text is not there (a broken test)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def line_col(path: Path, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of `needle` in a file."""
    text = path.read_text(encoding="utf-8")
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column
