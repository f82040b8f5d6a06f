"""Tenancy: a project can never produce an object in another team's namespace.

Namespaces and Argo CD names are derived from team, project and environment names, so the ways in
are name collisions. Each test tries one (through a spec where the spec decides, through mlopsc.yaml
where only the platform can) and shows the compiler refuses with K011 and writes nothing. The last
tests check the property itself over everything the compiler emits.
"""

from __future__ import annotations

import json

import pytest

from compiler import layout
from conftest import edit, line_col, run_mlopsc
from test_serving_variants import VARIANTS, add_project, compiled, objects_of

TEAMS_BLOCK = "teams:\n  risk: {}\n  growth: {}\n"


def tenancy_errors(root) -> list[dict]:
    result = run_mlopsc("validate", "--format", "json", cwd=root)
    return [d for d in json.loads(result.out) if d["code"] == "K011"]


def refuses_to_compile(root) -> None:
    result = run_mlopsc("compile", cwd=root)
    assert result.code == 1 and "error[K011]" in result.err, result.err
    assert not (root / "generated").exists()


def open_team_list(root) -> None:
    """No `teams:` in mlopsc.yaml: any spec may name its team (LANGUAGE.md allows it)."""
    edit(root / "mlopsc.yaml", TEAMS_BLOCK, "")


def test_spec_naming_a_team_whose_kubeflow_namespace_is_another_teams_serving_namespace(example_repo):
    """Team `risk-staging` would own `risk-staging`, its Kubeflow namespace: team risk's staging."""
    open_team_list(example_repo)
    spec = add_project(example_repo, "risk-staging", "takeover")
    errors = tenancy_errors(example_repo)
    assert [(e["path"], e["line"], e["column"]) for e in errors] == \
        [("specs/risk-staging/takeover.yaml", *line_col(spec, "risk-staging"))]
    assert "`risk` and `risk-staging` would both own namespace `risk-staging`" in errors[0]["message"]
    refuses_to_compile(example_repo)


@pytest.mark.parametrize("team, reason", [
    ("kube", "a Kubernetes system namespace"),      # kube-staging
    ("argocd", "the Argo CD namespace"),            # its Kubeflow profile namespace
    ("istio-system", "the ingress namespace"),
    ("kubeflow", "a platform namespace"),
])
def test_spec_naming_a_team_that_would_own_a_platform_namespace(example_repo, team, reason):
    open_team_list(example_repo)
    spec = add_project(example_repo, team, "sneaky")
    errors = tenancy_errors(example_repo)
    assert errors and all(e["path"] == f"specs/{team}/sneaky.yaml" for e in errors)
    line, column = line_col(spec, f"team: {team}")
    assert {(e["line"], e["column"]) for e in errors} == {(line, column + len("team: "))}
    assert any(reason in e["message"] for e in errors)
    refuses_to_compile(example_repo)


def test_teams_and_environments_meeting_in_one_namespace(example_repo):
    """Team `risk` in environment `eu-prod` and team `risk-eu` in `prod`: both `risk-eu-prod`."""
    config = example_repo / "mlopsc.yaml"
    edit(config, "  production:\n    cluster: https://prod.k8s.example.com\n    promotesFrom: staging\n",
         "  production:\n    cluster: https://prod.k8s.example.com\n    promotesFrom: staging\n"
         "  prod:\n    cluster: https://prod.k8s.example.com\n  eu-prod:\n    cluster: https://eu.k8s.example.com\n")
    edit(config, TEAMS_BLOCK, TEAMS_BLOCK + "  risk-eu: {}\n")
    errors = tenancy_errors(example_repo)
    assert [(e["path"], e["line"], e["column"]) for e in errors] == [("mlopsc.yaml", *line_col(config, "risk-eu:"))]
    assert "namespace `risk-eu-prod`" in errors[0]["message"]


def test_team_named_like_an_argocd_project_the_platform_owns(example_repo):
    config = example_repo / "mlopsc.yaml"
    edit(config, TEAMS_BLOCK, TEAMS_BLOCK + "  default: {}\n")
    errors = tenancy_errors(example_repo)
    assert {(e["line"], e["column"]) for e in errors} == {line_col(config, "default: {}")}
    assert any("AppProject `default`" in e["message"] for e in errors)


