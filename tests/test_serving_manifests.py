"""What the serving manifests say: model form, canaries in each mode, container workloads, lineage
annotations, quantities, GPUs, network policy, and that only `compile` pays for the kubernetes import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from conftest import EXAMPLES, REPO, copy_repo, edit, run_mlopsc
from test_serving_variants import digest, make_containers, objects_of, release_uri

STAGING_ISVC = "deploy/serving/staging/risk/fraud-detection/inferenceservice-fraud-api.yaml"
PRODUCTION_ISVC = "deploy/serving/production/risk/fraud-detection/inferenceservice-fraud-api.yaml"
RECS = "deploy/serving/staging/growth/merchant-recs"
LEGACY_PREDICTORS = {"sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "tensorflow", "triton", "huggingface",
                     "pmml", "paddle"}


def isvc(variant: str, path: str) -> dict:
    return objects_of(variant)[path]


def test_inference_service_uses_the_model_format_form_only():
    for variant in ("examples", "knative"):
        for path, obj in objects_of(variant, "InferenceService").items():
            predictors = [obj["spec"]["predictor"]] + [c["predictor"] for c in obj["spec"].get("canary", [])]
            for predictor in predictors:
                assert not LEGACY_PREDICTORS & set(predictor), path
                assert predictor["model"]["modelFormat"] == {"name": "xgboost"}, path
            # KServe's webhook refuses `name` on the primary model (it is the InferenceService's).
            assert "name" not in obj["spec"]["predictor"]["model"]


def test_standard_mode_canary_is_spec_canary_serving_under_the_same_model_name():
    obj = isvc("examples", STAGING_ISVC)
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    predictor = obj["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == "s3://risk-models/fraud/run-0142/"
    assert "canaryTrafficPercent" not in predictor
    [canary] = obj["spec"]["canary"]
    assert canary["trafficPercent"] == 20
    assert canary["predictor"]["model"]["name"] == "fraud-api"
    assert canary["predictor"]["model"]["storageUri"] == "s3://risk-models/fraud/run-0151/"
    assert "canary" not in isvc("examples", PRODUCTION_ISVC)["spec"]


def test_knative_mode_canary_is_the_applied_revision_with_canary_traffic_percent():
    obj = isvc("knative", STAGING_ISVC)
    annotations = obj["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Knative"
    assert "canary" not in obj["spec"]
    predictor = obj["spec"]["predictor"]
    # Knative sends canaryTrafficPercent to the spec as applied, the rest to the previous revision.
    assert predictor["canaryTrafficPercent"] == 20
    assert predictor["model"]["storageUri"] == "s3://risk-models/fraud/run-0151/"
    assert annotations["mlopsc.dev/model-uri"] == "s3://risk-models/fraud/run-0142/"
    assert annotations["mlopsc.dev/canary-model-uri"] == "s3://risk-models/fraud/run-0151/"
    assert (predictor["minReplicas"], predictor["scaleMetric"], predictor["scaleTarget"]) == (0, "concurrency", 10)
    assert "autoscaling.knative.dev/class" not in annotations


def test_cpu_scaling_picks_the_right_autoscaler_in_each_mode():
    standard = isvc("examples", PRODUCTION_ISVC)
    assert standard["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "hpa"
    assert (standard["spec"]["predictor"]["scaleMetric"], standard["spec"]["predictor"]["scaleTarget"]) == ("cpu", 80)
    knative = isvc("knative", PRODUCTION_ISVC)
    # Knative's default autoscaler cannot scale on cpu: the HPA class must be asked for.
    assert knative["metadata"]["annotations"]["autoscaling.knative.dev/class"] == "hpa.autoscaling.knative.dev"
    assert knative["spec"]["predictor"]["scaleTarget"] == 60


def test_lineage_annotations_name_spec_code_sources_images_model_and_evidence():
    annotations = isvc("examples", STAGING_ISVC)["metadata"]["annotations"]
    assert annotations["mlopsc.dev/spec"] == "specs/risk/fraud-detection.yaml"
    assert annotations["mlopsc.dev/project"] == "risk/fraud-detection"
    assert annotations["mlopsc.dev/model-digest"] == "sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf"
    assert annotations["mlopsc.dev/canary-model-digest"] == "sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada"
    assert json.loads(annotations["mlopsc.dev/evidence-metrics"]) == {"auc": 0.941, "p95_latency_ms": 33.5,
                                                                      "recall_at_1pct_fpr": 0.58}
    assert json.loads(annotations["mlopsc.dev/canary-evidence-metrics"])["auc"] == 0.952
    code = json.loads(annotations["mlopsc.dev/code-commits"])
    assert code["risk/fraud-detection:steps.train"].endswith("@94efdd6f628eda9c1ae893467c9652808443ef3e")
    assert json.loads(annotations["mlopsc.dev/source-versions"])["risk/fraud-detection:sources.transactions"] == "2026-11-01"
    images = json.loads(annotations["mlopsc.dev/image-digests"])
    assert all("@sha256:" in ref for ref in images.values()) and "risk/fraud-detection:steps.train" in images
    assert annotations["mlopsc.dev/pipeline-run"] == "run-0142"


def test_every_object_of_a_target_carries_the_same_lineage():
    keys = {"mlopsc.dev/spec", "mlopsc.dev/project", "mlopsc.dev/code-commits", "mlopsc.dev/source-versions",
            "mlopsc.dev/image-digests", "mlopsc.dev/model-digest", "mlopsc.dev/evidence-metrics"}
    for variant in ("examples", "containers"):
        for path, obj in objects_of(variant, under="deploy/serving/").items():
            assert keys <= set(obj["metadata"]["annotations"]), path


def test_lineage_crosses_projects_and_includes_the_serving_image():
    annotations = objects_of("containers")[f"{RECS}/deployment-recs-api.yaml"]["metadata"]["annotations"]
    code = json.loads(annotations["mlopsc.dev/code-commits"])
    # merchant-recs trains on risk/fraud-detection's model: that project's code is upstream too.
    assert "risk/fraud-detection:steps.train" in code and "growth/merchant-recs:steps.train" in code
    images = json.loads(annotations["mlopsc.dev/image-digests"])
    assert images["growth/merchant-recs:serving.recs-api"].startswith("registry.example.com/growth/recs-api@sha256:")


def test_code_commits_come_from_the_evidence_when_the_spec_has_moved_on(example_repo):
    """The model in service was built from the commit its evidence records, not today's spec."""
    older = "1" * 40
    evidence = example_repo / "evidence/risk/fraud-detection/run-0142.json"
    record = json.loads(evidence.read_text())
    record["lineage"]["code"]["train"] = older
    evidence.write_text(json.dumps(record))
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 0, result.err
    obj = yaml.safe_load((example_repo / "generated" / PRODUCTION_ISVC).read_text())
    code = json.loads(obj["metadata"]["annotations"]["mlopsc.dev/code-commits"])
    assert code["risk/fraud-detection:steps.train"] == f"https://git.example.com/risk/fraud.git@{older}"


