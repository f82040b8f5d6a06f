"""checkov 3.3, the scanner platform teams run on rendered manifests, finds nothing in what mlopsc emits
beyond the findings docs/OUTPUT.md ("checkov") accepts, each with its reason.

checkov looks only at Pods and pod-owning workloads: it sees nothing inside an InferenceService. So
each predictor (and each Standard-mode canary predictor) is rendered here as the Deployment KServe
would create for it, following KServe's deployment reconciler: the pod fields of the predictor, the
`model` as the `kserve-container` with the ServingRuntime's image and port, and KServe's own
defaults (a TCP readiness probe on the first port, imagePullPolicy IfNotPresent). The storage
initializer KServe's webhook injects is KServe's, configured in its inferenceservice-config, not
by mlopsc: it is not part of the render.

checkov cannot be installed beside mlopsc (it pins networkx<2.7 and packaging<24; mlopsc needs
networkx>=3.2), so it lives in a virtualenv of its own: `.venv-checkov/bin/checkov`, which `.ci/run`
creates, or the one `MLOPSC_CHECKOV` names, or `checkov` on PATH.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from test_serving_variants import VARIANTS, objects_of

POD_OWNERS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet")
# What the platform's ClusterServingRuntime runs: not mlopsc's to choose, pinned by digest as any
# platform would pin it.
RUNTIME_IMAGE = "kserve/xgbserver@sha256:" + "0" * 64
RUNTIME_PORT = 8080
# Fields of a predictor that configure KServe itself (ComponentExtensionSpec), not the pod.
KSERVE_FIELDS = {"minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "scaleMetricType",
                 "canaryTrafficPercent", "containerConcurrency", "timeout", "logger", "batcher",
                 "deploymentStrategy", "labels", "annotations", "name", "model"}
MODEL_FIELDS = {"modelFormat", "runtime", "protocolVersion", "storageUri", "name"}
# The findings docs/OUTPUT.md accepts, by check id (the reasons are there).
ACCEPTED = {"CKV_K8S_35"}


def checkov() -> str:
    found = os.environ.get("MLOPSC_CHECKOV") or (
        str(REPO / ".venv-checkov/bin/checkov") if (REPO / ".venv-checkov/bin/checkov").exists() else None
    ) or shutil.which("checkov")
    if not found:
        pytest.fail("checkov is not installed: python3 -m venv .venv-checkov && "
                    ".venv-checkov/bin/pip install 'checkov==3.3.*' (see .ci/run)")
    return found


def kserve_deployment(isvc: dict, predictor: dict, component: str) -> dict:
    """The Deployment KServe's deployment reconciler creates for one predictor."""
    name = f"{isvc['metadata']['name']}-{component}"
    pod = {k: copy.deepcopy(v) for k, v in predictor.items() if k not in KSERVE_FIELDS}
    container = {k: copy.deepcopy(v) for k, v in predictor["model"].items() if k not in MODEL_FIELDS}
    container.update(name="kserve-container", image=RUNTIME_IMAGE,
                     ports=[{"containerPort": RUNTIME_PORT, "protocol": "TCP"}])
    container.setdefault("imagePullPolicy", "IfNotPresent")
    container.setdefault("readinessProbe", {"tcpSocket": {"port": RUNTIME_PORT}, "timeoutSeconds": 1,
                                            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    pod["containers"] = [container]
    labels = {**predictor.get("labels", {}), "app": f"isvc.{name}"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": isvc["metadata"]["namespace"], "labels": labels},
            "spec": {"selector": {"matchLabels": {"app": f"isvc.{name}"}},
                     "template": {"metadata": {"labels": labels,
                                               "annotations": predictor.get("annotations", {})},
                                  "spec": pod}}}


def rendered_pods() -> dict[str, dict]:
    """{file name: object}: every emitted pod owner, and every predictor as KServe's Deployment,
    beside the other serving objects (checkov's graph checks look for the NetworkPolicy)."""
    found = {}
    for variant in VARIANTS:
        for path, obj in objects_of(variant, under="deploy/serving/").items():
            stem = f"{variant}--{path.replace('/', '--')}"
            if obj.get("kind") != "InferenceService":
                found[stem] = obj
            else:
                found[f"{stem}--predictor.yaml"] = kserve_deployment(obj, obj["spec"]["predictor"], "predictor")
                for i, canary in enumerate(obj["spec"].get("canary", [])):
                    found[f"{stem}--canary{i}.yaml"] = kserve_deployment(obj, canary["predictor"], "canary")
    return found


def scan(directory: Path) -> dict:
    result = subprocess.run([checkov(), "--framework", "kubernetes", "--skip-download", "-d",
                             str(directory), "-o", "json"], capture_output=True, text=True, timeout=300)
    # 0: no failed check; 1: failed checks. Anything else is checkov itself failing.
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("checkov")
    pods = rendered_pods()
    for name, obj in pods.items():
        (directory / name).write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
    return pods, scan(directory)


def test_every_variant_has_pods_to_scan(report):
    pods, _ = report
    kinds = {(name.split("--")[0], obj["metadata"]["name"].endswith(("-predictor", "-canary")))
             for name, obj in pods.items() if obj["kind"] in POD_OWNERS}
    # Container runtimes (Deployments) and KServe predictors are both scanned.
    assert ("containers", False) in kinds and ("examples", True) in kinds and ("knative", True) in kinds


def test_checkov_finds_nothing_but_the_accepted_findings(report):
    pods, result = report
    summary = result["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= len(pods)
    failed = sorted({(c["check_id"], c["check_name"], c["file_path"].lstrip("/")) for c in result["results"]["failed_checks"]
                     if c["check_id"] not in ACCEPTED})
    assert not failed, "checkov findings without a documented reason:\n" + "\n".join(map(str, failed))
    assert summary["passed"] > 0


def test_the_hardening_checks_pass_on_every_pod(report):
    """The probes and the numeric user are what this branch added: checkov checks each of them."""
    pods, result = report
    wanted = {"CKV_K8S_8": "liveness probe", "CKV_K8S_9": "readiness probe", "CKV_K8S_40": "high UID",
              "CKV_K8S_20": "no privilege escalation", "CKV_K8S_22": "read-only root filesystem",
              "CKV_K8S_28": "no NET_RAW", "CKV_K8S_38": "no service account token"}
    passed: dict[str, set[str]] = {}
    for check in result["results"]["passed_checks"]:
        passed.setdefault(check["check_id"], set()).add(check["file_path"].lstrip("/"))
    owners = {name for name, obj in pods.items() if obj["kind"] in POD_OWNERS}
    for check_id in wanted:
        assert passed.get(check_id, set()) == owners, (check_id, wanted[check_id])


def test_every_accepted_finding_is_documented_with_its_reason():
    text = (REPO / "docs/OUTPUT.md").read_text(encoding="utf-8")
    section = text[text.index("## checkov"):]
    for check_id in ACCEPTED:
        assert re.search(rf"`{check_id}`[^\n]*\S", section), check_id
