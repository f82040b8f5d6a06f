"""What the API server, Argo CD or a kubelet would refuse is refused by `validate` and `compile` alike,
at the offending spot (issue 15: items 9 and 12-15 and their classes), with the boundary values on
both sides: 63 and 64 characters, 2147483647 and 2147483648, 2^63-1 and 2^63."""

from __future__ import annotations

import json

import pytest

from conftest import RELEASE_IMAGE_LINE, edit, line_col, run_mlopsc

FRAUD = "specs/risk/fraud-detection.yaml"
CONFIG = "mlopsc.yaml"
EVIDENCE = "evidence/risk/fraud-detection/run-0142.json"
INT32_MAX = 2147483647


def diagnostics(root) -> list[dict]:
    return json.loads(run_mlopsc("validate", "--format", "json", cwd=root).out)


def found(root, code: str, path: str) -> list[tuple[int, int]]:
    return [(d["line"], d["column"]) for d in diagnostics(root) if d["code"] == code and d["path"] == path]


def codes_of(root) -> list[str]:
    return [d["code"] for d in diagnostics(root)]


def value_at(root, path: str, needle: str, prefix: str) -> tuple[int, int]:
    line, column = line_col(root / path, needle)
    return line, column + len(prefix)


def assert_compile_refuses(root, code: str) -> None:
    result = run_mlopsc("compile", cwd=root)
    assert result.code == 1, result.err
    assert f"error[{code}]" in result.err and "Traceback" not in result.err
    assert not (root / "generated").exists()


# -- item 9: quantities the API server cannot hold ---------------------------------------------
def test_memory_3_4e38_is_k002_in_validate_and_compile(example_repo):
    edit(example_repo / FRAUD, "resources: {cpu: \"1\", memory: 2Gi}", "resources: {cpu: \"1\", memory: 3.4e38}")
    line, column = value_at(example_repo, FRAUD, "memory: 3.4e38", "memory: ")
    assert found(example_repo, "K002", FRAUD) == [(line, column)]
    assert_compile_refuses(example_repo, "K002")


@pytest.mark.parametrize("memory, ok", [("\"9223372036854775807\"", True), ("\"9223372036854775808\"", False),
                                        ("7Ei", True), ("8Ei", False), ("9E", True), ("10E", False),
                                        ("1e400", False), ("1e99999999", False)])
def test_memory_bound_is_int64(example_repo, memory, ok):
    edit(example_repo / FRAUD, "resources: {cpu: \"1\", memory: 2Gi}", f"resources: {{cpu: \"1\", memory: {memory}}}")
    assert ("K002" in codes_of(example_repo)) is not ok
    if ok:
        assert run_mlopsc("compile", cwd=example_repo).code == 0


@pytest.mark.parametrize("cpu, ok", [("\"9223372036854775\"", True), ("\"9223372036854776\"", False)])
def test_cpu_bound_keeps_its_milli_value_in_an_int64(example_repo, cpu, ok):
    edit(example_repo / FRAUD, "resources: {cpu: \"1\", memory: 2Gi}", f"resources: {{cpu: {cpu}, memory: 2Gi}}")
    assert ("K002" in codes_of(example_repo)) is not ok


def test_canonical_quantity_never_crashes_on_what_parse_accepts():
    from compiler.middle.quantity import QuantityError, canonical_quantity

    assert canonical_quantity("1E") == "1E" and canonical_quantity("1E3") == "1e3"
    assert canonical_quantity("9223372036854775807") == "9223372036854775807"
    for bad in ("3.4e38", 3.4e38, "100E", "1e19", "8Ei"):
        with pytest.raises(QuantityError):
            canonical_quantity(bad)


