"""compiler.files: the one way mlopsc opens a file it did not create (inside, regular, bounded)."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.files import UnsafeFile, read_inside, safe_relative, walk_inside


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "repo"
    (root / "specs" / "risk").mkdir(parents=True)
    (root / "specs" / "risk" / "ok.yaml").write_text("a: 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("TOKEN=hunter2\n")
    (root / "specs" / "risk" / "link.yaml").symlink_to(outside / "secret")
    (root / "specs" / "away").symlink_to(outside)
    os.mkfifo(root / "specs" / "risk" / "fifo.yaml")
    (root / "zero").symlink_to("/dev/zero")
    (root / "big").write_bytes(b"x" * 2048)
    return root


def test_reads_a_regular_file_inside(tree):
    assert read_inside(tree, "specs/risk/ok.yaml") == b"a: 1\n"
    assert read_inside(tree, "./specs//risk/ok.yaml") == b"a: 1\n"


@pytest.mark.parametrize("rel, reason", [
    ("specs/risk/link.yaml", "is a symlink"),
    ("specs/away/secret", "`away` on its way is a symlink"),
    ("specs/risk/fifo.yaml", "not a regular file"),   # opened non-blocking: never hangs
    ("zero", "is a symlink"),
    ("specs", "is a directory"),
    ("../outside/secret", "leaves the repository"),
    ("/etc/passwd", "absolute path"),
    ("specs/risk/ok.yaml\nerror", "control characters"),
    ("missing.yaml", "does not exist"),
])
def test_refuses_what_is_not_a_regular_file_inside(tree, rel, reason):
    with pytest.raises(UnsafeFile) as info:
        read_inside(tree, rel)
    assert reason in info.value.reason
    assert "hunter2" not in str(info.value)


def test_size_bound(tree):
    assert len(read_inside(tree, "big", limit=2048)) == 2048
    with pytest.raises(UnsafeFile, match="larger than"):
        read_inside(tree, "big", limit=1024)


def test_walk_lists_regular_files_and_refuses_the_rest_unopened(tree):
    files, refused = walk_inside(tree, "specs")
    assert files == ["specs/risk/ok.yaml"]
    assert refused == ["specs/away", "specs/risk/fifo.yaml", "specs/risk/link.yaml"]
    with pytest.raises(UnsafeFile, match="symlink"):
        walk_inside(tree, "specs/away")


def test_safe_relative_normalises():
    assert safe_relative("evidence/./risk/x.json") == "evidence/risk/x.json"
    with pytest.raises(UnsafeFile):
        safe_relative("evidence/\ud800.json")


def _safe_relative_by_pathlib(text):
    """What safe_relative means, spelt with PurePosixPath: (normalised path or None, reason)."""
    if not isinstance(text, str) or not text:
        return None, "is not a file path"
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in text) or "\\" in text:
        return None, "is not a valid file path (control characters or backslashes)"
    path = PurePosixPath(text)
    if path.is_absolute():
        return None, "is an absolute path; paths are relative to the repository root"
    parts = [p for p in path.parts if p != "."]
    if not parts or ".." in parts:
        return None, "leaves the repository (`..`)"
    return "/".join(parts), None


def _safe_relative_outcome(text):
    try:
        return safe_relative(text), None
    except UnsafeFile as exc:
        return None, exc.reason


@pytest.mark.parametrize("text", ["a", "a/b", "./a", "a/./b", "a//b", "a/", "//a", "///a", "/a", ".", "./",
                                  "..", "a/../b", "a/..", "...", "..a/b", "a/.b", " ", "a\\b", "a\tb",
                                  "a\x7fb", "a\x1fb", "a\x80b", "é/ü", "\udfff", "", None, 3, b"a"])
def test_safe_relative_accepts_and_refuses_what_pathlib_would(text):
    assert _safe_relative_outcome(text) == _safe_relative_by_pathlib(text)


@given(st.text(alphabet=st.sampled_from(["a", "b", ".", "/", "\\", " ", "\x00", "\x1f", "\x7f", "\x80",
                                         "\ud800", "é"]), max_size=12))
def test_safe_relative_matches_pathlib_on_any_path(text):
    assert _safe_relative_outcome(text) == _safe_relative_by_pathlib(text)


def test_refused_path_is_shown_escaped():
    with pytest.raises(UnsafeFile) as caught:
        safe_relative("a\x1b[31m/x")
    assert caught.value.path == "a\\x1b[31m/x"