def test_container_runtime_is_deployment_service_and_hpa_with_a_canary_deployment():
    objects = objects_of("containers", under=RECS)
    stable, canary = objects[f"{RECS}/deployment-recs-api.yaml"], objects[f"{RECS}/deployment-recs-api-canary.yaml"]
    for deployment, run in ((stable, "run-0007"), (canary, "run-0009")):
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["STORAGE_URI"]["value"] == release_uri("growth/merchant-recs", run)
        assert env["RECS_API_TOKEN"] == {"name": "RECS_API_TOKEN",
                                         "valueFrom": {"secretKeyRef": {"key": "token", "name": "recs-api"}}}
        assert "replicas" not in deployment["spec"]  # the HPA owns it; Argo CD must not fight it
        assert deployment["spec"]["template"]["metadata"]["annotations"]["mlopsc.dev/model-digest"] == digest(run)
    service = objects[f"{RECS}/service-recs-api.yaml"]
    for deployment in (stable, canary):
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert stable["spec"]["selector"]["matchLabels"] != canary["spec"]["selector"]["matchLabels"]
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o["spec"] for o in objects.values()
            if o["kind"] == "HorizontalPodAutoscaler"}
    # replicas {min: 2, max: 8} at 25%: the canary gets ceil(25% of each), at least one pod.
    assert (hpas["recs-api"]["minReplicas"], hpas["recs-api"]["maxReplicas"]) == (2, 8)
    assert (hpas["recs-api-canary"]["minReplicas"], hpas["recs-api-canary"]["maxReplicas"]) == (1, 2)
    assert hpas["recs-api"]["metrics"][0]["resource"] == {"name": "memory",
                                                          "target": {"type": "Utilization", "averageUtilization": 70}}


