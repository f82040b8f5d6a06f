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
# The user and group serving pods run as unless mlopsc.yaml says otherwise: distroless' `nonroot`,
# above 10000 so it matches no user of the node (what checkov's CKV_K8S_40 asks for).
DEFAULT_RUN_AS = 65532
INT32_MAX = 2**31 - 1
DEFAULT_KFP_API = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
IN_CLUSTER = "https://kubernetes.default.svc"

ArtifactType = Literal["dataset", "model", "metrics"]
KServeFormat = Literal["sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "tensorflow", "triton",
                       "huggingface"]
# Quantities are checked by a rule; YAML gives ints and floats for `cpu: 2` or `cpu: 0.5`.
Quantity = Union[StrictInt, float, str]
ParamValue = Union[StrictBool, StrictInt, float, str, list, dict, None]


def _attribute_docstrings() -> dict[str, dict[str, str]]:
    """Each class's attribute docstrings ({class: {field: text}}), read from this module's source
    by the rule of pydantic's `use_attribute_docstrings`: a string statement right after an
    annotated name, cleaned by `inspect.cleandoc`. One parse of the module instead of pydantic's
    frame walk, tokenising and two parses per class (20-40 ms of every start-up);
    tests/test_startup.py checks that the result is pydantic's, field by field."""
    import ast
    from inspect import cleandoc

    source = __loader__.get_source(__name__) if globals().get("__loader__") else None
    docs: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body if source else ():
        if isinstance(node, ast.ClassDef):
            fields = docs[node.name] = {}
            for before, stmt in zip(node.body, node.body[1:]):
                if (isinstance(before, ast.AnnAssign) and isinstance(before.target, ast.Name)
                        and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                        and isinstance(stmt.value.value, str)):
                    fields[before.target.id] = cleandoc(stmt.value.value)
    return docs


_ATTRIBUTE_DOCS = _attribute_docstrings()


class _Spec(BaseModel):
    """Closed models: an unknown field is an error (S001), never silently ignored. Strict types:
    `"20"` is not a number and `"yes"` not a boolean (YAML already reads `20` and `true` right).
    Attribute docstrings become the JSON Schema descriptions editors show (`mlopsc schema`)."""

    # defer_build: a model's validator is built when first used, and a nested model's schema as
    # part of the model that holds it, so a load builds two validators (Repository, MLProject)
    # instead of one per class (40 of them) at import. It also leaves the fields open until then,
    # for the descriptions below.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True,
                              defer_build=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # What `use_attribute_docstrings=True` does, from _ATTRIBUTE_DOCS: a description given
        # by Field() wins; inherited fields keep their class's (fields are copied from the base).
        super().__pydantic_init_subclass__(**kwargs)
        docs = _ATTRIBUTE_DOCS.get(cls.__name__, {})
        for name, field in cls.__pydantic_fields__.items():
            if field.description is None and name in docs:
                field.description = docs[name]


# ---------------------------------------------------------------------------------- Repository
class SecretRef(_Spec):
    """A value read from a Kubernetes Secret at run time; never written into Git."""

    secret: str
    """Name of the Secret in the team's namespace."""
    key: str
    """Key within the Secret."""


class WriteBack(_Spec):
    """How the pipeline's release task proposes a blessed model back to Git (`mlopsc release propose`)."""

    credentials: SecretRef
    """The Secret (in each team's Kubeflow namespace) and key holding the Git token the release
    task pushes with, e.g. `{secret: mlopsc-git, key: token}`; it reaches git as `MLOPSC_GIT_TOKEN`."""
    branchPrefix: str = "mlopsc/release/"
    """Prefix of the pushed branches: `<branchPrefix><team>-<project>-<serving>-<run>`."""


class GitOps(_Spec):
    """Where Argo CD finds this repository."""

    repoURL: str = "https://git.example.com/ml/platform.git"
    """Git URL of this repository, as Argo CD clones it."""
    targetRevision: str = "main"
    """Branch (or tag) Argo CD syncs generated/ from."""
    argocdNamespace: str = "argocd"
    """Namespace Argo CD runs in; Applications and AppProjects are created there."""
    writeBack: WriteBack | None = None
    """Push each blessed model as a proposed release branch; unset: nothing pushes to Git."""


