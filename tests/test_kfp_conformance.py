"""Conformance of the KFP back end's output with the real consumers' own tools.

Over every project of the bundled specs, the contract's examples and an edge-case repository
(tests/kfp_corpus.py): kfp's protobufs parse the IR strictly; every reference resolves; the kfp
SDK loads the pipeline, reuses it inside another pipeline and recompiles it to the same document;
cel-python evaluates each gate condition exactly as the gates say; the Pipeline and
PipelineVersion objects are valid against the CRDs with closed objects; the shapes match what
kfp's own compiler writes (../shared/kfp-golden).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re

import celpy
import pytest
import yaml
from google.protobuf import json_format
from kfp import compiler, components, dsl
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from conftest import KFP_GOLDEN
from crd_schema import validate_strict
from kfp_corpus import PIPELINE_IDS, PIPELINES, emitted, kfp_corpora, split_header  # noqa: F401 (fixtures)

from compiler.backends.kfp import ir
from compiler.middle.gates import parse_gate

# Every training pipeline, and every continuous evaluation's `<…>-monitor` pipeline.
pytestmark = pytest.mark.parametrize("emitted", PIPELINES, ids=PIPELINE_IDS, indirect=True)

PLACEHOLDER = re.compile(r"\{\{\$\.(inputs|outputs)\.(artifacts|parameters)\['([^']+)'\](?:\.(path|uri|output_file))?\}\}")
CONDITION_INPUT = re.compile(r"inputs\.parameter_values\['([^']+)'\]")


def parse_strict(document: dict, message) -> None:
    json_format.ParseDict(document, message, ignore_unknown_fields=False)


# --------------------------------------------------------------------------- protobuf parsing
def test_ir_parses_strictly_with_kfp_protobufs(emitted):
    spec = emitted.spec
    parse_strict(spec, pipeline_spec_pb2.PipelineSpec())
    # deploymentSpec and the platform executors are Structs inside their messages: parse them too.
    parse_strict(spec["deploymentSpec"], pipeline_spec_pb2.PipelineDeploymentConfig())
    assert spec["schemaVersion"] == "2.1.0"  # the only version the API server accepts
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", spec["pipelineInfo"]["name"])
    if emitted.platform is not None:
        assert len(emitted.ir) == 2
        parse_strict(emitted.platform, pipeline_spec_pb2.PlatformSpec())
        executors = emitted.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        assert executors and set(executors) <= set(spec["deploymentSpec"]["executors"])
        for config in executors.values():
            parse_strict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
    else:
        assert len(emitted.ir) == 1


# --------------------------------------------------------------------------- reference integrity
def integrity_problems(spec: dict) -> list[str]:
    """Every dangling reference or unbound required input of a PipelineSpec (kfp does not check)."""
    problems: list[str] = []
    components, executors = spec["components"], spec["deploymentSpec"]["executors"]
    used_components, used_executors = set(), set()

    def declared(component: dict, side: str, kind: str) -> dict:
        return component.get(f"{side}Definitions", {}).get(kind, {})

    def check_dag(owner: str, component: dict) -> None:
        tasks = component["dag"]["tasks"]
        for name, task in tasks.items():
            where = f"{owner}/{name}"
            ref = task["componentRef"]["name"]
            if ref not in components:
                problems.append(f"{where}: componentRef {ref} does not exist")
                continue
            used_components.add(ref)
            callee = components[ref]
            depends = task.get("dependentTasks", [])
            for dep in depends:
                if dep not in tasks:
                    problems.append(f"{where}: dependentTask {dep} is not in {owner}")
            for kind in ("artifacts", "parameters"):
                bound = task.get("inputs", {}).get(kind, {})
                wanted = declared(callee, "input", kind)
                for input_name, binding in bound.items():
                    if input_name not in wanted:
                        problems.append(f"{where}: binds {kind} {input_name} that {ref} does not declare")
                    problems.extend(check_binding(where, owner, component, tasks, depends, kind, binding,
                                                  wanted.get(input_name, {})))
                for input_name, definition in wanted.items():
                    if input_name not in bound and not definition.get("isOptional"):
                        problems.append(f"{where}: required {kind} {input_name} of {ref} is not bound")
            condition = task.get("triggerPolicy", {}).get("condition")
            if condition:
                for channel in CONDITION_INPUT.findall(condition):
                    if channel not in task.get("inputs", {}).get("parameters", {}):
                        problems.append(f"{where}: condition reads {channel}, which is not an input")
            if "dag" in callee:
                check_dag(ref, callee)

    def check_binding(where, owner, component, tasks, depends, kind, binding, definition):
        out = []
        key = "taskOutputArtifact" if kind == "artifacts" else "taskOutputParameter"
        if key in binding:
            producer = binding[key]["producerTask"]
            output = binding[key]["outputArtifactKey" if kind == "artifacts" else "outputParameterKey"]
            if producer not in tasks:
                return [f"{where}: producerTask {producer} is not in {owner}"]
            if producer not in depends:
                out.append(f"{where}: reads {producer} but does not depend on it")
            produced = declared(components[tasks[producer]["componentRef"]["name"]], "output", kind)
            if output not in produced:
                out.append(f"{where}: {producer} has no output {output}")
            elif kind == "artifacts" and produced[output]["artifactType"] != definition.get("artifactType"):
                out.append(f"{where}: {producer}.{output} is {produced[output]['artifactType']}, "
                           f"expected {definition.get('artifactType')}")
            elif kind == "parameters" and produced[output]["parameterType"] != definition.get("parameterType"):
                out.append(f"{where}: {producer}.{output} has another parameter type")
        for key in ("componentInputArtifact", "componentInputParameter"):
            if key in binding and binding[key] not in declared(component, "input", kind):
                out.append(f"{where}: {key} {binding[key]} is not an input of {owner}")
        return out

    check_dag("root", spec["root"])
    for name, component in components.items():
        if "executorLabel" in component:
            label = component["executorLabel"]
            if label not in executors:
                problems.append(f"{name}: executor {label} does not exist")
                continue
            used_executors.add(label)
            problems.extend(f"{name}: {p}" for p in executor_problems(component, executors[label]))
    problems += [f"{name}: never used" for name in sorted(set(components) - used_components)]
    problems += [f"{name}: never used" for name in sorted(set(executors) - used_executors)]
    return problems


def executor_problems(component: dict, executor: dict) -> list[str]:
    problems = []
    if "importer" in executor:
        runtime = executor["importer"]["artifactUri"].get("runtimeParameter")
        if runtime is not None and runtime not in component["inputDefinitions"]["parameters"]:
            problems.append(f"importer reads parameter {runtime}, not an input")
        return problems
    container = executor["container"]

    def check(text: str) -> None:
        if text.startswith('{"IfPresent"'):
            clause = json.loads(text)["IfPresent"]
            if clause["InputName"] not in component.get("inputDefinitions", {}).get("parameters", {}):
                problems.append(f"IfPresent names {clause['InputName']}, not an input parameter")
            for part in clause["Then"]:
                check(part)
            return
        for side, kind, name, _ in PLACEHOLDER.findall(text):
            if name not in component.get(f"{side[:-1]}Definitions", {}).get(kind, {}):
                problems.append(f"placeholder {side}.{kind}['{name}'] names nothing the component declares")

    for text in container.get("command", []) + container.get("args", []):
        check(text)
    return problems


def test_every_reference_resolves(emitted):
    assert integrity_problems(emitted.spec) == []


def test_integrity_walk_finds_what_it_looks_for(emitted):
    """The walk above is only worth something if it fails on broken IR."""
    spec = json.loads(json.dumps(emitted.spec))
    tasks = spec["root"]["dag"]["tasks"]
    consumer = next(t for t in tasks.values() if t.get("dependentTasks") and "inputs" in t)
    binding = next(iter(consumer["inputs"].get("artifacts", {}).values()))
    binding["taskOutputArtifact"]["producerTask"] = "no-such-task"
    assert any("producerTask no-such-task" in p for p in integrity_problems(spec))
    spec = json.loads(json.dumps(emitted.spec))
    component = next(c for c in spec["components"].values() if "executorLabel" in c
                     and "artifacts" in c.get("inputDefinitions", {}))
    component["inputDefinitions"]["artifacts"]["extra"] = {"artifactType": ir.artifact_type("system.Dataset")}
    assert any("required artifacts extra" in p for p in integrity_problems(spec))


# --------------------------------------------------------------------------- the kfp SDK
def test_kfp_loads_reuses_and_recompiles_the_pipeline(emitted, tmp_path):
    component = components.load_component_from_file(str(emitted.ir_path))
    # A pipeline input without a default (a cross-project import with no release yet) must be
    # given by whoever runs or reuses the pipeline.
    required = {name: f"s3://example/{name}/" for name, definition
                in emitted.spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()
                if not definition.get("isOptional")}

    @dsl.pipeline(name="wrapper")
    def wrapper():
        component(**required)

    compiler.Compiler().compile(wrapper, str(tmp_path / "wrapper.yaml"))
    wrapped = list(yaml.safe_load_all((tmp_path / "wrapper.yaml").read_text()))
    inner = wrapped[0]["components"][f"comp-{emitted.spec['pipelineInfo']['name']}"]
    assert inner["dag"] == emitted.spec["root"]["dag"]
    for label, executor in emitted.spec["deploymentSpec"]["executors"].items():
        assert wrapped[0]["deploymentSpec"]["executors"][label] == executor
    if emitted.platform is not None:
        assert wrapped[1] == emitted.platform

    compiler.Compiler().compile(component, str(tmp_path / "again.yaml"))
    again = (tmp_path / "again.yaml").read_text(encoding="utf-8")
    assert list(yaml.safe_load_all(again)) == emitted.ir
    if emitted.ir_text.isascii():
        # kfp's writer escapes non-ASCII text (PyYAML's default); the shared serializer keeps it
        # readable as UTF-8. Otherwise the file is byte for byte what kfp writes.
        ours_header, ours_body = split_header(emitted.ir_text)
        kfp_header, kfp_body = split_header(again)
        assert kfp_body == ours_body
        assert kfp_header == ours_header



# --------------------------------------------------------------------------- gate conditions
def _gated_groups(emitted):
    """(group task, serving target name) for every condition group of the root DAG."""
    spec = emitted.spec
    for task in spec["root"]["dag"]["tasks"].values():
        if "triggerPolicy" not in task:
            continue
        group = spec["components"][task["componentRef"]["name"]]
        (release,) = group["dag"]["tasks"].values()
        args = spec["deploymentSpec"]["executors"][spec["components"][release["componentRef"]["name"]]["executorLabel"]]["container"]["args"]
        yield task, args[args.index("--serving") + 1]


def _candidates(thresholds: list[float]) -> list[float]:
    values = {0.0}
    for t in thresholds:
        values |= {t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf), t - 1, t + 1}
    return sorted(values)


def test_gate_conditions_are_cel_that_agrees_with_the_gates(emitted):
    model, spec = emitted.project.model, emitted.spec
    env = celpy.Environment()
    # A continuous evaluation releases nothing: it reports every outcome, so it has no condition.
    gated_targets = set() if emitted.monitor else {name for name, t in model.spec.serving.items()
                                                   if any(model.spec.evaluations[e].gates for e in t.gates)}
    groups = list(_gated_groups(emitted))
    assert sorted(name for _, name in groups) == sorted(gated_targets)
    for task, serving in groups:
        program = env.program(env.compile(task["triggerPolicy"]["condition"]))
        # channel -> (evaluation, metric), through the group's bindings and the producer tasks
        channels = {}
        for channel, binding in task["inputs"]["parameters"].items():
            producer = spec["root"]["dag"]["tasks"][binding["taskOutputParameter"]["producerTask"]]
            channels[channel] = (producer["taskInfo"]["name"], binding["taskOutputParameter"]["outputParameterKey"])
        target = model.spec.serving[serving]
        gates = [(ev, parse_gate(text)) for ev in target.gates for text in model.spec.evaluations[ev].gates]
        by_metric = {}
        for ev, gate in gates:
            by_metric.setdefault((ev, gate.metric), []).append(gate)

        def holds(values: dict) -> bool:
            activation = {"inputs": celpy.json_to_cel({"parameter_values": {
                c: values.get(key, 0.0) for c, key in channels.items()}})}
            result = program.evaluate(activation)
            assert isinstance(result, celpy.celtypes.BoolType), result
            return bool(result)

        metrics = sorted(by_metric)
        grid = list(itertools.product(*(_candidates([g.threshold for g in by_metric[m]]) for m in metrics)))
        if len(grid) > 400:
            grid = random.Random(0).sample(grid, 400)
        outcomes = set()
        for combination in grid:
            values = dict(zip(metrics, combination))
            expected = all(g.passes(values[(ev, g.metric)]) for ev, g in gates)
            assert holds(values) is expected, (task["triggerPolicy"]["condition"], values)
            outcomes.add(expected)
        assert outcomes == {True, False}  # the grid reached both sides of the gates
        # every release the spec pins was gated on metrics that pass this very condition
        for se in target.environments.values():
            for release in filter(None, (se.release, se.canary.release if se.canary else None)):
                evidence = emitted.checked.repo.evidence[release.evidence].record
                values = {(ev, m): evidence.metrics[m] for ev, m in metrics}
                assert holds(values)


# --------------------------------------------------------------------------- Kubernetes objects
def test_pipeline_objects_are_valid_against_the_crds(emitted):
    pipeline, version = emitted.pipeline, emitted.version
    assert validate_strict(pipeline) == []
    assert validate_strict(version) == []
    name = emitted.spec["pipelineInfo"]["name"]
    team = emitted.project.model.metadata.team
    namespace = emitted.checked.config.kubeflow.namespace or team
    assert pipeline["metadata"]["name"] == name and pipeline["metadata"]["namespace"] == namespace
    assert version["metadata"]["namespace"] == namespace
    assert version["spec"]["pipelineName"] == name
    assert version["spec"]["pipelineSpec"] == emitted.spec
    assert version["spec"].get("platformSpec") == emitted.platform
    # A DNS-1123 subdomain, `<pipeline>-<10 hex>`
    assert re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{{10}}}", version["metadata"]["name"])
    # Argo CD syncs the objects; the raw IR stays outside every synced directory.
    ir_path, *object_paths = emitted.paths
    assert ir_path.startswith("kfp/") and all(p.startswith("deploy/pipelines/") for p in object_paths)


def test_version_name_is_the_documented_content_hash(emitted):
    """The hash covers the whole version spec with the name itself replaced by a fixed token."""
    spec = json.loads(json.dumps(emitted.version["spec"]))
    name = emitted.version["metadata"]["name"]
    del spec["displayName"]
    recorded = []
    for executor in spec["pipelineSpec"]["deploymentSpec"]["executors"].values():
        args = executor.get("container", {}).get("args", [])
        for i, arg in enumerate(args[:-1]):
            if arg == "--pipeline-version":
                recorded.append(args[i + 1])
                args[i + 1] = ir.VERSION_TOKEN
    # every release task (one per serving target) or report task (one per monitored environment)
    # records this very name
    tasks = emitted.spec["root"]["dag"]["tasks"]
    expected = (sum(1 for t in tasks if t.startswith("report-")) if emitted.monitor
                else len(emitted.project.model.spec.serving))
    assert len(recorded) == expected and set(recorded) <= {name}
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert name.endswith("-" + hashlib.sha256(canonical.encode()).hexdigest()[:10])


# --------------------------------------------------------------------------- golden shapes
def _golden(name: str) -> list[dict]:
    text = (KFP_GOLDEN / name).read_text(encoding="utf-8")
    return list(yaml.safe_load_all(text))


def shape(value):
    """Keys and value types, recursively: what two documents must share to be alike."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def covers(ours, golden) -> bool:
    """`ours` has every field of `golden`, with the same types (and may have more)."""
    if isinstance(golden, dict):
        return isinstance(ours, dict) and all(k in ours and covers(ours[k], v) for k, v in golden.items())
    return ours == golden


