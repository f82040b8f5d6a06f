"""The catalogue of every diagnostic code: its stable code, a short name and a doc line.

Codes never change meaning once released; retired codes are never reused. `mlopsc explain CODE`
prints the entry. Prefixes group them by stage and topic:

  Y  reading files (YAML, encoding)          S  shape of the spec (schema)
  N  names, teams and project layout         R  references and the lineage graph
  P  pinning and registry policy             G  evaluation gates
  K  Kubernetes and serving settings         E  evidence and promotion
  W  warnings about lineage hygiene          O  the output stage (what stands in generated/'s way)
  M  monitoring: SLOs, alerts, continuous evaluation
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Diagnostic, Position, Severity


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    summary: str
    severity: Severity = Severity.ERROR

    def at(self, position: Position, message: str, notes: tuple[str, ...] = ()) -> Diagnostic:
        return Diagnostic(position, self.severity, self.code, message, notes)


CATALOGUE: dict[str, Code] = {}


def _code(code: str, name: str, summary: str, severity: Severity = Severity.ERROR) -> Code:
    assert code not in CATALOGUE, code
    entry = Code(code, name, summary, severity)
    CATALOGUE[code] = entry
    return entry


W = Severity.WARNING

# Reading files
YAML_SYNTAX = _code("Y001", "yaml-syntax", "The file is not valid YAML.")
NOT_UTF8 = _code("Y002", "not-utf8", "Spec files must be UTF-8 encoded.")
MULTIPLE_DOCUMENTS = _code("Y003", "multiple-documents", "A spec file holds exactly one YAML document.")
DUPLICATE_KEY = _code("Y004", "duplicate-key", "A mapping repeats a key; YAML would silently keep only the last one.")
UNSAFE_YAML = _code("Y005", "unsafe-yaml", "Tags, anchors to non-data and other non-plain YAML are not allowed; only safe YAML is read (nesting and alias expansion are bounded too).")
UNSAFE_FILE = _code("Y006", "unsafe-file", "A file mlopsc would read is a symlink, a FIFO, a device or a directory, or its path leaves the repository: mlopsc reads only regular files inside the repository, never through a symlink, so a pull request cannot make it read (or print) anything else. Replace the entry by the file itself.")
FILE_TOO_LARGE = _code("Y007", "file-too-large", "A spec file or mlopsc.yaml is larger than 4 MiB, far beyond any hand-written spec: it is not read at all.")
NO_SPECS_DIRECTORY = _code("Y008", "no-specs-directory", "The specs directory (specs/, or --specs) does not exist or is not a directory (a symlink is not followed): project specs live at specs/<team>/<project>.yaml.")
BAD_TAGGED_VALUE = _code("Y009", "bad-tagged-value", "A value with an explicit YAML tag (`!!bool`, `!!int`, `!!float`, ...) is not a value of that type, e.g. `!!bool maybe`.")

# Shape of the spec
UNKNOWN_FIELD = _code("S001", "unknown-field", "A field the spec language does not define (often a typo: see the hint).")
MISSING_FIELD = _code("S002", "missing-field", "A required field is missing.")
WRONG_TYPE = _code("S003", "wrong-type", "A value has the wrong type or is not one of the allowed values.")
WRONG_KIND = _code("S004", "wrong-kind", "apiVersion/kind are not `mlopsc.dev/v1` MLProject (or Repository for mlopsc.yaml).")
INVALID_CRON = _code("S005", "invalid-cron", "`schedule` must be a 5-field cron expression.")
INVALID_URI = _code("S006", "invalid-uri", "A URI uses a scheme the field does not support.")
STORAGE_LEVEL = _code("S020", "storage-level", "`pipelineServiceAccount` is set on an environment: pipeline runs belong to a team's Kubeflow namespace, not to an environment; set it on the repository or on `teams.<team>.storage`.")
NOT_FINITE = _code("S007", "not-finite", "A number in a spec (a param, an env value, a source version, a canary percentage) is `.inf` or `.nan`: no JSON, Kubernetes object or KFP pipeline can hold it.")
SCHEDULE_WITHOUT_PIPELINE = _code("S010", "schedule-without-pipeline", "`schedule` runs the project's pipeline, but a project without steps or evaluations has none.")
CRON_KFP_REFUSES = _code("S011", "cron-kfp-refuses", "Kubeflow Pipelines parses cron with robfig/cron v1, whose day of week is 0-6 (Sunday is 0 or SUN): a 7 there is refused when the recurring run is created.")
# gitops.writeBack (mlopsc.yaml)
WRITEBACK_SECRET_NAME = _code("S030", "writeback-secret-name", "gitops.writeBack.credentials.secret is not a Kubernetes Secret name (a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters).")
WRITEBACK_SECRET_KEY = _code("S031", "writeback-secret-key", "gitops.writeBack.credentials.key is not a valid Secret data key (letters, digits, '-', '_' and '.', at most 253 characters).")
WRITEBACK_BRANCH_PREFIX = _code("S032", "writeback-branch-prefix", "gitops.writeBack.branchPrefix cannot start a Git branch name (see `git check-ref-format`), or its branches could be gitops.targetRevision itself: use a prefix such as `mlopsc/release/`.")

# Names, teams, layout
NOT_DNS1123 = _code("N001", "not-dns1123", "Names must be DNS-1123 labels: lowercase letters, digits and '-', at most 63 characters, starting and ending alphanumeric.")
DUPLICATE_NAME = _code("N002", "duplicate-name", "Two things share a name where names must be unique (a project within a team, a step and an evaluation, the inputs, outputs, params and metrics of one task, the serving objects in a team's namespace).")
TEAM_FOLDER_MISMATCH = _code("N003", "team-folder-mismatch", "A spec under specs/<team>/ must declare metadata.team: <team>, so code owners of the folder own the project.")
UNKNOWN_TEAM = _code("N004", "unknown-team", "metadata.team is not one of the teams in mlopsc.yaml.")
UNKNOWN_ENVIRONMENT = _code("N005", "unknown-environment", "A serving environment (or promotesFrom) names an environment mlopsc.yaml does not define.")
MISPLACED_SPEC = _code("N006", "misplaced-spec", "Project specs live at specs/<team>/<project>.yaml, where <project> is metadata.name.")
INVALID_IO_NAME = _code("N007", "invalid-io-name", "Input, output, param and metric names become command-line flags, KFP parameter names and gate terms: a letter or `_`, then letters, digits, `_` and `-`, at most 63 characters.")

# References and graph
UNRESOLVED_REFERENCE = _code("R001", "unresolved-reference", "A reference names a source, step, output, evaluation or project that does not exist.")
TYPE_MISMATCH = _code("R002", "type-mismatch", "A reference points at an artifact of the wrong type (a dataset where a model is expected).")
CYCLE = _code("R003", "cycle", "Steps depend on each other in a cycle, within a project or across projects.")
MALFORMED_REFERENCE = _code("R004", "malformed-reference", "A reference is not of the form `sources.<s>`, `steps.<st>.outputs.<o>` or `<team>/<project>:<ref>`.")
UNKNOWN_PLACEHOLDER = _code("R005", "unknown-placeholder", "An `${inputs|outputs|params.<name>}` placeholder in args names something the step does not declare.")

# Pinning and policy
UNPINNED_SOURCE = _code("P001", "unpinned-source", "A source version must be a snapshot id, `sha256:<64 hex>` or `git:<40 hex>`; moving labels like `latest` cannot be traced.")
IMAGE_NOT_PINNED = _code("P002", "image-not-pinned", "With policy.requireDigests, images must be pinned as `repo@sha256:<64 hex>`.")
REGISTRY_NOT_ALLOWED = _code("P003", "registry-not-allowed", "The image comes from a registry not listed in policy.allowedRegistries.")
COMMIT_NOT_PINNED = _code("P004", "commit-not-pinned", "code.commit must be a full 40-hex commit id so lineage names the exact code.")
DIGEST_MALFORMED = _code("P005", "digest-malformed", "A model digest must be `sha256:<64 hex>`.")
RELEASE_IMAGE_REQUIRED = _code("P010", "release-image-required", "A repository with serving targets or schedules must set kubeflow.releaseImage in mlopsc.yaml: the image of this project's Dockerfile (it runs the release task and the schedule reconciler), built, pushed and pinned by digest (docs/SCHEDULES.md).")

# Gates
MALFORMED_GATE = _code("G001", "malformed-gate", "A gate is `<metric> <op> <number>` with op one of >= > <= < == !=.")
GATE_UNKNOWN_METRIC = _code("G002", "gate-unknown-metric", "A gate tests a metric its evaluation does not declare.")
UNKNOWN_EVALUATION = _code("G003", "unknown-evaluation", "A serving target's gates name an evaluation the project does not define.")
GATE_OTHER_MODEL = _code("G004", "gate-other-model", "A serving target is gated by an evaluation of a different model.")
METRIC_CLASH = _code("G005", "metric-clash", "Two evaluations gating one serving target declare the same metric; its evidence holds one value per metric name.")

# Kubernetes and serving
CREDENTIAL_LITERAL = _code("K001", "credential-literal", "An env variable named like a credential (*TOKEN*, *PASSWORD*, *SECRET*, *KEY*) has a literal value, or a value looks like a token or private key; reference a Secret with {secret, key}.")
INVALID_QUANTITY = _code("K002", "invalid-quantity", "A resource value is not a valid Kubernetes quantity.")
REPLICAS_MIN_GT_MAX = _code("K003", "replicas-min-gt-max", "replicas.min is greater than replicas.max (KServe's webhook rejects it).")
CANARY_PERCENT = _code("K004", "canary-percent", "canary.percent must be a whole number between 0 and 100 (KServe takes an integer percentage).")
UNGATED_PROMOTION = _code("K005", "ungated-release", "A serving target without gates may not be released to an environment with promotesFrom.")
STORAGE_SCHEME = _code("K006", "storage-scheme", "A release uri uses a storage scheme KServe's storage initializer does not support.")
# K007 (canary-mode) is retired, never reused: the emitter writes `spec.canary` in Standard mode and
# `canaryTrafficPercent` in Knative mode, so no spec can produce a canary KServe's webhook rejects.
SCALE_TARGET = _code("K008", "scale-target", "An autoscaling cpu or memory target is a utilization between 1 and 100 percent; a concurrency or rps target is at least 1.")
RUNTIME_CHOICE = _code("K009", "runtime-choice", "runtime must set exactly one of `kserve` or `container`.")
CANARY_WITHOUT_RELEASE = _code("K010", "canary-without-release", "A canary needs a primary release in the same environment.")
TENANCY = _code("K011", "tenancy", "A project may only produce objects in its own team's namespaces: a team's namespaces and Argo CD object names may never coincide with another team's or the platform's.")
INVALID_DURATION = _code("K012", "invalid-duration", "A timeout is a duration such as `90s`, `30m`, `4h` or `1h30m`.")
GPU_TYPE_WITHOUT_GPU = _code("K013", "gpu-type-without-gpu", "resources.gpuType is set but resources.gpu is not.")
SCALE_METRIC = _code("K014", "scale-metric", "The autoscaling metric is not available here: Standard mode and container runtimes scale with a HorizontalPodAutoscaler (cpu, memory); concurrency and rps need a kserve runtime in Knative mode.")
SCALE_TO_ZERO = _code("K015", "scale-to-zero", "replicas.min 0 (scale to zero) needs a kserve runtime in Knative mode; a HorizontalPodAutoscaler keeps at least one replica.")
SERVING_NAME = _code("K016", "serving-name", "A serving target name names Kubernetes objects: it must start with a letter (DNS-1035, as Services and KServe require), and a kserve target leaves room for `<name>-predictor` (at most 53 characters).")
NOT_LABEL_VALUE = _code("K017", "not-label-value", "A value that becomes a Kubernetes label value (gpuType, as a nodeSelector value) must be at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit.")
INT32_RANGE = _code("K018", "int32-range", "An integer that becomes a field of a Kubernetes object (replicas, scale targets, GPU counts, timeouts in seconds) is larger than the API server accepts there: 2147483647 (int32) for counts and targets.")
INVALID_IMAGE = _code("K019", "invalid-image", "An image is not a valid image reference: `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, with lowercase path components of letters, digits and single separators `.`, `_`, `__` or dashes.")
INVALID_URL = _code("K020", "invalid-url", "A URL field is not a URL its consumer accepts: environments.<e>.cluster is `https://<host>[:port][/path]`, gitops.repoURL is `https://`, `ssh://` or `git@<host>:<path>`, kubeflow.pipelineRoot and release uris are `<scheme>://<bucket or host>/…`, without spaces or control characters.")
NOT_LABEL_KEY = _code("K021", "not-label-key", "accelerators.nodeLabel becomes a nodeSelector key: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63 letters, digits, '-', '_' and '.', starting and ending alphanumeric.")
NOT_OBJECT_NAME = _code("K022", "not-object-name", "A value that names a Kubernetes object (a Secret, a KServe ServingRuntime) must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters.")
INVALID_KEY = _code("K023", "invalid-key", "An environment variable name must be letters, digits, '_', '-' and '.', not starting with a digit; a Secret key letters, digits, '-', '_' and '.', at most 253 characters.")
INVALID_REVISION = _code("K024", "invalid-revision", "gitops.targetRevision is not a Git branch, tag or commit Argo CD can check out: no white space or control characters, no `..`, `@{`, `~ ^ : ? * [ \\`, not starting or ending with `/` or `.`, not ending with `.lock`.")

# Storage identities (mlopsc.yaml `storage`; docs/STORAGE.md)
STORAGE_PLACEHOLDER = _code("K050", "storage-placeholder", "A string in `storage` uses a placeholder other than `{team}` and `{env}` (and `pipelineServiceAccount`, which is per team, only `{team}`).")
ANNOTATION_KEY = _code("K051", "annotation-key", "A storage annotation key is not a Kubernetes qualified name (an optional DNS-1123 subdomain prefix of at most 253 characters and `/`, then a name of at most 63: letters, digits, `-`, `_`, `.`, alphanumeric at both ends), or uses mlopsc's own `mlopsc.dev/` prefix.")
ANNOTATION_VALUE = _code("K052", "annotation-value", "A storage annotation value is not what its key's system accepts (a GCP service account email for iam.gke.io/gcp-service-account, an IAM role ARN for eks.amazonaws.com/role-arn, a UUID for azure.workload.identity/client-id and tenant-id, a host without scheme for serving.kserve.io/s3-endpoint, 0 or 1 for s3-usehttps and s3-verifyssl).")
SECRET_NAME = _code("K053", "secret-name", "A Secret in `storage.secrets` is not a DNS-1123 subdomain once `{team}` and `{env}` are replaced: lowercase letters, digits, '-' and '.', at most 253 characters.")
STORAGE_CREDENTIAL = _code("K054", "storage-credential", "A value in `storage` looks like a credential (a token, an access key, a private key, a URL with a password), or an annotation is named like one: mlopsc only references identities and Secrets the platform creates.")
PIPELINE_SERVICE_ACCOUNT = _code("K055", "pipeline-service-account", "`pipelineServiceAccount` is not a valid ServiceAccount name (a DNS-1123 subdomain) once `{team}` is replaced.")

# Evidence and promotion
EVIDENCE_MISSING = _code("E001", "evidence-missing", "A release's evidence file does not exist or is not readable JSON of the evidence shape.")
EVIDENCE_OTHER_TARGET = _code("E002", "evidence-other-target", "The evidence file names another project or serving target.")
EVIDENCE_MODEL_MISMATCH = _code("E003", "evidence-model-mismatch", "The evidence's model uri or digest differs from the release's.")
EVIDENCE_METRIC_MISSING = _code("E004", "evidence-metric-missing", "A gated metric is absent from the evidence.")
GATE_FAILED = _code("E005", "gate-failed", "The evidence does not pass a gate: the model may not be released.")
NOT_PROMOTED = _code("E006", "not-promoted", "An environment with promotesFrom pins (as release or canary) a digest its source environment neither pins now nor pinned in an earlier compile (generated/promotion/history.json).")
EVIDENCE_METRIC_NOT_NUMBER = _code("E008", "evidence-metric-not-number", "An evidence metric is not a finite JSON number (it is a string, a boolean, Infinity, NaN or too large for a double): gates cannot compare it and the lineage annotations cannot hold it.")
HISTORY_TAMPERED = _code("E007", "history-tampered", "generated/promotion/history.json is not what mlopsc last wrote (its sha256 differs from the inventory's record, or its hash chain breaks): it was edited by hand. It only grows; until it is restored from Git it is not trusted, and only what environments pin now allows a promotion.")
# mlopsc release propose
RELEASE_UNKNOWN_PROJECT = _code("E020", "release-unknown-project", "The evidence given to `mlopsc release propose` names a project the repository does not define (at the target revision).")
RELEASE_UNKNOWN_SERVING = _code("E021", "release-unknown-serving", "The evidence given to `mlopsc release propose` names a serving target its project does not define.")
RELEASE_NO_ENVIRONMENT = _code("E022", "release-no-environment", "The serving target lists no environment of mlopsc.yaml, so `mlopsc release propose` has nowhere to pin the release: add the first environment (e.g. staging) under its `environments`.")
RELEASE_EVIDENCE_CONFLICT = _code("E023", "release-evidence-conflict", "The proposal's evidence path (evidence/<team>/<project>/<run>.json) already holds a different file at the target revision: two runs share a run id, or the file was edited.")

# The output stage: what mlopsc refuses to write to, read from or move (compiler/output/writer.py)
OUTPUT_LOCATION = _code("O001", "output-location", "The output directory (`--out`, default `generated`), a directory on its way inside the repository, or `.mlopsc` beside it is a symlink or not a directory: mlopsc never writes through a symlink. Replace it with a real directory.")
OUTPUT_IN_THE_WAY = _code("O002", "output-in-the-way", "A directory mlopsc did not write stands where it writes a file, or a file it did not write stands where it writes a directory. mlopsc never moves, renames or removes a file it does not own: move it away, then compile.")
INVENTORY_UNTRUSTED = _code("O003", "inventory-untrusted", "The inventory (generated/.mlopsc-inventory.json or one of its parts under generated/.mlopsc-inventory/) names a path that is not inside generated/ (absolute, `..`, control characters): the inventory is not trusted, and nothing is read or written by it. Restore it from Git or delete it.")
OUTPUT_NOT_REGULAR = _code("O004", "output-not-regular", "A symlink, FIFO, socket or device stands in generated/: mlopsc never writes one, never follows one and never carries one into the tree it writes. Remove it.")

# Monitoring
SLO_OBJECTIVE = _code("M001", "slo-objective", "An SLO objective is a percentage strictly between 0 and 100 (100 leaves no error budget to alert on).")
SLO_THRESHOLD = _code("M002", "slo-threshold", "A latency threshold is a duration such as `250ms`, `1s` or `1.5s`, greater than zero.")
EVALUATE_UNKNOWN = _code("M003", "evaluate-unknown-evaluation", "monitoring.evaluate.evaluation names an evaluation the project does not define.")
EVALUATE_INPUT = _code("M004", "evaluate-input", "monitoring.evaluate.inputs replaces inputs by name: each must be an input of the evaluation, each replacement a source of the project, and every input the training run produces (a step output) must be replaced, because the monitor runs no training.")
CONTAINER_METRICS = _code("M005", "container-metrics", "A container runtime with an SLO must name its metrics: `runtime.container.metrics` with `requests` and `errors` counters for availability, a `latency` histogram for latency.")
SLI_NOT_MEASURABLE = _code("M006", "sli-not-measurable", "The runtime does not export what the SLI needs (docs/MONITORING.md lists what each runtime can measure): an SLO that cannot be measured is an error, never a silent rule.")
LIVE_SOURCE = _code("M007", "live-source", "`version: live` (read what is there at run time) is for sources that only monitoring.evaluate.inputs reads; training and release evaluations need a pinned version.")
PUSHGATEWAY_MISSING = _code("M008", "pushgateway-missing", "A serving target declares monitoring.evaluate but mlopsc.yaml sets no monitoring.pushgateway to report to.")
MONITORING_ENVIRONMENT = _code("M009", "monitoring-environment", "monitoring.environments names an environment where the target has no release (nothing to watch there).")
EVALUATE_SCHEDULE = _code("M010", "evaluate-schedule", "monitoring.evaluate.schedule must be a 5-field cron expression.")
SLO_WINDOW = _code("M011", "slo-window", "monitoring.window is a whole number of days or hours (e.g. `30d`, `28d`), at least 3 days (the longest alert window).")
METRIC_SELECTOR = _code("M012", "metric-selector", "A container metric is a Prometheus metric name (`http_requests_total`), `errors` may add a selector (`http_requests_total{code=~\"5..\"}`); the port is a number or `http`.")
MONITORING_EMPTY = _code("M013", "monitoring-empty", "monitoring declares neither an SLO nor an evaluation: nothing would be watched.")
SLO_UNALERTABLE = _code("M015", "slo-unalertable", "An objective so low that the fastest burn-rate alert needs an error ratio above 100%: that alert could never fire.")
MONITORING_LABELS = _code("M014", "monitoring-labels", "monitoring.selectorLabels and dashboardLabels are Kubernetes labels: qualified names and values of at most 63 characters.")

# Warnings
UNUSED_SOURCE = _code("W001", "unused-source", "A source no step or evaluation reads.", W)
UNUSED_OUTPUT = _code("W002", "unused-output", "A step output nothing reads, evaluates or serves.", W)
LINEAGE_DRIFT = _code("W003", "lineage-drift", "The evidence was produced from other code commits or source versions than the spec declares now.", W)
PROMOTION_SHRINKS = _code("W004", "promotion-shrinks", "An environment serves a model with fewer replicas or smaller cpu/memory than the environment it promotes from (unset resources are the default 1 CPU, 2Gi): production would get less than staging proved enough.", W)


def explain(code: str) -> str | None:
    entry = CATALOGUE.get(code.upper())
    if entry is None:
        return None
    return f"{entry.code} ({entry.name}, {entry.severity.value})\n\n{entry.summary}\n"
