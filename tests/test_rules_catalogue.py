"""The catalogue of diagnostic codes stays whole: every code is documented, explained and tested."""

from __future__ import annotations

import re

from conftest import REPO, run_mlopsc

from compiler.codes import CATALOGUE

THIS_FILE = "test_rules_catalogue.py"


def test_every_code_has_a_failing_spec_test():
    """A new code without a test fails CI: some test must name it as a string ("K042")."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "tests").glob("test_*.py"))
                        if p.name != THIS_FILE)
    tested = set(re.findall(r"[\"']([A-Z]\d{3})[\"']", sources))
    untested = sorted(set(CATALOGUE) - tested)
    assert not untested, f"codes without a test: {untested}"


def test_codes_are_well_formed_and_distinct():
    names = [entry.name for entry in CATALOGUE.values()]
    assert len(names) == len(set(names))
    for code, entry in CATALOGUE.items():
        assert re.fullmatch(r"[YSNRPGKEWM]\d{3}", code), code
        assert entry.code == code
        assert re.fullmatch(r"[a-z0-9-]+", entry.name), entry.name
        assert entry.summary.endswith(".") and len(entry.summary) > 20, code
        # W codes are the warnings; every other prefix is an error.
        assert (entry.severity.value == "warning") == code.startswith("W"), code


def test_explain_prints_every_code_and_its_doc(tmp_path):
    for code, entry in CATALOGUE.items():
        result = run_mlopsc("explain", code.lower(), cwd=tmp_path)
        assert result.code == 0
        assert result.out.startswith(f"{code} ({entry.name}, {entry.severity.value})")
        assert entry.summary in result.out