class Kubeflow(_Spec):
    """Kubeflow Pipelines settings."""

    pipelineRoot: str = "s3://mlopsc-pipelines"
    """Artifact root of pipeline runs, e.g. `s3://ml-artifacts/pipelines`."""
    namespace: str | None = None
    """Namespace of the Pipeline objects; default: the team's Kubeflow profile namespace, `<team>`."""
    releaseImage: str | None = None
    """The image built from this project's Dockerfile, pinned by digest
    (`registry.example.com/ml/mlopsc@sha256:<64 hex>`): it runs each pipeline's release task and
    the schedule reconciler. Required when any project has serving targets or a schedule; subject
    to `policy` like every image. docs/SCHEDULES.md says how to build and push it."""
    apiURL: str = DEFAULT_KFP_API
    """The Kubeflow Pipelines API, as the schedule reconciler reaches it from the team's Kubeflow
    namespace (default: the in-cluster `ml-pipeline` Service)."""


class StorageServiceAccount(_Spec):
    """What the serving ServiceAccount carries besides mlopsc's own labels and annotations."""

    annotations: dict[str, str] | None = Field(default=None, examples=[
        {"iam.gke.io/gcp-service-account": "{team}-{env}-serving@acme.iam.gserviceaccount.com"},
        {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/{team}-{env}-serving"}])
    """Annotations of every serving ServiceAccount, e.g. a workload identity (`iam.gke.io/gcp-service-account`, `eks.amazonaws.com/role-arn`, `azure.workload.identity/client-id`). Replaces the whole mapping of a lower level; `{}` clears it."""


class Storage(_Spec):
    """How serving pods and pipeline runs reach object storage: identities and Secrets the platform
    creates, never a credential. `{team}` and `{env}` are replaced in every string. A level that
    sets a field replaces that field of the levels below it (environment over team over repository)."""

    serviceAccount: StorageServiceAccount | None = None
    """Annotations of the serving ServiceAccounts (a workload identity)."""
    secrets: list[str] | None = Field(default=None, examples=[["model-store-{env}"]])
    """Secrets listed on every serving ServiceAccount (KServe reads S3/GCS credentials from them), created outside mlopsc. `[]` clears the list of a lower level."""
    pipelineServiceAccount: str | None = Field(default=None, examples=["{team}-pipelines"])
    """The Kubernetes ServiceAccount the team's pipeline runs (one-off and recurring) use; unset: the Kubeflow profile's default (`default-editor`). Per team: not at environment level."""


class Environment(_Spec):
    """A deployment environment; promotion goes down the list."""

    cluster: str = IN_CLUSTER
    """API server URL Argo CD deploys this environment to."""
    promotesFrom: str | None = None
    """The environment whose pinned models this one may release (e.g. production promotes from staging)."""
    storage: Storage | None = None
    """Storage identity of serving in this environment; overrides the team's and the repository's, field by field."""


class Team(_Spec):
    """A team that may own projects under specs/<team>/."""

    owners: list[str] = Field(default_factory=list)
    """Who to notify about the team's projects (emails)."""
    description: str | None = None
    """What the team does."""
    storage: Storage | None = None
    """Storage identity of this team's serving and pipeline runs; overrides the repository's, field by field."""


class Policy(_Spec):
    """Supply-chain policy for every image a spec names."""

    allowedRegistries: list[str] = Field(default_factory=list)
    """Registries images may come from, e.g. `registry.example.com`; empty: any."""
    requireDigests: bool = True
    """Images must be pinned as `<repo>@sha256:<64 hex>`."""


class KServeSettings(_Spec):
    """How KServe serves the models."""

    deploymentMode: Literal["Standard", "Knative"] = "Standard"
    """`Standard` (Deployment + HPA, the default) or `Knative` (serverless, scale to zero)."""
    ingressNamespace: str = "istio-system"
    """Namespace of the ingress gateway allowed to reach serving pods (NetworkPolicy)."""


class Security(_Spec):
    """The numeric user and group every serving pod runs as (its securityContext)."""

    runAsUser: StrictInt = Field(default=DEFAULT_RUN_AS, ge=1, le=INT32_MAX)
    """User id of the serving containers; not 0 (root). Default 65532, above 10000 so it is no user of the node."""
    runAsGroup: StrictInt = Field(default=DEFAULT_RUN_AS, ge=1, le=INT32_MAX)
    """Primary group id of the serving containers; not 0. Default 65532."""


class TargetSecurity(_Spec):
    """The user and group of one serving target's pods, where its image needs other ids."""

    runAsUser: StrictInt | None = Field(default=None, ge=1, le=INT32_MAX)
    """User id; unset: mlopsc.yaml's security.runAsUser."""
    runAsGroup: StrictInt | None = Field(default=None, ge=1, le=INT32_MAX)
    """Group id; unset: mlopsc.yaml's security.runAsGroup."""


class Accelerators(_Spec):
    """How GPU work is placed on nodes, the same for pipeline steps and serving pods."""

    nodeLabel: str = "cloud.google.com/gke-accelerator"
    """Node label whose value a `gpuType` selects (GKE's accelerator label by default, whose values
    are names like `nvidia-l4`; `nvidia.com/gpu.product` with NVIDIA's GPU feature discovery)."""


class Monitoring(_Spec):
    """How served models are watched (docs/MONITORING.md): Prometheus, its operator, Grafana."""

    selectorLabels: dict[str, str] = Field(default_factory=dict, examples=[{"release": "prometheus"}])
    """Labels on every PrometheusRule, ServiceMonitor and PodMonitor, so the platform's Prometheus
    selects them (kube-prometheus-stack selects `release: <helm release>`)."""
    dashboardLabels: dict[str, str] = Field(default_factory=lambda: {"grafana_dashboard": "1"})
    """Labels on dashboard ConfigMaps (Grafana's dashboard sidecar loads `grafana_dashboard: "1"`)."""
    window: str = Field(default="30d", examples=["30d", "28d"])
    """SLO window: the period each error budget is spent over, e.g. `30d` or `28d`."""
    pushgateway: str | None = Field(default=None, examples=["http://prometheus-pushgateway.monitoring.svc:9091"])
    """Pushgateway URL continuous evaluations report to; required when a serving target has `monitoring.evaluate`."""
    namespace: str = "monitoring"
    """Namespace Prometheus runs in: serving NetworkPolicies admit its scrapes of the metrics port."""


def _default_environments() -> dict[str, Environment]:
    return {"staging": Environment(), "production": Environment(promotesFrom="staging")}


class Repository(_Spec):
    """mlopsc.yaml: the platform settings of this repository."""

    apiVersion: Literal["mlopsc.dev/v1"] = API_VERSION
    """Always `mlopsc.dev/v1`."""
    kind: Literal["Repository"] = "Repository"
    """Always `Repository`."""
    gitops: GitOps = Field(default_factory=GitOps)
    """Where Argo CD finds this repository."""
    kubeflow: Kubeflow = Field(default_factory=Kubeflow)
    """Kubeflow Pipelines settings."""
    environments: dict[str, Environment] = Field(default_factory=_default_environments)
    """Environments in promotion order; default: staging, then production promoting from staging."""
    # None means "no mlopsc.yaml teams list": any team may own projects.
    teams: dict[str, Team] | None = None
    """The only teams that may own projects (specs/<team>/); unset: any team."""
    policy: Policy = Field(default_factory=Policy)
    """Image registry and pinning policy."""
    kserve: KServeSettings = Field(default_factory=KServeSettings)
    """KServe settings."""
    accelerators: Accelerators = Field(default_factory=Accelerators)
    """GPU placement shared by pipelines and serving."""
    storage: Storage | None = None
    """Storage identity of every team's serving and pipeline runs (teams and environments may override it)."""
    security: Security = Field(default_factory=Security)
    """The numeric user and group serving pods run as; a serving target may override them."""
    monitoring: Monitoring = Field(default_factory=Monitoring)
    """SLO alerts, dashboards and continuous evaluation settings."""


# ----------------------------------------------------------------------------------- MLProject
class Metadata(_Spec):
    """Who owns the project and what it is."""

    name: str = Field(examples=["fraud-detection"])
    """Project name: a DNS-1123 label, the same as the file name, e.g. `fraud-detection`."""
    team: str = Field(examples=["risk"])
    """Owning team: the folder the spec lives in (specs/<team>/) and a team of mlopsc.yaml."""
    owners: list[str] = Field(default_factory=list)
    """Who answers for the project (emails); notified about changes that affect it."""
    description: str | None = None
    """One sentence on what the model does."""


class Source(_Spec):
    """Data the project reads, at a pinned version."""

    uri: str = Field(examples=["s3://risk-lake/transactions/", "bq://growth.merchants_daily"])
    """Where the data is: s3://, gs://, abfss://, hdfs://, https://, pvc://, or bq:// and table:// for tables."""
    version: str | StrictInt | float = Field(examples=[
        "2026-11-01", "sha256:c9cbc74a5d80acf9bf160e202da5e3f32d1cd9a83a091316a2553c89ba2eb38c",
        "git:64c6b3587f843e585763a3397de11dd335e81a5e"])
    """The exact snapshot read: a snapshot id (e.g. `2026-11-01`), `sha256:<64 hex>` or `git:<40 hex>`; never `latest`. `live` (what is there at run time) only for a source read by nothing but `monitoring.evaluate.inputs`."""
    format: str | None = None
    """Data format, e.g. `parquet`."""
    pii: bool = False
    """The data holds personal information."""
    description: str | None = None
    """What the data is."""


class Code(_Spec):
    """The code an image runs, named by its exact commit."""

    repo: str
    """Git URL of the code."""
    commit: str
    """Full 40-hex commit id the image was built from."""
    path: str = "."
    """Directory of the code within the repository."""


class Resources(_Spec):
    """Compute for one container (Kubernetes quantities)."""

    cpu: Quantity | None = Field(default=None, examples=["4", "500m"])
    """CPU cores, e.g. `4` or `500m`."""
    memory: Quantity | None = Field(default=None, examples=["16Gi", "512Mi"])
    """Memory, e.g. `16Gi`."""
    gpu: StrictInt | None = Field(default=None, ge=0)
    """Number of GPUs."""
    gpuType: str | None = None
    """GPU model (accelerator type), e.g. `nvidia-l4`; needs `gpu`."""


EnvValue = Union[SecretRef, str, StrictInt, float, bool]


class _Container(_Spec):
    image: str
    """Container image, pinned by digest: `registry.example.com/team/train@sha256:<64 hex>`."""
    code: Code
    """The code the image runs: lineage names the exact commit."""
    command: list[str] = Field(default_factory=list)
    """Entrypoint, e.g. `[python, -m, fraud.train]`."""
    args: list[str] | None = None
    """Arguments; `${inputs.<n>}`, `${outputs.<n>}` and `${params.<n>}` stand for paths and values. Unset: every input, output and param is passed as `--<name> <value>`."""
    resources: Resources | None = None
    """CPU, memory and GPUs for the task."""
    retries: StrictInt = Field(default=0, ge=0, le=10)
    """How often a failed task is retried (0-10)."""
    cache: bool = True
    """Reuse the outputs of an identical earlier run."""
    timeout: str | None = Field(default=None, examples=["30m", "4h", "1h30m"])
    """Maximum run time, e.g. `90s`, `30m`, `4h` or `1h30m`."""
    env: dict[str, EnvValue] = Field(default_factory=dict)
    """Environment variables: a literal, or `{secret: <name>, key: <key>}` for anything secret."""


class Step(_Container):
    """Training code: a task of the project's pipeline."""

    inputs: dict[str, str] = Field(default_factory=dict)
    """Inputs by name: `sources.<s>`, `steps.<st>.outputs.<o>` or `<team>/<project>:<ref>`."""
    outputs: dict[str, ArtifactType] = Field(default_factory=dict)
    """Artifacts the step writes, by name: `dataset`, `model` or `metrics`."""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    """Parameters by name: a scalar, list or mapping."""


class Evaluation(_Container):
    """Evaluation code and the gates a model must pass to be released."""

    model: str
    """The model evaluated, e.g. `steps.train.outputs.model`."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """Other inputs by name (test data, labels), as references."""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    """Parameters by name: a scalar, list or mapping."""
    metrics: list[str] = Field(min_length=1)
    """Metrics the evaluation reports, e.g. `[auc, p95_latency_ms]`."""
    gates: list[str] = Field(default_factory=list, examples=[["auc >= 0.92", "p95_latency_ms <= 40"]])
    """Conditions for release: `<metric> <op> <number>`, op one of >= > <= < == !=, e.g. `auc >= 0.92`."""


class Release(_Spec):
    """A blessed model, pinned by digest, with the evidence that it passed its gates."""

    uri: str
    """Where the model is stored, e.g. `s3://models/fraud/run-0142/`."""
    digest: str
    """Content digest of the model: `sha256:<64 hex>`."""
    evidence: str
    """Evidence file the release task wrote, relative to the repository root."""


class Canary(_Spec):
    """A second release that takes a share of the traffic."""

    release: Release
    """The canary model."""
    percent: StrictInt | float
    """Share of requests sent to the canary, 0-100."""


class Replicas(_Spec):
    """Autoscaling bounds."""

    min: StrictInt = Field(default=1, ge=0)
    """Fewest replicas."""
    max: StrictInt = Field(default=1, ge=1)
    """Most replicas."""


class Autoscaling(_Spec):
    """What the autoscaler watches."""

    metric: Literal["cpu", "memory", "concurrency", "rps"] = "cpu"
    """`cpu` or `memory` (utilization), `concurrency` or `rps` (Knative only)."""
    target: StrictInt = 80
    """Target per replica: a utilization percentage for cpu and memory."""


class ServingEnvironment(_Spec):
    """How a serving target runs in one environment."""

    release: Release | None = None
    """The model served; unset: nothing is deployed yet."""
    canary: Canary | None = None
    """A canary release beside the main one."""
    replicas: Replicas = Field(default_factory=Replicas)
    """Fewest and most replicas."""
    autoscaling: Autoscaling | None = None
    """Autoscaling metric and target; default: cpu at 80%."""
    resources: Resources | None = None
    """CPU and memory per replica."""


class KServeRuntime(_Spec):
    """Serve with a KServe model server."""

    format: KServeFormat
    """Model format; KServe picks the serving runtime for it."""
    version: str | None = None
    """Model format version, e.g. `2` for xgboost 2."""
    runtime: str | None = None
    """A ServingRuntime name, when several serve the format."""
    protocolVersion: Literal["v1", "v2", "grpc-v2"] | None = None
    """Inference protocol."""


class ContainerMetrics(_Spec):
    """The Prometheus metrics a container server exports, to measure its SLIs."""

    requests: str | None = Field(default=None, examples=["http_requests_total"])
    """Counter of every request served (for availability)."""
    errors: str | None = Field(default=None, examples=['http_requests_total{code=~"5.."}', "http_errors_total"])
    """Counter of failed requests: a metric name, or a selector over the requests counter."""
    latency: str | None = Field(default=None, examples=["http_request_duration_seconds"])
    """Histogram of request durations (its base name; seconds, or milliseconds if it ends in `_milliseconds`)."""
    port: StrictInt | str | None = Field(default=None, examples=[9090, "http"])
    """Port serving the metrics: a number, or `http` for the server's port (the default)."""
    path: str = "/metrics"
    """HTTP path of the metrics."""


class ContainerRuntime(_Spec):
    """Serve with your own HTTP server image (Deployment, Service and HPA)."""

    image: str
    """Server image, pinned by digest."""
    port: StrictInt = Field(default=8080, ge=1, le=65535)
    """Port the server listens on."""
    command: list[str] = Field(default_factory=list)
    """Entrypoint."""
    args: list[str] = Field(default_factory=list)
    """Arguments."""
    env: dict[str, EnvValue] = Field(default_factory=dict)
    """Environment variables: a literal, or `{secret: <name>, key: <key>}`."""
    metrics: ContainerMetrics | None = None
    """The server's Prometheus metrics; needed for any SLO of this target."""


class Runtime(_Spec):
    """Exactly one of `kserve` or `container`."""

    kserve: KServeRuntime | None = None
    """A KServe model server for a standard format."""
    container: ContainerRuntime | None = None
    """Your own server image."""


class LatencySLO(_Spec):
    """A share of requests that must be answered within a threshold."""

    threshold: str = Field(examples=["250ms", "1s"])
    """The duration a request must finish within, e.g. `250ms` or `1s`."""
    objective: StrictInt | float = Field(examples=[99, 99.5])
    """Percent of requests within the threshold, between 0 and 100 (exclusive)."""


class SLO(_Spec):
    """Service level objectives over `monitoring.window` of mlopsc.yaml."""

    availability: StrictInt | float | None = Field(default=None, examples=[99.9])
    """Percent of requests answered without a server error, between 0 and 100 (exclusive)."""
    latency: LatencySLO | None = None
    """Percent of requests answered within a threshold."""


class Evaluate(_Spec):
    """Continuous evaluation: an evaluation's code run on the model in service, on a schedule."""

    evaluation: str
    """An evaluation of this project: its image, code, metrics and gates."""
    schedule: str = Field(examples=["0 6 * * *"])
    """When to evaluate: a 5-field cron expression (UTC)."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """Replaces the evaluation's inputs by name, e.g. `{test: sources.recent-traffic}`."""


class ServingMonitoring(_Spec):
    """What is watched about a serving target once it is released."""

    environments: list[str] | None = None
    """Environments to watch; default: every environment where the target has a release."""
    slo: SLO = Field(default_factory=SLO)
    """Availability and latency objectives, each with page and ticket alerts."""
    evaluate: Evaluate | None = None
    """Continuous evaluation of the model in service."""


class ServingTarget(_Spec):
    """An online endpoint serving one model."""

    model: str
    """The model served, e.g. `steps.train.outputs.model`."""
    gates: list[str] = Field(default_factory=list)
    """Evaluations whose gates every release must pass; required for environments with promotesFrom."""
    runtime: Runtime
    """How the model is served."""
    environments: dict[str, ServingEnvironment] = Field(default_factory=dict)
    """Per environment of mlopsc.yaml: the release, replicas and resources."""
    security: TargetSecurity | None = None
    """The user and group this target's pods run as; unset: mlopsc.yaml's `security`."""
    monitoring: ServingMonitoring | None = None
    """SLOs, alerts, dashboards and continuous evaluation (docs/MONITORING.md)."""


class ProjectSpec(_Spec):
    """What the project reads, trains, evaluates and serves."""

    sources: dict[str, Source] = Field(default_factory=dict)
    """Data the project reads, by name."""
    steps: dict[str, Step] = Field(default_factory=dict)
    """Training steps, by name: a DAG through their inputs."""
    evaluations: dict[str, Evaluation] = Field(default_factory=dict)
    """Evaluations with their gates, by name."""
    serving: dict[str, ServingTarget] = Field(default_factory=dict)
    """Serving targets, by name."""
    schedule: str | None = Field(default=None, examples=["0 3 * * 1", "30 2 * * *"])
    """Retraining schedule: a 5-field cron expression, e.g. `0 3 * * 1`."""


class MLProject(_Spec):
    """specs/<team>/<project>.yaml: one ML project."""

    apiVersion: Literal["mlopsc.dev/v1"]
    """Always `mlopsc.dev/v1`."""
    kind: Literal["MLProject"]
    """Always `MLProject`."""
    metadata: Metadata
    """Name, team and owners."""
    spec: ProjectSpec
    """Sources, steps, evaluations, serving targets and schedule."""

    @property
    def key(self) -> str:
        """`<team>/<project>`: how the rest of the repository names this project."""
        return f"{self.metadata.team}/{self.metadata.name}"


def as_plain(value: Any) -> Any:
    """Model → plain data (for hashing and annotations), omitting defaults the user did not set."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value
