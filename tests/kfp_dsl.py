"""The same pipeline the KFP back end emits, written with the kfp SDK's public DSL (test/bench only).

Given a project, this builds what a KFP user would write by hand: one `@dsl.container_component`
per step, evaluation and release, `dsl.importer` per source and cross-project input, task
settings through `PipelineTask` and kfp-kubernetes, one `dsl.If` per gated serving target. It
reads the spec models, not our IR, so comparing kfp's compilation of it with our output checks
every shape (names, placeholders, resources, platform spec) against kfp's own compiler. It takes
the back end's documented choices as given: which release a cross-project input imports
(`upstreams`), the PipelineVersion name, and the naming rules in compiler.backends.kfp.ir.

Function signatures are built with `inspect.Signature`, so spec names must be Python identifiers.
"""

from __future__ import annotations

import inspect
import re
from typing import Optional

from kfp import compiler, dsl, kubernetes
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output, OutputPath

from compiler.backends.kfp import ir
from compiler.frontend.models import Accelerators, Evaluation, MLProject, SecretRef
from compiler.layout import GIT_TOKEN_ENV
from compiler.middle import refs
from compiler.middle.durations import timeout_seconds
from compiler.middle.gates import parse_gate
from compiler.middle.quantity import canonical_quantity

ARTIFACT_CLASSES = {"system.Dataset": Dataset, "system.Model": Model, "system.Metrics": Metrics}
_SPEC_ARTIFACTS = {"dataset": Dataset, "model": Model, "metrics": Metrics}
_PLACEHOLDER = re.compile(r"\$\{(inputs|outputs|params)\.([^}]*)\}")


def _component(name: str, parameters: list[inspect.Parameter], make_spec):
    def body(*args):
        return make_spec(dict(zip((p.name for p in parameters), args)))

    body.__name__ = name
    body.__signature__ = inspect.Signature(parameters)
    return dsl.container_component(body)


def _param(name, annotation, default=inspect.Parameter.empty):
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation,
                             default=default)


def _python_type(value):
    if value is None:
        return Optional[str]
    return {bool: bool, int: int, float: float, str: str, list: list, dict: dict}[type(value)]


def _container_component(name: str, item, input_classes: dict[str, type]):
    is_eval = isinstance(item, Evaluation)
    parameters = [_param(n, Input[input_classes[n]]) for n in sorted(input_classes)]
    if is_eval:
        parameters += [_param(m, OutputPath(float)) for m in item.metrics]
    else:
        parameters += [_param(o, Output[_SPEC_ARTIFACTS[t]]) for o, t in item.outputs.items()]
    parameters += [_param(p, _python_type(v), v) for p, v in item.params.items()]

    def make_spec(values):
        def placeholder(kind, key):
            value = values[key]
            if kind in ("inputs", "outputs") and not (kind == "outputs" and is_eval):
                return value.path
            return value

        if item.args is not None:
            args = []
            for arg in item.args:
                whole = _PLACEHOLDER.fullmatch(arg)
                if whole:
                    args.append(placeholder(whole[1], whole[2]))
                else:  # an f-string, as a user would write it
                    args.append(_PLACEHOLDER.sub(lambda m: str(placeholder(m[1], m[2])), arg))
        else:
            args = []
            for key in sorted(input_classes):
                args += [f"--{key}", placeholder("inputs", key)]
            for key in sorted(item.metrics if is_eval else item.outputs):
                args += [f"--{key}", placeholder("outputs", key)]
            for key in sorted(item.params):
                flag = [f"--{key}", placeholder("params", key)]
                args += ([dsl.IfPresentPlaceholder(input_name=key, then=flag)]
                         if item.params[key] is None else flag)
        return dsl.ContainerSpec(image=item.image, command=list(item.command) or None, args=args or None)

    return _component(name.replace("-", "_"), parameters, make_spec)


def _configure(task, item) -> None:
    task.set_caching_options(item.cache)
    res = item.resources
    if res is not None:
        if res.cpu is not None:
            task.set_cpu_request(canonical_quantity(res.cpu)).set_cpu_limit(canonical_quantity(res.cpu))
        if res.memory is not None:
            memory = canonical_quantity(res.memory)
            task.set_memory_request(memory).set_memory_limit(memory)
        if res.gpu:
            task.set_accelerator_type(ir.GPU_RESOURCE).set_accelerator_limit(res.gpu)
    if item.retries:
        task.set_retry(item.retries, backoff_duration="60s", backoff_factor=2.0, backoff_max_duration="3600s")
    secrets: dict[str, dict[str, str]] = {}
    for env_name, value in sorted(item.env.items()):
        if isinstance(value, SecretRef):
            secrets.setdefault(value.secret, {})[value.key] = env_name
        else:
            task.set_env_variable(env_name, ir.env_string(value))
    for secret, keys in sorted(secrets.items()):
        kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env=keys)
    if res is not None and res.gpu:
        if res.gpuType:
            kubernetes.add_node_selector(task, Accelerators().nodeLabel, res.gpuType)
        kubernetes.add_toleration(task, key=ir.GPU_RESOURCE, operator="Exists", effect="NoSchedule")
    if item.timeout:
        kubernetes.set_timeout(task, timeout_seconds(item.timeout))


