"""Serving targets: runtime choice, replicas, autoscaling, canaries, what may be released where, and
team tenancy (no project can produce an object in another team's namespace).

Each check here stands in for a consumer that would otherwise reject the output after Argo CD
synced it: KServe's admission webhook (names, replicas, scale targets and metrics, storage schemes),
the API server's HorizontalPodAutoscaler validation (scale to zero), or Argo CD itself (two
Applications or AppProjects with one name, a namespace claimed by two teams).
"""

from __future__ import annotations

from ... import codes
from ... import layout
from ..k8s_names import DNS1035_LABEL, DNS1123_LABEL
from . import RuleContext, rule

# What KServe's storage initializer can download (its webhook rejects other schemes).
STORAGE_SCHEMES = ("gs", "s3", "pvc", "file", "https", "http", "hdfs", "webhdfs", "oci", "hf")
# An InferenceService name is a DNS-1035 label (a Service name must start with a letter).
# KServe names the predictor's Deployment/Service/HPA `<name>-predictor`: 63 - len("-predictor").
MAX_KSERVE_NAME = 53
# What a HorizontalPodAutoscaler scales on: resource utilizations, in percent of the requests.
HPA_METRICS = ("cpu", "memory")
# Namespaces no team may claim, whatever the spec says: Kubernetes' own (and every `kube-*`),
# and those of the systems the output is synced into or served through.
SYSTEM_NAMESPACES = ("default", "kubeflow", "kserve", "knative-serving")


def serving_names(target_name: str, runtime_kind: str) -> list[str]:
    """The object names a serving target occupies in its team's namespace (see backends.kubernetes)."""
    if runtime_kind == "kserve":
        return [target_name, f"{target_name}-predictor"]
    return [target_name, f"{target_name}-canary"]


@rule
def serving_targets(ctx: RuleContext):
    envs = ctx.config.environments
    mode = ctx.config.kserve.deploymentMode
    for project in ctx.repo.projects:
        doc = project.doc
        for name, target in project.model.spec.serving.items():
            base = ("spec", "serving", name)
            runtime = target.runtime
            if (runtime.kserve is None) == (runtime.container is None) and \
                    not project.is_broken(base + ("runtime", "kserve")):  # `kserv:` is S001 only
                yield codes.RUNTIME_CHOICE.at(doc.position(base + ("runtime",)),
                                              f"serving target `{name}`: runtime must set exactly one of "
                                              f"`kserve` or `container`")
            # Checks that depend on the runtime wait until it is clear which one it is.
            runtime_known = (runtime.kserve is None) != (runtime.container is None)
            kserve = runtime.kserve is not None
            if runtime_known:
                yield from _serving_name(doc, base, name, kserve)
            for env, se in target.environments.items():
                path = base + ("environments", env)
                if se.replicas.min > se.replicas.max:
                    yield codes.REPLICAS_MIN_GT_MAX.at(
                        doc.position(path + ("replicas", "min")),
                        f"replicas.min {se.replicas.min} is greater than replicas.max {se.replicas.max}")
                if runtime_known and se.replicas.min == 0 and not (kserve and mode == "Knative"):
                    where = "a container runtime" if not kserve else f"kserve.deploymentMode {mode}"
                    yield codes.SCALE_TO_ZERO.at(
                        doc.position(path + ("replicas", "min")),
                        f"replicas.min 0 cannot be served with {where}: a HorizontalPodAutoscaler keeps "
                        f"at least one replica (scale to zero needs a kserve runtime in Knative mode)")
                if runtime_known:
                    yield from _autoscaling(doc, path, se.autoscaling, kserve, mode)
                if se.canary is not None:
                    percent = se.canary.percent
                    if not (isinstance(percent, int) or float(percent).is_integer()) or not 0 <= percent <= 100:
                        yield codes.CANARY_PERCENT.at(doc.position(path + ("canary", "percent")),
                                                      f"canary.percent {percent} is not a whole number "
                                                      f"between 0 and 100")
                    if se.release is None and not project.is_broken(path + ("release",)):
                        yield codes.CANARY_WITHOUT_RELEASE.at(
                            doc.position(path + ("canary",), key=True),
                            f"environment `{env}` has a canary but no release to split traffic with")
                releases = [("release", se.release)] + ([("canary", se.canary.release)] if se.canary else [])
                for where, rel in releases:
                    if rel is None:
                        continue
                    rel_path = path + ((where,) if where == "release" else ("canary", "release"))
                    scheme = rel.uri.partition("://")[0] if "://" in rel.uri else ""
                    if scheme not in STORAGE_SCHEMES:
                        yield codes.STORAGE_SCHEME.at(
                            doc.position(rel_path + ("uri",)),
                            f"release uri `{rel.uri}`: KServe cannot download from this scheme "
                            f"(supported: {', '.join(s + '://' for s in STORAGE_SCHEMES)})")
                    env_config = envs.get(env)
                    if env_config is not None and env_config.promotesFrom and not target.gates and \
                            not project.is_broken(base + ("gates",)):
                        yield codes.UNGATED_PROMOTION.at(
                            doc.position(rel_path, key=True),
                            f"`{name}` has no gates, so it may not be released to `{env}`, which "
                            f"promotes from `{env_config.promotesFrom}`: add `gates: [<evaluation>]`")


