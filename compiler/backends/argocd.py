"""Argo CD objects: who may sync what where (AppProjects) and what is synced (Applications).

All of it goes to `layout.ARGOCD_DIR`, which the root Application `mlopsc` syncs into the Argo CD
namespace (an app of apps that also manages itself; docs/OUTPUT.md has the one-time bootstrap):

- AppProject `mlopsc-platform`: the root Application and one Application per environment that
  syncs the team namespaces (`layout.platform_dir(env)`); the only project allowed cluster-scoped
  objects, and only those Namespaces, by name.
- AppProject `<team>` per team: this repository as the only source, the team's namespaces
  `<team>-<env>` on each environment's cluster and its Kubeflow namespace as the only
  destinations, no cluster-scoped kinds, and only the namespaced kinds mlopsc emits.
- Per project and environment with a release, an Application syncing exactly
  `layout.serving_dir(env, team, project)`; per project, one syncing
  `layout.pipelines_dir(team, project)` into the team's Kubeflow namespace on the Kubeflow cluster.
- Per team, `<team>-schedules` syncing `layout.schedules_dir(team)` (the desired recurring runs
  and the PostSync Job that reconciles KFP with them, docs/SCHEDULES.md) into the same namespace,
  one sync wave after the pipelines so that a new pipeline usually exists before its schedule.

Kubeflow Pipelines runs on the first environment's cluster (LANGUAGE.md leaves it open): that is
where training runs before anything is promoted, so a single Kubeflow serves every environment.
"""

from __future__ import annotations

from ..middle.check import CheckedRepository
from .. import layout
from . import Document

API_VERSION = "argoproj.io/v1alpha1"
# Argo CD's own cluster, where the Applications and AppProjects themselves live.
IN_CLUSTER = "https://kubernetes.default.svc"
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlopsc"}
CASCADE_FINALIZER = "resources-finalizer.argocd.argoproj.io"
# What a team's Applications may create; everything else (RBAC, Secrets, webhooks…) is refused
# by Argo CD even if someone committed it into a synced directory by hand.
TEAM_KINDS = [("", "ConfigMap"), ("", "Service"), ("", "ServiceAccount"), ("apps", "Deployment"),
              ("batch", "Job"),
              ("autoscaling", "HorizontalPodAutoscaler"), ("monitoring.coreos.com", "PodMonitor"),
              ("monitoring.coreos.com", "PrometheusRule"), ("monitoring.coreos.com", "ServiceMonitor"),
              ("networking.k8s.io", "NetworkPolicy"), ("pipelines.kubeflow.org", "Pipeline"),
              ("pipelines.kubeflow.org", "PipelineVersion"), ("serving.kserve.io", "InferenceService")]
# Sync waves inside the root Application: projects before the Applications that name them,
# namespaces (platform Applications) before the team Applications that deploy into them.
WAVE_PROJECTS, WAVE_PLATFORM, WAVE_TEAMS, WAVE_SCHEDULES = "-2", "-1", "0", "1"
# Until the namespaces exist a team Application's first sync fails; retrying settles it.
RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}


def emit(checked: CheckedRepository) -> list[Document]:
    return [doc for unit in units(checked) for doc in emit_unit(checked, unit)]


def units(checked: CheckedRepository) -> list[str]:
    """What emit_unit can make on its own: "" the AppProjects and the repository's Applications,
    then each project's Applications."""
    return [""] + [project.key for project in checked.projects]


def emit_unit(checked: CheckedRepository, unit: str) -> list[Document]:
    config, out_dir = checked.config, checked.repo.out_dir
    if unit:
        project = checked.lineage.projects[unit]
        documents = [_pipelines_application(config, out_dir, project)]  # every project has a pipeline
        released = {env for target in project.model.spec.serving.values()
                    for env, se in target.environments.items() if se.release is not None}
        for env in config.environments:  # in promotion order
            if env in released:
                documents.append(_serving_application(config, out_dir, project, env))
        return documents
    teams = sorted(config.teams) if config.teams is not None else sorted(
        {p.model.metadata.team for p in checked.projects})
    documents = [_platform_project(config, teams), _root_application(config, out_dir)]
    if teams:  # an environment's platform directory holds its team namespaces
        documents += [_platform_application(config, out_dir, env) for env in config.environments]
    documents += [_team_project(config, team) for team in teams]
    documents += [_schedules_application(config, out_dir, team) for team in teams]
    return documents


def kubeflow_cluster(config) -> str:
    return next(iter(config.environments.values())).cluster if config.environments else IN_CLUSTER


def _document(obj: dict, owner: str | None = None) -> Document:
    return Document(f"{layout.ARGOCD_DIR}/{layout.object_filename(obj['kind'], obj['metadata']['name'])}",
                    obj, owner=owner)


def _metadata(config, name: str, wave: str, labels: dict | None = None, annotations: dict | None = None,
              cascade: bool = False) -> dict:
    meta = {"name": name, "namespace": config.gitops.argocdNamespace, "labels": {**MANAGED_BY, **(labels or {})},
            "annotations": {"argocd.argoproj.io/sync-wave": wave, **(annotations or {})}}
    if cascade:
        # Deleting (or pruning) the Application deletes what it synced.
        meta["finalizers"] = [CASCADE_FINALIZER]
    return meta


def _source(config, out_dir: str, path: str) -> dict:
    """A directory of this repository: `out_dir` is where compile writes (`--out`), from the root."""
    return {"repoURL": config.gitops.repoURL, "targetRevision": config.gitops.targetRevision,
            "path": f"{out_dir}/{path}"}


def _sync_policy() -> dict:
    return {"automated": {"prune": True, "selfHeal": True}, "retry": RETRY}


