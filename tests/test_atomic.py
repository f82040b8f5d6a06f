"""Atomic output: however a compile dies, generated/ is entirely the old tree or entirely the new.

The kill loop runs the real CLI in a subprocess and SIGKILLs it at many points of its write (found
by watching for the staging directory, so no test hook lives in the compiler), then checks the
tree byte for byte.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, edit, run_mlopsc
from test_generate import load_generator

from compiler.output import writer
from compiler.inventory import INVENTORY
from compiler.output.writer import retired_dir, staging_dir, write_tree

generate = load_generator()
UNOWNED_NOTES = 600  # hand-added files carried into every new tree; they also widen the write window


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes); symlinks by their target."""
    found = {}
    for top, _, names in os.walk(root):
        for name in names:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            found[rel] = os.readlink(path).encode() if os.path.islink(path) else Path(path).read_bytes()
    return found


def cli(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "compiler", "-C", str(root), "compile", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def two_states(tmp_path_factory):
    """A generated repository and the two trees its specs compile to (state A and state B)."""
    root = tmp_path_factory.mktemp("kill") / "repo"
    generate.generate(root, 20, teams=4, seed=1)
    extra = sorted((root / "specs").rglob("*.yaml"))[-1]
    spare = root / "spare.yaml"
    config = root / "mlopsc.yaml"
    config_a = config.read_text()
    config_b = config_a.replace("s3://ml-artifacts/pipelines", "s3://ml-artifacts/pipelines-v2")
    assert config_b != config_a

    def set_state(state: str) -> None:
        config.write_text(config_a if state == "A" else config_b)
        if state == "A" and spare.exists():
            spare.rename(extra)
        elif state == "B" and extra.exists():
            extra.rename(spare)  # B drops a project: its files are pruned, the graph changes

    notes = root / "generated" / "notes"
    notes.mkdir(parents=True)
    for i in range(UNOWNED_NOTES):
        (notes / f"note-{i:04d}.md").write_text(f"hand-written note {i}\n")
    trees = {}
    for state in ("A", "B"):
        set_state(state)
        proc = cli(root)
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
        trees[state] = snapshot(root / "generated")
    assert trees["A"] != trees["B"]
    return root, set_state, trees


def test_kill_at_any_point_leaves_the_old_tree_or_the_new_one(two_states):
    root, set_state, trees = two_states
    out = root / "generated"
    staging = staging_dir(out)
    set_state("A")
    assert cli(root).wait(timeout=60) == 0
    state = "A"
    # Calibrate: how long the write takes, from the staging directory appearing to exit.
    set_state("B")
    proc = cli(root)
    while not staging.exists() and proc.poll() is None:
        time.sleep(0.0005)
    started = time.monotonic()
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    window = time.monotonic() - started
    state = "B"
    assert snapshot(out) == trees["B"]

    outcomes = []
    kills = 7
    for i in range(kills):
        target = "A" if state == "B" else "B"
        set_state(target)
        stale = staging.exists()
        proc = cli(root)
        # A killed run leaves its staging directory; the new compile removes it first, long
        # before it stages anything (loading and checking come in between).
        while stale and staging.exists() and proc.poll() is None:
            time.sleep(0.0002)
        while not staging.exists() and proc.poll() is None:
            time.sleep(0.0002)
        if proc.returncode is None:  # else a busy machine let it finish before we looked
            # From the first file staged to past the swap; denser early, where the write is.
            time.sleep(window * 1.2 * (i / (kills - 1)) ** 2)
            proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) in (0, -signal.SIGKILL), proc.stderr.read().decode()
        after = snapshot(out)
        assert after in (trees[state], trees[target]), f"kill {i}: generated/ is neither tree"
        outcome = "old" if after == trees[state] else "new"
        outcomes.append((outcome, staging.exists()))
        state = state if outcome == "old" else target
    print("kill outcomes:", outcomes)
    assert ("old", True) in outcomes, outcomes  # some kills landed mid-write, leaving staging behind
    # The next compile removes what killed runs left and finishes the job.
    set_state("A")
    assert cli(root).wait(timeout=60) == 0
    assert snapshot(out) == trees["A"]
    assert not staging.exists()
    assert sorted(p.name for p in (root / ".mlopsc").iterdir()) == [".gitignore", "cache", "generated.fingerprint.json"]


def test_a_stale_staging_directory_is_removed_and_never_shows_in_generated(example_repo):
    out = example_repo / "generated"
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    before = snapshot(out)
    staging = staging_dir(out)
    (staging / "deploy").mkdir(parents=True)
    (staging / "deploy" / "half-written.yaml").write_text("kind: Deploym")
    assert run_mlopsc("compile", "--check", cwd=example_repo).code == 0  # --check writes nothing...
    assert staging.exists()  # ...not even a cleanup
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    assert not staging.exists()
    assert snapshot(out) == before


def test_without_an_atomic_swap_a_kill_between_the_renames_is_rolled_back(tmp_path, monkeypatch):
    out = tmp_path / "generated"
    write_tree(out, {"a.yaml": b"old\n"})
    old = snapshot(out)
    monkeypatch.setattr(writer, "_exchange", lambda a, b: False)  # a platform without renameat2
    real_rename = os.rename
    renames = []

    def die_after_first_rename(src, dst):
        renames.append((Path(src).name, Path(dst).name))
        real_rename(src, dst)
        if len(renames) == 1:
            raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(writer.os, "rename", die_after_first_rename)
    with pytest.raises(KeyboardInterrupt):
        write_tree(out, {"a.yaml": b"new\n"})
    assert not out.exists() and retired_dir(out).is_dir()
    monkeypatch.setattr(writer.os, "rename", real_rename)
    writer.recover_interrupted(out)  # what the next compile does first
    assert snapshot(out) == old
    report = write_tree(out, {"a.yaml": b"new\n"})
    assert report.written and (out / "a.yaml").read_bytes() == b"new\n"
    assert not retired_dir(out).exists() and not staging_dir(out).exists()


def test_a_symlinked_output_directory_is_refused_and_nothing_is_written_where_it_points(tmp_path):
    real = tmp_path / "store" / "generated"
    real.mkdir(parents=True)
    link = tmp_path / "generated"
    link.symlink_to(real)
    with pytest.raises(writer.OutputRefused) as refused:
        write_tree(link, {"a.yaml": b"1\n"})
    [diagnostic] = refused.value.diagnostics
    assert (diagnostic.code, str(diagnostic.position)) == ("O001", "generated:1:1")
    assert list(real.iterdir()) == [] and not (tmp_path / ".mlopsc").exists()
    assert link.is_symlink()


def test_the_swap_changes_the_directory_not_the_files_in_place(example_repo):
    out = example_repo / "generated"
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    edit(example_repo / "specs/risk/fraud-detection.yaml", "transactions: sources.transactions",
         "transactions: sources.chargebacks")
    inode_before = out.stat().st_ino
    inventory_inode = (out / INVENTORY).stat().st_ino
    # Without the record of the tree the last compile left (a fresh clone), the whole tree is
    # written and swapped in (with it, a few changed files are replaced in place:
    # tests/test_compile_cache.py).
    shutil.rmtree(example_repo / ".mlopsc" / "cache")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    assert out.stat().st_ino != inode_before  # a new directory took the old one's place
    assert (out / INVENTORY).stat().st_ino != inventory_inode
