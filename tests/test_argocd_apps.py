"""Argo CD: the app of apps, the projects that fence each team, and one Application per project and
environment (plus one for its pipelines), each syncing exactly its own directory."""

from __future__ import annotations

import pytest
import yaml

from compiler import layout
from compiler.backends import argocd
from conftest import edit, run_mlopsc
from test_serving_variants import VARIANTS, compiled, objects_of


def applications(name: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects_of(name, "Application").values()}


def synced_directories(name: str) -> set[str]:
    _, objects = compiled(name)
    return {path.rsplit("/", 1)[0] for path in objects}


@pytest.mark.parametrize("name", VARIANTS)
def test_every_application_syncs_an_emitted_directory_of_this_repository(name):
    checked, _ = compiled(name)
    gitops = checked.config.gitops
    directories = synced_directories(name)
    for app_name, app in applications(name).items():
        source = app["spec"]["source"]
        assert (source["repoURL"], source["targetRevision"]) == (gitops.repoURL, gitops.targetRevision)
        assert source["path"].startswith("generated/deploy/"), app_name
        assert source["path"].removeprefix("generated/") in directories, app_name
        assert app["metadata"]["namespace"] == gitops.argocdNamespace
        assert app["spec"]["project"] != "default"
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}, app_name


@pytest.mark.parametrize("name", VARIANTS)
def test_each_released_project_environment_has_exactly_its_own_application(name):
    checked, _ = compiled(name)
    apps = applications(name)
    serving_dirs = {d for d in synced_directories(name) if d.startswith("deploy/serving/")}
    expected = {}
    for project in checked.projects:
        team, project_name = project.model.metadata.team, project.model.metadata.name
        for env in checked.config.environments:
            directory = layout.serving_dir(env, team, project_name)
            if directory in serving_dirs:
                expected[layout.serving_application_name(team, project_name, env)] = (directory, env, team)
    assert expected
    for app_name, (directory, env, team) in expected.items():
        spec = apps[app_name]["spec"]
        assert spec["source"]["path"] == f"generated/{directory}"
        assert spec["project"] == team
        assert spec["destination"] == {"server": checked.config.environments[env].cluster,
                                       "namespace": layout.namespace(team, env)}
        # Pruning the Application (its release removed) deletes what it deployed.
        assert apps[app_name]["metadata"]["finalizers"] == [argocd.CASCADE_FINALIZER]
    serving_apps = {n for n, a in apps.items() if "/deploy/serving/" in a["spec"]["source"]["path"]}
    assert serving_apps == set(expected)


@pytest.mark.parametrize("name", VARIANTS)
def test_pipelines_application_targets_the_teams_kubeflow_namespace_on_the_first_cluster(name):
    checked, _ = compiled(name)
    config = checked.config
    first_cluster = next(iter(config.environments.values())).cluster
    apps = applications(name)
    for project in checked.projects:
        team, project_name = project.model.metadata.team, project.model.metadata.name
        spec = apps[layout.pipelines_application_name(team, project_name)]["spec"]
        assert spec["source"]["path"] == f"generated/{layout.pipelines_dir(team, project_name)}"
        assert spec["destination"] == {"server": first_cluster, "namespace": layout.kubeflow_namespace(config, team)}


def test_root_application_manages_the_argocd_directory_itself():
    apps = applications("bundled")
    root = apps[layout.ROOT_APPLICATION]
    assert root["spec"]["project"] == layout.PLATFORM_PROJECT
    assert root["spec"]["source"]["path"] == f"generated/{layout.ARGOCD_DIR}"
    assert root["spec"]["destination"] == {"server": argocd.IN_CLUSTER, "namespace": "argocd"}
    # Its own file lives in the directory it syncs: after the bootstrap, Argo CD keeps it current.
    assert f"{layout.ARGOCD_DIR}/application-{layout.ROOT_APPLICATION}.yaml" in objects_of("bundled")
    assert "finalizers" not in root["metadata"]


