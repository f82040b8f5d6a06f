"""Every diagnostic code has a rule page (compiler/explain/pages/<CODE>.yaml) whose examples run
here: the trigger makes the base repository report exactly that code, the fix on top of it
reports nothing. docs/CODES.md is rendered from the pages and the messages the triggers produce;
it fails here when stale: `python tests/test_explain_pages.py` rewrites it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import EXAMPLES, REPO, copy_repo, run_mlopsc  # noqa: E402

from compiler.codes import CATALOGUE  # noqa: E402
from compiler.explain import apply_edits, load_page, render_markdown  # noqa: E402

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


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Path:
    return make_base(tmp_path_factory.mktemp("explain") / "base")


def test_the_base_is_clean(base, tmp_path):
    assert diagnostics_after(base, tmp_path / "repo") == []


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_page_examples_trigger_exactly_the_code_and_the_fix_clears_it(code, base, tmp_path):
    page = load_page(code)
    assert page is not None, f"no page compiler/explain/pages/{code}.yaml"
    found = diagnostics_after(base, tmp_path / "trigger", page.trigger)
    assert found and {d.code for d in found} == {code}, [d.headline() for d in found]
    fixed = diagnostics_after(base, tmp_path / "fixed", page.trigger, page.fix)
    assert fixed == [], [d.headline() for d in fixed]


def test_explain_prints_the_page_and_refuses_unknown_codes(tmp_path):
    result = run_mlopsc("explain", "k002", cwd=tmp_path)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "K002 (invalid-quantity, error)"
    for title in ("What it checks", "Why it matters", "Example", "Fixed"):
        assert title in lines
    assert "  # specs/risk/fraud-detection.yaml" in lines
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
        found = diagnostics_after(base, work / code, page.trigger)
        out += [render_markdown(page, [d.headline() for d in found]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def test_docs_codes_md_is_current(base, tmp_path):
    assert CODES_MD.read_text(encoding="utf-8") == render_codes_md(base, tmp_path), \
        "docs/CODES.md is stale: run `python tests/test_explain_pages.py`"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        CODES_MD.write_text(render_codes_md(make_base(Path(tmp) / "base"), Path(tmp)), encoding="utf-8")
    print(f"wrote {CODES_MD.relative_to(REPO)}")
