"""One project's training and evaluation DAG as KFP v2 IR: a PipelineSpec and a PlatformSpec.

Built as plain dicts shaped exactly like kfp 2.17's `json_format.MessageToDict` output, so that the
file reads as if kfp's own compiler wrote it (and kfp can load and recompile it unchanged):

- task keys follow kfp's naming: importers are `importer`, `importer-2`, … (their display name is
  the source or reference), container tasks take the step or evaluation name, the release task is
  `release-<serving>`; a taken key gets kfp's `-2`, `-3` suffix, in kfp's creation order
  (importers, steps in dependency order, evaluations, then per serving target its condition group);
- every spec param is a pipeline input (`<step>_<param>`) whose default is the spec's value, so a
  run can override it; proto3 rules apply: numbers are doubles (`30` is written `30.0`), int64 is a
  string, false and empty fields are left out, disabled caching is `cachingOptions: {}`;
- gates become one condition group per gated serving target whose CEL condition is the
  conjunction of every gate of every evaluation the target names.
"""

from __future__ import annotations

import functools
import graphlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ...frontend.models import Evaluation, MLProject, Release, SecretRef, Step
from ...layout import GIT_TOKEN_ENV
from ...middle import refs
from ...middle.durations import timeout_seconds
from ...middle.gates import parse_gate
from ...middle.monitoring import monitor_pipeline_name
from ...middle.quantity import canonical_quantity, parse_quantity
from ...layout import pipeline_name

SCHEMA_VERSION = "2.1.0"
# Names the producer; deliberately without a version, so a compiler upgrade that writes the same
# pipeline keeps the PipelineVersion name (its content hash) unchanged.
SDK_VERSION = "mlopsc"
ARTIFACT_TYPES = {"dataset": "system.Dataset", "model": "system.Model", "metrics": "system.Metrics"}
EVIDENCE_TYPE = "system.Artifact"
GPU_RESOURCE = "nvidia.com/gpu"
# gpuType selects nodes by the repository's accelerators.nodeLabel; GPU nodes carry the
# `nvidia.com/gpu` NoSchedule taint, which GPU tasks tolerate.
GPU_TOLERATION = {"effect": "NoSchedule", "key": GPU_RESOURCE, "operator": "Exists"}
# kfp's own default retries immediately; a minute's pause rides out preempted nodes and flaky
# storage, doubling up to the hour kfp allows by default.
RETRY_BACKOFF = {"backoffDuration": "60s", "backoffFactor": 2.0, "backoffMaxDuration": "3600s"}
RELEASE_COMMAND = ["mlopsc", "evidence", "write"]
REPORT_COMMAND = ["mlopsc", "evidence", "report"]
# Stands for the PipelineVersion name inside the release task's arguments until the content hash,
# which names the version, has been computed over the pipeline with this token in its place.
VERSION_TOKEN = "@@mlopsc-pipeline-version@@"

_PLACEHOLDER = re.compile(r"\$\{(inputs|outputs|params)\.([^}]*)\}")
_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")
# kfp's legacy numeric memory fields are gigabytes; same arithmetic as kfp's _memory_to_float.
_MEMORY_UNITS = {"E": 10**18, "Ei": 1 << 60, "P": 10**15, "Pi": 1 << 50, "T": 10**12, "Ti": 1 << 40,
                 "G": 10**9, "Gi": 1 << 30, "M": 10**6, "Mi": 1 << 20, "K": 10**3, "Ki": 1 << 10}


def artifact_type(title: str) -> dict:
    return {"schemaTitle": title, "schemaVersion": "0.0.1"}


def unique_name(name: str, taken: set[str], sep: str = "-") -> str:
    """kfp's make_name_unique_by_adding_index: `name`, else `name-2`, `name-3`, …"""
    candidate, index = name, 2
    while candidate in taken:
        candidate, index = f"{name}{sep}{index}", index + 1
    taken.add(candidate)
    return candidate


