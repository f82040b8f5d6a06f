"""GPU placement is one platform fact: pipeline steps and serving pods select the same node label."""

import yaml

from conftest import edit, run_mlopsc


def _node_selectors(out):
    ir_docs = list(yaml.safe_load_all((out / "kfp/risk/fraud-detection/pipeline.yaml").read_text()))
    platform = ir_docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    return platform["nodeSelector"]["labels"]


def test_gpu_node_label_setting_moves_pipelines_and_serving_together(example_repo):
    # The fraud model trains on an L4 already; serve it on one in staging too.
    spec = example_repo / "specs/risk/fraud-detection.yaml"
    edit(spec, 'resources: {cpu: "1", memory: 2Gi}', 'resources: {cpu: "1", memory: 2Gi, gpu: 1, gpuType: nvidia-l4}')
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    out = example_repo / "generated"
    isvc = yaml.safe_load((out / "deploy/serving/staging/risk/fraud-detection/inferenceservice-fraud-api.yaml").read_text())
    assert _node_selectors(out) == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert isvc["spec"]["predictor"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}

    config = example_repo / "mlopsc.yaml"
    config.write_text(config.read_text() + "accelerators:\n  nodeLabel: nvidia.com/gpu.product\n")
    edit(spec, "gpuType: nvidia-l4", "gpuType: NVIDIA-L4", count=2)
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    isvc = yaml.safe_load((out / "deploy/serving/staging/risk/fraud-detection/inferenceservice-fraud-api.yaml").read_text())
    assert _node_selectors(out) == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    assert isvc["spec"]["predictor"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
