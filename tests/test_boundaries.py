"""Right answers next to their nearest wrong ones: a metric exactly on its gate's threshold, a
canary whose share of replicas is fractional, two targets tying for the producer's release, and
which changes make a new PipelineVersion name. Each fixture is chosen so that the plausible bug
(>= for >, floor for ceil, the last target for the first, a hash over less than the version
spec) gives a different answer a user would notice."""

from __future__ import annotations

import json
from pathlib import Path

import celpy
import pytest
import yaml
from conftest import edit, run_mlopsc
from kfp_corpus import emit_repository

from compiler.backends import kfp
from compiler.build import Layout, load_and_check
from compiler.output import writer

FRAUD = "specs/risk/fraud-detection.yaml"
EV142 = "evidence/risk/fraud-detection/run-0142.json"
EV151 = "evidence/risk/fraud-detection/run-0151.json"
STAGING_ISVC = "generated/deploy/serving/staging/risk/fraud-detection/inferenceservice-fraud-api.yaml"


# ------------------------------------------------------------------------------ gate boundaries
def set_metric(repo: Path, evidence: str, metric: str, value: float) -> None:
    record = json.loads((repo / evidence).read_text())
    record["metrics"][metric] = value
    (repo / evidence).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def gate_condition(repo: Path) -> tuple[object, dict[str, str]]:
    """fraud-api's CEL condition (compiled by cel-python) and its channels: name -> metric."""
    checked = load_and_check(Layout(repo))
    [ir_doc] = [d for d in kfp.emit(checked) if d.path == "kfp/risk/fraud-detection/pipeline.yaml"]
    spec = ir_doc.content if isinstance(ir_doc.content, dict) else ir_doc.content[0]
    [group] = [t for t in spec["root"]["dag"]["tasks"].values() if "triggerPolicy" in t]
    channels = {name: binding["taskOutputParameter"]["outputParameterKey"]
                for name, binding in group["inputs"]["parameters"].items()}
    env = celpy.Environment()
    return env.program(env.compile(group["triggerPolicy"]["condition"])), channels


# Whether `auc <op> 0.93` passes for auc 0.92 (below), 0.93 (exactly on it) and 0.94 (above).
PASSES = {">=": (False, True, True), ">": (False, False, True), "<=": (True, True, False),
          "<": (True, False, False), "==": (False, True, False), "!=": (True, False, True)}
CASES = [(op, value, passes[i]) for op, passes in PASSES.items() for i, value in enumerate((0.92, 0.93, 0.94))]


@pytest.mark.parametrize("op, value, passes", CASES)
def test_a_metric_on_below_and_above_its_threshold(example_repo, op, value, passes):
    edit(example_repo / FRAUD, "- auc >= 0.92", f"- auc {op} 0.93")
    for evidence in (EV142, EV151):  # the release and the canary: both at the same value
        set_metric(example_repo, evidence, "auc", value)
    # The Python evaluation (validate): E005 for each release exactly when the gate fails.
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    failed = sorted(d["message"] for d in json.loads(result.out) if d["code"] == "E005")
    if passes:
        assert (result.code, failed) == (0, [])
    else:
        assert result.code == 1
        negated = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}[op]
        assert len(failed) == 3  # staging release, staging canary, production release
        assert all(f"{value} {negated} 0.93" in message for message in failed), failed
    # The CEL condition KFP evaluates after the evaluation task: the same answer on the boundary.
    program, channels = gate_condition(example_repo)
    values = {"auc": value, "recall_at_1pct_fpr": 0.61, "p95_latency_ms": 31.0}  # the others pass
    activation = {"inputs": celpy.json_to_cel({"parameter_values": {
        name: values[metric] for name, metric in channels.items()}})}
    assert bool(program.evaluate(activation)) is passes