def identifier(text: str) -> str:
    """A Python identifier (pipeline inputs are keyword arguments for a pipeline's users)."""
    return _NOT_IDENTIFIER.sub("_", text)


def parameter_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "NUMBER_INTEGER"
    if isinstance(value, float):
        return "NUMBER_DOUBLE"
    if isinstance(value, list):
        return "LIST"
    if isinstance(value, dict):
        return "STRUCT"
    return "STRING"  # strings, and null: an optional string a run may set


def proto_value(value: Any) -> Any:
    """A value as google.protobuf.Value gives it back: every number a double."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [proto_value(v) for v in value]
    return {str(k): proto_value(value[k]) for k in sorted(value, key=str)}  # a Struct has no order


def env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cpu_float(canonical: str) -> float:
    """kfp's legacy cpu field (cores as a double), as kfp's _cpu_to_float computes it."""
    if re.fullmatch(r"\d+m?", canonical):
        return float(canonical[:-1]) / 1000 if canonical.endswith("m") else float(canonical)
    return float(parse_quantity(canonical))  # `1k` cores: forms kfp does not know


def memory_float(canonical: str) -> float:
    """kfp's legacy memory field (GB as a double), as kfp's _memory_to_float computes it."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki", "E", "P", "T", "G", "M", "K"):
        if canonical.endswith(suffix) and canonical[:-len(suffix)].isdigit():
            return float(canonical[:-len(suffix)]) * _MEMORY_UNITS[suffix] / 10**9
    # Suffixes kfp does not know (k, m, exponents): the exact value in GB.
    return float(parse_quantity(canonical)) / 10**9


def cel_number(threshold: float) -> str:
    """A CEL double literal (metrics are doubles; CEL does not compare double with int)."""
    return repr(float(threshold))


def step_order(steps: dict[str, Step]) -> list[str]:
    """Steps in dependency order, level by level and by name within a level: the order a DSL
    pipeline would create them in. (The middle stage has rejected cycles.)"""
    sorter = graphlib.TopologicalSorter({
        name: {ref.step for ref in map(refs.parse_ref, step.inputs.values())
               if ref is not None and ref.project is None and ref.step in steps}
        for name, step in steps.items()})
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order


@dataclass(frozen=True)
class ArtifactChannel:
    """An artifact some task of the root DAG produces."""

    task: str
    key: str
    title: str

    def root_binding(self) -> dict:
        return {"taskOutputArtifact": {"outputArtifactKey": self.key, "producerTask": self.task}}


@dataclass(frozen=True)
class Upstream:
    """What a cross-project input imports: the producer's current release, or a run-time URI."""

    ref: str  # `<team>/<project>:<ref>`
    title: str
    uri: str | None  # None: no release yet, the run supplies the URI
    metadata: dict

    @property
    def uri_input(self) -> str:
        """The pipeline input a run sets when there is no release: named after what it imports."""
        project, _, local = self.ref.partition(":")
        local = local.removeprefix("steps.").replace(".outputs.", "_")
        return identifier(f"{project}_{local}_uri")


@dataclass
class Pipeline:
    """The result: both IR documents, plus where the version name goes once it is known."""

    name: str
    spec: dict
    platform: dict | None
    header: str
    version_slots: list[tuple[list, int]] = field(default_factory=list)

    def set_version_name(self, name: str) -> None:
        for args, index in self.version_slots:
            args[index] = name