def test_all_traffic_to_one_track_scales_the_other_to_zero(example_repo):
    make_containers(example_repo)
    spec = example_repo / "specs/growth/merchant-recs.yaml"
    for percent, idle, busy in (("100", "recs-api", "recs-api-canary"), ("0", "recs-api-canary", "recs-api")):
        edit(spec, "percent: 25" if percent == "100" else "percent: 100", f"percent: {percent}")
        result = run_mlopsc("compile", cwd=example_repo)
        assert result.code == 0, result.err
        out = example_repo / "generated" / RECS
        assert yaml.safe_load((out / f"deployment-{idle}.yaml").read_text())["spec"]["replicas"] == 0
        assert not (out / f"horizontalpodautoscaler-{idle}.yaml").exists()
        hpa = yaml.safe_load((out / f"horizontalpodautoscaler-{busy}.yaml").read_text())
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)


def test_quantities_are_canonical_and_gpus_are_requested_and_placed():
    deployment = objects_of("containers")[f"{RECS}/deployment-recs-api.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    # The spec says `cpu: 0.5, memory: 1024Mi`; the API server would store 500m and 1Gi.
    assert resources["requests"] == resources["limits"] == {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"}
    # The repository's accelerators.nodeLabel, by default the one the pipelines' GPU steps select.
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_resources_default_to_kserves_own_defaults_when_unset():
    model = isvc("examples", STAGING_ISVC)["spec"]["predictor"]["model"]
    assert model["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    bundled_prod = isvc("bundled", PRODUCTION_ISVC)["spec"]["predictor"]["model"]["resources"]
    assert bundled_prod["limits"] == {"cpu": "2", "memory": "4Gi"}


def test_network_policy_admits_the_serving_port_from_the_ingress_namespace_and_dns_out():
    policy = objects_of("examples")["deploy/serving/staging/risk/fraud-detection/networkpolicy-fraud-api.yaml"]
    [ingress] = policy["spec"]["ingress"]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}}]
    assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
    dns, storage = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53} and {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}
    assert storage["ports"] == [{"port": 443, "protocol": "TCP"}]  # s3:// models
    knative = objects_of("knative")["deploy/serving/staging/risk/fraud-detection/networkpolicy-fraud-api.yaml"]
    sources = {r["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: {p["port"] for p in r["ports"]}
               for r in knative["spec"]["ingress"]}
    assert sources == {"istio-system": {8012, 8013}, "knative-serving": {8012, 8013, 9090}}


def test_environment_without_release_deploys_nothing():
    assert not [p for p in objects_of("examples") if p.startswith("deploy/serving/staging/growth/")]


def test_validate_and_graph_never_import_the_kubernetes_client():
    code = ("import sys; from compiler.cli import main; "
            f"rc = main(['-C', {str(REPO)!r}, 'validate']) or main(['-C', {str(REPO)!r}, 'graph']); "
            "assert 'kubernetes' not in sys.modules, 'kubernetes imported'; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_output_bytes_do_not_depend_on_the_hash_seed(tmp_path):
    outputs = []
    for seed in ("0", "12345"):
        # One copy per seed: the output directory's name is part of the output (Application paths).
        repo = make_containers(copy_repo(EXAMPLES, tmp_path / f"seed-{seed}" / "repo"))
        subprocess.run([sys.executable, "-m", "compiler", "-C", str(repo), "compile"], cwd=REPO,
                       env={**os.environ, "PYTHONHASHSEED": seed}, check=True, capture_output=True)
        outputs.append({p.relative_to(repo / "generated").as_posix(): p.read_bytes()
                        for p in sorted((repo / "generated" / "deploy").rglob("*.yaml"))})
    assert outputs[0] and outputs[0] == outputs[1]
