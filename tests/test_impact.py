"""`mlopsc impact`: what a change reaches, across teams, grouped by team and environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, edit, run_mlopsc

FRAUD_SPEC = "specs/risk/fraud-detection.yaml"
RECS_SPEC = "specs/growth/merchant-recs.yaml"


def impact_json(*args: str, cwd: Path) -> dict:
    result = run_mlopsc("impact", *args, "--format", "json", cwd=cwd)
    assert result.code == 0, result.err
    return json.loads(result.out)


def team(report: dict, name: str) -> dict:
    return next(t for t in report["teams"] if t["team"] == name)


def project(report: dict, key: str) -> dict:
    return next(p for t in report["teams"] for p in t["projects"] if p["project"] == key)


def labels(entries: list[dict]) -> list[str]:
    return [e["label"] for e in entries]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def git_repo(example_repo: Path) -> Path:
    git(example_repo, "init", "-q", "-b", "main")
    git(example_repo, "add", ".")
    git(example_repo, "commit", "-q", "-m", "base")
    return example_repo


def test_a_source_change_reaches_another_teams_model_and_serving():
    report = impact_json("risk/fraud-detection:sources.transactions", cwd=EXAMPLES)
    assert [t["team"] for t in report["teams"]] == ["growth", "risk"]
    recs = project(report, "growth/merchant-recs")
    assert labels(recs["step"]) == ["train"]
    assert labels(recs["serving"]) == ["recs-api"]
    assert "source" not in recs  # growth's own sources are upstream, not reached
    fraud = project(report, "risk/fraud-detection")
    assert labels(fraud["step"]) == ["features", "train"]
    assert team(report, "growth")["owners"] == ["growth-ml@example.com"]
    assert team(report, "risk")["owners"] == ["risk-ml@example.com"]
    environments = team(report, "risk")["environments"]
    assert sorted(environments) == ["production", "staging"]
    assert [(r["serving"], bool(r.get("canary"))) for r in environments["staging"]] == \
        [("fraud-api", False), ("fraud-api", True)]
    # growth's recs-api has no release yet, so no environment serves it
    assert team(report, "growth")["environments"] == {}


def test_a_leaf_change_stays_in_its_team():
    report = impact_json("growth/merchant-recs:sources.sessions", cwd=EXAMPLES)
    assert [t["team"] for t in report["teams"]] == ["growth"]


def test_team_owners_from_mlopsc_yaml_are_notified_too(example_repo):
    edit(example_repo / "mlopsc.yaml", "growth: {}", "growth: {owners: [growth-lead@example.com]}")
    report = impact_json("risk/fraud-detection:steps.train.outputs.model", cwd=example_repo)
    assert team(report, "growth")["owners"] == ["growth-lead@example.com", "growth-ml@example.com"]


def test_a_spec_file_and_an_evidence_file_as_targets():
    whole = impact_json(RECS_SPEC, cwd=EXAMPLES)
    assert [t["team"] for t in whole["teams"]] == ["growth"]
    assert labels(project(whole, "growth/merchant-recs")["source"]) == ["merchants", "sessions"]
    canary = impact_json("evidence/risk/fraud-detection/run-0151.json", cwd=EXAMPLES)
    assert canary["start"] == ["risk/fraud-detection:serving.fraud-api.environments.staging.canary"]
    assert [r["environment"] for r in team(canary, "risk")["environments"]["staging"]] == ["staging"]


def test_base_reports_the_union_of_changed_specs_and_evidence(git_repo):
    # A new source version in risk's spec, and a rewritten canary evidence file.
    edit(git_repo / FRAUD_SPEC, 'version: "2026-11-01"', 'version: "2026-12-01"')
    evidence = git_repo / "evidence/risk/fraud-detection/run-0151.json"
    evidence.write_text(evidence.read_text().replace('"run-0151"', '"run-0151b"'))
    report = impact_json("--base", "main", cwd=git_repo)
    assert report["causes"] == [FRAUD_SPEC, "evidence/risk/fraud-detection/run-0151.json"]
    assert "risk/fraud-detection:sources.transactions" in report["start"]
    assert "risk/fraud-detection:serving.fraud-api.environments.staging.canary" in report["start"]
    assert "risk/fraud-detection:sources.chargebacks" not in report["start"]  # unchanged node
    assert labels(project(report, "growth/merchant-recs")["serving"]) == ["recs-api"]


def test_base_follows_a_deleted_project_into_the_teams_that_read_it(git_repo):
    (git_repo / FRAUD_SPEC).unlink()
    (git_repo / "specs/risk/scoring.yaml").write_text(
        (EXAMPLES / RECS_SPEC).read_text().replace("name: merchant-recs", "name: scoring")
        .replace("team: growth", "team: risk"))  # an untracked new spec counts too
    result = run_mlopsc("impact", "--base", "HEAD", "--format", "json", cwd=git_repo)
    assert result.code == 0, result.err
    assert "2 error(s)" in result.err  # growth and scoring now reference a project that is gone
    report = json.loads(result.out)
    assert sorted(report["causes"]) == [FRAUD_SPEC, "specs/risk/scoring.yaml"]
    fraud = project(report, "risk/fraud-detection")
    assert all(s["removed"] for s in fraud["step"])
    assert labels(project(report, "growth/merchant-recs")["step"]) == ["train"]
    assert "risk/scoring" in [p["project"] for p in team(report, "risk")["projects"]]


def test_base_with_nothing_changed_reaches_nothing(git_repo):
    result = run_mlopsc("impact", "--base", "main", cwd=git_repo)
    assert result.code == 0
    assert "reaches nothing" in result.out
    assert "no spec or evidence file changed" in result.err


def test_base_ignores_spec_edits_that_change_no_lineage(git_repo):
    edit(git_repo / FRAUD_SPEC, "apiVersion: mlopsc.dev/v1", "# reviewed\napiVersion: mlopsc.dev/v1")
    report = impact_json("--base", "main", cwd=git_repo)
    assert report["causes"] == [FRAUD_SPEC] and report["start"] == [] and report["teams"] == []


@pytest.mark.parametrize("args, message", [
    (["--base", "no-such-ref"], "is not a commit"),
    (["specs/risk/nope.yaml"], "no file specs/risk/nope.yaml"),
    (["mlopsc.yaml"], "neither a project spec nor an evidence file"),
    (["team:rsk"], "did you mean `risk`"),
    ([], "name what changes"),
])
def test_bad_targets_are_usage_errors(git_repo, args, message):
    result = run_mlopsc("impact", *args, cwd=git_repo)
    assert result.code == 2
    assert message in result.err


def test_base_outside_git_is_a_usage_error(example_repo):
    result = run_mlopsc("impact", "--base", "main", cwd=example_repo)
    assert result.code == 2 and "git repository" in result.err


def test_text_and_markdown_name_teams_environments_and_owners():
    text = run_mlopsc("impact", "risk/fraud-detection:sources.transactions", cwd=EXAMPLES).out
    assert "team growth — notify growth-ml@example.com" in text
    assert "environment production: risk/fraud-detection fraud-api" in text
    md = run_mlopsc("impact", "risk/fraud-detection:sources.transactions", "--format", "markdown",
                    cwd=EXAMPLES).out
    assert md.startswith("## Lineage impact")
    assert "### Team `growth`" in md and "Notify: growth-ml@example.com" in md
    assert "| `production` |" in md
