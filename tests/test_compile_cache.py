"""The compile caches: `--cache DIR` for CI's drift gate, the local caches' trust rules, and the
in-place write's journal (a killed compile is finished by the next one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import edit, run_mlopsc
from test_atomic import snapshot

from compiler.output import writer

FRAUD = "specs/risk/fraud-detection.yaml"
CARD = "generated/model-cards/risk/fraud-detection.md"


@pytest.fixture
def compiled(example_repo: Path) -> Path:
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 0, result.err
    return example_repo


def fresh_clone(repo: Path, dest: Path) -> Path:
    """What CI checks out: the committed files, no `.mlopsc/`."""
    shutil.copytree(repo, dest, ignore=shutil.ignore_patterns(".mlopsc"))
    return dest


# ------------------------------------------------------------------------------- --cache DIR
def test_a_check_with_the_ci_cache_reports_exactly_what_a_check_without_it_reports(compiled, tmp_path):
    cache = tmp_path / "ci-cache"
    main = fresh_clone(compiled, tmp_path / "main")
    first = run_mlopsc("compile", "--check", "--cache", str(cache), cwd=main)  # the default branch fills it
    assert first.code == 0, first.err
    assert {p.name for p in cache.iterdir()} >= {"yaml", "units-generated"}
    # A pull request that changes a spec without compiling: the same diff, with or without the cache.
    pr = fresh_clone(compiled, tmp_path / "pr")
    edit(pr / FRAUD, "Scores card transactions", "Scores payments")
    cached = run_mlopsc("compile", "--check", "--cache", str(cache), cwd=pr)
    plain = run_mlopsc("compile", "--check", cwd=fresh_clone(pr, tmp_path / "pr2"))
    assert cached.code == plain.code == 1
    assert cached.out == plain.out and "Scores payments" in cached.out
    assert cached.err == plain.err
    # The same pull request compiled and committed: clean with the cache.
    assert run_mlopsc("compile", cwd=pr).code == 0
    assert run_mlopsc("compile", "--check", "--cache", str(cache), cwd=fresh_clone(pr, tmp_path / "pr3")).code == 0


def test_a_hand_edit_to_a_file_the_cache_vouches_for_is_still_drift_with_its_diff(compiled, tmp_path):
    cache = tmp_path / "ci-cache"
    assert run_mlopsc("compile", "--check", "--cache", str(cache), cwd=fresh_clone(compiled, tmp_path / "a")).code == 0
    pr = fresh_clone(compiled, tmp_path / "pr")
    card = pr / CARD
    card.write_text(card.read_text().replace("# ", "# Edited: ", 1))
    cached = run_mlopsc("compile", "--check", "--cache", str(cache), cwd=pr)
    plain = run_mlopsc("compile", "--check", cwd=fresh_clone(pr, tmp_path / "pr2"))
    assert cached.code == plain.code == 1
    assert cached.out == plain.out and "-# Edited: " in cached.out
    assert "edited by hand" in cached.err


def test_a_damaged_or_foreign_ci_cache_is_no_cache(compiled, tmp_path):
    cache = tmp_path / "ci-cache"
    clone = fresh_clone(compiled, tmp_path / "a")
    assert run_mlopsc("compile", "--check", "--cache", str(cache), cwd=clone).code == 0
    (cache / "units-generated").write_bytes(b'{"format": 1, "compiler": "another"}\n\x00garbage')
    (cache / "yaml").write_bytes(b"\xff" * 100)
    edit(clone / FRAUD, "Scores card transactions", "Scores payments")
    result = run_mlopsc("compile", "--check", "--cache", str(cache), cwd=clone)
    assert result.code == 1 and "Scores payments" in result.out
    assert "Traceback" not in result.err


def test_a_well_formed_ci_cache_file_holding_nonsense_is_no_cache(compiled, tmp_path):
    from compiler.output import state
    from compiler.output.fingerprint import compiler_identity

    cache = tmp_path / "ci-cache"
    cache.mkdir()
    nonsense = {"kfp:risk/fraud-detection": ("key", [("only a path",)]), "argocd:*": ["not", "a", "pair"],
                "model_card:risk/fraud-detection": ("key", [(1, 2, 3)])}
    state._write(cache / "units-generated", compiler_identity(), nonsense)
    state._write(cache / "yaml", compiler_identity(), None, records=[("0" * 64, (1, 2, 3)), ("x", None)])
    clone = fresh_clone(compiled, tmp_path / "a")
    edit(clone / FRAUD, "Scores card transactions", "Scores payments")
    result = run_mlopsc("compile", "--check", "--cache", str(cache), cwd=clone)
    assert result.code == 1 and "Scores payments" in result.out
    assert "Traceback" not in result.err


def test_the_ci_cache_must_be_outside_the_repository(compiled):
    result = run_mlopsc("compile", "--check", "--cache", "cache", cwd=compiled)
    assert result.code == 2
    assert result.err == ("mlopsc: error: --cache cache: the cache must be outside the repository (a pull "
                          "request could commit one there); e.g. --cache ~/.cache/mlopsc\n")


# ---------------------------------------------------------------------------- local caches
def test_a_committed_mlopsc_directory_is_never_read_as_a_cache(compiled, tmp_path):
    # Someone commits .mlopsc/ (git add -f): in a clone every file is a new inode, so none is
    # trusted, and the clone compiles everything itself.
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")
    clone = tmp_path / "clone"
    shutil.copytree(compiled, clone)  # .mlopsc included: copies, not the files it recorded
    assert (clone / ".mlopsc" / "cache" / "units-generated").is_file()
    result = run_mlopsc("compile", cwd=clone)
    assert result.code == 0
    assert "1 updated" in result.err or "updated" in result.err
    assert "Scores payments" in (clone / CARD).read_text()
    assert run_mlopsc("compile", "--check", cwd=clone).code == 0


def test_a_hand_edit_right_after_a_compile_is_seen_however_fast(compiled):
    # Another project's card, same size, within the file system's timestamp granularity of the
    # compile: its stat may not tell, so it is hashed; the compile puts it back.
    card = compiled / "generated/model-cards/growth/merchant-recs.md"
    original = card.read_bytes()
    card.write_bytes(original.replace(b"#", b"%", 1))
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")
    assert run_mlopsc("compile", cwd=compiled).code == 0
    assert card.read_bytes() == original
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0


# --------------------------------------------------------------------------------- journal
class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no handler sees it."""


