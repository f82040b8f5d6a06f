"""What users of the KFP back end notice: the pipeline kfp would compile from the same design,
version names that follow content, cross-project imports, settings, and the release task's
evidence reaching `mlopsc validate`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, RELEASE_IMAGE_LINE, REPO, edit, run_mlopsc
from kfp_corpus import (EDGE_FILES, PROJECT_IDS, PROJECTS, emit_repository, emitted, kfp_corpora,  # noqa: F401
                         split_header)

from compiler.backends.kfp import ir
from compiler.backends.kfp import upstreams as kfp_upstreams

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _spell_able(spec: dict) -> bool:
    """kfp's DSL declares inputs, outputs and params as Python parameters."""
    items = [*spec["spec"].get("steps", {}).values(), *spec["spec"].get("evaluations", {}).values()]
    names = [n for item in items for n in (*item.get("inputs", {}), *item.get("outputs", {}),
                                              *item.get("params", {}), *item.get("metrics", []))]
    return all(IDENTIFIER.match(n) for n in names)


def _spec_text(corpus: str, key: str) -> str:
    team, name = key.split("/")
    if corpus == "edge":
        return EDGE_FILES[f"specs/{team}/{name}.yaml"]
    return ((REPO if corpus == "bundled" else EXAMPLES) / "specs" / team / f"{name}.yaml").read_text()


DSL_PROJECTS = [(p, i) for p, i in zip(PROJECTS, PROJECT_IDS) if _spell_able(yaml.safe_load(_spec_text(*p)))]


def test_every_kind_of_project_is_covered_by_the_dsl_comparison():
    assert {corpus for (corpus, _), _ in DSL_PROJECTS} == {"bundled", "examples", "edge"}
    assert len(DSL_PROJECTS) < len(PROJECTS)  # the dashed-names project is the one kfp cannot spell


@pytest.mark.parametrize("emitted", [p for p, _ in DSL_PROJECTS], ids=[i for _, i in DSL_PROJECTS], indirect=True)
def test_kfp_compiles_the_same_pipeline_from_its_dsl(emitted, tmp_path):
    """Written by hand with kfp's DSL (tests/kfp_dsl.py), the same design compiles to our bytes:
    the names, placeholders, resources, conditions and platform spec are kfp's own."""
    import kfp_dsl

    checked, model = emitted.checked, emitted.project.model
    pipeline = kfp_dsl.build_pipeline(model, kfp_upstreams(checked, emitted.project),
                                      pipeline_root=checked.config.kubeflow.pipelineRoot,
                                      release_image=checked.config.kubeflow.releaseImage,
                                      version=emitted.version["metadata"]["name"],
                                      gitops=checked.config.gitops)
    kfp_dsl.compile_to(pipeline, tmp_path / "dsl.yaml")
    theirs = (tmp_path / "dsl.yaml").read_text(encoding="utf-8")
    # Only the producer's name differs: kfp writes its own version there.
    theirs = re.sub(r"(?m)^sdkVersion: kfp-[0-9.]+$", f"sdkVersion: {ir.SDK_VERSION}", theirs)
    assert split_header(theirs) == split_header(emitted.ir_text)


# ------------------------------------------------------------------------- version names
def _versions(root: Path, tmp_path: Path) -> dict[str, str]:
    out = emit_repository(root, tmp_path / f"out-{len(list(tmp_path.iterdir()))}")
    return {key: e.version["metadata"]["name"] for key, e in out.items()}


def test_version_name_changes_with_the_pipeline_and_only_then(example_repo, tmp_path):
    spec = example_repo / "specs" / "risk" / "fraud-detection.yaml"
    first = _versions(example_repo, tmp_path)
    assert first == _versions(example_repo, tmp_path)  # same input, same names

    edit(spec, "replicas: {min: 3, max: 12}", "replicas: {min: 3, max: 14}")  # serving, not training
    assert _versions(example_repo, tmp_path) == first

    edit(spec, "params: {max_depth: 8, learning_rate: 0.05}", "params: {max_depth: 9, learning_rate: 0.05}")
    changed = _versions(example_repo, tmp_path)
    assert changed["risk/fraud-detection"] != first["risk/fraud-detection"]
    assert changed["growth/merchant-recs"] == first["growth/merchant-recs"]

    edit(spec, "params: {max_depth: 9, learning_rate: 0.05}", "params: {max_depth: 8, learning_rate: 0.05}")
    assert _versions(example_repo, tmp_path) == first  # back to the same content, back to the name


