"""Incremental compiles write exactly the bytes a compile from scratch writes.

A repository of generated projects (cross-team imports included) goes through random sequences of
edits: a parameter, a description, a project added, removed or renamed, evidence, mlopsc.yaml, a
producer other projects import from, a hand edit in generated/, the local caches deleted. After
each edit, the repository compiled with its caches (`.mlopsc/`, as on a developer's machine) and
a copy compiled from scratch must agree on everything: exit status, what was printed, and every
byte of generated/.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_mlopsc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_generate import generate, tree

IMPORT = re.compile(r"upstream: ([a-z0-9-]+/[a-z0-9-]+):")


@pytest.fixture(scope="module")
def compiled24(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inc") / "repo"
    generate.generate(root, 24, teams=3, seed=11)
    result = run_mlopsc("compile", "--jobs", "1", cwd=root)
    assert result.code == 0, result.err
    return root


def specs(root: Path) -> list[Path]:
    return sorted((root / "specs").rglob("*.yaml"))


def imported(root: Path) -> set[str]:
    return {key for path in specs(root) for key in IMPORT.findall(path.read_text())}


def key_of(root: Path, path: Path) -> str:
    rel = path.relative_to(root / "specs")
    return f"{rel.parts[0]}/{rel.stem}"


def pick(items: list, n: int):
    return items[n % len(items)] if items else None


# ------------------------------------------------------------------------------------ edits
def edit_param(root: Path, n: int) -> None:
    path = pick(specs(root), n)
    path.write_text(re.sub(r"max_depth: (\d+)", lambda m: f"max_depth: {int(m[1]) + 1 + n % 3}",
                           path.read_text(), count=1))


def edit_description(root: Path, n: int) -> None:
    path = pick(specs(root), n)
    path.write_text(re.sub(r"description: .*", f"description: Edited {n}.", path.read_text(), count=1))


def edit_producer(root: Path, n: int) -> None:
    producers = sorted(imported(root))
    if producers:
        team, name = pick(producers, n).split("/")
        path = root / "specs" / team / f"{name}.yaml"
        if path.exists():
            path.write_text(path.read_text().replace("learning_rate: 0.05", f"learning_rate: 0.0{5 + n % 4}", 1))


def add_project(root: Path, n: int) -> None:
    source = pick(specs(root), n)
    name = f"{source.stem}-copy{n}"
    text = source.read_text()
    text = text.replace(f"name: {source.stem}\n", f"name: {name}\n", 1)
    text = text[:text.index("\n  serving:\n") + 1] if "\n  serving:\n" in text else text  # nothing released
    (source.parent / f"{name}.yaml").write_text(text)


def remove_project(root: Path, n: int) -> None:
    leaves = [p for p in specs(root) if key_of(root, p) not in imported(root)]
    if len(leaves) > 1:
        pick(leaves, n).unlink()


def rename_project(root: Path, n: int) -> None:
    leaves = [p for p in specs(root) if key_of(root, p) not in imported(root)]
    path = pick(leaves, n)
    if path is not None:
        name = f"{path.stem}-r{n}"
        text = path.read_text().replace(f"name: {path.stem}\n", f"name: {name}\n", 1)
        path.unlink()
        (path.parent / f"{name}.yaml").write_text(text)


def edit_evidence(root: Path, n: int) -> None:
    path = pick(sorted((root / "evidence").rglob("*.json")), n)
    data = json.loads(path.read_text())
    data["metrics"]["auc"] = round(min(0.99, data["metrics"]["auc"] + 0.001 * (1 + n % 5)), 4)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def drop_production(root: Path, n: int) -> None:
    """A project's production pin goes (its history stays): other projects' cards keep their
    promotion numbers, this one's card and serving change."""
    candidates = [p for p in specs(root) if "\n        production:\n" in p.read_text()]
    path = pick(candidates, n)
    if path is None:
        return
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index("        production:\n")
    end = start + 1
    while end < len(lines) and (lines[end].startswith("         ") or not lines[end].strip()):
        end += 1
    path.write_text("".join(lines[:start] + lines[end:]))