# -- item 12: repository settings --------------------------------------------------------------
@pytest.mark.parametrize("setting, anchor", [
    ("gitops.argocdNamespace", "argocdNamespace: argocd"),
    ("kubeflow.namespace", "pipelineRoot: s3://ml-artifacts/pipelines"),
    ("kserve.ingressNamespace", "deploymentMode: Standard"),
])
@pytest.mark.parametrize("value, ok", [("a" * 63, True), ("a" * 64, False), ("Bad NS", False), ("-ns", False)])
def test_namespaces_of_mlopsc_yaml_are_dns1123_labels(example_repo, setting, anchor, value, ok):
    key = setting.split(".")[1]
    if setting == "gitops.argocdNamespace":
        edit(example_repo / CONFIG, anchor, f"argocdNamespace: '{value}'")
    else:
        edit(example_repo / CONFIG, anchor, f"{anchor}\n  {key}: '{value}'")
    expected = [] if ok else [value_at(example_repo, CONFIG, f"{key}: '{value}'", f"{key}: ")]
    assert found(example_repo, "N001", CONFIG) == expected
    if not ok:
        assert_compile_refuses(example_repo, "N001")


def test_release_image_not_an_image_is_k019(example_repo):
    edit(example_repo / CONFIG, RELEASE_IMAGE_LINE, "  releaseImage: 'not an image'\n")
    assert found(example_repo, "K019", CONFIG) == [value_at(example_repo, CONFIG, "releaseImage: ", "releaseImage: ")]
    assert_compile_refuses(example_repo, "K019")


@pytest.mark.parametrize("image, ok", [
    ("ghcr.io/mlopsc/mlopsc:0.1.0", True),
    ("ubuntu", True),
    ("localhost:5000/team/x:1.2", True),
    ("registry.example.com:443/a/b-c__d.e@sha256:" + "a" * 64, True),
    ("registry.example.com/a/b:v1@sha256:" + "a" * 64, True),
    ("[::1]:5000/a", True),
    ("not an image", False),
    ("Registry.example.com/Team/train", False),
    ("registry.example.com/team//train", False),
    ("registry.example.com/team/train:", False),
    ("registry.example.com/team/train:" + "t" * 129, False),
    ("registry.example.com/team/train@sha256:abc", False),
    ("registry.example.com/team/-train", False),
    ("reg_istry.example.com/team/train", False),
    ("a/" * 127 + "b", True),
    ("a/" * 128 + "b", False),
])
def test_image_reference_grammar(image, ok):
    from compiler.middle.rules.cluster import image_problem

    assert (image_problem(image) is None) is ok, image_problem(image)


def test_white_space_or_control_is_found_wherever_str_methods_find_it():
    """Images and URLs are refused for any character that is white space or not printable (the
    tab, NBSP, U+2028, a C1 control, a lone surrogate...): every code point, alone and inside."""
    from compiler.middle.images import holds_space_or_control

    for code in range(0x110000):
        c = chr(code)
        expected = c.isspace() or not c.isprintable()
        assert holds_space_or_control(c) is expected, hex(code)
        assert holds_space_or_control(f"registry.example.com/a{c}b") is expected, hex(code)
    assert holds_space_or_control("") is False


def test_step_image_that_is_no_reference_is_k019(example_repo):
    edit(example_repo / FRAUD, "image: registry.example.com/risk/fraud-train@",
         "image: registry.example.com/Risk/fraud-train@")
    assert found(example_repo, "K019", FRAUD) == [value_at(example_repo, FRAUD, "image: registry.example.com/Risk", "image: ")]


@pytest.mark.parametrize("cluster, ok", [
    ("https://prod.k8s.example.com", True), ("https://10.0.0.1:6443", True), ("https://[fd00::1]:6443/x", True),
    ("not a url", False), ("prod.k8s.example.com", False), ("https://prod.k8s.example.com:99999", False),
    ("https://", False), ("ftp://prod.k8s.example.com", False), ("https://u:p@prod.k8s.example.com", False),
    ("https://bad_host.example.com", False),
])
def test_environment_cluster_is_an_api_server_url(example_repo, cluster, ok):
    edit(example_repo / CONFIG, "cluster: https://prod.k8s.example.com", f"cluster: '{cluster}'")
    expected = [] if ok else [value_at(example_repo, CONFIG, f"cluster: '{cluster}'", "cluster: ")]
    assert found(example_repo, "K020", CONFIG) == expected