class PipelineBuilder:
    def __init__(self, model: MLProject, upstreams: dict[str, Upstream],
                 pipeline_root: str, release_image: str, gpu_node_label: str, gitops=None):
        self.model = model
        # With gitops.writeBack, the release task also proposes the release to Git.
        self.gitops = gitops if gitops is not None and gitops.writeBack is not None else None
        self.gpu_node_label = gpu_node_label
        self.key = model.key
        self.upstreams = upstreams
        self.pipeline_root = pipeline_root
        self.release_image = release_image
        self.task_names: set[str] = set()
        self.input_names: set[str] = set()
        self.components: dict[str, dict] = {}
        self.executors: dict[str, dict] = {}
        self.platform: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.root_parameters: dict[str, dict] = {}
        self.artifacts: dict[str, ArtifactChannel] = {}  # lineage node id -> channel
        self.metrics: dict[tuple[str, str], str] = {}  # (evaluation, metric) -> task key
        self.version_slots: list[tuple[list, int]] = []
        self.groups = 0

    # -- the whole pipeline -------------------------------------------------------------------
    def build(self) -> Pipeline:
        spec = self.model.spec
        for name in sorted(spec.sources):
            if str(spec.sources[name].version).strip() != "live":  # read only by monitors (rule M007)
                self._source(name)
        for ref in sorted(self.upstreams):
            self._upstream(self.upstreams[ref])
        for name in step_order(spec.steps):
            self._container(name, spec.steps[name])
        for name in sorted(spec.evaluations):
            self._container(name, spec.evaluations[name])
        for name in sorted(spec.serving):
            self._release(name)
        return self._pipeline(pipeline_name(self.model.metadata.team, self.model.metadata.name),
                              self.model.metadata.description)

    def build_monitor(self, serving: str, releases: list[tuple[str, Release]], pushgateway: str) -> Pipeline:
        """The continuous evaluation of `serving` (LANGUAGE.md "Monitoring"): per monitored
        environment, an importer of the release in service, the evaluation's container on it with
        `evaluate.inputs` in place of the evaluation's inputs, and `mlopsc evidence report`, which
        writes the evidence of the run and pushes its metrics and gate outcomes. Nothing is cached:
        a live source keeps its URI from one run to the next, and each run must evaluate afresh."""
        spec = self.model.spec
        evaluate = spec.serving[serving].monitoring.evaluate
        evaluation = spec.evaluations[evaluate.evaluation]
        inputs = {**evaluation.inputs, **evaluate.inputs}
        for name in sorted({refs.parse_ref(text).source for text in inputs.values()}):
            self._source(name, cache=False)
        model_node = refs.parse_ref(evaluation.model).node_id(self.key)
        run = evaluation.model_copy(update={"inputs": inputs, "cache": False})
        for env, release in releases:
            model = self._importer(f"{serving}@{env}", release.uri, ARTIFACT_TYPES["model"],
                                   {"digest": release.digest, "environment": env, "serving": serving}, cache=False)
            self.artifacts[model_node] = model
            task = self._container(f"{evaluate.evaluation}-{env}", run)
            self._report(serving, env, release, task, evaluation, model, pushgateway)
        team, project = self.model.metadata.team, self.model.metadata.name
        return self._pipeline(monitor_pipeline_name(team, project, serving),
                              f"Continuous evaluation of {self.key} {serving} with `{evaluate.evaluation}` "
                              f"(schedule {evaluate.schedule}, UTC)")

    def _pipeline(self, name: str, description: str | None) -> Pipeline:
        info = {"name": name}
        if description:
            info["description"] = description
        root: dict = {"dag": {"tasks": self.tasks}}
        if self.root_parameters:
            root["inputDefinitions"] = {"parameters": self.root_parameters}
        pipeline_spec = {
            "components": self.components,
            "defaultPipelineRoot": self.pipeline_root,
            "deploymentSpec": {"executors": self.executors},
            "pipelineInfo": info,
            "root": root,
            "schemaVersion": SCHEMA_VERSION,
            "sdkVersion": SDK_VERSION,
        }
        platform = ({"platforms": {"kubernetes": {"deploymentSpec": {"executors": self.platform}}}}
                    if self.platform else None)
        return Pipeline(name, pipeline_spec, platform, comment_header(pipeline_spec), self.version_slots)

    # -- importers ----------------------------------------------------------------------------
    def _importer(self, display: str, uri: str | None, title: str, metadata: dict,
                  uri_input: str = "", cache: bool = True) -> ArtifactChannel:
        task = unique_name("importer", self.task_names)
        if uri is None:
            # No release to import yet: the URI is a pipeline input without a default, so every
            # run has to say which model (or data set) it imports.
            uri_input = unique_name(uri_input, self.input_names, "_")
            self.root_parameters[uri_input] = {"parameterType": "STRING"}
            uri_binding: dict = {"componentInputParameter": uri_input}
            artifact_uri: dict = {"runtimeParameter": "uri"}
        else:
            uri_binding = {"runtimeValue": {"constant": uri}}
            artifact_uri = {"constant": uri}
        self.components[f"comp-{task}"] = {
            "executorLabel": f"exec-{task}",
            "inputDefinitions": {"parameters": {"uri": {"parameterType": "STRING"}}},
            "outputDefinitions": {"artifacts": {"artifact": {"artifactType": artifact_type(title)}}},
        }
        importer: dict = {"artifactUri": artifact_uri, "typeSchema": artifact_type(title)}
        if metadata:
            importer["metadata"] = metadata
        self.executors[f"exec-{task}"] = {"importer": importer}
        self.tasks[task] = {
            "cachingOptions": {"enableCache": True} if cache else {},
            "componentRef": {"name": f"comp-{task}"},
            "inputs": {"parameters": {"uri": uri_binding}},
            "taskInfo": {"name": display},
        }
        return ArtifactChannel(task, "artifact", title)

    def _source(self, name: str, cache: bool = True) -> None:
        source = self.model.spec.sources[name]
        metadata = {"version": str(source.version)}
        if source.format:
            metadata["format"] = source.format
        channel = self._importer(name, source.uri, ARTIFACT_TYPES["dataset"], metadata, cache=cache)
        self.artifacts[refs.source_id(self.key, name)] = channel

    def _upstream(self, upstream: Upstream) -> None:
        channel = self._importer(upstream.ref, upstream.uri, upstream.title, upstream.metadata,
                                 upstream.uri_input)
        self.artifacts[refs.parse_ref(upstream.ref).node_id(self.key)] = channel

    # -- steps and evaluations ----------------------------------------------------------------
    def _container(self, name: str, item: Step | Evaluation) -> str:
        is_eval = isinstance(item, Evaluation)
        task = unique_name(name, self.task_names)
        inputs = dict(item.inputs)
        if is_eval:
            inputs["model"] = item.model
        in_artifacts, bindings, dependents = {}, {}, set()
        for input_name in sorted(inputs):
            channel = self.artifacts[refs.parse_ref(inputs[input_name]).node_id(self.key)]
            in_artifacts[input_name] = {"artifactType": artifact_type(channel.title)}
            bindings[input_name] = channel.root_binding()
            dependents.add(channel.task)
        in_parameters, parameter_bindings = {}, {}
        for param in sorted(item.params):
            value = item.params[param]
            pipeline_input = unique_name(identifier(f"{name}_{param}"), self.input_names, "_")
            # Built twice, not shared: a shared list would come out as a YAML anchor and alias.
            for definitions, name_there in ((in_parameters, param), (self.root_parameters, pipeline_input)):
                definition = {"parameterType": parameter_type(value), "isOptional": True}
                if value is not None:
                    definition["defaultValue"] = proto_value(value)
                definitions[name_there] = definition
            parameter_bindings[param] = {"componentInputParameter": pipeline_input}
        component: dict = {"executorLabel": f"exec-{task}"}
        if in_artifacts or in_parameters:
            component["inputDefinitions"] = _drop_empty({"artifacts": in_artifacts, "parameters": in_parameters})
        if is_eval:
            outputs = {"parameters": {m: {"parameterType": "NUMBER_DOUBLE"} for m in item.metrics}}
            for metric in item.metrics:
                self.metrics[(name, metric)] = task
        else:
            outputs = {"artifacts": {o: {"artifactType": artifact_type(ARTIFACT_TYPES[t])}
                                     for o, t in item.outputs.items()}}
            for output, typ in item.outputs.items():
                self.artifacts[refs.artifact_id(self.key, name, output)] = ArtifactChannel(
                    task, output, ARTIFACT_TYPES[typ])
        if any(outputs.values()):
            component["outputDefinitions"] = _drop_empty(outputs)
        self.components[f"comp-{task}"] = component
        self.executors[f"exec-{task}"] = {"container": self._container_spec(item, inputs, is_eval)}
        task_spec: dict = {
            "cachingOptions": {"enableCache": True} if item.cache else {},
            "componentRef": {"name": f"comp-{task}"},
            "taskInfo": {"name": name},
        }
        if dependents:
            task_spec["dependentTasks"] = sorted(dependents)
        task_inputs = _drop_empty({"artifacts": bindings, "parameters": parameter_bindings})
        if task_inputs:
            task_spec["inputs"] = task_inputs
        if item.retries:
            task_spec["retryPolicy"] = {"maxRetryCount": item.retries, **RETRY_BACKOFF}
        self.tasks[task] = task_spec
        platform = self._platform_spec(item)
        if platform:
            self.platform[f"exec-{task}"] = platform
        return task

    def _container_spec(self, item: Step | Evaluation, inputs: dict, is_eval: bool) -> dict:
        def placeholder(kind: str, name: str) -> str:
            if kind == "inputs":
                return f"{{{{$.inputs.artifacts['{name}'].path}}}}"
            if kind == "params":
                return f"{{{{$.inputs.parameters['{name}']}}}}"
            if is_eval:
                return f"{{{{$.outputs.parameters['{name}'].output_file}}}}"
            return f"{{{{$.outputs.artifacts['{name}'].path}}}}"

        if item.args is not None:
            args = [_PLACEHOLDER.sub(lambda m: placeholder(m[1], m[2]), arg) for arg in item.args]
        else:
            # The contract's default: every input, output and param as `--<name> <value>`.
            args = []
            for input_name in sorted(inputs):
                args += [f"--{input_name}", placeholder("inputs", input_name)]
            for output in sorted(item.metrics if is_eval else item.outputs):
                args += [f"--{output}", placeholder("outputs", output)]
            for param in sorted(item.params):
                flag = [f"--{param}", placeholder("params", param)]
                if item.params[param] is None:
                    # An unset optional param passes no flag at all (kfp's IfPresent).
                    args.append(json.dumps({"IfPresent": {"InputName": param, "Then": flag}}))
                else:
                    args += flag
        container: dict = {"image": item.image}
        if item.command:
            container["command"] = list(item.command)
        if args:
            container["args"] = args
        env = [{"name": k, "value": env_string(v)} for k, v in sorted(item.env.items())
               if not isinstance(v, SecretRef)]
        if env:
            container["env"] = env
        resources = _resources(item.resources)
        if resources:
            container["resources"] = resources
        return container

    def _platform_spec(self, item: Step | Evaluation) -> dict:
        platform: dict = {}
        by_secret: dict[str, list[dict]] = {}
        for env_name, value in sorted(item.env.items()):
            if isinstance(value, SecretRef):
                by_secret.setdefault(value.secret, []).append({"envVar": env_name, "secretKey": value.key})
        if by_secret:
            platform["secretAsEnv"] = [
                {"keyToEnv": keys, "optional": False, "secretName": secret,
                 "secretNameParameter": {"runtimeValue": {"constant": secret}}}
                for secret, keys in sorted(by_secret.items())]
        res = item.resources
        if res is not None and res.gpu:
            if res.gpuType:
                platform["nodeSelector"] = {"labels": {self.gpu_node_label: res.gpuType}}
            platform["tolerations"] = [dict(GPU_TOLERATION)]
        if item.timeout:
            platform["activeDeadlineSeconds"] = str(timeout_seconds(item.timeout))
        return platform

    # -- releases -----------------------------------------------------------------------------
    def _release(self, serving: str) -> None:
        spec = self.model.spec
        target = spec.serving[serving]
        evaluations = [e for e in dict.fromkeys(target.gates) if e in spec.evaluations]
        model = self.artifacts[refs.parse_ref(target.model).node_id(self.key)]
        metric_inputs: dict[tuple[str, str], str] = {}  # (evaluation, metric) -> release input
        taken: set[str] = set()
        for ev in evaluations:
            for metric in spec.evaluations[ev].metrics:
                metric_inputs[(ev, metric)] = unique_name(identifier(f"{ev}_{metric}"), taken, "_")
        gates = [(ev, gate) for ev in evaluations for gate in map(parse_gate, spec.evaluations[ev].gates)
                 if gate is not None]
        group = None
        if gates:
            self.groups += 1
            group = unique_name(f"condition-{self.groups}", self.task_names)
        task = unique_name(f"release-{serving}", self.task_names)

        args = ["--project", self.key, "--serving", serving,
                "--model-uri", "{{$.inputs.artifacts['model'].uri}}",
                "--model-path", "{{$.inputs.artifacts['model'].path}}"]
        for (ev, metric), input_name in metric_inputs.items():
            args += ["--metric", f"{metric}={{{{$.inputs.parameters['{input_name}']}}}}"]
        for name in sorted(spec.steps):
            args += ["--code", f"{name}={spec.steps[name].code.commit}"]
        for name in sorted(spec.evaluations):
            args += ["--code", f"{name}={spec.evaluations[name].code.commit}"]
        for name in sorted(spec.sources):
            if str(spec.sources[name].version).strip() != "live":
                args += ["--source", f"{name}={spec.sources[name].version}"]
        args += ["--pipeline-version", VERSION_TOKEN, "--run", "{{$.pipeline_job_uuid}}",
                 "--output", "{{$.outputs.artifacts['evidence'].path}}"]
        self.version_slots.append((args, args.index(VERSION_TOKEN)))
        if self.gitops is not None:
            # One process: `evidence write` then `release propose` on the written file (the
            # release image needs no shell). The token comes from the Secret, as env only.
            args += ["--propose-to", self.gitops.repoURL, "--revision", self.gitops.targetRevision]
            credentials = self.gitops.writeBack.credentials
            self.platform[f"exec-{task}"] = {"secretAsEnv": [
                {"keyToEnv": [{"envVar": GIT_TOKEN_ENV, "secretKey": credentials.key}], "optional": False,
                 "secretName": credentials.secret,
                 "secretNameParameter": {"runtimeValue": {"constant": credentials.secret}}}]}
        self.executors[f"exec-{task}"] = {"container": {"args": args, "command": list(RELEASE_COMMAND),
                                                        "image": self.release_image}}
        component: dict = {
            "executorLabel": f"exec-{task}",
            "inputDefinitions": {"artifacts": {"model": {"artifactType": artifact_type(model.title)}}},
            "outputDefinitions": {"artifacts": {"evidence": {"artifactType": artifact_type(EVIDENCE_TYPE)}}},
        }
        if metric_inputs:
            component["inputDefinitions"]["parameters"] = {
                name: {"parameterType": "NUMBER_DOUBLE"} for name in metric_inputs.values()}
        self.components[f"comp-{task}"] = component
        # Never cached: every run that passes the gates writes evidence of its own.
        release: dict = {"cachingOptions": {}, "componentRef": {"name": f"comp-{task}"},
                         "taskInfo": {"name": task}}

        producers = {(ev, metric): self.metrics[(ev, metric)] for ev, metric in metric_inputs}
        if group is None:
            release["dependentTasks"] = sorted({model.task, *producers.values()})
            release["inputs"] = _drop_empty({
                "artifacts": {"model": model.root_binding()},
                "parameters": {name: {"taskOutputParameter": {"outputParameterKey": metric,
                                                              "producerTask": producers[(ev, metric)]}}
                               for (ev, metric), name in metric_inputs.items()}})
            self.tasks[task] = release
            return

        # Inside a condition group every value comes in through the group's own inputs, named
        # `pipelinechannel--<task>-<output>` the way kfp names a value crossing a group boundary.
        channel_names: set[str] = set()
        model_channel = unique_name(f"pipelinechannel--{model.task}-{model.key}", channel_names)
        metric_channels = {key: unique_name(f"pipelinechannel--{producers[key]}-{key[1]}", channel_names)
                           for key in metric_inputs}
        release["inputs"] = _drop_empty({
            "artifacts": {"model": {"componentInputArtifact": model_channel}},
            "parameters": {name: {"componentInputParameter": metric_channels[key]}
                           for key, name in metric_inputs.items()}})
        group_inputs = _drop_empty({
            "artifacts": {model_channel: {"artifactType": artifact_type(model.title)}},
            "parameters": {channel: {"parameterType": "NUMBER_DOUBLE"} for channel in metric_channels.values()}})
        self.components[f"comp-{group}"] = {"dag": {"tasks": {task: release}}, "inputDefinitions": group_inputs}
        condition = " && ".join(
            f"inputs.parameter_values['{metric_channels[(ev, gate.metric)]}'] {gate.op} {cel_number(gate.threshold)}"
            for ev, gate in gates)
        self.tasks[group] = {
            "componentRef": {"name": f"comp-{group}"},
            "dependentTasks": sorted({model.task, *producers.values()}),
            "inputs": _drop_empty({
                "artifacts": {model_channel: model.root_binding()},
                "parameters": {channel: {"taskOutputParameter": {"outputParameterKey": key[1],
                                                                 "producerTask": producers[key]}}
                               for key, channel in metric_channels.items()}}),
            "taskInfo": {"name": group},
            "triggerPolicy": {"condition": condition},
        }


    # -- continuous evaluation ----------------------------------------------------------------
    def _report(self, serving: str, env: str, release: Release, evaluation_task: str, evaluation: Evaluation,
                model: ArtifactChannel, pushgateway: str) -> None:
        task = unique_name(f"report-{env}", self.task_names)
        taken: set[str] = set()
        metric_inputs = {metric: unique_name(identifier(metric), taken, "_") for metric in evaluation.metrics}
        args = ["--evidence", "{{$.outputs.artifacts['evidence'].path}}", "--environment", env,
                "--pushgateway", pushgateway, "--project", self.key, "--serving", serving,
                "--model-uri", "{{$.inputs.artifacts['model'].uri}}", "--model-digest", release.digest]
        for metric, input_name in metric_inputs.items():
            args += ["--metric", f"{metric}={{{{$.inputs.parameters['{input_name}']}}}}"]
        for gate in filter(None, map(parse_gate, evaluation.gates)):
            args += ["--gate", str(gate)]
        args += ["--pipeline-version", VERSION_TOKEN, "--run", "{{$.pipeline_job_uuid}}"]
        self.version_slots.append((args, args.index(VERSION_TOKEN)))
        self.executors[f"exec-{task}"] = {"container": {"args": args, "command": list(REPORT_COMMAND),
                                                        "image": self.release_image}}
        self.components[f"comp-{task}"] = {
            "executorLabel": f"exec-{task}",
            "inputDefinitions": {"artifacts": {"model": {"artifactType": artifact_type(model.title)}},
                                 "parameters": {n: {"parameterType": "NUMBER_DOUBLE"} for n in metric_inputs.values()}},
            "outputDefinitions": {"artifacts": {"evidence": {"artifactType": artifact_type(EVIDENCE_TYPE)}}},
        }
        self.tasks[task] = {
            "cachingOptions": {},
            "componentRef": {"name": f"comp-{task}"},
            "dependentTasks": sorted({model.task, evaluation_task}),
            "inputs": {"artifacts": {"model": model.root_binding()},
                       "parameters": {name: {"taskOutputParameter": {"outputParameterKey": metric,
                                                                     "producerTask": evaluation_task}}
                                      for metric, name in metric_inputs.items()}},
            "taskInfo": {"name": task},
        }