# ------------------------------------------------------------------------- cross-project inputs
FRAUD_PRODUCTION = """        production:
          release:
            uri: s3://risk-models/fraud/run-0142/
            digest: sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf
            evidence: evidence/risk/fraud-detection/run-0142.json
"""
FRAUD_STAGING = """        staging:
          release:
            uri: s3://risk-models/fraud/run-0142/
            digest: sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf
            evidence: evidence/risk/fraud-detection/run-0142.json
          canary:
            percent: 20
            release:
              uri: s3://risk-models/fraud/run-0151/
              digest: sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada
              evidence: evidence/risk/fraud-detection/run-0151.json
"""


def _fraud_import(emitted) -> tuple[dict, dict]:
    """The importer task and executor for merchant-recs' input of the fraud model."""
    spec = emitted.spec
    for key, task in spec["root"]["dag"]["tasks"].items():
        if task["taskInfo"]["name"] == "risk/fraud-detection:steps.train.outputs.model":
            return task, spec["deploymentSpec"]["executors"][f"exec-{key}"]["importer"]
    raise AssertionError("no importer of the fraud model")


def test_cross_project_input_imports_the_furthest_promoted_release(example_repo, tmp_path):
    spec = example_repo / "specs" / "risk" / "fraud-detection.yaml"
    recs = emit_repository(example_repo, tmp_path / "a")["growth/merchant-recs"]
    task, importer = _fraud_import(recs)
    assert importer["artifactUri"] == {"constant": "s3://risk-models/fraud/run-0142/"}
    assert importer["metadata"] == {
        "digest": "sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf",
        "environment": "production", "project": "risk/fraud-detection", "serving": "fraud-api"}
    assert importer["typeSchema"]["schemaTitle"] == "system.Model"

    edit(spec, FRAUD_PRODUCTION, "        production:\n")
    recs_staging = emit_repository(example_repo, tmp_path / "b")["growth/merchant-recs"]
    _, importer = _fraud_import(recs_staging)
    assert importer["metadata"]["environment"] == "staging"  # not the canary
    assert importer["artifactUri"] == {"constant": "s3://risk-models/fraud/run-0142/"}
    assert recs_staging.version["metadata"]["name"] != recs.version["metadata"]["name"]

    edit(spec, FRAUD_STAGING, "        staging:\n")
    recs_none = emit_repository(example_repo, tmp_path / "c")["growth/merchant-recs"]
    task, importer = _fraud_import(recs_none)
    # No release anywhere: each run must name the model it imports.
    assert importer["artifactUri"] == {"runtimeParameter": "uri"}
    run_input = task["inputs"]["parameters"]["uri"]["componentInputParameter"]
    assert run_input == "risk_fraud_detection_train_model_uri"
    assert recs_none.spec["root"]["inputDefinitions"]["parameters"][run_input] == {"parameterType": "STRING"}
    assert "#    risk_fraud_detection_train_model_uri: str\n" in recs_none.ir_text


