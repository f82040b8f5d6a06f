"""`mlopsc plan --base <ref>`: what a change does to each environment, in reviewer words."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import edit, run_mlopsc
from test_generate import load_generator

from compiler.build import Layout, emit_documents, load_and_check, render_files
from compiler.commands.plan import build_plan

FRAUD = "specs/risk/fraud-detection.yaml"
RECS = "specs/growth/merchant-recs.yaml"
RUN_0142 = "sha256:02ee06b94f45"
RUN_0151 = "sha256:db61c6dc1384"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(example_repo: Path) -> Path:
    """The contract's examples, compiled and committed: the base every test plans against."""
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    git(example_repo, "init", "-q", "-b", "main")
    commit(example_repo, "base")
    return example_repo


def plan(repo: Path, *args: str, base: str = "main"):
    result = run_mlopsc("plan", "--base", base, *args, cwd=repo)
    assert result.code == 0, result.err
    return result.out


def section(text: str, title: str) -> str:
    """One environment's part of the text plan."""
    match = re.search(rf"^{re.escape(title)}\n((?:  .*\n)*)", text, re.M)
    assert match, f"no section {title!r} in:\n{text}"
    return match.group(1)


def test_no_change_says_so_for_every_environment(repo):
    out = plan(repo)
    assert section(out, "staging") == "  no changes\n"
    assert section(out, "production") == "  no changes\n"
    assert "no deployed object changes" in out


def test_a_promotion_shows_the_new_model_digest_in_production_only(repo):
    edit(repo / FRAUD, "run-0142/\n            digest: sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf\n"
                       "            evidence: evidence/risk/fraud-detection/run-0142.json\n          replicas: {min: 3",
         "run-0151/\n            digest: sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada\n"
         "            evidence: evidence/risk/fraud-detection/run-0151.json\n          replicas: {min: 3")
    out = plan(repo)
    production = section(out, "production")
    assert "~ InferenceService risk-production/fraud-api changes  [risk/fraud-detection]" in production
    assert f"new model digest {RUN_0142} → {RUN_0151}" in production
    assert section(out, "staging") == "  no changes\n"


def test_replicas_and_canary_changes_are_named(repo):
    edit(repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 16}")
    edit(repo / FRAUD, "percent: 20", "percent: 50")
    out = plan(repo)
    assert "replicas 3–12 → 4–16" in section(out, "production")
    assert "canary traffic 20% → 50%" in section(out, "staging")


def test_removing_a_canary_and_adding_one_elsewhere(repo):
    text = (repo / FRAUD).read_text()
    canary = text[text.index("          canary:\n"):text.index("          replicas: {min: 1")]
    text = text.replace(canary, "")
    text = text.replace("          replicas: {min: 3", canary + "          replicas: {min: 3")
    (repo / FRAUD).write_text(text)
    out = plan(repo)
    assert f"canary removed (was 20% to {RUN_0151})" in section(out, "staging")
    assert f"canary added: 20% of traffic to {RUN_0151}" in section(out, "production")


def test_a_new_project_brings_applications_and_a_pipeline_version(repo):
    recs = (repo / RECS).read_text()
    (repo / RECS).unlink()
    shutil.rmtree(repo / "generated")
    assert run_mlopsc("compile", cwd=repo).code == 0
    commit(repo, "without merchant-recs")
    (repo / RECS).write_text(recs)
    out = plan(repo)
    everywhere = section(out, "all environments")
    assert "+ Application argocd/growth-merchant-recs-pipelines new  [growth/merchant-recs]" in everywhere
    assert re.search(r"\+ PipelineVersion growth/growth-merchant-recs-\w+ new", everywhere)
    assert "new version of pipeline growth-merchant-recs" in everywhere
    assert "+ Pipeline growth/growth-merchant-recs new" in everywhere


def test_a_changed_pipeline_is_a_new_version_and_the_old_one_goes(repo):
    edit(repo / FRAUD, "params: {window_days: 30}", "params: {window_days: 45}")
    everywhere = section(plan(repo), "all environments")
    assert re.search(r"\+ PipelineVersion risk/risk-fraud-detection-\w+ new", everywhere)
    assert re.search(r"- PipelineVersion risk/risk-fraud-detection-\w+ goes", everywhere)


def test_removing_an_environment_makes_its_application_and_objects_go(repo):
    text = (repo / FRAUD).read_text()
    (repo / FRAUD).write_text(text[:text.index("        production:\n")] + text[text.index("  schedule:"):])
    out = plan(repo)
    production = section(out, "production")
    assert "- InferenceService risk-production/fraud-api goes" in production
    assert "- Application argocd/risk-fraud-detection-production goes" in production
    assert "its objects are deleted (cascade)" in production


