"""A failing spec for every rule: each case breaks a copy of the contract's examples in one way
and asserts the code, the exact line:col and the words of the message a user reads.

The spot is computed from the edited text (`at`: a needle, its occurrence and an offset into it),
so a case says where the error is in words, not in numbers that go stale.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import EXAMPLES_RELEASE_IMAGE, RELEASE_IMAGE_LINE, edit, line_col, run_mlopsc

FRAUD = "specs/risk/fraud-detection.yaml"
RECS = "specs/growth/merchant-recs.yaml"
CONFIG = "mlopsc.yaml"
DIGEST = "sha256:" + "ab" * 32


@dataclass
class Case:
    code: str
    file: str
    edits: list[tuple[str, str]]
    at: str  # the diagnostic points at the first character of this text (after the edits)
    message: str = ""  # words the message must contain (did-you-mean hints, the cycle)
    offset: int = 0  # characters into `at`
    occurrence: int = 1
    at_file: str | None = None  # where the diagnostic is, when not in the edited file
    extra: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # edits of other files


CASES = [
    # Reading files
    Case("Y001", RECS, [("  description: Recommends", "  description: - Recommends")], "- Recommends"),
    Case("Y001", FRAUD, [("  name: fraud-detection\n", "  name: fraud-detection\n\towners: []\n")],
         "\towners", message="never tabs"),
    Case("Y003", RECS, [("          resources: {cpu: \"500m\", memory: 1Gi}\n",
                         "          resources: {cpu: \"500m\", memory: 1Gi}\n---\nextra: 1\n")], "extra: 1"),
    Case("Y004", RECS, [("  team: growth\n", "  team: growth\n  team: growth\n")], "team: growth",
         occurrence=2, message="first on line 5"),
    Case("Y005", RECS, [("      pii: true", "      pii: !!python/object:os.system true")], "!!python"),
    Case("Y005", RECS, [("    merchants:\n      uri", "    merchants: &m\n      loop: *m\n      uri")], "&m",
         message="recursive alias"),
    # Shape of the spec
    Case("S001", FRAUD, [("      format: parquet\n      pii", "      formt: parquet\n      pii")], "formt",
         message="did you mean `format`"),
    Case("S001", CONFIG, [("  deploymentMode: Standard", "  deploymentMod: Standard")], "deploymentMod",
         message="did you mean `deploymentMode`"),
    Case("S002", FRAUD, [("      version: \"2026-11-01\"\n", "")], "transactions:",
         message="missing required field `version`"),
    Case("S003", FRAUD, [("percent: 20", "percent: [20]")], "[20]", message="must be a number; got a list"),
    Case("S003", FRAUD, [("kserve: {format: xgboost}", "kserve: {format: xgbost}")], "xgbost",
         message="did you mean `xgboost`"),
    Case("S003", FRAUD, [("      pii: true", "      pii: \"yes\"")], "\"yes\"", message="true or false"),
    Case("S004", RECS, [("kind: MLProject", "kind: MLProjects")], "MLProjects"),
    Case("S004", CONFIG, [("kind: Repository", "kind: MLProject")], "MLProject"),
    Case("S005", FRAUD, [("schedule: \"0 3 * * 1\"", "schedule: \"0 3 * *\"")], "\"0 3 * *\"",
         message="has 4 fields"),
    Case("S005", FRAUD, [("schedule: \"0 3 * * 1\"", "schedule: \"@daily\"")], "\"@daily\"",
         message="`0 0 * * *`"),
    Case("S006", RECS, [("uri: s3://growth-lake/sessions/", "uri: ftp://growth-lake/sessions/")], "ftp://"),
    Case("S006", CONFIG, [(RELEASE_IMAGE_LINE, RELEASE_IMAGE_LINE + "  apiURL: ml-pipeline:8888\n")],
         "ml-pipeline:8888", message="kubeflow.apiURL `ml-pipeline:8888` must be an http:// or https:// URL"),
    Case("S011", FRAUD, [("schedule: \"0 3 * * 1\"", "schedule: \"0 3 * * 5-7\"")], "\"0 3 * * 5-7\"",
         message="refuses 7; write Sunday as 0 or SUN"),
    # Names, teams, layout
    Case("N001", FRAUD, [("    chargebacks:\n", "    Charge_Backs:\n"),
                         ("labels: sources.chargebacks", "labels: sources.Charge_Backs")],
         "Charge_Backs:", message="try `charge-backs`"),
    Case("N001", CONFIG, [("  staging:\n", "  Staging:\n"), ("promotesFrom: staging", "promotesFrom: Staging")],
         "Staging:"),
    Case("N002", FRAUD, [("params: {window_days: 30}", "params: {train: 30}")], "train: 30",
         message="`params.train`"),
    Case("N002", FRAUD, [("    holdout:\n      model", "    train:\n      model"), ("gates: [holdout]", "gates: [train]")],
         "train:\n      model", message="both a step and an evaluation"),
    Case("N002", FRAUD, [("metrics: [auc, recall_at_1pct_fpr, p95_latency_ms]",
                          "metrics: [auc, recall_at_1pct_fpr, auc, p95_latency_ms]")], "auc, p95", message="listed twice"),
    Case("N007", FRAUD, [("outputs: {train: dataset, test: dataset}", 'outputs: {train: dataset, "test set": dataset}'),
                         ("test: steps.features.outputs.test}", "test: steps.features.outputs.train}")],
         '"test set"', message="`--test set`"),
    Case("N007", FRAUD, [("metrics: [auc, recall_at_1pct_fpr, p95_latency_ms]",
                          "metrics: [auc, recall@1pct_fpr, p95_latency_ms]"),
                         ("- recall_at_1pct_fpr >= 0.55", "- auc >= 0.55")],
         "recall@1pct_fpr", message="a gate's term"),
    Case("N003", FRAUD, [("  team: risk", "  team: growth")], "growth", message="specs/risk/"),
    Case("N004", CONFIG, [("  growth: {}", "  grow: {}")], "growth\n", at_file=RECS,
         message="not declared in mlopsc.yaml"),
    Case("N005", FRAUD, [("        production:\n          release", "        prod:\n          release")], "prod:",
         message="did you mean `production`"),
    Case("N005", CONFIG, [("promotesFrom: staging", "promotesFrom: stagin")], "stagin\n",
         message="did you mean `staging`"),
    # References and the graph
    Case("R001", FRAUD, [("outputs.train}", "outputs.trian}")], "steps.features.outputs.trian",
         message="did you mean `train`"),
    Case("R001", RECS, [("risk/fraud-detection:steps", "risk/fraud-detecton:steps")], "risk/fraud-detecton",
         message="did you mean `risk/fraud-detection`"),
    Case("R001", FRAUD, [("        labels: sources.chargebacks", "        labels: sources.chargeback")],
         "sources.chargeback", message="did you mean `chargebacks`"),
    Case("R002", FRAUD, [("      model: steps.train.outputs.model\n      inputs",
                          "      model: steps.features.outputs.test\n      inputs")],
         "model: steps.features.outputs.test", offset=7, message="is a dataset, but a model is expected"),
    Case("R003", FRAUD, [("        labels: sources.chargebacks", "        labels: sources.chargebacks\n"
                                                                  "        loop: steps.train.outputs.model")],
         "steps.train.outputs.model", message="steps.features → steps.train → steps.features"),
    Case("R003", FRAUD, [("        labels: sources.chargebacks", "        labels: sources.chargebacks\n"
                                                                  "        recs: growth/merchant-recs:steps.train.outputs.model")],
         "risk/fraud-detection:steps.train", at_file=RECS,
         message="across projects: growth/merchant-recs:steps.train → risk/fraud-detection:steps.features"),
    Case("R004", FRAUD, [("outputs.train}", "train}")], "steps.features.train",
         message="did you mean `steps.features.outputs.train`"),
    Case("R004", RECS, [("risk/fraud-detection:steps", "risk/fraud-detection.steps")], "risk/fraud-detection.steps",
         message="did you mean `risk/fraud-detection:steps.train.outputs.model`"),
    Case("R005", FRAUD, [("${params.max_depth}", "${params.max_dept}")], "\"${params.max_dept}\"",
         message="did you mean `max_depth`"),
    Case("R005", FRAUD, [("\"${inputs.train}\"", "\"${train}\"")], "\"${train}\"", message="not a placeholder"),
    # Pinning and policy
    Case("P001", FRAUD, [("version: \"2026-11-01\"", "version: latest")], "latest", message="moving label"),
    Case("P001", RECS, [("version: sha256:82680da3", "version: sha256:82680")], "sha256:82680"),
    Case("P002", FRAUD, [("fraud-features@sha256:5b8a8b56dada6ce7567442b4935298df7de2badd7becdcf4915a59487338ca4b",
                          "fraud-features:1.4")], "registry.example.com/risk/fraud-features:1.4"),
    Case("P003", FRAUD, [("registry.example.com/risk/fraud-train@", "ghcr.io/risk/fraud-train@")], "ghcr.io/risk",
         message="`ghcr.io` is not allowed"),
    Case("P002", CONFIG, [(EXAMPLES_RELEASE_IMAGE, "registry.example.com/ml/mlopsc:0.2.0")],
         "registry.example.com/ml/mlopsc:0.2.0", message="kubeflow.releaseImage `registry.example.com/ml/mlopsc:0.2.0` is not pinned"),
    Case("P003", CONFIG, [("registry.example.com/ml/mlopsc@", "ghcr.io/mlopsc/mlopsc@")], "ghcr.io/mlopsc",
         message="kubeflow.releaseImage: image registry `ghcr.io` is not allowed"),
    Case("P010", CONFIG, [(RELEASE_IMAGE_LINE, "")], "kubeflow:",
         message="risk/fraud-detection (serving targets and a schedule) need it"),
    Case("P010", CONFIG, [("kubeflow:\n  pipelineRoot: s3://ml-artifacts/pipelines\n" + RELEASE_IMAGE_LINE, "")],
         "apiVersion", message="`docker build -t registry.example.com/mlopsc . && docker push "
                               "registry.example.com/mlopsc`), then pin it by digest"),
    Case("P004", FRAUD, [("commit: 94efdd6f628eda9c1ae893467c9652808443ef3e", "commit: 94efdd6")], "94efdd6,"),
    Case("P005", FRAUD, [("digest: sha256:02ee06b94f45", "digest: md5:02ee06b94f45")], "md5:02ee"),
    # Gates
    Case("G001", FRAUD, [("- auc >= 0.92", "- auc is at least 0.92")], "auc is at least"),
    Case("G002", FRAUD, [("- p95_latency_ms <= 40", "- p99_latency_ms <= 40")], "p99_latency_ms <= 40",
         message="did you mean `p95_latency_ms`"),
    Case("G003", FRAUD, [("gates: [holdout]", "gates: [holdot]")], "holdot", message="did you mean `holdout`"),
    Case("G004", RECS, [("outputs: {model: model, report: metrics}",
                         "outputs: {model: model, baseline: model, report: metrics}"),
                        ("      model: steps.train.outputs.model\n      inputs: {sessions",
                         "      model: steps.train.outputs.baseline\n      inputs: {sessions")],
         "offline]", message="evaluates steps.train.outputs.baseline"),
    # Kubernetes and serving
    Case("G005", RECS, [("      gates: [\"ndcg_at_10 >= 0.31\", \"coverage > 0.8\"]\n",
                         "      gates: [\"ndcg_at_10 >= 0.31\", \"coverage > 0.8\"]\n"
                         "    fairness:\n"
                         "      model: steps.train.outputs.model\n"
                         "      image: registry.example.com/growth/recs-eval@sha256:" + "4f" * 32 + "\n"
                         "      code: {repo: https://git.example.com/growth/recs.git, commit: " + "f8" * 20 + "}\n"
                         "      metrics: [coverage, parity_gap]\n"
                         "      gates: [\"parity_gap < 0.05\"]\n"),
                        ("gates: [offline]", "gates: [offline, fairness]")],
         "fairness]", message="both declare metric `coverage`"),
    Case("K001", FRAUD, [("WANDB_API_KEY: {secret: wandb, key: api-key}", "WANDB_API_KEY: 0f3a9c1e")], "0f3a9c1e"),
    Case("K001", RECS, [("resources: {cpu: \"8\", memory: 64Gi}",
                         "resources: {cpu: \"8\", memory: 64Gi}\n"
                         "      env: {FEATURE_DB: \"postgres://etl:hunter2@db.example.com/features\"}")],
         "\"postgres://", message="looks like a credential"),
    Case("K002", FRAUD, [("memory: 16Gi", "memory: 16GB")], "16GB"),
    Case("K002", RECS, [("cpu: \"500m\"", "cpu: \"-1\"")], "\"-1\"", message="greater than zero"),
    Case("K003", FRAUD, [("replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")], "13,"),
    Case("K004", FRAUD, [("percent: 20", "percent: 120")], "percent: 120", offset=len("percent: ")),
    Case("K005", FRAUD, [("      gates: [holdout]\n", "")], "release:", occurrence=3, message="promotes from `staging`"),
    Case("K006", FRAUD, [("uri: s3://risk-models/fraud/run-0142/", "uri: ftp://risk-models/fraud/run-0142/")],
         "ftp://"),
    Case("K008", FRAUD, [("replicas: {min: 3, max: 12}", "replicas: {min: 3, max: 12}\n"
                                                         "          autoscaling: {metric: cpu, target: 150}")],
         "150"),
    Case("K009", FRAUD, [("        kserve: {format: xgboost}", "        kserve: {format: xgboost}\n"
                          "        container: {image: registry.example.com/risk/api@" + DIGEST + "}")],
         "kserve: {format"),
    Case("K010", RECS, [("        staging:\n", "        staging:\n          canary: {percent: 10, release: "
                         "{uri: s3://growth-models/recs/run-7/, digest: " + DIGEST + ", evidence: evidence/x.json}}\n")],
         "canary:"),
    Case("K012", FRAUD, [("timeout: 4h", "timeout: 4 hours")], "4 hours"),
    Case("K013", FRAUD, [("resources: {cpu: \"4\", memory: 16Gi}", "resources: {cpu: \"4\", memory: 16Gi, gpuType: nvidia-a100}")],
         "nvidia-a100"),
    # Warnings
    Case("W001", FRAUD, [("  steps:\n", "    archive:\n      uri: s3://risk-lake/archive/\n      version: \"2025-01-01\"\n"
                                        "  steps:\n")], "archive:"),
    Case("W002", FRAUD, [("outputs: {train: dataset, test: dataset}", "outputs: {train: dataset, test: dataset, audit: dataset}")],
         "audit"),
]


def validate_json(root: Path) -> tuple[int, list[dict]]:
    result = run_mlopsc("validate", "--format", "json", cwd=root)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def _id(case: Case) -> str:
    return f"{case.code}-{re.sub(r'[^a-z0-9]+', '-', case.at.lower()).strip('-')[:24]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_rule_reports_code_at_the_exact_spot(example_repo, case):
    for old, new in case.edits:
        edit(example_repo / case.file, old, new)
    for other, edits in case.extra.items():
        for old, new in edits:
            edit(example_repo / other, old, new)
    where = case.at_file or case.file
    line, column = line_col(example_repo / where, case.at, case.occurrence)
    column += case.offset
    code, diagnostics = validate_json(example_repo)
    found = [d for d in diagnostics if d["code"] == case.code]
    assert found, f"no {case.code} in {diagnostics}"
    spots = [(d["path"], d["line"], d["column"]) for d in found]
    assert (where, line, column) in spots, f"{case.code} at {spots}, expected {where}:{line}:{column}"
    hit = next(d for d in found if (d["path"], d["line"], d["column"]) == (where, line, column))
    assert case.message in hit["message"]
    errors = [d for d in diagnostics if d["severity"] == "error"]
    assert code == (1 if errors else 0)
    assert hit["severity"] == ("warning" if case.code.startswith("W") else "error")


def test_not_utf8_points_at_the_undecodable_byte(example_repo):
    path = example_repo / RECS
    line, column = line_col(path, "growth-ml@example.com")
    path.write_bytes(path.read_bytes().replace(b"growth-ml@", b"growth-ml\xff@", 1))
    _, diagnostics = validate_json(example_repo)
    assert [(d["code"], d["path"], d["line"], d["column"]) for d in diagnostics] == [
        ("Y002", RECS, line, column + len("growth-ml"))]


def test_duplicate_project_in_two_files_is_reported_at_the_second(example_repo):
    shutil.copy(example_repo / RECS, example_repo / "specs/growth/merchant-recs.yml")
    _, diagnostics = validate_json(example_repo)
    line, column = line_col(example_repo / RECS, "merchant-recs\n")
    dup = [d for d in diagnostics if d["code"] == "N002"]
    assert [(d["path"], d["line"], d["column"]) for d in dup] == [("specs/growth/merchant-recs.yml", line, column)]
    assert "already defined in specs/growth/merchant-recs.yaml" in dup[0]["message"]


def test_spec_outside_a_team_folder_is_misplaced(example_repo):
    (example_repo / RECS).rename(example_repo / "specs/merchant-recs.yaml")
    _, diagnostics = validate_json(example_repo)
    n006 = [d for d in diagnostics if d["code"] == "N006"]
    assert [(d["path"], d["line"], d["column"]) for d in n006] == [("specs/merchant-recs.yaml", 1, 1)]
    assert "move it to specs/growth/merchant-recs.yaml" in n006[0]["message"]


def test_spec_file_named_unlike_its_project_is_misplaced(example_repo):
    (example_repo / RECS).rename(example_repo / "specs/growth/recs.yaml")
    _, diagnostics = validate_json(example_repo)
    line, column = line_col(example_repo / "specs/growth/recs.yaml", "merchant-recs")
    assert [(d["code"], d["line"], d["column"]) for d in diagnostics if d["code"] == "N006"] == [
        ("N006", line, column)]


def test_layout_rules_follow_the_specs_option(example_repo):
    (example_repo / "specs").rename(example_repo / "projects")
    result = run_mlopsc("--specs", "projects", "validate", "--format", "json", cwd=example_repo)
    assert result.code == 0, result.out
    assert json.loads(result.out) == []