def test_consumer_edge_cases(kfp_corpora):
    consumer = kfp_corpora["edge"]["beta/consumer"]
    tasks = consumer.spec["root"]["dag"]["tasks"]
    by_display = {task["taskInfo"]["name"]: key for key, task in tasks.items()}
    # A step called `importer` keeps its display name; its key takes kfp's next free suffix.
    assert by_display["importer"] == "importer-5"
    assert tasks["check"]["dependentTasks"] == ["importer-4", "importer-5"]
    executors = consumer.spec["deploymentSpec"]["executors"]
    # Another project's source is pinned, so it is imported as it is...
    source = executors[f"exec-{by_display['alpha/producer:sources.raw']}"]["importer"]
    assert source["artifactUri"] == {"constant": "s3://alpha-lake/raw/"}
    assert source["metadata"] == {"project": "alpha/producer", "version": "42"}
    # ...while data sets are never released, and this model not yet: runs supply both.
    inputs = consumer.spec["root"]["inputDefinitions"]["parameters"]
    for ref, run_input in (("alpha/producer:steps.prep-data.outputs.clean", "alpha_producer_prep_data_clean_uri"),
                           ("alpha/producer:steps.train.outputs.model", "alpha_producer_train_model_uri")):
        task = tasks[by_display[ref]]
        assert task["inputs"]["parameters"]["uri"] == {"componentInputParameter": run_input}
        assert inputs[run_input] == {"parameterType": "STRING"}
    # A null param is an optional input without default, passed only when a run sets it.
    assert inputs["importer_note"] == {"isOptional": True, "parameterType": "STRING"}
    args = executors["exec-importer-5"]["container"]["args"]
    assert ('{"IfPresent": {"InputName": "note", "Then": ["--note", '
            '"{{$.inputs.parameters[\'note\']}}"]}}') in args