def _serving_name(doc, base, name, kserve):
    if not isinstance(name, str) or not DNS1035_LABEL.match(name):
        # Names that are not even DNS-1123 labels are reported by the naming rules (N001).
        if isinstance(name, str) and DNS1123_LABEL.match(name):
            yield codes.SERVING_NAME.at(doc.key_position(base),
                                        f"serving target `{name}` must start with a letter: it names a "
                                        f"Kubernetes Service{' and an InferenceService' if kserve else ''}")
    elif kserve and len(name) > MAX_KSERVE_NAME:
        yield codes.SERVING_NAME.at(doc.key_position(base),
                                    f"serving target `{name}` is {len(name)} characters: KServe names its "
                                    f"Service `{name}-predictor`, which must fit in 63 (at most "
                                    f"{MAX_KSERVE_NAME} for the target)")


def _autoscaling(doc, path, autoscaling, kserve, mode):
    if autoscaling is None:
        return
    where = path + ("autoscaling",)
    metric, target = autoscaling.metric, autoscaling.target
    if metric not in HPA_METRICS and not (kserve and mode == "Knative"):
        scaler = "a container runtime" if not kserve else f"kserve.deploymentMode {mode}"
        yield codes.SCALE_METRIC.at(doc.position(where + ("metric",)),
                                    f"autoscaling metric `{metric}` is not available with {scaler}, which "
                                    f"scales with a HorizontalPodAutoscaler on cpu or memory")
    if metric in HPA_METRICS and not 1 <= target <= 100:
        yield codes.SCALE_TARGET.at(doc.position(where + ("target",)),
                                    f"{metric} target {target}% is outside 1-100 (a utilization percentage)")
    elif metric not in HPA_METRICS and target < 1:
        yield codes.SCALE_TARGET.at(doc.position(where + ("target",)),
                                    f"{metric} target {target} must be at least 1")


@rule
def serving_names_unique(ctx: RuleContext):
    """Serving targets of one team share its namespaces, so their object names must not clash."""
    claimed: dict[tuple[str, str], tuple[str, str]] = {}  # (team, object name) -> (project, target)
    for project in ctx.repo.projects:  # sorted by path: the first file keeps the name
        team = project.model.metadata.team
        for name, target in project.model.spec.serving.items():
            runtime = "kserve" if target.runtime.kserve is not None else "container"
            for object_name in serving_names(name, runtime):
                owner = claimed.setdefault((team, object_name), (project.key, name))
                if owner != (project.key, name):
                    yield codes.DUPLICATE_NAME.at(
                        project.doc.key_position(("spec", "serving", name)),
                        f"serving target `{name}` would create `{object_name}` in namespaces "
                        f"`{team}-<env>`, which `{owner[1]}` of {owner[0]} already uses: the team's "
                        f"serving targets share its namespaces, so rename one")
                    break