# --------------------------------------------------------------------------- canary rounding
def test_canary_replicas_round_up_a_fractional_share(example_repo):
    """docs/OUTPUT.md: the canary's range is ⌈min·p/100⌉..⌈max·p/100⌉ (at least one pod). At 20 %
    of {8, 12}: 1.6 → 2 and 2.4 → 3 (rounding down would give 1 and 2)."""
    edit(example_repo / FRAUD, "replicas: {min: 1, max: 2}", "replicas: {min: 8, max: 12}")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    isvc = yaml.safe_load((example_repo / STAGING_ISVC).read_text())
    assert (isvc["spec"]["predictor"]["minReplicas"], isvc["spec"]["predictor"]["maxReplicas"]) == (8, 12)
    [canary] = isvc["spec"]["canary"]
    assert canary["trafficPercent"] == 20
    assert (canary["predictor"]["minReplicas"], canary["predictor"]["maxReplicas"]) == (2, 3)


def test_a_canary_at_zero_percent_still_gets_one_pod(example_repo):
    """0 % is a dark launch: no traffic, but the canary predictor runs (at least one pod)."""
    edit(example_repo / FRAUD, "percent: 20", "percent: 0")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    [canary] = yaml.safe_load((example_repo / STAGING_ISVC).read_text())["spec"]["canary"]
    assert canary["trafficPercent"] == 0
    assert (canary["predictor"]["minReplicas"], canary["predictor"]["maxReplicas"]) == (1, 1)


# --------------------------------------------------------- serving rules at their limits
def codes(repo: Path) -> list[str]:
    result = run_mlopsc("validate", "--format", "json", cwd=repo)
    assert result.code == (1 if any(d["severity"] == "error" for d in json.loads(result.out)) else 0)
    return sorted(d["code"] for d in json.loads(result.out) if d["severity"] == "error")


SCALE = "replicas: {min: 3, max: 12}\n          autoscaling: {metric: cpu, target: %d}"


@pytest.mark.parametrize("old, new, code, reported", [
    ("replicas: {min: 3, max: 12}", "replicas: {min: 12, max: 12}", "K003", False),  # a fixed size
    ("replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}", "K003", True),
    ("percent: 20", "percent: 100", "K004", False),  # all traffic to the canary: allowed
    ("percent: 20", "percent: 101", "K004", True),
    ("replicas: {min: 3, max: 12}", SCALE % 100, "K008", False),
    ("replicas: {min: 3, max: 12}", SCALE % 1, "K008", False),
    ("replicas: {min: 3, max: 12}", SCALE % 101, "K008", True),
    ("    fraud-api:", "    fraud-" + "x" * 47 + ":", "K016", False),  # 53: `-predictor` makes 63
    ("    fraud-api:", "    fraud-" + "x" * 48 + ":", "K016", True),
])
def test_serving_limits_accept_the_last_valid_value_and_refuse_the_next(example_repo, old, new, code, reported):
    edit(example_repo / FRAUD, old, new)
    found = codes(example_repo)
    assert [c for c in found if c == code] == ([code] if reported else [])
    if not reported and code != "K016":  # (a renamed target's evidence names the old one: E002)
        assert found == []


@pytest.mark.parametrize("length, expected", [(63, []), (64, ["N001"])])
def test_a_name_of_63_characters_is_a_dns_label_and_64_is_not(example_repo, length, expected):
    name = "c" + "x" * (length - 1)
    text = (example_repo / FRAUD).read_text()
    (example_repo / FRAUD).write_text(text.replace("chargebacks", name))
    assert codes(example_repo) == expected


