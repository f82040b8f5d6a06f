"""Lineage outputs split by team and project: a change to one project rewrites that project's
files and the lineage pages that show it, and the per-project files add up to the whole graph."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import edit, run_mlopsc

from compiler.inventory import load_inventory

TRIAGE = "payments/dispute-triage"


def _tree(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in out.rglob("*") if p.is_file()}


def _owned(out: Path) -> set[str]:
    return {p for p, key in load_inventory(out).owners.items() if key == TRIAGE}


def test_a_one_project_change_rewrites_its_files_and_the_pages_that_show_it(bundled_repo):
    assert run_mlopsc("compile", cwd=bundled_repo).code == 0
    out = bundled_repo / "generated"
    before = _tree(out)
    owned = _owned(out)
    edit(bundled_repo / "specs/payments/dispute-triage.yaml", "lookback_days: 540", "lookback_days: 541")
    assert run_mlopsc("compile", cwd=bundled_repo).code == 0
    after = _tree(out)
    owned |= _owned(out)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    # growth's page shows what follows from growth's segments in the project too, but another
    # team's nodes carry no details there, so only the project's own team page changes.
    assert changed - owned == {".mlopsc-inventory.json", ".mlopsc-inventory/payments/dispute-triage.json",
                               "lineage/teams/payments.html"}
    assert "lineage/openlineage/payments/dispute-triage.json" in changed  # its recipe versions
    assert {"lineage/teams/growth.html", "lineage/teams/risk.html", "lineage/index.html"} <= after.keys()


def test_the_per_project_graph_files_add_up_to_the_whole_graph():
    from conftest import REPO

    whole = json.loads(run_mlopsc("graph", "--format", "json", cwd=REPO).out)
    index = json.loads((REPO / "generated/lineage/graph.json").read_text())
    nodes, edges = [], []
    for key, rel in index["projects"].items():
        part = json.loads((REPO / "generated/lineage" / rel).read_text())
        assert {n["project"] for n in part["nodes"]} == {key}
        nodes += part["nodes"]
        edges += part["edges"]
    assert sorted(nodes, key=lambda n: n["id"]) == whole["nodes"]
    assert sorted(edges, key=lambda e: (e["source"], e["target"])) == whole["edges"]