def edit_config(root: Path, n: int) -> None:
    path = root / "mlopsc.yaml"
    path.write_text(re.sub(r"targetRevision: .*", f"targetRevision: release-{n % 7}", path.read_text(), count=1))


def break_spec(root: Path, n: int) -> None:
    """An error: nothing may be written, and the caches must not remember anything wrong."""
    path = pick(specs(root), n)
    path.write_text(path.read_text().replace("kind: MLProject", "kind: MLProjekt", 1))


def fix_specs(root: Path, n: int) -> None:
    for path in specs(root):
        text = path.read_text()
        if "kind: MLProjekt" in text:
            path.write_text(text.replace("kind: MLProjekt", "kind: MLProject"))


def hand_edit_generated(root: Path, n: int) -> None:
    files = sorted(p for p in (root / "generated").rglob("*") if p.is_file())
    path = pick(files, n)
    path.write_bytes(path.read_bytes() + b"# edited by hand\n")


def add_unowned_file(root: Path, n: int) -> None:
    """A file someone writes into generated/: carried along, counted as kept."""
    (root / "generated" / f"NOTES-{n % 3}.md").write_text(f"notes {n}\n")


def drop_caches(root: Path, n: int) -> None:
    cache = root / ".mlopsc" / "cache"
    victims = sorted(cache.iterdir()) if cache.is_dir() else []
    if victims:
        pick(victims, n).unlink()


EDITS = [edit_param, edit_description, edit_producer, add_project, remove_project, rename_project,
         edit_evidence, drop_production, edit_config, break_spec, fix_specs, hand_edit_generated, add_unowned_file,
         drop_caches]


def from_scratch(root: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns(".mlopsc"))
    return dest


# Without shrinking: one failing sequence is shown as found (shrinking compiles took minutes).
@settings(max_examples=6, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(EDITS), st.integers(0, 1000)), min_size=2, max_size=6))
def test_incremental_compiles_write_what_a_compile_from_scratch_writes(compiled24, tmp_path_factory, edits):
    work = tmp_path_factory.mktemp("edits")
    repo = work / "repo"
    shutil.copytree(compiled24, repo, ignore=shutil.ignore_patterns(".mlopsc"))
    assert run_mlopsc("compile", "--jobs", "1", cwd=repo).code == 0  # its own caches
    for edit, n in edits:
        edit(repo, n)
        scratch = from_scratch(repo, work / "scratch")
        incremental = run_mlopsc("compile", "--jobs", "1", cwd=repo)
        full = run_mlopsc("compile", "--jobs", "1", cwd=scratch)
        # (Only the note of the no-change fingerprint may differ: the copy has no earlier compile.)
        said = incremental.err.replace(" (no input changed since the last compile)", "")
        assert (incremental.code, incremental.out, said) == (full.code, full.out, full.err), edit.__name__
        assert tree(repo / "generated") == tree(scratch / "generated"), edit.__name__
    assert run_mlopsc("compile", "--check", cwd=repo).code == (0 if full.code == 0 else 1)


def test_a_one_project_change_is_written_in_place_and_touches_only_what_changes(compiled24, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(compiled24, repo, ignore=shutil.ignore_patterns(".mlopsc"))
    assert run_mlopsc("compile", "--jobs", "1", cwd=repo).code == 0
    out = repo / "generated"
    before = {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()}
    edit_description(repo, 5)
    result = run_mlopsc("compile", "--jobs", "1", cwd=repo)
    assert result.code == 0, result.err
    after = {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()}
    rewritten = {p.relative_to(out).as_posix() for p in after if before.get(p) != after[p]}
    # The project's model card and its inventory part, and the index; every other file kept its
    # inode: nothing else was written (a whole-tree write would make the changed files new in a
    # new tree, but also the tree itself).
    team, name = key_of(repo, pick(specs(repo), 5)).split("/")
    assert f"model-cards/{team}/{name}.md" in rewritten
    assert ".mlopsc-inventory.json" in rewritten
    assert len(rewritten) < 10, rewritten
    assert out.stat().st_ino == (tmp_path / "repo" / "generated").stat().st_ino
    assert not (repo / ".mlopsc" / "generated.journal").exists()
    assert run_mlopsc("compile", "--check", cwd=repo).code == 0
