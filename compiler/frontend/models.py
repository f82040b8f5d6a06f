"""Typed models of the spec language (../shared/spec/LANGUAGE.md), one class per construct.

The models check shape (fields, types, closed sets); meaning (names, pins, quantities, references,
gates) is checked by the rules in `compiler.middle`, which have the positions and the whole
repository at hand. That split is why some fields are plain `str` here: a rule gives a far better
message about a bad image reference than a regex failure would.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

API_VERSION = "mlopsc.dev/v1"
DEFAULT_RELEASE_IMAGE = "ghcr.io/mlopsc/mlopsc:0.1.0"
IN_CLUSTER = "https://kubernetes.default.svc"

ArtifactType = Literal["dataset", "model", "metrics"]
KServeFormat = Literal["sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "tensorflow", "triton",
                       "huggingface"]
# Quantities are checked by a rule; YAML gives ints and floats for `cpu: 2` or `cpu: 0.5`.
Quantity = Union[StrictInt, float, str]
ParamValue = Union[StrictBool, StrictInt, float, str, list, dict, None]


class _Spec(BaseModel):
    """Closed models: an unknown field is an error (S001), never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------------------------- Repository
class GitOps(_Spec):
    repoURL: str = "https://git.example.com/ml/platform.git"
    targetRevision: str = "main"
    argocdNamespace: str = "argocd"


class Kubeflow(_Spec):
    pipelineRoot: str = "s3://mlopsc-pipelines"
    namespace: str | None = None  # default: the team's Kubeflow profile namespace, `<team>`
    releaseImage: str = DEFAULT_RELEASE_IMAGE


class Environment(_Spec):
    cluster: str = IN_CLUSTER
    promotesFrom: str | None = None


class Team(_Spec):
    owners: list[str] = Field(default_factory=list)
    description: str | None = None


class Policy(_Spec):
    allowedRegistries: list[str] = Field(default_factory=list)  # empty: any registry
    requireDigests: bool = True


class KServeSettings(_Spec):
    deploymentMode: Literal["Standard", "Knative"] = "Standard"
    # Namespace of the ingress gateway allowed to reach serving pods (NetworkPolicy).
    ingressNamespace: str = "istio-system"


def _default_environments() -> dict[str, Environment]:
    return {"staging": Environment(), "production": Environment(promotesFrom="staging")}


class Repository(_Spec):
    apiVersion: Literal["mlopsc.dev/v1"] = API_VERSION
    kind: Literal["Repository"] = "Repository"
    gitops: GitOps = Field(default_factory=GitOps)
    kubeflow: Kubeflow = Field(default_factory=Kubeflow)
    environments: dict[str, Environment] = Field(default_factory=_default_environments)
    # None means "no mlopsc.yaml teams list": any team may own projects.
    teams: dict[str, Team] | None = None
    policy: Policy = Field(default_factory=Policy)
    kserve: KServeSettings = Field(default_factory=KServeSettings)


# ----------------------------------------------------------------------------------- MLProject
class Metadata(_Spec):
    name: str
    team: str
    owners: list[str] = Field(default_factory=list)
    description: str | None = None


class Source(_Spec):
    uri: str
    version: str | StrictInt | float
    format: str | None = None
    pii: bool = False
    description: str | None = None


class Code(_Spec):
    repo: str
    commit: str
    path: str = "."


class SecretRef(_Spec):
    secret: str
    key: str


class Resources(_Spec):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: StrictInt | None = Field(default=None, ge=0)
    gpuType: str | None = None


EnvValue = Union[SecretRef, str, StrictInt, float, bool]


class _Container(_Spec):
    image: str
    code: Code
    command: list[str] = Field(default_factory=list)
    args: list[str] | None = None
    resources: Resources | None = None
    retries: StrictInt = Field(default=0, ge=0, le=10)
    cache: bool = True
    timeout: str | None = None
    env: dict[str, EnvValue] = Field(default_factory=dict)


class Step(_Container):
    inputs: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, ArtifactType] = Field(default_factory=dict)
    params: dict[str, ParamValue] = Field(default_factory=dict)


class Evaluation(_Container):
    model: str
    inputs: dict[str, str] = Field(default_factory=dict)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    metrics: list[str] = Field(min_length=1)
    gates: list[str] = Field(default_factory=list)


class Release(_Spec):
    uri: str
    digest: str
    evidence: str


class Canary(_Spec):
    release: Release
    percent: StrictInt | float


class Replicas(_Spec):
    min: StrictInt = Field(default=1, ge=0)
    max: StrictInt = Field(default=1, ge=1)


class Autoscaling(_Spec):
    metric: Literal["cpu", "memory", "concurrency", "rps"] = "cpu"
    target: StrictInt = 80


class ServingEnvironment(_Spec):
    release: Release | None = None
    canary: Canary | None = None
    replicas: Replicas = Field(default_factory=Replicas)
    autoscaling: Autoscaling | None = None
    resources: Resources | None = None


class KServeRuntime(_Spec):
    format: KServeFormat
    version: str | None = None
    runtime: str | None = None  # a ServingRuntime name, when the format has several
    protocolVersion: Literal["v1", "v2", "grpc-v2"] | None = None


class ContainerRuntime(_Spec):
    image: str
    port: StrictInt = Field(default=8080, ge=1, le=65535)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: dict[str, EnvValue] = Field(default_factory=dict)


class Runtime(_Spec):
    kserve: KServeRuntime | None = None
    container: ContainerRuntime | None = None


class ServingTarget(_Spec):
    model: str
    gates: list[str] = Field(default_factory=list)
    runtime: Runtime
    environments: dict[str, ServingEnvironment] = Field(default_factory=dict)


class ProjectSpec(_Spec):
    sources: dict[str, Source] = Field(default_factory=dict)
    steps: dict[str, Step] = Field(default_factory=dict)
    evaluations: dict[str, Evaluation] = Field(default_factory=dict)
    serving: dict[str, ServingTarget] = Field(default_factory=dict)
    schedule: str | None = None


class MLProject(_Spec):
    apiVersion: Literal["mlopsc.dev/v1"]
    kind: Literal["MLProject"]
    metadata: Metadata
    spec: ProjectSpec

    @property
    def key(self) -> str:
        """`<team>/<project>`: how the rest of the repository names this project."""
        return f"{self.metadata.team}/{self.metadata.name}"


def as_plain(value: Any) -> Any:
    """Model → plain data (for hashing and annotations), omitting defaults the user did not set."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value