@pytest.mark.parametrize("url, ok", [
    ("https://git.example.com/ml/platform.git", True), ("ssh://git@git.example.com:2222/ml/platform.git", True),
    ("git@github.com:ml/platform.git", True), ("whatever", False), ("https://git example.com/x", False),
    ("ftp://git.example.com/x", False), ("https://user:token@git.example.com/x.git", False),
])
def test_repo_url_is_one_argo_cd_clones(example_repo, url, ok):
    edit(example_repo / CONFIG, "repoURL: https://git.example.com/ml/platform.git", f"repoURL: '{url}'")
    expected = [] if ok else [value_at(example_repo, CONFIG, f"repoURL: '{url}'", "repoURL: ")]
    assert found(example_repo, "K020", CONFIG) == expected


def test_pipeline_root_is_a_url(example_repo):
    edit(example_repo / CONFIG, "pipelineRoot: s3://ml-artifacts/pipelines", "pipelineRoot: 'ml artifacts'")
    assert found(example_repo, "K020", CONFIG) == [value_at(example_repo, CONFIG, "pipelineRoot: ", "pipelineRoot: ")]


@pytest.mark.parametrize("label, ok", [("nvidia.com/gpu.product", True), ("cloud.google.com/gke-accelerator", True),
                                       ("accelerator", True), ("bad key/x", False), ("Example.com/x", False),
                                       ("example.com/" + "x" * 64, False), ("example.com/" + "x" * 63, True)])
def test_node_label_is_a_label_key(example_repo, label, ok):
    edit(example_repo / CONFIG, "deploymentMode: Standard", f"deploymentMode: Standard\naccelerators:\n  nodeLabel: '{label}'")
    expected = [] if ok else [value_at(example_repo, CONFIG, "nodeLabel: ", "nodeLabel: ")]
    assert found(example_repo, "K021", CONFIG) == expected


def test_a_trailing_newline_is_not_part_of_a_label_key(example_repo):
    # `$` in a pattern matches before a final newline; the API server refuses the key all the same.
    edit(example_repo / CONFIG, "deploymentMode: Standard",
         'deploymentMode: Standard\naccelerators:\n  nodeLabel: "nvidia.com/gpu.product\\n"')
    assert found(example_repo, "K021", CONFIG) == [value_at(example_repo, CONFIG, "nodeLabel: ", "nodeLabel: ")]


# -- item 13: int32 fields -----------------------------------------------------------------------
def test_replicas_beyond_int32_is_k018_in_validate_and_compile(example_repo):
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}", "replicas: {min: 1, max: 100000000000}")
    assert found(example_repo, "K018", FRAUD) == [value_at(example_repo, FRAUD, "max: 100000000000", "max: ")]
    assert_compile_refuses(example_repo, "K018")


@pytest.mark.parametrize("value, ok", [(INT32_MAX, True), (INT32_MAX + 1, False)])
def test_int32_boundary_of_replicas_targets_and_gpus(example_repo, value, ok):
    edit(example_repo / FRAUD, "replicas: {min: 3, max: 12}", f"replicas: {{min: 3, max: {value}}}")
    edit(example_repo / FRAUD, "gpu: 1, gpuType", f"gpu: {value}, gpuType")
    edit(example_repo / "mlopsc.yaml", "deploymentMode: Standard", "deploymentMode: Knative")
    edit(example_repo / FRAUD, "replicas: {min: 1, max: 2}",
         f"replicas: {{min: 1, max: 2}}\n          autoscaling: {{metric: rps, target: {value}}}")
    expected = [] if ok else sorted([value_at(example_repo, FRAUD, f"max: {value}", "max: "),
                                     value_at(example_repo, FRAUD, f"gpu: {value}", "gpu: "),
                                     value_at(example_repo, FRAUD, f"target: {value}", "target: ")])
    assert sorted(found(example_repo, "K018", FRAUD)) == expected


@pytest.mark.parametrize("timeout, code", [("24855d3h14m7s", None), ("24855d3h14m8s", "K018"), ("0s", "K012"),
                                           ("99999999999999999999d", "K018")])