def test_shapes_match_kfp_golden_output(emitted):
    spec = emitted.spec
    importer_golden = _golden("pipeline_with_importer.yaml")[0]
    tasks = spec["root"]["dag"]["tasks"]
    for key, task in tasks.items():
        component = spec["components"][task["componentRef"]["name"]]
        executor = spec["deploymentSpec"]["executors"].get(component.get("executorLabel"), {})
        if "importer" in executor:
            golden_task = importer_golden["root"]["dag"]["tasks"]["importer"]
            golden_runtime = importer_golden["components"]["comp-condition-1"]["dag"]["tasks"]["importer-2"]
            # A continuous evaluation's importers are not cached: disabled caching is `{}`, as kfp writes it.
            cached = {**task, "cachingOptions": {"enableCache": True}} if task["cachingOptions"] == {} else task
            assert shape(cached) in (shape(golden_task), shape(golden_runtime))
            assert component == {**importer_golden["components"]["comp-importer"], "executorLabel": f"exec-{key}",
                                 "outputDefinitions": {"artifacts": {"artifact": {
                                     "artifactType": executor["importer"]["typeSchema"]}}}}
            golden_constant = importer_golden["deploymentSpec"]["executors"]["exec-importer"]["importer"]
            golden_runtime_exec = importer_golden["deploymentSpec"]["executors"]["exec-importer-2"]["importer"]
            assert set(executor["importer"]) <= set(golden_constant) | set(golden_runtime_exec)
            assert shape(executor["importer"]["artifactUri"]) in (shape(golden_constant["artifactUri"]),
                                                                  shape(golden_runtime_exec["artifactUri"]))
        if "retryPolicy" in task:
            golden_retry = _golden("pipeline_with_retry.yaml")[0]["root"]["dag"]["tasks"]["add"]["retryPolicy"]
            assert shape(task["retryPolicy"]) == shape(golden_retry)
        if "triggerPolicy" in task:
            golden_group = importer_golden["root"]["dag"]["tasks"]["condition-1"]
            assert set(task) == set(golden_group)
            assert re.fullmatch(r"condition-\d+", key)
            for channel in {**task["inputs"].get("artifacts", {}), **task["inputs"]["parameters"]}:
                assert channel.startswith("pipelinechannel--")
    golden_resources = _golden("pipeline_with_string_machine_fields_pipeline_input.yaml")[0]
    (golden_res,) = [e["container"]["resources"] for e in golden_resources["deploymentSpec"]["executors"].values()
                     if "resources" in e.get("container", {})]
    for executor in spec["deploymentSpec"]["executors"].values():
        resources = executor.get("container", {}).get("resources")
        if resources:
            for field_name, kind in shape(golden_res).items():
                if field_name in resources:
                    assert covers(shape(resources[field_name]), kind), field_name
            # the legacy numeric field sits beside each new string field, as kfp writes it
            for new, legacy in (("resourceCpuLimit", "cpuLimit"), ("resourceMemoryLimit", "memoryLimit"),
                                ("resourceCpuRequest", "cpuRequest"), ("resourceMemoryRequest", "memoryRequest")):
                assert (new in resources) == (legacy in resources)
                if legacy in resources:
                    assert isinstance(resources[legacy], float)
    if emitted.platform is not None:
        golden_platform = {name: _golden(f"{name}.yaml")[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-comp"]
                           for name in ("k8s-secret_as_env", "k8s-node_selector", "k8s-toleration")}
        for config in emitted.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
            for entry in config.get("secretAsEnv", []):
                assert shape(entry) == shape(golden_platform["k8s-secret_as_env"]["secretAsEnv"][0])
            if "nodeSelector" in config:
                assert shape(config["nodeSelector"]) == shape(golden_platform["k8s-node_selector"]["nodeSelector"])
            for toleration in config.get("tolerations", []):
                assert set(toleration) <= set(golden_platform["k8s-toleration"]["tolerations"][0])