def _release_component(serving: str, key: str, model: MLProject, metric_inputs: dict, version: str,
                       release_image: str, gitops=None):
    spec = model.spec
    parameters = [_param("model", Input[Model])]
    parameters += [_param(name, float) for name in metric_inputs.values()]
    parameters.append(_param("evidence", Output[Artifact]))

    def make_spec(values):
        args = ["--project", key, "--serving", serving, "--model-uri", values["model"].uri,
                "--model-path", values["model"].path]
        for (_, metric), name in metric_inputs.items():
            args += ["--metric", f"{metric}={values[name]}"]
        for name in sorted(spec.steps):
            args += ["--code", f"{name}={spec.steps[name].code.commit}"]
        for name in sorted(spec.evaluations):
            args += ["--code", f"{name}={spec.evaluations[name].code.commit}"]
        for name in sorted(spec.sources):
            if spec.sources[name].version != "live":  # read only by continuous evaluations
                args += ["--source", f"{name}={spec.sources[name].version}"]
        args += ["--pipeline-version", version, "--run", dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                 "--output", values["evidence"].path]
        if gitops is not None:
            args += ["--propose-to", gitops.repoURL, "--revision", gitops.targetRevision]
        return dsl.ContainerSpec(image=release_image, command=list(ir.RELEASE_COMMAND), args=args)

    return _component(f"release_{serving.replace('-', '_')}", parameters, make_spec)


def build_pipeline(model: MLProject, upstreams: dict[str, ir.Upstream], *, pipeline_root: str,
                   release_image: str, version: str, gitops=None):
    """A kfp GraphComponent equivalent to what the back end emits for `model`. With
    `gitops.writeBack`, the release task proposes too, with the token Secret as env."""
    write_back = gitops.writeBack if gitops is not None else None
    gitops = gitops if write_back is not None else None

    def release_task(component, arguments):
        task = component(**arguments)
        task.set_caching_options(False)
        if write_back is not None:
            kubernetes.use_secret_as_env(task, secret_name=write_back.credentials.secret,
                                         secret_key_to_env={write_back.credentials.key: GIT_TOKEN_ENV})

    spec, key = model.spec, model.key
    items = [(n, spec.steps[n]) for n in ir.step_order(spec.steps)] + sorted(spec.evaluations.items())
    pipeline_inputs = []
    for name, item in items:
        for param, value in sorted(item.params.items()):
            pipeline_inputs.append(_param(ir.identifier(f"{name}_{param}"), _python_type(value), value))
    for ref in sorted(upstreams):
        if upstreams[ref].uri is None:
            pipeline_inputs.append(_param(upstreams[ref].uri_input, str))
    signature = inspect.Signature(sorted(pipeline_inputs, key=lambda p: p.default is not inspect.Parameter.empty))

    def pipeline_body(*args):  # kfp calls it positionally, in signature order
        inputs = dict(zip(signature.parameters, args))
        artifacts = {}
        for name in sorted(spec.sources):
            source = spec.sources[name]
            if source.version == "live":  # read only by continuous evaluations
                continue
            metadata = {"version": str(source.version), **({"format": source.format} if source.format else {})}
            task = dsl.importer(artifact_uri=source.uri, artifact_class=Dataset, metadata=metadata)
            task.set_display_name(name)
            artifacts[refs.source_id(key, name)] = task.output
        for ref in sorted(upstreams):
            up = upstreams[ref]
            uri = up.uri if up.uri is not None else inputs[up.uri_input]
            task = dsl.importer(artifact_uri=uri, artifact_class=ARTIFACT_CLASSES[up.title], metadata=up.metadata)
            task.set_display_name(ref)
            artifacts[refs.parse_ref(ref).node_id(key)] = task.output
        metric_tasks = {}
        for name, item in items:
            is_eval = isinstance(item, Evaluation)
            wiring = dict(item.inputs) | ({"model": item.model} if is_eval else {})
            channels = {n: artifacts[refs.parse_ref(t).node_id(key)] for n, t in wiring.items()}
            classes = {n: ARTIFACT_CLASSES[c.channel_type.split("@")[0]] for n, c in channels.items()}
            component = _container_component(name, item, classes)
            params = {p: inputs[ir.identifier(f"{name}_{p}")] for p in item.params}
            task = component(**channels, **params)
            task.set_display_name(name)
            _configure(task, item)
            if is_eval:
                metric_tasks[name] = task
            else:
                for output in item.outputs:
                    artifacts[refs.artifact_id(key, name, output)] = task.outputs[output]
        for serving in sorted(spec.serving):
            target = spec.serving[serving]
            evaluations = [e for e in dict.fromkeys(target.gates) if e in spec.evaluations]
            metric_inputs, taken = {}, set()
            for ev in evaluations:
                for metric in spec.evaluations[ev].metrics:
                    metric_inputs[(ev, metric)] = ir.unique_name(ir.identifier(f"{ev}_{metric}"), taken, "_")
            component = _release_component(serving, key, model, metric_inputs, version, release_image, gitops)
            arguments = {"model": artifacts[refs.parse_ref(target.model).node_id(key)]}
            arguments |= {name: metric_tasks[ev].outputs[metric] for (ev, metric), name in metric_inputs.items()}
            conditions = [_OPS[g.op](metric_tasks[ev].outputs[g.metric], g.threshold)
                          for ev in evaluations for g in map(parse_gate, spec.evaluations[ev].gates)]
            if not conditions:
                release_task(component, arguments)
                continue
            with dsl.If(conditions[0]) as group:
                # kfp joins a group's conditions with && (how it writes Elif); this is that list.
                group.conditions.extend(conditions[1:])
                release_task(component, arguments)

    pipeline_body.__name__ = "pipeline"
    pipeline_body.__signature__ = signature
    return dsl.pipeline(name=ir.pipeline_name(model.metadata.team, model.metadata.name),
                        description=model.metadata.description, pipeline_root=pipeline_root)(pipeline_body)


_OPS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def compile_to(pipeline, path) -> None:
    compiler.Compiler().compile(pipeline, str(path))
