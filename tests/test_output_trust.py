"""generated/, its inventory and `.mlopsc/` are committed (or committable) by a pull request: the
output stage reads them only as regular files inside the output directory, never follows a
symlink, writes only inside generated/ and .mlopsc/, and never moves or loses a file it does not
own. Each refusal is a located diagnostic (O001-O004) with exit 1, and touches nothing."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import edit, run_mlopsc

from compiler.build import Layout
from compiler.commands import compile as compile_command
from compiler.inventory import INVENTORY, parse_inventory, part_path
from compiler.output import fingerprint

FRAUD = "specs/risk/fraud-detection.yaml"
EVIDENCE = "evidence/risk/fraud-detection/run-0142.json"
CARD = "model-cards/risk/fraud-detection.md"
SECRET = "AWS_SECRET_ACCESS_KEY=do-not-print-me"
HEX = "ab" * 32


def tree(root: Path) -> dict[str, object]:
    """Every entry under root, without following or opening anything but regular files:
    file -> bytes, symlink -> ('link', target), directory -> 'dir', anything else -> 'special'."""
    found: dict[str, object] = {}
    if not root.exists():
        return found
    for top, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(top) / name
            rel = path.relative_to(root).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(mode):
                found[rel] = "dir"
            elif stat.S_ISREG(mode):
                found[rel] = path.read_bytes()
            else:
                found[rel] = "special"
    return found


@pytest.fixture
def compiled(example_repo: Path) -> Path:
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 0, result.err
    return example_repo


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the repository holding a secret."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_text(SECRET + "\n")
    return path


def refused(repo: Path, *args: str):
    """Run compile (or compile --check), which must refuse and leave everything as it was."""
    before = tree(repo)
    result = run_mlopsc("compile", *args, cwd=repo)
    assert tree(repo) == before, "a refused compile changed the repository"
    assert result.code == 1, result.err
    assert SECRET not in result.out + result.err
    assert "Traceback" not in result.err
    return result


def add_to_inventory(repo: Path, path: str) -> None:
    inventory_file = repo / "generated" / INVENTORY
    inventory = json.loads(inventory_file.read_text())
    inventory["files"][path] = HEX
    inventory_file.write_text(json.dumps(inventory, indent=2))


# ---------------------------------------------------------------------------- the inventory
@pytest.mark.parametrize("path", ["../../../../proc/self/environ", "/etc/passwd", "../outside/secret",
                                  "lineage/../../../outside/secret", "deploy\\..\\x", "a\nb"])
def test_an_inventory_naming_a_path_outside_generated_is_not_trusted(compiled, path):
    os.environ["MLOPSC_TEST_CANARY"] = SECRET  # what /proc/self/environ would leak
    try:
        add_to_inventory(compiled, path)
        for args in (["--check"], []):
            result = refused(compiled, *args)
            first = result.err.splitlines()[0]
            assert first.startswith(f"generated/{INVENTORY}:")
            assert "error[O003]: the inventory names `" in first
            assert "which is not a path inside generated/; an inventory naming it is not trusted" in first
            assert result.out == ""  # no diff at all
    finally:
        del os.environ["MLOPSC_TEST_CANARY"]


def test_the_untrusted_inventory_path_is_located_on_its_line(compiled):
    add_to_inventory(compiled, "../../../../proc/self/environ")
    lines = (compiled / "generated" / INVENTORY).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "proc/self/environ" in text)
    column = lines[line - 1].index("../") + 1
    result = refused(compiled, "--check")
    assert result.err.startswith(f"generated/{INVENTORY}:{line}:{column}: error[O003]: the inventory names "
                                 f"`../../../../proc/self/environ`")


def test_a_path_outside_generated_in_a_project_part_of_the_inventory_is_located_there(compiled):
    part = compiled / "generated" / part_path("risk/fraud-detection")
    body = json.loads(part.read_text())
    body["files"]["../../../../proc/self/environ"] = HEX
    part.write_text(json.dumps(body, indent=2, sort_keys=True))
    lines = part.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "proc/self/environ" in text)
    result = refused(compiled, "--check")
    assert result.err.startswith(f"generated/{part_path('risk/fraud-detection')}:{line}:{lines[line - 1].index('../') + 1}: "
                                 f"error[O003]: the inventory names `../../../../proc/self/environ`")
    assert f"restore generated/{part_path('risk/fraud-detection')} from Git" in result.err


def test_an_inventory_nested_thousands_deep_is_unreadable_not_a_crash(compiled):
    assert parse_inventory(b'{"files": ' + b"[" * 5000 + b"]" * 5000 + b"}").readable is False
    (compiled / "generated" / INVENTORY).write_bytes(b"[" * 5000 + b"]" * 5000)
    assert fingerprint.lookup(Layout(compiled)) is None
    # Without a readable inventory the promotion history is not trusted either (E007), located.
    for args in (["--check"], []):
        result = refused(compiled, *args)
        assert result.err.startswith("generated/promotion/history.json:1:1: error[E007]: ")
    # Without a history to vouch for, the same inventory is just rewritten.
    (compiled / "generated/promotion/history.json").unlink()
    check = run_mlopsc("compile", "--check", cwd=compiled)
    assert check.code == 1
    assert check.err.endswith("mlopsc: generated/ is out of date: 1 changed, 1 missing; run `mlopsc compile` "
                              "and commit the result\n")
    assert run_mlopsc("compile", cwd=compiled).code == 0
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0


# --------------------------------------------------------------- symlinks and special files
def test_a_committed_symlink_in_generated_is_drift_by_name_and_never_read(compiled, outside):
    (compiled / "generated/model-cards/x.md").symlink_to(outside / "secret")
    check = refused(compiled, "--check")
    assert "mlopsc: generated/model-cards/x.md is a symlink; mlopsc never writes one" in check.err
    assert check.out == ""
    assert check.err.endswith("out of date: 1 in the way; run `mlopsc compile` and commit the result\n")
    add_to_inventory(compiled, "model-cards/x.md")  # even one the inventory claims is never read
    check = refused(compiled, "--check")
    assert "mlopsc: generated/model-cards/x.md is a symlink; mlopsc never writes one" in check.err
    assert check.err.endswith("out of date: 1 changed, 1 in the way; run `mlopsc compile` and commit the "
                              "result\n")
    github = refused(compiled, "--check", "--format", "github")
    assert ("::error file=generated/model-cards/x.md,title=generated drift::generated/model-cards/x.md is a "
            "symlink; mlopsc never writes one") in github.err
    result = refused(compiled)
    assert result.err.startswith("generated/model-cards/x.md:1:1: error[O004]: `generated/model-cards/x.md` "
                                 "is a symlink; mlopsc never writes one, nor follows or keeps one: remove it\n")


def test_a_symlink_where_mlopsc_writes_a_file_is_never_read(compiled, outside):
    card = compiled / "generated" / CARD
    card.unlink()
    card.symlink_to(outside / "secret")
    check = refused(compiled, "--check")
    assert f"mlopsc: generated/{CARD} is a symlink; mlopsc never writes one" in check.err
    assert f"generated/{CARD}" not in check.out  # neither diffed nor reported missing
    result = refused(compiled)
    assert f"error[O004]: `generated/{CARD}` is a symlink" in result.err
    assert (outside / "secret").read_text() == SECRET + "\n"


def test_a_symlinked_directory_inside_generated_is_neither_entered_nor_written_through(compiled, outside):
    cards = compiled / "generated/model-cards"
    (outside / "model-cards").mkdir()
    for p in cards.rglob("*"):  # an identical copy: reading through it would even look "clean"
        dest = outside / "model-cards" / p.relative_to(cards)
        dest.mkdir() if p.is_dir() else dest.write_bytes(p.read_bytes())
    before_outside = tree(outside)
    for p in sorted(cards.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    cards.rmdir()
    cards.symlink_to(outside / "model-cards")
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")
    check = refused(compiled, "--check")
    assert "mlopsc: generated/model-cards is a symlink; mlopsc never writes one" in check.err
    result = refused(compiled)
    assert "error[O004]: `generated/model-cards` is a symlink" in result.err
    assert tree(outside) == before_outside


def test_a_fifo_in_generated_neither_hangs_nor_is_opened(compiled):
    card = compiled / "generated" / CARD
    card.unlink()
    os.mkfifo(card)
    check = refused(compiled, "--check")
    assert f"mlopsc: generated/{CARD} is not a regular file (a FIFO, socket or device)" in check.err
    result = refused(compiled)
    assert f"generated/{CARD}:1:1: error[O004]: `generated/{CARD}` is not a regular file" in result.err


# ---------------------------------------------------------------- where the output goes
def test_generated_as_a_symlink_to_an_outside_directory_is_refused(example_repo, outside):
    (example_repo / "generated").symlink_to(outside)
    for args in (["--check"], []):
        result = refused(example_repo, *args)
        assert result.err == ("generated:1:1: error[O001]: `generated` is a symlink; mlopsc never writes "
                              "through one (it would write wherever it points): replace it with a directory\n"
                              "1 error(s), 0 warning(s)\nmlopsc: nothing written to generated/: fix the "
                              "errors above\n")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_a_symlink_on_the_way_to_out_is_refused(example_repo, outside):
    (example_repo / "rendered").symlink_to(outside)
    result = run_mlopsc("--out", "rendered/k8s", "compile", cwd=example_repo)
    assert result.code == 1
    assert result.err.startswith("rendered:1:1: error[O001]: `rendered` is a symlink; mlopsc never writes")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_the_scratch_directory_as_a_symlink_is_refused(example_repo, outside):
    (example_repo / ".mlopsc").symlink_to(outside)
    result = refused(example_repo)
    assert result.err.startswith(".mlopsc:1:1: error[O001]: `.mlopsc` is a symlink; mlopsc never writes")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


@pytest.mark.parametrize("name", ["generated.staging", "generated.retired", "generated.fingerprint.json.tmp",
                                  "generated.journal", "cache", "cache/yaml", "cache/tree-generated.tmp"])
def test_a_symlink_planted_in_the_scratch_directory_is_never_followed(compiled, outside, name):
    (outside / "victim").mkdir()
    (outside / "victim" / "keep.txt").write_text("keep\n")
    before = tree(outside)
    planted = compiled / ".mlopsc" / name
    if planted.is_dir():
        shutil.rmtree(planted)
    elif planted.is_file():
        planted.unlink()
    planted.symlink_to(outside / ("secret" if name.endswith(".tmp") or "/" in name else "victim"))
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")  # so compile writes
    result = run_mlopsc("compile", cwd=compiled)
    assert result.code == 0, result.err
    assert tree(outside) == before
    assert not (compiled / ".mlopsc" / name).is_symlink()
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0


@pytest.mark.parametrize("command", [["compile"], ["compile", "--check"]])
@pytest.mark.parametrize("identity", [None, [0, 0]])
def test_a_committed_journal_is_never_carried_out(compiled, outside, command, identity):
    # `git add -f .mlopsc/generated.journal`: a plan to remove a file outside the repository and
    # to put a file of the pull request's choosing outside generated/. A clone never carries it
    # out (it is not the journal this clone's compile committed: its plan names another file, or
    # none); the next compile drops it, and --check does not take it for a killed compile.
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")  # so compile writes
    journal = compiled / ".mlopsc" / "generated.journal"
    journal.mkdir()
    (journal / "0").write_text("planted\n")
    ops = [["remove", f"../../{outside.name}/secret"], ["write", "../planted.txt", "0"]]
    (journal / "plan").write_text(json.dumps(ops if identity is None else {"file": identity, "ops": ops}))
    before = tree(outside)
    result = run_mlopsc(*command, cwd=compiled)
    assert result.code == (0 if command == ["compile"] else 1), result.err
    assert "killed" not in result.err
    assert tree(outside) == before
    assert not (compiled / "planted.txt").exists()
    if command == ["compile"]:
        assert not journal.exists()
        assert run_mlopsc("compile", "--check", cwd=compiled).code == 0


# ------------------------------------------ what stands in the way is never moved or lost
def test_a_users_file_where_mlopsc_writes_a_directory_is_refused_not_moved(compiled):
    cards = compiled / "generated/model-cards/risk"
    for p in cards.iterdir():
        p.unlink()
    cards.rmdir()
    cards.write_text("my notes about risk\n")
    check = refused(compiled, "--check")
    assert ("mlopsc: generated/model-cards/risk is a file mlopsc did not write, where it writes a directory "
            f"(for {CARD}): move it away (mlopsc never moves what it does not own)") in check.err
    assert f"generated/{CARD}" not in check.out  # in the way, not "missing"
    result = refused(compiled)
    assert result.err.startswith(
        "generated/model-cards/risk:1:1: error[O002]: `generated/model-cards/risk` is a file mlopsc did not "
        f"write, where it writes a directory (for {CARD}): move it away (mlopsc never moves what it does not "
        "own)\n")
    assert cards.read_text() == "my notes about risk\n"
    assert not (compiled / "generated/model-cards/risk/risk").exists()


def test_a_symlink_where_mlopsc_writes_a_directory_is_refused_not_an_internal_error(compiled):
    cards = compiled / "generated/model-cards/risk"
    for p in cards.iterdir():
        p.unlink()
    cards.rmdir()
    cards.symlink_to("../lineage")
    result = refused(compiled)
    assert result.err.startswith("generated/model-cards/risk:1:1: error[O004]: `generated/model-cards/risk` "
                                 "is a symlink; mlopsc never writes one, nor follows or keeps one: remove it\n")
    assert os.readlink(cards) == "../lineage"


def test_a_file_mlopsc_wrote_where_it_now_writes_a_directory_is_replaced(compiled):
    """The other side of the refusal: what the inventory says mlopsc wrote is its own to replace."""
    out = compiled / "generated"
    cards = out / "model-cards/risk"
    for p in cards.iterdir():
        p.unlink()
    cards.rmdir()
    cards.write_text("an old generated file\n")
    add_to_inventory(compiled, "model-cards/risk")
    result = run_mlopsc("compile", cwd=compiled)
    assert result.code == 0, result.err
    assert (out / CARD).is_file()
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0


# ------------------------------------------------------------------------- the fingerprint
def replace_by_symlink_to_identical_copy(repo: Path, rel: str, outside: Path) -> None:
    copy = outside / Path(rel).name
    copy.write_bytes((repo / rel).read_bytes())
    (repo / rel).unlink()
    (repo / rel).symlink_to(copy)


@pytest.mark.parametrize("what", ["spec", "evidence", "settings", "evidence fifo", "specs directory link",
                                  "generated symlink", "fingerprint symlink"])
def test_the_fingerprint_never_vouches_for_what_a_full_run_refuses(compiled, outside, what):
    layout = Layout(compiled)
    assert fingerprint.lookup(layout) is not None  # the fresh compile's fingerprint holds
    if what == "spec":
        replace_by_symlink_to_identical_copy(compiled, FRAUD, outside)
    elif what == "evidence":
        replace_by_symlink_to_identical_copy(compiled, EVIDENCE, outside)
    elif what == "settings":
        replace_by_symlink_to_identical_copy(compiled, "mlopsc.yaml", outside)
    elif what == "evidence fifo":
        (compiled / EVIDENCE).unlink()
        os.mkfifo(compiled / EVIDENCE)
    elif what == "specs directory link":
        (compiled / "specs/shared").symlink_to(outside)
    elif what == "generated symlink":
        (compiled / "generated/latest").symlink_to("deploy")
    elif what == "fingerprint symlink":
        path = compiled / ".mlopsc/generated.fingerprint.json"
        (outside / "fp.json").write_bytes(path.read_bytes())
        path.unlink()
        path.symlink_to(outside / "fp.json")
    assert fingerprint.lookup(layout) is None


def test_compile_after_evidence_became_a_symlink_runs_in_full(compiled, outside, monkeypatch):
    loads = []
    real = compile_command.load_and_check
    monkeypatch.setattr(compile_command, "load_and_check", lambda layout, *rest: loads.append(1) or real(layout, *rest))
    replace_by_symlink_to_identical_copy(compiled, EVIDENCE, outside)
    for args in (["--check"], []):
        result = run_mlopsc("compile", *args, cwd=compiled)
        assert "no input changed" not in result.err
    assert loads == [1, 1]


# ------------------------------------------------------- a full compile on several processes
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_full_compile_on_any_number_of_processes_refuses_alike_and_leaves_nothing(compiled, outside, jobs):
    """A full compile streams each file into the staging tree as its process makes it: the same
    refusals hold, before anything is made or once every path is known, and nothing is left."""
    import shutil

    shutil.rmtree(compiled / ".mlopsc")  # a fresh clone: not even the scratch directory may appear
    cards = compiled / "generated/model-cards/risk"
    for p in cards.iterdir():
        p.unlink()
    cards.rmdir()
    cards.write_text("my notes about risk\n")
    result = refused(compiled, "--jobs", jobs)
    assert result.err.startswith(
        "generated/model-cards/risk:1:1: error[O002]: `generated/model-cards/risk` is a file mlopsc did not "
        f"write, where it writes a directory (for {CARD}): move it away")
    assert result.err.endswith("mlopsc: nothing written to generated/: fix the errors above\n")
    (compiled / "generated/lineage/x.html").symlink_to(outside / "secret")
    result = refused(compiled, "--jobs", jobs)
    assert result.err.startswith(
        "generated/lineage/x.html:1:1: error[O004]: `generated/lineage/x.html` is a symlink; mlopsc never "
        "writes one, nor follows or keeps one: remove it\n"
        "generated/model-cards/risk:1:1: error[O002]: `generated/model-cards/risk` is a file mlopsc did not ")
    assert (outside / "secret").read_text() == SECRET + "\n"
    (compiled / "generated/lineage/x.html").unlink()
    cards.unlink()
    assert run_mlopsc("compile", "--jobs", jobs, cwd=compiled).code == 0
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0
    assert sorted(p.name for p in (compiled / ".mlopsc").iterdir()) == [".gitignore", "cache", "generated.fingerprint.json"]