@functools.lru_cache(maxsize=1024)
def _cpu(value) -> tuple[str, float]:
    """Canonical cpu and kfp's legacy number, once per distinct value (specs repeat a few)."""
    canonical = canonical_quantity(value)
    return canonical, cpu_float(canonical)


@functools.lru_cache(maxsize=1024)
def _memory(value) -> tuple[str, float]:
    canonical = canonical_quantity(value)
    return canonical, memory_float(canonical)


def _resources(res) -> dict:
    """Requests and limits alike (training gets what it asks for), written twice as kfp does:
    legacy numeric fields for old backends, `resource*` strings for current ones."""
    out: dict = {}
    if res is None:
        return out
    if res.cpu is not None:
        cpu, value = _cpu(res.cpu)
        out.update(cpuLimit=value, cpuRequest=value, resourceCpuLimit=cpu, resourceCpuRequest=cpu)
    if res.memory is not None:
        memory, value = _memory(res.memory)
        out.update(memoryLimit=value, memoryRequest=value, resourceMemoryLimit=memory,
                   resourceMemoryRequest=memory)
    if res.gpu:
        count = str(res.gpu)
        out["accelerator"] = {"count": count, "resourceCount": count, "resourceType": GPU_RESOURCE,
                              "type": GPU_RESOURCE}
    return out


