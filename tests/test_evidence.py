"""Evidence checks (E001-E005, W003) and `mlopsc evidence write`, on the contract's examples.

In the examples, staging's canary is the only release that names run-0151.json, so breaking that
file gives exactly one diagnostic, at the canary's lines of the spec.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import line_col, run_mlopsc

SPEC = "specs/risk/fraud-detection.yaml"
CANARY_EVIDENCE = "evidence/risk/fraud-detection/run-0151.json"
EVIDENCE_CODES = {"E001", "E002", "E003", "E004", "E005", "E006", "E007", "W003"}


def diagnostics(repo: Path) -> list[dict]:
    result = run_mlopsc("validate", "--format", "json", cwd=repo)
    return json.loads(result.out)


def found(repo: Path, code: str) -> list[tuple[int, int, str]]:
    return [(d["line"], d["column"], d["message"]) for d in diagnostics(repo) if d["code"] == code]


def change_evidence(repo: Path, change) -> None:
    path = repo / CANARY_EVIDENCE
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def canary_evidence_position(repo: Path) -> tuple[int, int]:
    return line_col(repo / SPEC, CANARY_EVIDENCE)


def test_examples_pass_every_evidence_check(example_repo):
    assert [d for d in diagnostics(example_repo) if d["code"] in EVIDENCE_CODES] == []


def test_missing_evidence_file_is_e001_at_the_release(example_repo):
    (example_repo / CANARY_EVIDENCE).unlink()
    [(line, col, message)] = found(example_repo, "E001")
    assert (line, col) == canary_evidence_position(example_repo)
    assert CANARY_EVIDENCE in message and "cannot be read" in message


def test_unreadable_evidence_is_e001(example_repo):
    (example_repo / CANARY_EVIDENCE).write_text('{"project": "risk/fraud-detection", ')
    [(line, col, message)] = found(example_repo, "E001")
    assert (line, col) == canary_evidence_position(example_repo)
    assert "not valid UTF-8 JSON" in message


def test_evidence_of_another_serving_target_is_e002(example_repo):
    change_evidence(example_repo, lambda r: r.update(serving="fraud-batch"))
    [(line, col, message)] = found(example_repo, "E002")
    assert (line, col) == canary_evidence_position(example_repo)
    assert "`fraud-batch`" in message and "`fraud-api`" in message


def test_evidence_of_another_project_is_e002(example_repo):
    change_evidence(example_repo, lambda r: r.update(project="growth/merchant-recs"))
    assert [(line, col) for line, col, _ in found(example_repo, "E002")] == [canary_evidence_position(example_repo)]


def test_evidence_of_another_digest_is_e003_at_the_digest(example_repo):
    other = "sha256:" + "ab" * 32
    change_evidence(example_repo, lambda r: r["model"].update(digest=other))
    [(line, col, message)] = found(example_repo, "E003")
    assert (line, col) == line_col(example_repo / SPEC, "sha256:db61c6dc1384")
    assert other in message
    assert found(example_repo, "E005") == []  # metrics of another model are not judged


def test_evidence_of_another_uri_is_e003_at_the_uri(example_repo):
    change_evidence(example_repo, lambda r: r["model"].update(uri="s3://risk-models/fraud/run-0150/"))
    [(line, col, _)] = found(example_repo, "E003")
    assert (line, col) == line_col(example_repo / SPEC, "s3://risk-models/fraud/run-0151/")


def test_gated_metric_missing_from_evidence_is_e004(example_repo):
    change_evidence(example_repo, lambda r: r["metrics"].pop("p95_latency_ms"))
    [(line, col, message)] = found(example_repo, "E004")
    assert (line, col) == canary_evidence_position(example_repo)
    assert "`p95_latency_ms`" in message and "`p95_latency_ms <= 40`" in message


def test_failed_gate_is_e005_naming_evaluation_gate_value_and_threshold(example_repo):
    change_evidence(example_repo, lambda r: r["metrics"].update(auc=0.901))
    [(line, col, message)] = found(example_repo, "E005")
    assert (line, col) == canary_evidence_position(example_repo)
    assert "`auc >= 0.92`" in message and "`holdout`" in message and "auc 0.901 < 0.92" in message
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 1 and not (example_repo / "generated").exists()


def test_every_failed_gate_is_reported(example_repo):
    change_evidence(example_repo, lambda r: r["metrics"].update(auc=0.5, p95_latency_ms=41.5))
    messages = sorted(m for _, _, m in found(example_repo, "E005"))
    assert len(messages) == 2
    assert "auc 0.5 < 0.92" in messages[0] and "p95_latency_ms 41.5 > 40" in messages[1]


def test_lineage_drift_is_a_warning_w003(example_repo):
    old = "94efdd6f628eda9c1ae893467c9652808443ef3e"
    change_evidence(example_repo, lambda r: r["lineage"]["code"].update(train="0" * 40))
    change_evidence(example_repo, lambda r: r["lineage"]["sources"].update(transactions="2026-10-01"))
    [(line, col, message)] = found(example_repo, "W003")
    assert (line, col) == canary_evidence_position(example_repo)
    assert f"code `train` {'0' * 40}, spec {old}" in message
    assert "source `transactions` 2026-10-01, spec 2026-11-01" in message
    assert run_mlopsc("validate", cwd=example_repo).code == 0  # a warning, not an error


# ------------------------------------------------------------------------- evidence write
PIPELINE_ARGS = [
    "--project", "risk/fraud-detection", "--serving", "fraud-api",
    "--model-uri", "s3://risk-models/fraud/run-0160/",
    "--metric", "auc=0.947", "--metric", "recall_at_1pct_fpr=0.6", "--metric", "p95_latency_ms=32",
    "--code", "features=4f944542e06cd6f28fa72685120ec1c9e2b84a27",
    "--code", "train=94efdd6f628eda9c1ae893467c9652808443ef3e",
    "--code", "holdout=822bc13e2d55b402eb4233cb23c9d414a7a03bc1",
    "--source", "transactions=2026-11-01",
    "--source", "chargebacks=sha256:c9cbc74a5d80acf9bf160e202da5e3f32d1cd9a83a091316a2553c89ba2eb38c",
    "--pipeline-version", "fraud-detection-3c1e9a0", "--run", "run-0160",
]


def make_model_dir(root: Path) -> Path:
    model = root / "model"
    (model / "sub dir").mkdir(parents=True)
    (model / "model.json").write_text('{"trees": 400}\n')
    (model / "sub dir" / "weights.bin").write_bytes(bytes(range(256)) * 10)
    return model


def release_task(repo: Path) -> tuple[list[str], list[str]]:
    """The command and args of fraud-api's release task, as the compiled KFP pipeline has them."""
    ir = next(yaml.safe_load_all((repo / "generated/kfp/risk/fraud-detection/pipeline.yaml").read_text()))
    container = ir["deploymentSpec"]["executors"]["exec-release-fraud-api"]["container"]
    return container["command"], container["args"]