def test_a_compile_killed_while_replacing_files_is_finished_by_the_next_one(compiled, monkeypatch, tmp_path):
    assert run_mlopsc("compile", cwd=compiled).code == 0  # the tree record from a second compile
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")
    edit(compiled / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    expected = fresh_clone(compiled, tmp_path / "expected")
    assert run_mlopsc("compile", cwd=expected).code == 0
    replaced = []
    real_replace = writer.os.replace

    def dying_replace(src, dst, *args, **kwargs):
        if ".journal" in str(src) and len(replaced) == 1:
            raise Killed
        replaced.append(dst)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(writer.os, "replace", dying_replace)
    with pytest.raises(Killed):
        run_mlopsc("compile", cwd=compiled)
    monkeypatch.setattr(writer.os, "replace", real_replace)
    journal = compiled / ".mlopsc" / "generated.journal"
    assert (journal / "plan").is_file()  # committed: the next mlopsc run must finish it
    assert snapshot(compiled / "generated") != snapshot(expected / "generated")
    check = run_mlopsc("compile", "--check", cwd=compiled)  # writes nothing: says what happened
    assert check.code == 1
    assert ("mlopsc: note: a compile was killed while it replaced files in generated/; `mlopsc compile` "
            "finishes it\n") in check.err
    assert (journal / "plan").is_file()
    result = run_mlopsc("compile", cwd=compiled)
    assert result.code == 0, result.err
    assert not journal.exists()
    assert snapshot(compiled / "generated") == snapshot(expected / "generated")
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0


def test_a_journal_left_by_a_kill_is_never_applied_over_a_later_answer(compiled, monkeypatch, tmp_path):
    # Killed after the commit, before any file was replaced; then the edit is undone. generated/
    # is still the tree of the specs as they are, but the journal holds the undone edit's files:
    # the next compile must not finish it and call the result up to date.
    assert run_mlopsc("compile", cwd=compiled).code == 0
    original = (compiled / FRAUD).read_text()
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")
    real_replace = writer.os.replace

    def dying_replace(src, dst, *args, **kwargs):
        if ".journal" in str(src):
            raise Killed
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(writer.os, "replace", dying_replace)
    with pytest.raises(Killed):
        run_mlopsc("compile", cwd=compiled)
    monkeypatch.setattr(writer.os, "replace", real_replace)
    (compiled / FRAUD).write_text(original)
    result = run_mlopsc("compile", cwd=compiled)
    assert result.code == 0, result.err
    assert "Scores payments" not in (compiled / CARD).read_text()
    assert not (compiled / ".mlopsc" / "generated.journal").exists()
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0


def test_a_compile_killed_before_its_journal_is_committed_leaves_generated_untouched(compiled, monkeypatch):
    assert run_mlopsc("compile", cwd=compiled).code == 0
    before = snapshot(compiled / "generated")
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")
    real_rename = writer.os.rename

    def dying_rename(src, dst, *args, **kwargs):
        if str(src).endswith("plan.tmp"):
            raise Killed
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(writer.os, "rename", dying_rename)
    with pytest.raises(Killed):
        run_mlopsc("compile", cwd=compiled)
    monkeypatch.setattr(writer.os, "rename", real_rename)
    assert snapshot(compiled / "generated") == before
    result = run_mlopsc("compile", cwd=compiled)
    assert result.code == 0
    assert not (compiled / ".mlopsc" / "generated.journal").exists()
    assert "Scores payments" in (compiled / CARD).read_text()


def test_the_caches_are_safe_to_delete(compiled):
    shutil.rmtree(compiled / ".mlopsc")
    edit(compiled / FRAUD, "Scores card transactions", "Scores payments")
    assert run_mlopsc("compile", cwd=compiled).code == 0
    assert json.loads((compiled / "generated/.mlopsc-inventory.json").read_text())["generator"] == "mlopsc"
    assert run_mlopsc("compile", "--check", cwd=compiled).code == 0