@rule
def tenancy(ctx: RuleContext):
    """Every namespace and every Argo CD name belongs to exactly one team (or to the platform).

    Namespaces are `<team>-<env>` and the team's Kubeflow namespace, so two teams can meet in one
    namespace through innocent-looking names (team `risk` in env `eu-prod` and team `risk-eu` in
    env `prod`); Argo CD Applications all live in one namespace, so their names can meet as well.
    Either would let one team's Application write over another team's objects.
    """
    config = ctx.config
    teams = layout.teams(ctx.config, ctx.repo.projects)
    positions = {team: _team_position(ctx, team) for team in teams}

    reserved = {name: "a platform namespace" for name in SYSTEM_NAMESPACES}
    reserved[config.gitops.argocdNamespace] = "the Argo CD namespace"
    reserved[config.kserve.ingressNamespace] = "the ingress namespace"
    reserved[config.monitoring.namespace] = "the monitoring namespace (monitoring.namespace), which serving pods admit scrapes from"
    shared_kubeflow = config.kubeflow.namespace
    if shared_kubeflow:
        reserved[shared_kubeflow] = "the shared Kubeflow namespace (kubeflow.namespace)"

    owners: dict[str, str] = {}
    for team in teams:
        for namespace in _team_namespaces(config, team):
            why = reserved.get(namespace) or ("a Kubernetes system namespace" if namespace.startswith("kube-") else None)
            if why is not None:
                yield codes.TENANCY.at(positions[team], f"team `{team}` would own namespace `{namespace}`, "
                                                        f"which is {why}: rename the team or the environment")
            elif owners.setdefault(namespace, team) != team:
                yield codes.TENANCY.at(positions[team],
                                       f"teams `{owners[namespace]}` and `{team}` would both own namespace "
                                       f"`{namespace}`: each could deploy into the other's; rename one team or "
                                       f"environment")
            elif len(namespace) > 63:
                yield codes.NOT_DNS1123.at(positions[team],
                                           f"namespace `{namespace}` of team `{team}` is longer than 63 "
                                           f"characters: shorten the team or environment name")

    yield from _argocd_names(ctx, teams, positions)


def _argocd_names(ctx, teams, positions):
    """AppProjects and Applications share the Argo CD namespace: one name, one owner."""
    owners: dict[tuple[str, str], str] = {("AppProject", "default"): "Argo CD's built-in project",
                                          ("AppProject", layout.PLATFORM_PROJECT): "the platform",
                                          ("Application", layout.ROOT_APPLICATION): "the platform"}
    for env in ctx.config.environments:
        owners[("Application", layout.platform_application_name(env))] = "the platform"
    for team in teams:
        project_name = layout.team_project_name(team)
        if owners.setdefault(("AppProject", project_name), f"team `{team}`") != f"team `{team}`":
            yield codes.TENANCY.at(positions[team],
                                   f"team `{team}` would get Argo CD AppProject `{project_name}`, which is "
                                   f"{owners[('AppProject', project_name)]}: rename the team")
        schedules_app = layout.schedules_application_name(team)
        if owners.setdefault(("Application", schedules_app), f"team `{team}`") != f"team `{team}`":
            yield codes.TENANCY.at(positions[team],
                                   f"team `{team}` would get Argo CD Application `{schedules_app}` (its "
                                   f"schedules), which is {owners[('Application', schedules_app)]}: rename "
                                   f"the team")
    for project in ctx.repo.projects:
        meta = project.model.metadata
        wanted = [("its pipelines", layout.pipelines_application_name(meta.team, meta.name))]
        wanted += [(f"environment `{env}`", layout.serving_application_name(meta.team, meta.name, env))
                   for env in ctx.config.environments]
        for role, app in wanted:
            me = f"project `{project.key}` ({role})"
            owner = owners.setdefault(("Application", app), me)
            if owner != me:
                yield codes.TENANCY.at(project.doc.position(("metadata", "name")),
                                       f"{me} would get Argo CD Application `{app}`, which already belongs "
                                       f"to {owner}: one would overwrite the other; rename the project "
                                       f"(or the environment)")
                break


def _team_namespaces(config, team: str) -> list[str]:
    """The namespaces a team owns alone: serving ones, and its Kubeflow profile unless one is shared."""
    own = [layout.namespace(team, env) for env in config.environments]
    return own if config.kubeflow.namespace else own + [layout.kubeflow_namespace(config, team)]


def _team_position(ctx, team: str):
    """Where a team is declared: its mlopsc.yaml entry, else the first spec that names it."""
    doc = ctx.repo.config_doc
    if ctx.config.teams is not None and doc is not None:
        return doc.key_position(("teams", team))
    for project in ctx.repo.projects:
        if project.model.metadata.team == team:
            return project.doc.position(("metadata", "team"))
    return doc.position(()) if doc is not None else None
