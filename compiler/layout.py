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
      deploy/                            the only directory Argo CD reads: Kubernetes objects only
        argocd/                          AppProjects and Applications (synced into the Argo CD namespace)
        platform/<env>/                  team namespaces of that environment (a platform Application)
        pipelines/<team>/<project>/      KFP Pipeline + PipelineVersion objects
        serving/<env>/<team>/<project>/  InferenceService or Deployment/Service/HPA, SA, NetworkPolicy

Inside a synced directory there is one object per file, named `<kind>-<name>.yaml` in lower case.
"""

from __future__ import annotations

DEPLOY = "deploy"
ARGOCD_DIR = f"{DEPLOY}/argocd"
LINEAGE_DIR = "lineage"
PROMOTION_HISTORY = "promotion/history.json"


def namespace(team: str, env: str) -> str:
    """The namespace a team's serving objects live in, per environment."""
    return f"{team}-{env}"


def kfp_ir_path(team: str, project: str) -> str:
    return f"kfp/{team}/{project}/pipeline.yaml"


def pipelines_dir(team: str, project: str) -> str:
    return f"{DEPLOY}/pipelines/{team}/{project}"


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