def _group_kinds(pairs) -> list[dict]:
    return [{"group": group, "kind": kind} for group, kind in pairs]


def _platform_project(config, teams: list[str]) -> Document:
    clusters = sorted({env.cluster for env in config.environments.values()})
    namespaces = sorted(layout.namespace(team, env) for team in teams for env in config.environments)
    return _document({
        "apiVersion": API_VERSION, "kind": "AppProject",
        "metadata": _metadata(config, layout.PLATFORM_PROJECT, WAVE_PROJECTS),
        "spec": {
            "description": "mlopsc platform: the Argo CD objects themselves and the team namespaces",
            "sourceRepos": [config.gitops.repoURL],
            # A destination without a namespace admits only cluster-scoped objects (the Namespaces).
            "destinations": [{"server": IN_CLUSTER, "namespace": config.gitops.argocdNamespace}]
                            + [{"server": cluster} for cluster in clusters],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": ns} for ns in namespaces],
            "namespaceResourceWhitelist": _group_kinds([("argoproj.io", "AppProject"),
                                                        ("argoproj.io", "Application")]),
        },
    })


def _root_application(config, out_dir: str) -> Document:
    return _document({
        "apiVersion": API_VERSION, "kind": "Application",
        # No cascade finalizer: deleting the root must not delete every team's workloads.
        "metadata": _metadata(config, layout.ROOT_APPLICATION, WAVE_PROJECTS),
        "spec": {"project": layout.PLATFORM_PROJECT, "source": _source(config, out_dir, layout.ARGOCD_DIR),
                 "destination": {"server": IN_CLUSTER, "namespace": config.gitops.argocdNamespace},
                 "syncPolicy": _sync_policy()},
    })


def _platform_application(config, out_dir: str, env: str) -> Document:
    return _document({
        "apiVersion": API_VERSION, "kind": "Application",
        # No cascade finalizer: Namespaces outlive the Application (and carry Prune=false).
        "metadata": _metadata(config, layout.platform_application_name(env), WAVE_PLATFORM,
                              labels={"mlopsc.dev/environment": env}),
        "spec": {"project": layout.PLATFORM_PROJECT, "source": _source(config, out_dir, layout.platform_dir(env)),
                 "destination": {"server": config.environments[env].cluster},
                 "syncPolicy": _sync_policy()},
    })


def _team_project(config, team: str) -> Document:
    destinations = [{"server": env.cluster, "namespace": layout.namespace(team, name)}
                    for name, env in config.environments.items()]
    kubeflow = {"server": kubeflow_cluster(config), "namespace": layout.kubeflow_namespace(config, team)}
    if kubeflow not in destinations:
        destinations.append(kubeflow)
    return _document({
        "apiVersion": API_VERSION, "kind": "AppProject",
        "metadata": _metadata(config, layout.team_project_name(team), WAVE_PROJECTS,
                              labels={"mlopsc.dev/team": team}),
        "spec": {
            "description": f"team {team}: its serving namespaces and Kubeflow pipelines, from this repository",
            "sourceRepos": [config.gitops.repoURL],
            "destinations": destinations,
            # No clusterResourceWhitelist: a team may not create any cluster-scoped object.
            "namespaceResourceWhitelist": _group_kinds(TEAM_KINDS),
        },
    })


def _project_labels(project) -> dict:
    return {"mlopsc.dev/team": project.model.metadata.team, "app.kubernetes.io/part-of": project.model.metadata.name}


def _project_annotations(project) -> dict:
    return {"mlopsc.dev/spec": project.path, "mlopsc.dev/project": project.key}


def _serving_application(config, out_dir: str, project, env: str) -> Document:
    team, name = project.model.metadata.team, project.model.metadata.name
    return _document({
        "apiVersion": API_VERSION, "kind": "Application",
        "metadata": _metadata(config, layout.serving_application_name(team, name, env), WAVE_TEAMS,
                              labels={**_project_labels(project), "mlopsc.dev/environment": env},
                              annotations=_project_annotations(project), cascade=True),
        "spec": {"project": layout.team_project_name(team),
                 "source": _source(config, out_dir, layout.serving_dir(env, team, name)),
                 "destination": {"server": config.environments[env].cluster,
                                 "namespace": layout.namespace(team, env)},
                 "syncPolicy": _sync_policy()},
    }, owner=project.key)


def _pipelines_application(config, out_dir: str, project) -> Document:
    team, name = project.model.metadata.team, project.model.metadata.name
    return _document({
        "apiVersion": API_VERSION, "kind": "Application",
        "metadata": _metadata(config, layout.pipelines_application_name(team, name), WAVE_TEAMS,
                              labels=_project_labels(project), annotations=_project_annotations(project),
                              cascade=True),
        "spec": {"project": layout.team_project_name(team),
                 "source": _source(config, out_dir, layout.pipelines_dir(team, name)),
                 "destination": {"server": kubeflow_cluster(config),
                                 "namespace": layout.kubeflow_namespace(config, team)},
                 "syncPolicy": _sync_policy()},
    }, owner=project.key)


def _schedules_application(config, out_dir: str, team: str) -> Document:
    return _document({
        "apiVersion": API_VERSION, "kind": "Application",
        "metadata": _metadata(config, layout.schedules_application_name(team), WAVE_SCHEDULES,
                              labels={"mlopsc.dev/team": team}, cascade=True),
        "spec": {"project": layout.team_project_name(team),
                 "source": _source(config, out_dir, layout.schedules_dir(team)),
                 "destination": {"server": kubeflow_cluster(config),
                                 "namespace": layout.kubeflow_namespace(config, team)},
                 "syncPolicy": _sync_policy()},
    })