def test_timeout_is_a_valid_active_deadline(example_repo, timeout, code):
    edit(example_repo / FRAUD, "timeout: 4h", f"timeout: {timeout}")
    position = value_at(example_repo, FRAUD, f"timeout: {timeout}", "timeout: ")
    assert found(example_repo, "K018", FRAUD) == ([position] if code == "K018" else [])
    assert found(example_repo, "K012", FRAUD) == ([position] if code == "K012" else [])


# -- item 15: label values -----------------------------------------------------------------------
def test_gpu_type_that_is_no_label_value_is_k017(example_repo):
    edit(example_repo / FRAUD, "gpuType: nvidia-l4", "gpuType: 'NVIDIA L4 (24GB)'")
    assert found(example_repo, "K017", FRAUD) == [value_at(example_repo, FRAUD, "gpuType: 'NVIDIA", "gpuType: ")]
    message = next(d["message"] for d in diagnostics(example_repo) if d["code"] == "K017")
    assert "nvidia-l4-24gb" in message
    assert_compile_refuses(example_repo, "K017")


@pytest.mark.parametrize("value, ok", [("a" * 63, True), ("a" * 64, False), ("NVIDIA_L4.v2", True), ("l4-", False)])
def test_gpu_type_label_value_boundaries(example_repo, value, ok):
    edit(example_repo / FRAUD, "gpuType: nvidia-l4", f"gpuType: '{value}'")
    assert ("K017" in codes_of(example_repo)) is not ok


# -- names and keys that reach objects --------------------------------------------------------------
def test_secret_name_key_and_env_name_are_checked(example_repo):
    edit(example_repo / FRAUD, "WANDB_API_KEY: {secret: wandb, key: api-key}",
         "WANDB_API_KEY: {secret: Wandb_Secret, key: 'api key'}\n        '1BAD': {secret: wandb, key: k}")
    assert found(example_repo, "K022", FRAUD) == [value_at(example_repo, FRAUD, "secret: Wandb", "secret: ")]
    assert sorted(found(example_repo, "K023", FRAUD)) == sorted(
        [value_at(example_repo, FRAUD, "key: 'api key'", "key: "), line_col(example_repo / FRAUD, "'1BAD'")])


def test_kserve_runtime_name_is_an_object_name(example_repo):
    edit(example_repo / FRAUD, "kserve: {format: xgboost}", "kserve: {format: xgboost, runtime: My Runtime}")
    assert found(example_repo, "K022", FRAUD) == [value_at(example_repo, FRAUD, "runtime: My", "runtime: ")]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_params_that_are_not_finite_are_s007(example_repo, value):
    edit(example_repo / FRAUD, "params: {max_depth: 8, learning_rate: 0.05}",
         f"params: {{max_depth: 8, learning_rate: {value}}}")
    assert found(example_repo, "S007", FRAUD) == [value_at(example_repo, FRAUD, f"learning_rate: {value}", "learning_rate: ")]
    assert_compile_refuses(example_repo, "S007")


# -- item 14: evidence metrics ---------------------------------------------------------------------
@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "true", "\"0.99\"", "1e400", "null", "[0.99]"])
def test_evidence_metric_that_is_no_finite_number_is_e008_in_the_evidence_file(example_repo, value):
    path = example_repo / EVIDENCE
    text = path.read_text(encoding="utf-8")
    assert "\"auc\": 0.941" in text
    path.write_text(text.replace("\"auc\": 0.941", f"\"auc\": {value}"), encoding="utf-8")
    assert found(example_repo, "E008", EVIDENCE) == [value_at(example_repo, EVIDENCE, f"\"auc\": {value}", "\"auc\": ")]
    # One mistake, one diagnostic: no E001 or gate verdict at the releases that name the file.
    assert codes_of(example_repo) == ["E008"]
    assert_compile_refuses(example_repo, "E008")