# ------------------------------------------------------------------------ the producer's tie
def test_two_targets_releasing_one_artifact_tie_to_the_first_by_name(example_repo, tmp_path):
    """docs/KFP.md: the importer takes the release furthest down the promotion order; between two
    targets serving the same model in production, the first target by name."""
    record = json.loads((example_repo / EV151).read_text())
    record["serving"] = "aaa-api"
    (example_repo / "evidence/risk/fraud-detection/run-0151-aaa.json").write_text(json.dumps(record, indent=2))
    release = ("          release:\n            uri: s3://risk-models/fraud/run-0151/\n"
               "            digest: sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada\n"
               "            evidence: evidence/risk/fraud-detection/run-0151-aaa.json\n")
    edit(example_repo / FRAUD, "  serving:\n", "  serving:\n    aaa-api:\n      model: steps.train.outputs.model\n"
         "      gates: [holdout]\n      runtime:\n        kserve: {format: xgboost}\n      environments:\n"
         f"        staging:\n{release}          replicas: {{min: 1, max: 2}}\n"
         f"        production:\n{release}          replicas: {{min: 1, max: 2}}\n")
    recs = emit_repository(example_repo, tmp_path / "out")["growth/merchant-recs"]
    [importer] = [e["importer"] for e in recs.spec["deploymentSpec"]["executors"].values()
                  if "importer" in e and e["importer"]["metadata"].get("project") == "risk/fraud-detection"]
    # fraud-api releases run-0142 in production too: a tie at the furthest environment.
    assert importer["metadata"] == {
        "digest": "sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada",
        "environment": "production", "project": "risk/fraud-detection", "serving": "aaa-api"}
    assert importer["artifactUri"] == {"constant": "s3://risk-models/fraud/run-0151/"}


# ------------------------------------------------------------------- PipelineVersion names
def versions(repo: Path, tmp_path: Path) -> dict[str, dict]:
    out = emit_repository(repo, tmp_path / f"out-{len(list(tmp_path.iterdir()))}")
    return {key: e.version for key, e in out.items()}


def test_a_platform_spec_only_change_makes_a_new_version_name(example_repo, tmp_path):
    """KFP refuses changes to an existing PipelineVersion, and platformSpec is part of it: a GPU
    type (a node selector in the platform spec, nothing in the pipeline spec) must get a new name."""
    before = versions(example_repo, tmp_path)["risk/fraud-detection"]
    edit(example_repo / FRAUD, "gpuType: nvidia-l4", "gpuType: nvidia-a100")
    after = versions(example_repo, tmp_path)["risk/fraud-detection"]

    def without_own_name(version: dict) -> str:  # the release task records the version's name
        return json.dumps(version["spec"]["pipelineSpec"]).replace(version["metadata"]["name"], "<name>")

    assert without_own_name(after) == without_own_name(before)  # the pipeline spec is the same
    assert after["spec"]["platformSpec"] != before["spec"]["platformSpec"]
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert after["spec"]["displayName"] == after["metadata"]["name"]


def test_a_description_change_makes_a_new_version_name_and_a_format_change_does_not(example_repo, tmp_path):
    first = versions(example_repo, tmp_path)
    # Comments and layout are not content: same pipeline, same name (nothing re-syncs).
    text = (example_repo / FRAUD).read_text()
    (example_repo / FRAUD).write_text("# reviewed by risk\n" + text.replace("  serving:\n", "\n  serving:\n"))
    assert versions(example_repo, tmp_path) == first
    # The description is part of the PipelineVersion's spec, which KFP will not change in place.
    edit(example_repo / FRAUD, "Scores card transactions", "Scores payments")
    changed = versions(example_repo, tmp_path)
    fraud = changed["risk/fraud-detection"]
    assert fraud["spec"]["description"].startswith("Scores payments")
    assert fraud["metadata"]["name"] != first["risk/fraud-detection"]["metadata"]["name"]
    assert changed["growth/merchant-recs"] == first["growth/merchant-recs"]


# ------------------------------------------------------------- the writer never relocates
def test_carrying_a_file_never_puts_it_anywhere_but_its_own_path(tmp_path):
    """Where the name a carried file must take is already taken (a directory), the carry fails;
    it never falls back to copying the file into that directory (`risk` → `risk/risk`)."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "risk").write_text("my notes\n")
    (new / "risk").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        writer._carry(old, "risk", new / "risk")
    assert list((new / "risk").iterdir()) == []
    assert (old / "risk").read_text() == "my notes\n"