def test_projects_whose_argocd_applications_would_share_a_name(example_repo):
    """risk/fraud-detection and risk-fraud/detection both make Application `risk-fraud-detection-staging`."""
    edit(example_repo / "mlopsc.yaml", TEAMS_BLOCK, TEAMS_BLOCK + "  risk-fraud: {}\n")
    add_project(example_repo, "risk-fraud", "detection")
    errors = tenancy_errors(example_repo)
    assert len(errors) == 1
    # Specs are read in path order, so `specs/risk-fraud/…` claims the names first.
    assert errors[0]["path"] == "specs/risk/fraud-detection.yaml"
    assert (errors[0]["line"], errors[0]["column"]) == line_col(example_repo / errors[0]["path"], "fraud-detection")
    assert "Application `risk-fraud-detection-pipelines`" in errors[0]["message"]
    refuses_to_compile(example_repo)


def test_environment_named_like_the_pipelines_application(example_repo):
    edit(example_repo / "mlopsc.yaml", "  staging:\n    cluster:", "  pipelines:\n    cluster: https://pipelines.example.com\n  staging:\n    cluster:")
    errors = tenancy_errors(example_repo)
    assert errors and all("pipelines" in e["message"] for e in errors)


def test_shared_kubeflow_namespace_may_not_be_a_teams_serving_namespace(example_repo):
    config = example_repo / "mlopsc.yaml"
    edit(config, "  pipelineRoot: s3://ml-artifacts/pipelines\n",
         "  pipelineRoot: s3://ml-artifacts/pipelines\n  namespace: risk-staging\n")
    errors = tenancy_errors(example_repo)
    assert errors and "shared Kubeflow namespace" in errors[0]["message"]


def test_a_shared_kubeflow_namespace_is_allowed(example_repo):
    edit(example_repo / "mlopsc.yaml", "  pipelineRoot: s3://ml-artifacts/pipelines\n",
         "  pipelineRoot: s3://ml-artifacts/pipelines\n  namespace: kubeflow\n")
    assert tenancy_errors(example_repo) == []


# -- the property, over everything emitted --------------------------------------------------------
@pytest.mark.parametrize("name", VARIANTS)
def test_every_serving_object_lives_in_its_own_teams_namespace(name):
    objects = objects_of(name, under="deploy/serving/")
    assert objects
    for path, obj in objects.items():
        _, _, env, team, project, _ = path.split("/")
        assert obj["metadata"]["namespace"] == layout.namespace(team, env), path
        assert obj["metadata"]["labels"]["mlopsc.dev/team"] == team, path


@pytest.mark.parametrize("name", VARIANTS)
def test_team_argocd_projects_admit_only_the_teams_namespaces_and_this_repository(name):
    checked, _ = compiled(name)
    config = checked.config
    projects = objects_of(name, "AppProject")
    teams = sorted(config.teams)
    for team in teams:
        spec = projects[f"{layout.ARGOCD_DIR}/appproject-{team}.yaml"]["spec"]
        assert spec["sourceRepos"] == [config.gitops.repoURL]
        allowed = {layout.namespace(team, env) for env in config.environments} | {layout.kubeflow_namespace(config, team)}
        assert {d["namespace"] for d in spec["destinations"]} == allowed
        assert "*" not in json.dumps(spec)  # no globs
        assert not spec.get("clusterResourceWhitelist")  # no cluster-scoped objects at all


@pytest.mark.parametrize("name", VARIANTS)
def test_team_applications_deploy_only_into_their_projects_destinations(name):
    projects = {o["metadata"]["name"]: o["spec"] for o in objects_of(name, "AppProject").values()}
    apps = [o for o in objects_of(name, "Application").values() if "mlopsc.dev/team" in o["metadata"]["labels"]]
    assert apps
    for app in apps:
        team = app["metadata"]["labels"]["mlopsc.dev/team"]
        assert app["spec"]["project"] == team
        assert app["spec"]["destination"] in projects[team]["destinations"]
        path = app["spec"]["source"]["path"]
        assert path.startswith((f"generated/deploy/serving/", f"generated/deploy/pipelines/{team}/")) \
            or path == f"generated/deploy/schedules/{team}"
        if "/serving/" in path:
            assert path.split("/")[4] == team
