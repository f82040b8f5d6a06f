"""compiler.files: the one way mlopsc opens a file it did not create (inside, regular, bounded)."""

from __future__ import annotations

import os

import pytest

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