def test_evidence_write_as_the_pipeline_runs_it_is_accepted_by_compile(example_repo, tmp_path):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    command, args = release_task(example_repo)
    assert command[:3] == ["mlopsc", "evidence", "write"]
    # What the KFP launcher substitutes at run time.
    model = make_model_dir(tmp_path)
    out = "evidence/risk/fraud-detection/run-0160.json"
    runtime = {"inputs.artifacts['model'].uri": "s3://risk-models/fraud/run-0160/",
               "inputs.artifacts['model'].path": str(model),
               "inputs.parameters['holdout_auc']": "0.947",
               "inputs.parameters['holdout_recall_at_1pct_fpr']": "0.6",
               "inputs.parameters['holdout_p95_latency_ms']": "32",
               "pipeline_job_uuid": "6f1c2a9e-run-0160",
               "outputs.artifacts['evidence'].path": out}
    filled = [re.sub(r"\{\{\$\.(.+?)\}\}", lambda m: runtime[m[1]], arg) for arg in args]
    result = run_mlopsc(*command[1:], *filled, cwd=example_repo)
    assert result.code == 0, result.err
    text = (example_repo / out).read_text()
    record = json.loads(text)
    assert text == json.dumps(record, indent=2, sort_keys=True) + "\n"
    assert record["metrics"] == {"auc": 0.947, "p95_latency_ms": 32.0, "recall_at_1pct_fpr": 0.6}
    assert record["lineage"]["run"] == "6f1c2a9e-run-0160"
    digest = record["model"]["digest"]
    # Release it to staging, as the release task's pull request would: compile accepts it, and
    # the lineage it recorded is what the spec declares (no W003). Production keeps run-0142,
    # which staging pinned in the compile before.
    spec = example_repo / SPEC
    text = spec.read_text()
    staging = text[text.index("        staging:"):text.index("          canary:")]
    new = (staging.replace("s3://risk-models/fraud/run-0142/", "s3://risk-models/fraud/run-0160/")
           .replace("sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf", digest)
           .replace("evidence/risk/fraud-detection/run-0142.json", out))
    spec.write_text(text.replace(staging, new))
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 0, result.err
    assert "warning" not in result.err
    card = (example_repo / "generated/model-cards/risk/fraud-detection.md").read_text()
    assert digest in card and "6f1c2a9e-run-0160" in card


def test_directory_digest_is_what_sha256sum_lists(tmp_path):
    from compiler.commands.evidence import model_digest

    model = make_model_dir(tmp_path)
    listing = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(model).as_posix()}\n"
                      for p in sorted(model.rglob("*"), key=lambda p: p.relative_to(model).as_posix())
                      if p.is_file())
    assert model_digest(model) == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
    if shutil.which("sha256sum"):
        files = sorted(p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file())
        printed = subprocess.run(["sha256sum", *files], cwd=model, capture_output=True, check=True).stdout
        assert model_digest(model) == "sha256:" + hashlib.sha256(printed).hexdigest()
    single = model / "model.json"
    assert model_digest(single) == "sha256:" + hashlib.sha256(single.read_bytes()).hexdigest()


def test_evidence_write_with_a_known_digest(tmp_path):
    digest = "sha256:" + "0f" * 32
    # Two gating evaluations declaring the same metric pass it twice; equal values are one metric.
    result = run_mlopsc("evidence", "write", *PIPELINE_ARGS, "--metric", "auc=0.9470",
                        "--model-digest", digest, "--output", "out/e.json", cwd=tmp_path)
    assert result.code == 0, result.err
    record = json.loads((tmp_path / "out/e.json").read_text())
    assert record["model"]["digest"] == digest and record["metrics"]["auc"] == 0.947


@pytest.mark.parametrize("bad, complaint", [
    (["--metric", "f1=high"], "not a number"),
    (["--metric", "f1=nan"], "not a finite number"),
    (["--metric", "auc=0.95"], "given twice with different values (0.947 and 0.95)"),
    (["--code", "train"], "not NAME=VALUE"),
    (["--model-digest", "sha256:abc"], "sha256:<64 lowercase hex>"),
])
def test_evidence_write_refuses_bad_values(tmp_path, bad, complaint):
    args = list(PIPELINE_ARGS)
    if "--model-digest" not in bad:
        args += ["--model-digest", "sha256:" + "0f" * 32]
    result = run_mlopsc("evidence", "write", *args, *bad, "--output", "e.json", cwd=tmp_path)
    assert result.code == 2 and complaint in result.err
    assert not (tmp_path / "e.json").exists()
