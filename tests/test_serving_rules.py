"""Compile-time checks for what KServe's webhook, the API server or Argo CD would otherwise reject
after the sync: each is reported with its code at the offending spot, and nothing is written."""

from __future__ import annotations

import json

import pytest

from conftest import edit, line_col, run_mlopsc
from test_serving_variants import digest

FRAUD = "specs/risk/fraud-detection.yaml"


def diagnostics(root) -> list[dict]:
    result = run_mlopsc("validate", "--format", "json", cwd=root)
    return json.loads(result.out)


def at(root, code: str, path: str = FRAUD) -> list[tuple[int, int]]:
    """Where `code` is reported in `path`."""
    return [(d["line"], d["column"]) for d in diagnostics(root) if d["code"] == code and d["path"] == path]


def use_knative(root) -> None:
    edit(root / "mlopsc.yaml", "deploymentMode: Standard", "deploymentMode: Knative")


def test_replicas_min_greater_than_max(example_repo):
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")
    assert at(example_repo, "K003") == [line_col(example_repo / FRAUD, "13, max: 12")]


@pytest.mark.parametrize("percent", ["12.5", "150", "-1"])
def test_canary_percent_must_be_a_whole_percentage(example_repo, percent):
    edit(example_repo / FRAUD, "percent: 20", f"percent: {percent}")
    line, column = line_col(example_repo / FRAUD, f"percent: {percent}")
    assert at(example_repo, "K004") == [(line, column + len("percent: "))]


def test_whole_number_percent_written_as_float_is_accepted(example_repo):
    edit(example_repo / FRAUD, "percent: 20", "percent: 20.0")
    assert at(example_repo, "K004") == []


def test_storage_scheme_kserve_cannot_download(example_repo):
    edit(example_repo / FRAUD, "uri: s3://risk-models/fraud/run-0151/", "uri: ftp://risk-models/fraud/run-0151/")
    assert at(example_repo, "K006") == [line_col(example_repo / FRAUD, "ftp://")]


@pytest.mark.parametrize("autoscaling", ["{metric: cpu, target: 150}", "{metric: memory, target: 0}"])
def test_utilization_targets_are_percentages(example_repo, autoscaling):
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}", f"replicas: {{min: 3, max: 12}}\n          autoscaling: {autoscaling}")
    line, column = line_col(example_repo / FRAUD, "target: ")
    assert at(example_repo, "K008") == [(line, column + len("target: "))]


def test_knative_rps_target_must_be_at_least_one(example_repo):
    use_knative(example_repo)
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 3, max: 12}\n          autoscaling: {metric: rps, target: 0}")
    assert len(at(example_repo, "K008")) == 1
    assert at(example_repo, "K014") == []


def test_concurrency_scaling_needs_knative(example_repo):
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}",
         "replicas: {min: 3, max: 12}\n          autoscaling: {metric: concurrency, target: 10}")
    assert at(example_repo, "K014") == [line_col(example_repo / FRAUD, "concurrency")]
    use_knative(example_repo)
    assert at(example_repo, "K014") == []


def test_container_runtime_cannot_scale_on_requests_even_in_knative_mode(example_repo):
    use_knative(example_repo)
    recs = example_repo / "specs/growth/merchant-recs.yaml"
    edit(recs, "replicas: {min: 1, max: 3}", "replicas: {min: 1, max: 3}\n          autoscaling: {metric: rps, target: 5}")
    assert at(example_repo, "K014", "specs/growth/merchant-recs.yaml") == [line_col(recs, "rps")]


def test_scale_to_zero_only_with_kserve_in_knative_mode(example_repo):
    edit(example_repo / FRAUD, "replicas: {min: 1, max: 2}", "replicas: {min: 0, max: 2}")
    assert at(example_repo, "K015") == [line_col(example_repo / FRAUD, "0, max: 2")]
    use_knative(example_repo)
    assert at(example_repo, "K015") == []
    recs = example_repo / "specs/growth/merchant-recs.yaml"
    edit(recs, "replicas: {min: 1, max: 3}", "replicas: {min: 0, max: 3}")
    assert at(example_repo, "K015", "specs/growth/merchant-recs.yaml") == [line_col(recs, "0, max: 3")]


def test_serving_name_must_start_with_a_letter(example_repo):
    recs = example_repo / "specs/growth/merchant-recs.yaml"
    edit(recs, "    recs-api:", "    2recs-api:")
    assert at(example_repo, "K016", "specs/growth/merchant-recs.yaml") == [line_col(recs, "2recs-api:")]


def test_kserve_serving_name_leaves_room_for_predictor_objects(example_repo):
    long_name = "fraud-" + "x" * 48  # 54 characters: `<name>-predictor` would be 64
    edit(example_repo / FRAUD, "    fraud-api:", f"    {long_name}:")
    assert at(example_repo, "K016") == [line_col(example_repo / FRAUD, long_name)]
    container_name = "recs-" + "x" * 50  # a container target has no derived names
    edit(example_repo / "specs/growth/merchant-recs.yaml", "    recs-api:", f"    {container_name}:")
    assert at(example_repo, "K016", "specs/growth/merchant-recs.yaml") == []


def test_serving_targets_of_a_team_cannot_claim_the_same_object_names(example_repo):
    spec = example_repo / FRAUD
    image = "registry.example.com/risk/shadow@" + digest("shadow")
    edit(spec, "  schedule:", "    fraud-api-predictor:\n      model: steps.train.outputs.model\n"
                              "      gates: [holdout]\n"
                              f"      runtime: {{container: {{image: {image}}}}}\n  schedule:")
    found = [d for d in diagnostics(example_repo) if d["code"] == "N002"]
    assert [(d["line"], d["column"]) for d in found] == [line_col(spec, "fraud-api-predictor:")]
    assert "fraud-api-predictor" in found[0]["message"] and "`fraud-api`" in found[0]["message"]


def test_nothing_is_written_when_a_serving_check_fails(example_repo):
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 13, max: 12}")
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 1
    assert "error[K003]" in result.err
    assert not (example_repo / "generated").exists()


def test_retired_canary_mode_code_is_not_in_the_catalogue():
    result = run_mlopsc("explain", "K007", cwd=".")
    assert (result.code, result.out) == (2, "")
    assert result.err == "mlopsc: error: unknown code 'K007'; `mlopsc explain` lists them all\n"