def _drop_empty(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if v}


def comment_header(pipeline_spec: dict) -> str:
    """The comment block kfp's compiler writes above the YAML (name, description, inputs)."""
    lines = ["# PIPELINE DEFINITION", f"# Name: {pipeline_spec['pipelineInfo']['name']}"]
    description = pipeline_spec["pipelineInfo"].get("description")
    if description:
        lines.append("# Description: " + "\n#              ".join(map(_comment_safe, description.splitlines())))
    parameters = pipeline_spec["root"].get("inputDefinitions", {}).get("parameters", {})
    if parameters:
        lines.append("# Inputs:")
        for name in sorted(parameters):
            definition = parameters[name]
            line = f"#    {name}: {_COMMENT_TYPES[definition['parameterType']]}"
            if "defaultValue" in definition:
                default = definition["defaultValue"]
                if isinstance(default, str):
                    # kfp prints the string as it is; one with a line break or a character YAML
                    # refuses would end the comment or make the file unreadable: escape that one.
                    shown = repr(default) if _COMMENT_UNSAFE.search(default) else "'" + default + "'"
                else:
                    shown = str(default)  # lists and dicts print their strings escaped already
                line += f" [Default: {shown}]"
            lines.append(line)
    return "\n".join(lines) + "\n"


# Characters a comment line cannot hold: those YAML's reader refuses anywhere in a file, and
# line breaks (YAML counts NEL and the Unicode line and paragraph separators as such). Spelt as
# the few ranges it holds, not as the complement of what YAML allows: the same characters (every
# code point checked), but compiled in 0.1 ms instead of 2-10 ms at every start-up.
_COMMENT_UNSAFE = re.compile("[\x00-\x08\x0A-\x1F\x7F-\x9F\u2028\u2029\uD800-\uDFFF\uFFFE\uFFFF]")


def _comment_safe(text: str) -> str:
    return _COMMENT_UNSAFE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


_COMMENT_TYPES = {"STRING": "str", "NUMBER_INTEGER": "int", "NUMBER_DOUBLE": "float", "LIST": "list",
                  "STRUCT": "dict", "BOOLEAN": "bool"}
