"""Serving pods run as an explicit numeric user and group (mlopsc.yaml `security`, overridable per
serving target) and have liveness and startup probes on their serving port (issue 15, hardening)."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import edit, line_col, run_mlopsc
from test_serving_variants import VARIANTS, objects_of

FRAUD = "specs/risk/fraud-detection.yaml"
RECS = "specs/growth/merchant-recs.yaml"


def pods(objects: dict[str, dict]):
    """(object path, pod spec, serving container) of every serving pod, KServe's and our own."""
    for path, obj in objects.items():
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            yield path, pod, pod["containers"][0]
        elif obj["kind"] == "InferenceService":
            predictors = [obj["spec"]["predictor"]] + [c["predictor"] for c in obj["spec"].get("canary", [])]
            for predictor in predictors:
                yield path, predictor, predictor["model"]


@pytest.mark.parametrize("name", VARIANTS)
def test_every_serving_pod_runs_as_the_default_numeric_user_with_probes(name):
    found = list(pods(objects_of(name, under="deploy/serving/")))
    assert found
    for path, pod, container in found:
        context = pod["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["runAsNonRoot"]) == (65532, 65532, True), path
        port = container["ports"][0]["name"] if "ports" in container else (
            8081 if container.get("protocolVersion") == "grpc-v2" else 8080)
        assert container["livenessProbe"] == {"failureThreshold": 3, "periodSeconds": 10, "tcpSocket": {"port": port}}
        assert container["startupProbe"] == {"failureThreshold": 60, "periodSeconds": 10, "tcpSocket": {"port": port}}
        if "ports" in container:  # the custom container's own readiness probe
            assert container["readinessProbe"] == {"tcpSocket": {"port": "http"}}


def serving_objects(root) -> dict[str, dict]:
    return {str(p.relative_to(root / "generated")): yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted((root / "generated/deploy/serving").rglob("*.yaml"))}


def release_recs(root) -> None:
    """merchant-recs (a container runtime) released to staging, so it has a Deployment."""
    from test_serving_variants import make_containers

    make_containers(root)


def test_repository_default_and_per_target_override(example_repo):
    release_recs(example_repo)
    edit(example_repo / "mlopsc.yaml", "deploymentMode: Standard",
         "deploymentMode: Standard\nsecurity:\n  runAsUser: 20000\n  runAsGroup: 30000")
    edit(example_repo / RECS, "      runtime:\n        container:",
         "      security: {runAsUser: 1001}\n      runtime:\n        container:")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    ids = {(path.split("/")[4], pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"])
           for path, pod, _ in pods(serving_objects(example_repo))}
    # The override sets the user only: the group stays the repository's.
    assert ids == {("fraud-detection", 20000, 30000), ("merchant-recs", 1001, 30000)}


@pytest.mark.parametrize("value", ["0", "2147483648", "-1", "\"65532\""])
def test_run_as_ids_are_whole_numbers_from_1_to_int32_max(example_repo, value):
    edit(example_repo / "mlopsc.yaml", "deploymentMode: Standard", f"deploymentMode: Standard\nsecurity:\n  runAsUser: {value}")
    result = json.loads(run_mlopsc("validate", "--format", "json", cwd=example_repo).out)
    line, column = line_col(example_repo / "mlopsc.yaml", f"runAsUser: {value}")
    assert [(d["code"], d["path"], d["line"], d["column"]) for d in result] == [
        ("S003", "mlopsc.yaml", line, column + len("runAsUser: "))]


def test_unknown_security_field_is_s001(example_repo):
    edit(example_repo / FRAUD, "      runtime:\n        kserve:", "      security: {runAsUsr: 1001}\n      runtime:\n        kserve:")
    result = json.loads(run_mlopsc("validate", "--format", "json", cwd=example_repo).out)
    assert [d["code"] for d in result] == ["S001"]


def test_schema_documents_the_security_settings(tmp_path):
    repository = json.loads(run_mlopsc("schema", "--kind", "Repository", cwd=tmp_path).out)
    security = repository["$defs"]["Security"]["properties"]
    assert security["runAsUser"]["default"] == 65532 and security["runAsUser"]["minimum"] == 1
    assert security["runAsGroup"]["maximum"] == 2147483647
    project = json.loads(run_mlopsc("schema", cwd=tmp_path).out)
    assert set(project["$defs"]["TargetSecurity"]["properties"]) == {"runAsUser", "runAsGroup"}
    assert project["$defs"]["TargetSecurity"]["additionalProperties"] is False