def test_markdown_is_a_pull_request_comment(repo):
    edit(repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    out = plan(repo, "--format", "markdown")
    assert out.startswith("<!-- mlopsc-plan")
    assert "#### production\n\n| | Object | Project | What changes |\n|---|---|---|---|\n" in out
    assert "| changes | `InferenceService risk-production/fraud-api` | risk/fraud-detection | replicas 3–12 → 4–12 |" in out
    assert "#### staging\nNo changes.\n" in out


def test_json_lists_changes_per_environment(repo):
    edit(repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    data = json.loads(plan(repo, "--format", "json"))
    [change] = data["environments"]["production"]
    assert change["kind"] == "InferenceService" and change["action"] == "changed"
    assert change["details"] == ["replicas 3–12 → 4–12"]
    assert data["environments"]["staging"] == []


def test_github_format_annotates_diagnostics_and_prints_markdown(repo):
    edit(repo / FRAUD, "  sources:\n", "  sources:\n    unread:\n      uri: s3://risk-lake/unread/\n"
                                       "      version: \"2026-11-01\"\n")
    result = run_mlopsc("plan", "--base", "main", "--format", "github", cwd=repo)
    assert result.code == 0
    assert result.out.startswith("<!-- mlopsc-plan")
    assert result.err.startswith(f"::warning file={FRAUD},line=11,col=5,title=W001::source `unread`")


def test_a_base_that_does_not_compile_falls_back_to_its_committed_output(repo):
    edit(repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")  # K003
    commit(repo, "broken main")
    edit(repo / FRAUD, "replicas: {min: 13, max: 12}", "replicas: {min: 4, max: 12}")
    out = plan(repo)
    assert "do not compile with this mlopsc (1 error(s))" in out
    assert "replicas 3–12 → 4–12" in section(out, "production")  # against what is deployed


def test_errors_now_are_diagnostics_and_no_plan(repo):
    edit(repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")
    result = run_mlopsc("plan", "--base", "main", cwd=repo)
    assert result.code == 1
    assert "error[K003]" in result.err and result.out == ""


def test_an_unknown_ref_or_no_git_is_a_usage_error(repo, example_repo, tmp_path):
    result = run_mlopsc("plan", "--base", "no-such-branch", cwd=repo)
    assert result.code == 2 and "unknown Git ref 'no-such-branch'" in result.err
    plain = tmp_path / "plain"
    shutil.copytree(repo, plain, ignore=shutil.ignore_patterns(".git"))
    result = run_mlopsc("plan", "--base", "main", cwd=plain)
    assert result.code == 2 and "not in a Git repository" in result.err


def test_a_repository_in_a_subdirectory_of_the_git_checkout(repo, tmp_path):
    mono = tmp_path / "mono"
    (mono / "ml").parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(repo, mono / "ml", ignore=shutil.ignore_patterns(".git"))
    (mono / "README.md").write_text("other things live here\n")
    git(mono, "init", "-q", "-b", "main")
    commit(mono, "base")
    edit(mono / "ml" / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 4, max: 12}")
    out = plan(mono / "ml")
    assert "replicas 3–12 → 4–12" in section(out, "production")


def test_container_serving_changes_are_named_from_the_rendered_objects(tmp_path):
    generate = load_generator()
    generate.generate(tmp_path / "repo", 10, teams=2)
    repo = tmp_path / "repo"

    def compiled():
        checked = load_and_check(Layout(repo))
        assert not checked.has_errors
        documents = emit_documents(checked)
        return render_files(documents), {d.path: d.owner for d in documents if d.owner}

    before, before_owners = compiled()
    container_spec = next(p for p in sorted((repo / "specs").rglob("*.yaml")) if "container:" in p.read_text())
    edit(container_spec, "replicas:\n            min: 2\n", "replicas:\n            min: 3\n")  # production
    text = container_spec.read_text()
    container_spec.write_text(re.sub(r"/server@sha256:[0-9a-f]{64}", "/server@sha256:" + "1" * 64, text))
    after, after_owners = compiled()
    result = build_plan(before, before_owners, after, after_owners, ["staging", "production"], "a", "b")
    production = next(s for s in result.sections if s.title == "production")
    described = {c.title.split()[0]: c.details for c in production.changes}
    assert any(d.startswith("image ") and "1111" in d for d in described["Deployment"])
    assert any(d.startswith("replicas 2–") for d in described["HorizontalPodAutoscaler"])


def test_the_first_pull_request_shows_everything_as_new(example_repo):
    git(example_repo, "init", "-q", "-b", "main")
    (example_repo / "README.md").write_text("specs arrive in the next commit\n")
    git(example_repo, "add", "README.md")
    git(example_repo, "commit", "-q", "-m", "empty repository")
    out = plan(example_repo)
    assert "do not compile with this mlopsc (specs directory 'specs' does not exist" in out
    assert "+ InferenceService risk-production/fraud-api new  [risk/fraud-detection]" in section(out, "production")
    assert f"serves model {RUN_0142}" in section(out, "production")
    assert "+ Namespace risk-staging new" in section(out, "staging")


def test_list_items_are_named_by_identity_never_by_index(repo):
    assert run_mlopsc("new", "nlp/ticket-router", cwd=repo).code == 0
    assert run_mlopsc("compile", cwd=repo).code == 0
    out = plan(repo)
    assert ("  ~ AppProject argocd/mlopsc-platform changes\n"
            "      spec.clusterResourceWhitelist: adds Namespace nlp-production, nlp-staging\n") in out
    assert ("  + AppProject argocd/nlp new\n      may deploy to nlp-staging on https://kubernetes.default.svc, "
            "nlp-production on https://prod.k8s.example.com, nlp on https://kubernetes.default.svc\n") in out
    assert not re.search(r"\[\d+\]", out), out


def test_list_changes_name_destinations_and_changed_fields():
    from compiler.commands.plan import _other_changes

    before = {"spec": {"destinations": [{"server": "https://a", "namespace": "risk-staging"},
                                        {"server": "https://b", "namespace": "risk-production"}],
                       "containers": [{"name": "main", "image": "x", "env": [{"name": "A", "value": "1"}]}],
                       "sourceRepos": ["https://git/one"]}}
    after = {"spec": {"destinations": [{"server": "https://b", "namespace": "risk-production"},
                                       {"server": "https://c", "namespace": "risk-eu"}],
                      "containers": [{"name": "main", "image": "y", "env": [{"name": "A", "value": "1"}]}],
                      "sourceRepos": ["https://git/one", "https://git/two"]}}
    assert _other_changes(before, after, set()) == [
        "spec.containers: changes main (image)",
        "spec.destinations: adds risk-eu on https://c; removes risk-staging on https://a",
        "spec.sourceRepos: adds https://git/two",
    ]
