"""Conformance: what the real consumers would accept, checked with their own schemas.

- every core object validates with kubernetes-validate in strict mode for Kubernetes 1.33 (the
  schedule reconciler's ConfigMap, ServiceAccount, Job and NetworkPolicy included);
- every InferenceService, Application, AppProject, ServiceMonitor, PodMonitor and PrometheusRule
  validates strictly against ../shared/crds;
- synced directories hold only Kubernetes objects, one per file, named by kind and name;
- every pod meets Pod Security `restricted` and has requests and limits on every container.

All of it over the bundled specs, the contract's examples and the variants (test_serving_variants).
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from compiler import layout
from crd_schema import validate_strict
from test_serving_variants import VARIANTS, compiled, objects_of

KUBERNETES_VERSION = "1.33"
CRD_GROUPS = ("serving.kserve.io", "argoproj.io", "pipelines.kubeflow.org", "monitoring.coreos.com")
MINE = ("deploy/serving/", "deploy/platform/", f"{layout.ARGOCD_DIR}/", "deploy/schedules/")


def _is_custom(obj: dict) -> bool:
    return obj["apiVersion"].split("/")[0] in CRD_GROUPS


def _mine(name: str) -> dict[str, dict]:
    return {p: o for p, o in objects_of(name).items() if p.startswith(MINE)}


@pytest.mark.parametrize("name", VARIANTS)
def test_core_objects_validate_strictly_for_kubernetes_1_33(name):
    core = {p: o for p, o in _mine(name).items() if not _is_custom(o)}
    assert {o["kind"] for o in core.values()} >= {"Namespace", "ServiceAccount", "NetworkPolicy", "ConfigMap", "Job"}
    problems = []
    for path, obj in core.items():
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{path}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_container_runtime_objects_are_covered():
    kinds = {o["kind"] for o in _mine("containers").values()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds


@pytest.mark.parametrize("name", VARIANTS)
def test_custom_resources_validate_strictly_against_the_crds(name):
    custom = {p: o for p, o in _mine(name).items() if _is_custom(o)}
    assert {o["kind"] for o in custom.values()} >= {"Application", "AppProject"}
    problems = [f"{path}: {error}" for path, obj in custom.items() for error in validate_strict(obj)]
    assert not problems, "\n".join(problems)


def test_inference_services_are_covered_in_both_deployment_modes():
    for name in ("examples", "knative"):
        assert objects_of(name, "InferenceService"), name


def test_strict_validation_would_catch_a_misspelt_field():
    """The checks above can fail: a typo that the API server would silently drop is reported."""
    path, isvc = next(iter(objects_of("examples", "InferenceService").items()))
    broken = {**isvc, "spec": {**isvc["spec"], "predictor": {**isvc["spec"]["predictor"], "minReplica": 1}}}
    assert any("minReplica" in e for e in validate_strict(broken))
    path, sa = next(iter(objects_of("examples", "ServiceAccount").items()))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**sa, "automountToken": False}, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", VARIANTS)
def test_synced_directories_hold_one_named_kubernetes_object_per_file(name):
    """Argo CD reads every YAML file under an Application's path: each must be one object."""
    _, objects = compiled(name)
    problems = []
    for path, docs in sorted(objects.items()):
        if len(docs) != 1 or not isinstance(docs[0], dict):
            problems.append(f"{path}: {len(docs)} documents")
            continue
        obj = docs[0]
        if not (obj.get("apiVersion") and obj.get("kind") and obj.get("metadata", {}).get("name")):
            problems.append(f"{path}: not a Kubernetes object")
        elif path.rsplit("/", 1)[1] != layout.object_filename(obj["kind"], obj["metadata"]["name"]):
            problems.append(f"{path}: named unlike {obj['kind']} {obj['metadata']['name']}")
    assert not problems, "\n".join(problems)


def pod_specs(obj: dict) -> list[tuple[dict, list[dict]]]:
    """(pod-level fields, containers) of every pod an object makes; KServe's `model` is a container."""
    if obj["kind"] in ("Deployment", "Job"):
        spec = obj["spec"]["template"]["spec"]
        return [(spec, spec["containers"])]
    if obj["kind"] == "InferenceService":
        predictors = [obj["spec"]["predictor"]] + [c["predictor"] for c in obj["spec"].get("canary", [])]
        return [(p, [p["model"]] + p.get("containers", [])) for p in predictors]
    return []


@pytest.mark.parametrize("name", VARIANTS)
def test_pods_meet_pod_security_restricted_with_requests_and_limits(name):
    pods = [(path, pod) for path, obj in _mine(name).items() for pod in pod_specs(obj)]
    assert pods
    for path, (pod, containers) in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, path
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, path
        assert pod["automountServiceAccountToken"] is False, path
        for container in containers:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, path
            assert sc["capabilities"] == {"drop": ["ALL"]}, path
            assert sc["readOnlyRootFilesystem"] is True, path
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (path, kind)


@pytest.mark.parametrize("name", VARIANTS)
def test_team_namespaces_enforce_pod_security_restricted(name):
    namespaces = objects_of(name, "Namespace")
    assert namespaces
    for path, ns in namespaces.items():
        labels = ns["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", path


@pytest.mark.parametrize("name", VARIANTS)
def test_every_serving_pod_is_selected_by_a_default_deny_network_policy(name):
    objects = _mine(name)
    policies = [o for o in objects.values() if o["kind"] == "NetworkPolicy"]
    for path, obj in objects.items():
        for pod, _ in pod_specs(obj):
            labels = pod["labels"] if obj["kind"] == "InferenceService" else obj["spec"]["template"]["metadata"]["labels"]
            selecting = [p for p in policies if p["metadata"]["namespace"] == obj["metadata"]["namespace"]
                         and p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
            assert selecting, path
            assert all(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in selecting), path