# ------------------------------------------------------------------------- producer edge cases
def test_container_settings_reach_the_ir(kfp_corpora):
    producer = kfp_corpora["edge"]["alpha/producer"]
    spec, platform = producer.spec, producer.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    prep = spec["deploymentSpec"]["executors"]["exec-prep-data"]["container"]
    # Default arguments: every input, output and param as `--<name> <value>`.
    assert prep["args"][:4] == ["--lookup", "{{$.inputs.artifacts['lookup'].path}}",
                                "--raw_table", "{{$.inputs.artifacts['raw_table'].path}}"]
    assert "--stats" in prep["args"] and "{{$.outputs.artifacts['stats'].path}}" in prep["args"]
    # Plain env in the container; secrets only as references in the platform spec.
    assert prep["env"] == [{"name": "DEBUG", "value": "false"}, {"name": "LEVEL", "value": "3"},
                           {"name": "MODE", "value": "fast"}]
    assert [(s["secretName"], [k["envVar"] for k in s["keyToEnv"]]) for s in platform["exec-prep-data"]["secretAsEnv"]] \
        == [("api", ["API_TOKEN"]), ("db", ["DB_PASSWORD", "DB_USER"])]
    # Canonical quantities, with kfp's legacy numbers beside them.
    assert (prep["resources"]["resourceCpuLimit"], prep["resources"]["cpuLimit"]) == ("500m", 0.5)
    assert (prep["resources"]["resourceMemoryLimit"], prep["resources"]["memoryLimit"]) == ("1536Mi", 1.610612736)
    assert spec["root"]["dag"]["tasks"]["prep-data"]["cachingOptions"] == {}  # cache: false
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["resources"]["resourceMemoryLimit"] == "3G" and train["resources"]["memoryLimit"] == 3.0
    assert train["resources"]["accelerator"] == {"count": "2", "resourceCount": "2",
                                                 "resourceType": "nvidia.com/gpu", "type": "nvidia.com/gpu"}
    assert train["args"] == ["python train.py --data={{$.inputs.artifacts['clean'].path}} --epochs "
                             "{{$.inputs.parameters['epochs']}} --out \"{{$.outputs.artifacts['model'].path}}\"\necho done"]
    # A GPU without a type tolerates GPU nodes but selects none; the timeout is a deadline.
    assert platform["exec-train"] == {"activeDeadlineSeconds": "5400", "tolerations": [
        {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]}
    assert spec["root"]["dag"]["tasks"]["train"]["retryPolicy"] == {
        "backoffDuration": "60s", "backoffFactor": 2.0, "backoffMaxDuration": "3600s", "maxRetryCount": 10}
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["prep_data_columns"] == {"defaultValue": ["id", "amount", 3.0], "isOptional": True,
                                           "parameterType": "LIST"}
    assert inputs["prep_data_options"]["defaultValue"] == {"depth": 2.0, "mode": "fast"}
    assert inputs["prep_data_strict"]["parameterType"] == "BOOLEAN"
    assert "#    train_epochs: int [Default: 10.0]\n" in producer.ir_text


def test_each_serving_target_gets_the_release_its_gates_call_for(kfp_corpora):
    spec = kfp_corpora["edge"]["alpha/producer"].spec
    tasks = spec["root"]["dag"]["tasks"]
    # Ungated: the release runs whenever training does (never cached: each run's own evidence).
    assert tasks["release-batch"]["cachingOptions"] == {} and "triggerPolicy" not in tasks["release-batch"]
    # Gated by an evaluation without gates: no condition, but its metrics go into the evidence.
    assert tasks["release-shadow"]["inputs"]["parameters"] == {
        "speed_p50": {"taskOutputParameter": {"outputParameterKey": "p50", "producerTask": "speed"}}}
    # Gated: inside the condition group, every gate of every named evaluation in one CEL &&.
    group = tasks["condition-1"]
    assert group["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--quality-acc'] > 0.9 && "
        "inputs.parameter_values['pipelinechannel--quality-loss'] < 0.01 && "
        "inputs.parameter_values['pipelinechannel--quality-bias'] == 0.0 && "
        "inputs.parameter_values['pipelinechannel--quality-acc'] <= 1.0")
    assert list(spec["components"]["comp-condition-1"]["dag"]["tasks"]) == ["release-api"]
    assert "release-api" not in tasks


# ------------------------------------------------------------------------- settings and output
def test_namespace_and_release_image_follow_the_repository_settings(example_repo, tmp_path):
    default = emit_repository(example_repo, tmp_path / "a")["risk/fraud-detection"]
    assert default.pipeline["metadata"]["namespace"] == "risk"  # the team's Kubeflow profile
    image = "registry.example.com/platform/mlopsc@sha256:" + "ab" * 32
    edit(example_repo / "mlopsc.yaml", RELEASE_IMAGE_LINE, f"  namespace: kubeflow\n  releaseImage: {image}\n")
    shared = emit_repository(example_repo, tmp_path / "b")["risk/fraud-detection"]
    assert shared.pipeline["metadata"]["namespace"] == shared.version["metadata"]["namespace"] == "kubeflow"
    assert shared.spec["deploymentSpec"]["executors"]["exec-release-fraud-api"]["container"]["image"] == image


def test_compile_writes_both_forms_for_every_bundled_project():
    """The committed generated/ (tests/test_smoke.py keeps it equal to a fresh compile)."""
    generated = REPO / "generated"
    for spec in sorted((REPO / "specs").glob("*/*.yaml")):
        team, name = spec.parent.name, spec.stem
        documents = list(yaml.safe_load_all((generated / "kfp" / team / name / "pipeline.yaml").read_text()))
        assert documents[0]["pipelineInfo"]["name"] == f"{team}-{name}"
        objects = [yaml.safe_load(p.read_text()) for p in sorted((generated / "deploy/pipelines" / team / name).iterdir())]
        # beside it, continuous evaluations' `<team>-<project>-<serving>-monitor` pipelines
        objects = [o for o in objects if f"{team}-{name}" in (o["metadata"]["name"], o["spec"].get("pipelineName"))]
        assert [o["kind"] for o in objects] == ["Pipeline", "PipelineVersion"]
        assert objects[1]["spec"]["pipelineSpec"] == documents[0]
    # Argo CD reads only deploy/: a YAML with apiVersion, kind and metadata elsewhere would not
    # be synced, and the IR has none of them.
    assert not any((generated / "deploy").rglob("pipeline.yaml"))


# ------------------------------------------------------------------------- the release task
def _resolve(text: str, values: dict) -> str:
    """What the KFP launcher does with the placeholders in an argument."""
    return re.sub(r"\{\{\$[^}]*\}\}", lambda m: values[m[0]], text)


def test_release_task_writes_evidence_that_compile_accepts(example_repo, tmp_path):
    """Run the release task's command as the KFP launcher would, pin the model it blessed as the
    staging canary, and `mlopsc validate` finds nothing wrong: evidence, gates, lineage."""
    fraud = emit_repository(example_repo, tmp_path / "out")["risk/fraud-detection"]
    container = fraud.spec["deploymentSpec"]["executors"]["exec-release-fraud-api"]["container"]
    model_dir = tmp_path / "model"
    (model_dir / "booster").mkdir(parents=True)
    (model_dir / "booster" / "model.json").write_text('{"trees": 300}\n')
    values = {
        "{{$.inputs.artifacts['model'].uri}}": "s3://risk-models/fraud/run-0200/",
        "{{$.inputs.artifacts['model'].path}}": str(model_dir),
        "{{$.inputs.parameters['holdout_auc']}}": "0.957",
        "{{$.inputs.parameters['holdout_recall_at_1pct_fpr']}}": "0.61",
        "{{$.inputs.parameters['holdout_p95_latency_ms']}}": "29.5",
        "{{$.pipeline_job_uuid}}": "6f1c2a3e-run-0200",
        "{{$.outputs.artifacts['evidence'].path}}": "evidence/risk/fraud-detection/run-0200.json",
    }
    assert container["command"] == ["mlopsc", "evidence", "write"]
    result = run_mlopsc(*container["command"][1:], *(_resolve(a, values) for a in container["args"]),
                        cwd=example_repo)
    assert result.code == 0, result.err
    record = yaml.safe_load((example_repo / "evidence/risk/fraud-detection/run-0200.json").read_text())
    assert record["lineage"]["pipelineVersion"] == fraud.version["metadata"]["name"]
    assert record["metrics"] == {"auc": 0.957, "recall_at_1pct_fpr": 0.61, "p95_latency_ms": 29.5}

    edit(example_repo / "specs/risk/fraud-detection.yaml",
         """              uri: s3://risk-models/fraud/run-0151/
              digest: sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada
              evidence: evidence/risk/fraud-detection/run-0151.json""",
         f"""              uri: s3://risk-models/fraud/run-0200/
              digest: {record['model']['digest']}
              evidence: evidence/risk/fraud-detection/run-0200.json""")
    validated = run_mlopsc("validate", cwd=example_repo)
    assert validated.code == 0, validated.out + validated.err
    assert "run-0200" not in validated.out + validated.err  # not even a lineage warning


def test_a_project_with_nothing_to_train_gets_no_pipeline(tmp_path):
    """kfp refuses a pipeline without tasks; importing data nobody reads is no pipeline either."""
    from compiler.backends import kfp
    from compiler.build import Layout, load_and_check

    (tmp_path / "specs" / "risk").mkdir(parents=True)
    (tmp_path / "specs/risk/nothing.yaml").write_text(
        "apiVersion: mlopsc.dev/v1\nkind: MLProject\nmetadata: {name: nothing, team: risk}\nspec: {}\n")
    (tmp_path / "specs/risk/data.yaml").write_text(
        "apiVersion: mlopsc.dev/v1\nkind: MLProject\nmetadata: {name: data, team: risk}\n"
        "spec:\n  sources:\n    raw: {uri: s3://lake/raw/, version: '2026-01-01'}\n")
    checked = load_and_check(Layout(tmp_path))
    assert not checked.has_errors
    assert kfp.emit(checked) == []


def test_quantities_kfp_cannot_spell_still_get_legacy_numbers(example_repo, tmp_path):
    """kfp's own legacy fields only know m, K, Ki… suffixes; canonical `1k` and `1e9` are exact too."""
    edit(example_repo / "specs/risk/fraud-detection.yaml", 'resources: {cpu: "4", memory: 16Gi}',
         'resources: {cpu: "1000", memory: "1e9"}')
    fraud = emit_repository(example_repo, tmp_path / "out")["risk/fraud-detection"]
    resources = fraud.spec["deploymentSpec"]["executors"]["exec-features"]["container"]["resources"]
    assert (resources["resourceCpuLimit"], resources["cpuLimit"]) == ("1k", 1000.0)
    assert (resources["resourceMemoryLimit"], resources["memoryLimit"]) == ("1e9", 1.0)