@pytest.mark.parametrize("value, parsed", [("1e308", 1e308), ("1", 1), ("0.941", 0.941)])
def test_finite_evidence_metrics_are_accepted_and_annotated_as_strict_json(example_repo, value, parsed):
    path = example_repo / EVIDENCE
    path.write_text(path.read_text(encoding="utf-8").replace("\"auc\": 0.941", f"\"auc\": {value}"), encoding="utf-8")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    metrics = [json.loads(a, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
               for a in _annotations(example_repo, "mlopsc.dev/evidence-metrics")]
    assert {"auc": parsed, "p95_latency_ms": 33.5, "recall_at_1pct_fpr": 0.58} in metrics


def _annotations(root, key):
    import yaml

    for path in (root / "generated/deploy/serving").rglob("*.yaml"):
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
        value = obj["metadata"].get("annotations", {}).get(key)
        if value is not None:
            yield value


@pytest.mark.parametrize("uri, ok", [("s3://risk-models/fraud/run-0151/", True), ("s3://risk models/x/", False),
                                     ("https://models.example.com:99999/x", False), ("s3:///no-bucket", False)])
def test_release_uri_is_a_url_kserve_can_download(example_repo, uri, ok):
    edit(example_repo / FRAUD, "uri: s3://risk-models/fraud/run-0151/", f"uri: '{uri}'")
    expected = [] if ok else [value_at(example_repo, FRAUD, f"uri: '{uri}'", "uri: ")]
    assert found(example_repo, "K020", FRAUD) == expected


@pytest.mark.parametrize("revision, ok", [("main", True), ("release/2026-11", True), ("v1.2.3", True),
                                          ("64c6b3587f843e585763a3397de11dd335e81a5e", True), ("HEAD", True),
                                          ("my branch", False), ("a..b", False), ("feature/", False),
                                          ("x.lock", False), ("a.lock/b", False), ("a/.b", False), ("a:b", False),
                                          ("", False)])
def test_target_revision_is_a_git_ref_name(example_repo, revision, ok):
    edit(example_repo / CONFIG, "targetRevision: main", f"targetRevision: '{revision}'")
    expected = [] if ok else [value_at(example_repo, CONFIG, f"targetRevision: '{revision}'", "targetRevision: ")]
    assert found(example_repo, "K024", CONFIG) == expected


@pytest.mark.parametrize("key, ok", [("api-key", True), (".hidden", True), (".", False), ("..", False),
                                     ("..data", False), ("a" * 253, True), ("a" * 254, False)])
def test_secret_key_is_what_a_mounted_volume_can_name(example_repo, key, ok):
    """IsConfigMapKey: `.`, `..` and keys starting with `..` are refused (the kubelet's `..data`)."""
    edit(example_repo / FRAUD, "WANDB_API_KEY: {secret: wandb, key: api-key}",
         f"WANDB_API_KEY: {{secret: wandb, key: '{key}'}}")
    expected = [] if ok else [value_at(example_repo, FRAUD, f"key: '{key}'", "key: ")]
    assert found(example_repo, "K023", FRAUD) == expected


def test_a_trailing_newline_never_passes_a_grammar(example_repo):
    """A YAML block scalar ends in a newline; `$` would let it through, `\\Z` does not."""
    sha = "4f944542e06cd6f28fa72685120ec1c9e2b84a27"
    edit(example_repo / FRAUD, f"code: {{repo: https://git.example.com/risk/fraud.git, commit: {sha}, path: features}}",
         f"code:\n        repo: https://git.example.com/risk/fraud.git\n        commit: |\n          {sha}\n"
         f"        path: features")
    result = json.loads(run_mlopsc("validate", "--format", "json", cwd=example_repo).out)
    assert [(d["code"], d["line"]) for d in result if d["path"] == FRAUD and d["severity"] == "error"] == [
        ("P004", line_col(example_repo / FRAUD, "commit: |")[0])]


def test_a_source_version_with_any_white_space_is_unpinned():
    """P001's white-space check covers every character str.isspace calls white space (the tab,
    NBSP, U+2028, U+3000...), inside the version and nowhere else."""
    from compiler.middle.rules.pinning import source_version_problem

    for code in range(0x110000):
        c = chr(code)
        problem = source_version_problem(f"2026{c}11")
        assert (problem == f"version `{f'2026{c}11'.strip()}` contains white space") is c.isspace(), hex(code)
