"""Every diagnostic code has a rule page (compiler/explain/pages/<CODE>.yaml) whose examples run
here: the trigger makes the base repository report exactly that code, the fix on top of it
reports nothing. docs/CODES.md is rendered from the pages and the messages the triggers produce;
it fails here when stale: `python tests/test_explain_pages.py` rewrites it. A page with a `command`
(compiler/explain/__init__.py) runs that command instead, against a bare Git remote made from
the edited repository when it says `remote: true`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import EXAMPLES, REPO, copy_repo, run_mlopsc  # noqa: E402

from compiler.codes import CATALOGUE  # noqa: E402
from compiler.explain import REMOTE, REMOTE_SHOWN, Page, apply_edits, load_page, render_markdown  # noqa: E402

CODES_MD = REPO / "docs" / "CODES.md"
# What every example starts from: the contract's examples, with the settings a repository with
# serving targets needs, compiled once (so generated/ holds the promotion history and inventory).
BASE_EDITS = {
    "mlopsc.yaml#/kubeflow/releaseImage":
        "registry.example.com/ml/mlopsc@sha256:" + "ab" * 32,
}


def make_base(dest: Path) -> Path:
    copy_repo(EXAMPLES, dest)
    apply_edits(dest, BASE_EDITS)
    result = run_mlopsc("compile", cwd=dest)
    assert result.code == 0, result.err
    return dest


def diagnostics_after(base: Path, dest: Path, *edit_sets) -> list:
    from compiler.build import Layout, load_and_check

    shutil.copytree(base, dest)
    for edits in edit_sets:
        apply_edits(dest, edits)
    return load_and_check(Layout(dest)).diagnostics


# What a command prints for each diagnostic (text format, not a terminal: no source, no caret).
HEADLINE = re.compile(r"^\S[^\n]*?:\d+:\d+: [a-z]+\[([A-Z]\d{3})\]: .*$", re.M)
# Fixed dates and names: the remote's commit, which messages quote, is the same on every run.
GIT_ENV = {"GIT_AUTHOR_NAME": "mlopsc", "GIT_AUTHOR_EMAIL": "mlopsc@localhost", "GIT_COMMITTER_NAME": "mlopsc",
           "GIT_COMMITTER_EMAIL": "mlopsc@localhost", "GIT_AUTHOR_DATE": "2026-11-20T10:00:00Z",
           "GIT_COMMITTER_DATE": "2026-11-20T10:00:00Z"}


def make_remote(work: Path, bare: Path) -> tuple[str, str]:
    """`work` as one commit on `main` of a new bare repository: its file:// URL and the commit."""
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "The platform repository"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=env, check=True, capture_output=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, env=env, check=True, capture_output=True,
                            text=True).stdout.strip()
    return f"file://{bare}", commit


def reported(base: Path, dest: Path, page: Page, *edit_sets) -> list[tuple[str, str]]:
    """(code, headline) of each diagnostic the page's examples make mlopsc report: every check's,
    or, for a page with a `command`, what that command prints (its exit code must agree)."""
    if not page.command:
        return [(d.code, d.headline()) for d in diagnostics_after(base, dest, *edit_sets)]
    shutil.copytree(base, dest, symlinks=True)
    for edits in edit_sets:
        apply_edits(dest, edits)
    url, commit = (make_remote(dest, dest.parent / f"{dest.name}-remote.git") if page.remote
                   else (REMOTE_SHOWN, "<commit>"))
    result = run_mlopsc(*(url if a == REMOTE else a for a in page.command), cwd=dest)
    # The messages as the pages show them, the same on every run: the remote as `<remote>`, its
    # commit (which any change to generated/ changes) as `<commit>`, files relative to the repository.
    output = (result.out + result.err).replace(url, REMOTE_SHOWN).replace(f"{dest}/", "")
    output = output.replace(commit[:12], "<commit>")
    found = [(m.group(1), m.group(0)) for m in HEADLINE.finditer(output)]
    assert (result.code == 0) is (not any("error[" in h for _, h in found)), (result.code, output)
    return found


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Path:
    return make_base(tmp_path_factory.mktemp("explain") / "base")


def test_the_base_is_clean(base, tmp_path):
    assert diagnostics_after(base, tmp_path / "repo") == []


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_page_examples_trigger_exactly_the_code_and_the_fix_clears_it(code, base, tmp_path):
    page = load_page(code)
    assert page is not None, f"no page compiler/explain/pages/{code}.yaml"
    found = reported(base, tmp_path / "trigger", page, page.trigger)
    assert found and {c for c, _ in found} == {code}, [h for _, h in found]
    fixed = reported(base, tmp_path / "fixed", page, page.trigger, page.fix)
    assert fixed == [], [h for _, h in fixed]


def test_explain_prints_the_page_and_refuses_unknown_codes(tmp_path):
    result = run_mlopsc("explain", "k002", cwd=tmp_path)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "K002 (invalid-quantity, error)"
    for title in ("What it checks", "Why it matters", "Example", "Fixed"):
        assert title in lines
    assert "  # specs/risk/fraud-detection.yaml" in lines
    # A code only a command reports: the page says which command, the remote as a placeholder.
    propose = run_mlopsc("explain", "E020", cwd=tmp_path).out.splitlines()
    assert propose.count("  $ mlopsc release propose --evidence proposal.json --repo <remote>") == 2
    assert "  $ mlopsc compile" in run_mlopsc("explain", "O004", cwd=tmp_path).out.splitlines()
    unknown = run_mlopsc("explain", "X999", cwd=tmp_path)
    assert unknown.code == 2 and "unknown code 'X999'" in unknown.err


def render_codes_md(base: Path, work: Path) -> str:
    from compiler.codes import __doc__ as prefixes

    out = ["# Diagnostic codes", "",
           "Every diagnostic mlopsc reports, as `mlopsc explain CODE` prints it: what the rule checks,",
           "why it matters, an example that triggers it (with the exact message) and the fix. The",
           "examples are edits to the contract's example repository and run in the test suite;",
           "this file is generated from compiler/explain/pages/ by `python tests/test_explain_pages.py`.",
           "", "```text", prefixes.split("Prefixes group them by stage and topic:")[1].strip("\n"), "```", ""]
    out += [f"- [{c}](#{c.lower()}-{e.name}) {e.name}: {e.summary}" for c, e in sorted(CATALOGUE.items())]
    out.append("")
    for code in sorted(CATALOGUE):
        page = load_page(code)
        if page is None:
            continue
        found = reported(base, work / code, page, page.trigger)
        out += [render_markdown(page, [h for _, h in found]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def test_docs_codes_md_is_current(base, tmp_path):
    assert CODES_MD.read_text(encoding="utf-8") == render_codes_md(base, tmp_path), \
        "docs/CODES.md is stale: run `python tests/test_explain_pages.py`"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        CODES_MD.write_text(render_codes_md(make_base(Path(tmp) / "base"), Path(tmp)), encoding="utf-8")
    print(f"wrote {CODES_MD.relative_to(REPO)}")