def test_namespaces_belong_to_platform_applications_not_to_teams():
    checked, _ = compiled("bundled")
    apps = applications("bundled")
    platform = objects_of("bundled", "AppProject")[f"{layout.ARGOCD_DIR}/appproject-{layout.PLATFORM_PROJECT}.yaml"]
    namespaces = {o["metadata"]["name"] for o in objects_of("bundled", "Namespace").values()}
    assert namespaces == {layout.namespace(t, e) for t in checked.config.teams for e in checked.config.environments}
    assert platform["spec"]["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace", "name": ns} for ns in sorted(namespaces)]
    for env, environment in checked.config.environments.items():
        app = apps[layout.platform_application_name(env)]
        assert app["spec"]["project"] == layout.PLATFORM_PROJECT
        assert app["spec"]["source"]["path"] == f"generated/{layout.platform_dir(env)}"
        assert app["spec"]["destination"] == {"server": environment.cluster}
        assert {"server": environment.cluster} in platform["spec"]["destinations"]
    for path, ns in objects_of("bundled", "Namespace").items():
        # Deleting a namespace deletes everything in it: never pruned automatically.
        assert ns["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false", path


def test_projects_sync_before_the_applications_that_name_them():
    waves = {}
    for obj in objects_of("bundled", under=f"{layout.ARGOCD_DIR}/").values():
        wave = int(obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        waves.setdefault(obj["kind"], []).append((wave, obj))
    latest_project = max(w for w, _ in waves["AppProject"])
    for wave, app in waves["Application"]:
        if app["metadata"]["name"] != layout.ROOT_APPLICATION:
            assert wave > latest_project, app["metadata"]["name"]
    platform_waves = {w for w, a in waves["Application"] if a["spec"]["project"] == layout.PLATFORM_PROJECT
                      and a["metadata"]["name"] != layout.ROOT_APPLICATION}
    team_waves = {w for w, a in waves["Application"] if a["spec"]["project"] != layout.PLATFORM_PROJECT}
    assert max(platform_waves) < min(team_waves)  # namespaces before what is deployed into them


def test_team_projects_allow_only_the_kinds_mlopsc_emits():
    emitted = {(o["apiVersion"].rpartition("/")[0], o["kind"])
               for variant in VARIANTS for path, o in objects_of(variant).items()
               if path.startswith(("deploy/serving/", "deploy/pipelines/"))}
    team_project = objects_of("bundled")[f"{layout.ARGOCD_DIR}/appproject-risk.yaml"]
    allowed = {(g["group"], g["kind"]) for g in team_project["spec"]["namespaceResourceWhitelist"]}
    assert emitted <= allowed
    assert not {("rbac.authorization.k8s.io", "RoleBinding"), ("", "Secret")} & allowed


def test_removing_a_release_removes_its_application_and_directory(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    out = example_repo / "generated"
    app = out / layout.ARGOCD_DIR / "application-risk-fraud-detection-production.yaml"
    assert app.exists()
    spec = example_repo / "specs/risk/fraud-detection.yaml"
    text = spec.read_text()
    start = text.index("        production:\n          release:")
    end = text.index("          replicas: {min: 3, max: 12}")
    spec.write_text(text[:start] + "        production:\n" + text[end:])
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 0, result.err
    assert not app.exists()
    assert not (out / layout.serving_dir("production", "risk", "fraud-detection")).exists()
    assert (out / layout.ARGOCD_DIR / "application-risk-fraud-detection-staging.yaml").exists()


def test_per_project_documents_are_owned_by_their_project():
    checked, _ = compiled("examples")
    for doc in argocd.emit(checked):
        kind = doc.content["kind"]
        labels = doc.content["metadata"]["labels"]
        if kind == "Application" and "app.kubernetes.io/part-of" in labels:
            assert doc.owner == f"{labels['mlopsc.dev/team']}/{labels['app.kubernetes.io/part-of']}"
        else:
            assert doc.owner is None, doc.path


def test_gitops_settings_flow_into_every_argocd_object(example_repo):
    edit(example_repo / "mlopsc.yaml", "repoURL: https://git.example.com/ml/platform.git",
         "repoURL: https://git.example.com/ml/other.git")
    edit(example_repo / "mlopsc.yaml", "argocdNamespace: argocd", "argocdNamespace: gitops")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    for path in sorted((example_repo / "generated" / layout.ARGOCD_DIR).glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        assert obj["metadata"]["namespace"] == "gitops"
        if obj["kind"] == "AppProject":
            assert obj["spec"]["sourceRepos"] == ["https://git.example.com/ml/other.git"]
        else:
            assert obj["spec"]["source"]["repoURL"] == "https://git.example.com/ml/other.git"


def test_applications_follow_the_out_option(example_repo):
    # A repository that keeps its output elsewhere (`--out deploy-out`) must still be synced from
    # the directories compile wrote, or Argo CD would sync nothing (or stale files).
    assert run_mlopsc("--out", "rendered/k8s", "compile", cwd=example_repo).code == 0
    out = example_repo / "rendered/k8s"
    paths = {yaml.safe_load(p.read_text())["spec"]["source"]["path"]
             for p in (out / layout.ARGOCD_DIR).glob("application-*.yaml")}
    assert paths and all(p.startswith("rendered/k8s/deploy/") for p in paths)
    assert all((example_repo / p).is_dir() for p in paths)
