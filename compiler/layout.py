"""The shape of generated/ and the names it gives things: shared by every stage that needs them
(back ends write there; rules check tenancy against the same namespace and object names).

    generated/
      .mlopsc-inventory.json             what the compiler wrote (path -> sha256); see compiler.output
      schema/                            JSON Schemas for editors
      lineage/                           index.html, teams/<team>.html, graph.json + graph/<team>/<project>.json,
                                         openlineage/<team>/<project>.json
      model-cards/<team>/<project>.md    reviewer-facing Markdown
      promotion/history.json             every digest each environment has pinned (only grows)
      kfp/<team>/<project>/pipeline.yaml raw KFP IR (for `kfp` users; never synced)
      kfp/<team>/<project>/monitor-<serving>.yaml   a continuous evaluation's IR
      deploy/                            the only directory Argo CD reads: Kubernetes objects only
        argocd/                          AppProjects and Applications (synced into the Argo CD namespace)
        platform/<env>/                  team namespaces of that environment (a platform Application)
        pipelines/<team>/<project>/      KFP Pipeline + PipelineVersion objects
        schedules/<team>/                the team's desired KFP recurring runs (a ConfigMap) and the
                                         PostSync hook Job that reconciles KFP with them
        serving/<env>/<team>/<project>/  InferenceService or Deployment/Service/HPA, SA, NetworkPolicy

Inside a synced directory there is one object per file, named `<kind>-<name>.yaml` in lower case.
"""

from __future__ import annotations

import re

DEPLOY = "deploy"
ARGOCD_DIR = f"{DEPLOY}/argocd"
LINEAGE_DIR = "lineage"
PROMOTION_HISTORY = "promotion/history.json"


# CPU and memory per serving replica when an environment sets no `resources`.
SERVING_RESOURCES = {"cpu": "1", "memory": "2Gi"}


def namespace(team: str, env: str) -> str:
    """The namespace a team's serving objects live in, per environment."""
    return f"{team}-{env}"


def kfp_ir_path(team: str, project: str) -> str:
    return f"kfp/{team}/{project}/pipeline.yaml"


def kfp_monitor_ir_path(team: str, project: str, serving: str) -> str:
    """A serving target's continuous evaluation pipeline (`monitoring.evaluate`)."""
    return f"kfp/{team}/{project}/monitor-{serving}.yaml"


def pipelines_dir(team: str, project: str) -> str:
    return f"{DEPLOY}/pipelines/{team}/{project}"


def schedules_dir(team: str) -> str:
    return f"{DEPLOY}/schedules/{team}"


def pipeline_name(team: str, project: str) -> str:
    """The KFP pipeline name: unique across teams even when they share one namespace."""
    return f"{team}-{project}"


def serving_dir(env: str, team: str, project: str) -> str:
    return f"{DEPLOY}/serving/{env}/{team}/{project}"


def platform_dir(env: str) -> str:
    return f"{DEPLOY}/platform/{env}"


def model_card_path(team: str, project: str) -> str:
    return f"model-cards/{team}/{project}.md"


def object_filename(kind: str, name: str) -> str:
    return f"{kind.lower()}-{name}.yaml"


def kubeflow_namespace(config, team: str) -> str:
    """Where a team's KFP Pipeline objects live: kubeflow.namespace, else the team's profile `<team>`."""
    return config.kubeflow.namespace or team


def teams(config, projects) -> list[str]:
    """Every team of the repository: mlopsc.yaml's `teams`, else the teams that own projects."""
    if config.teams is not None:
        return sorted(config.teams)
    return sorted({p.model.metadata.team for p in projects})


# Argo CD object names (all in the Argo CD namespace, so the tenancy rule checks them for clashes).
PLATFORM_PROJECT = "mlopsc-platform"
ROOT_APPLICATION = "mlopsc"


def platform_application_name(env: str) -> str:
    return f"{PLATFORM_PROJECT}-{env}"


def team_project_name(team: str) -> str:
    return team


def serving_application_name(team: str, project: str, env: str) -> str:
    return f"{team}-{project}-{env}"


def pipelines_application_name(team: str, project: str) -> str:
    return f"{team}-{project}-pipelines"


def schedules_application_name(team: str) -> str:
    return f"{team}-schedules"


# The schedule reconciler, per team, in the team's Kubeflow namespace (under schedules_dir(team)).
# With a shared kubeflow.namespace the team's name keeps the objects of different teams apart.
def schedules_object_name(team: str) -> str:
    return f"mlopsc-schedules-{team}"


SCHEDULES_MOUNT = "/etc/mlopsc/schedules"      # where the Job mounts the ConfigMap
SCHEDULES_KEY = "schedules.json"               # the ConfigMap's one data key
KFP_TOKEN_PATH = "/var/run/secrets/kfp/token"  # the projected ServiceAccount token
KFP_TOKEN_AUDIENCE = "pipelines.kubeflow.org"
# What `mlopsc evidence report` pushes to the Pushgateway, and what the PrometheusRule's evaluation
# alerts and the dashboard select: one spelling for both sides.
EVALUATION_JOB = "mlopsc-evaluation"
EVALUATION_METRIC_GAUGE = "mlopsc_evaluation_metric"
EVALUATION_GATE_GAUGE = "mlopsc_evaluation_gate_passed"
# Release write-back (`mlopsc release propose`): where a proposal's evidence goes and its branch.
EVIDENCE_DIR = "evidence"
GIT_TOKEN_ENV = "MLOPSC_GIT_TOKEN"  # the release task's Git token, from gitops.writeBack.credentials
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")


def safe_run_id(run: str) -> str:
    """A run id as a file name and a branch-name component: other characters become '-'."""
    text = _UNSAFE_RUN.sub("-", run)
    return re.sub(r"\.{2,}", ".", text).strip(".-")[:100]


def evidence_path(team: str, project: str, run: str) -> str:
    return f"{EVIDENCE_DIR}/{team}/{project}/{safe_run_id(run)}.json"


def release_branch(prefix: str, team: str, project: str, serving: str, run: str) -> str:
    return f"{prefix}{team}-{project}-{serving}-{safe_run_id(run)}"


def ref_name_problem(name: str) -> str | None:
    """Why `name` is not a ref name `git check-ref-format --branch` accepts (a branch, a tag, a
    commit), or None. One grammar for gitops.targetRevision (K024), branchPrefix (S032) and the
    branches `release propose` pushes."""
    if not name or any(c.isspace() or not c.isprintable() or c in "~^:?*[\\" for c in name):
        return "is empty or holds white space, control characters or one of `~ ^ : ? * [ \\`"
    if ".." in name or "@{" in name or "//" in name or name == "@":
        return "holds `..`, `@{` or `//`"
    if name.startswith(("/", ".", "-")) or name.endswith(("/", ".")) or "/." in name:
        return "starts or ends with `/` or `.`, or starts with `-`"
    if any(part.endswith(".lock") for part in name.split("/")):
        return "has a part ending in `.lock`"
    return None


def is_branch_name(name: str) -> bool:
    return ref_name_problem(name) is None


CONFIG_FILE = "mlopsc.yaml"


def find_root(start, config: str = CONFIG_FILE):
    """The repository root for a command started in `start`: the nearest directory, `start` or
    one of its parents, that holds the settings file (as git looks for .git and ruff for
    pyproject.toml). Without one anywhere above, `start` itself (a repository may omit
    mlopsc.yaml and take the documented defaults)."""
    from pathlib import Path

    start = Path(start).absolute()
    for candidate in (start, *start.parents):
        if (candidate / config).is_file():
            return candidate
    return start
