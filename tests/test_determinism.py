"""Deterministic output: the same specs give the same bytes whatever the hash seed, the order in
which the file system lists files, the working directory, the clock or the machine's paths."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, copy_repo, run_mlopsc
from test_atomic import snapshot
from test_generate import load_generator

from compiler.cli import main

generate = load_generator()


@pytest.fixture(scope="module")
def source_repo(tmp_path_factory) -> Path:
    """Cross-team edges, canaries, container and KServe runtimes: many orders to get wrong."""
    root = tmp_path_factory.mktemp("det") / "repo"
    generate.generate(root, 12, teams=3, seed=7)
    return root


@pytest.fixture(scope="module")
def reference(source_repo, tmp_path_factory) -> dict[str, bytes]:
    repo = copy_repo(source_repo, tmp_path_factory.mktemp("ref") / "repo")
    assert run_mlopsc("compile", cwd=repo).code == 0
    return snapshot(repo / "generated")


def compile_in_subprocess(repo: Path, **env: str) -> dict[str, bytes]:
    result = subprocess.run([sys.executable, "-m", "compiler", "compile"], cwd=repo, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO), **env})
    assert result.returncode == 0, result.stderr
    return snapshot(repo / "generated")


def test_hash_seeds_time_zones_and_locales_do_not_change_a_byte(source_repo, reference, tmp_path):
    for i, env in enumerate([{"PYTHONHASHSEED": "0"},
                             {"PYTHONHASHSEED": "4242", "TZ": "Asia/Tokyo", "LC_ALL": "C"},
                             {"PYTHONHASHSEED": "random", "TZ": "America/Los_Angeles"}]):
        repo = copy_repo(source_repo, tmp_path / f"run{i}")
        assert compile_in_subprocess(repo, **env) == reference, env


def test_two_compiles_in_one_process_give_the_same_bytes(source_repo, reference, tmp_path):
    repo = copy_repo(source_repo, tmp_path / "again")
    assert run_mlopsc("compile", cwd=repo).code == 0
    shutil.rmtree(repo / "generated")
    assert run_mlopsc("compile", cwd=repo).code == 0
    assert snapshot(repo / "generated") == reference


class _ListedInOrder:
    """os.scandir with the entries in a chosen order (a stand-in for another file system)."""

    def __init__(self, entries):
        self.entries = entries
        self._next = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):  # os.walk calls next() on it, as on the real iterator
        return next(self._next)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_the_order_the_file_system_lists_files_does_not_matter(source_repo, reference, tmp_path,
                                                                monkeypatch, order):
    # Also create the files in reverse order, for file systems that list in creation order.
    repo = tmp_path / "repo"
    for src in sorted(source_repo.rglob("*"), reverse=True):
        dest = repo / src.relative_to(source_repo)
        if src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    rng = random.Random(order)
    real_scandir, real_listdir = os.scandir, os.listdir

    def arrange(items, key):
        items = sorted(items, key=key, reverse=True)
        if order == "shuffled":
            rng.shuffle(items)
        return items

    monkeypatch.setattr(os, "scandir", lambda path=".": _ListedInOrder(
        arrange(list(real_scandir(path)), key=lambda e: e.name)))
    monkeypatch.setattr(os, "listdir", lambda path=".": arrange(real_listdir(path), key=str))
    assert run_mlopsc("compile", cwd=repo).code == 0
    monkeypatch.undo()
    assert snapshot(repo / "generated") == reference


def test_the_working_directory_and_the_way_the_root_is_named_do_not_matter(source_repo, reference,
                                                                            tmp_path, monkeypatch):
    ways = {
        "cwd is the root": lambda repo: (repo, []),
        "-C absolute": lambda repo: (tmp_path, ["-C", str(repo)]),
        "-C relative": lambda repo: (repo.parent, ["-C", repo.name]),
        "-C through a symlink": lambda repo: (tmp_path, ["-C", str(_symlink(repo))]),
        "-C with dot segments": lambda repo: (repo, ["-C", f"../{repo.name}/."]),
    }
    for i, (way, how) in enumerate(ways.items()):
        repo = copy_repo(source_repo, tmp_path / f"way{i}")
        cwd, args = how(repo)
        monkeypatch.chdir(cwd)
        assert main([*args, "compile"]) == 0, way
        assert snapshot(repo / "generated") == reference, way


def _symlink(repo: Path) -> Path:
    link = repo.parent / (repo.name + "-link")
    link.symlink_to(repo)
    return link


def test_no_absolute_paths_or_timestamps_anywhere_in_generated(source_repo, reference, tmp_path):
    inputs = "".join(p.read_text() for p in source_repo.rglob("*") if p.is_file())
    forbidden = [str(source_repo), str(tmp_path.parent), str(Path.home()), os.getcwd(), sys.prefix,
                 str(REPO)]
    epoch = "1970-01-01T00:00:00Z"  # OpenLineage requires an eventTime: a fixed one, not the clock's
    for rel, data in reference.items():
        text = data.decode("utf-8").replace(epoch, "")
        for path in forbidden:
            assert path not in text, f"{rel} contains the absolute path {path}"
        assert not re.search(r"\d{1,2}:\d{2}:\d{2}", text), f"{rel} contains a time of day"
        for date in set(re.findall(r"(?<![\w.-])\d{4}-\d{2}-\d{2}(?![\w.-])", text)):
            assert date in inputs, f"{rel} contains the date {date}, which no spec or evidence has"


@pytest.mark.parametrize("jobs", ["1", "2", "3"])
def test_the_number_of_processes_does_not_change_a_byte(source_repo, reference, tmp_path, jobs):
    repo = copy_repo(source_repo, tmp_path / "repo")
    result = run_mlopsc("compile", "--jobs", jobs, cwd=repo)
    assert result.code == 0, result.err
    assert snapshot(repo / "generated") == reference


def test_jobs_must_be_a_positive_number(tmp_path):
    for bad in ("0", "many"):
        result = run_mlopsc("compile", "--jobs", bad, cwd=tmp_path)
        assert result.code == 2 and "--jobs" in result.err


def test_a_parallel_recompile_over_an_old_tree_is_a_fresh_compile(source_repo, tmp_path):
    """Workers hard-link unchanged files from the old tree and write the rest: same bytes."""
    repo = copy_repo(source_repo, tmp_path / "repo")
    assert run_mlopsc("compile", "--jobs", "2", cwd=repo).code == 0
    spec = sorted((repo / "specs").rglob("*.yaml"))[0]
    spec.write_text(spec.read_text(encoding="utf-8").replace("learning_rate: 0.05", "learning_rate: 0.06", 1),
                    encoding="utf-8")
    result = run_mlopsc("compile", "--jobs", "2", cwd=repo)
    assert result.code == 0 and "updated" in result.err, result.err
    fresh = copy_repo(repo, tmp_path / "fresh")
    assert run_mlopsc("compile", "--jobs", "1", cwd=fresh).code == 0
    assert snapshot(repo / "generated") == snapshot(fresh / "generated")
