"""Monitoring: SLOs that can be measured, continuous evaluations that can run (docs/MONITORING.md).

An SLO whose SLI the runtime does not export would be a rule that never fires: that is an error
here (M006), with what the runtime can measure, never a silent rule in the output.
"""

from __future__ import annotations

import re

from ... import codes
from ...frontend.loader import did_you_mean
from .. import refs
from ..cron import cron_problem, day_of_week_seven
from ..k8s_names import label_key_problem, label_value_problem
from ..monitoring import (BURN_ALERTS, METRIC_NAME, SELECTOR, duration_seconds, live_sources, threshold_bucket_problem,
                          unmeasurable, window_hours)
from . import RuleContext, rule, tasks



def _config_position(ctx: RuleContext, path: tuple):
    doc = ctx.repo.config_doc
    return doc.position(path) if doc is not None else None


@rule
def repository_monitoring(ctx: RuleContext):
    monitoring = ctx.config.monitoring
    hours = window_hours(monitoring.window)
    if hours is None or hours < 72:
        yield codes.SLO_WINDOW.at(_config_position(ctx, ("monitoring", "window")),
                                  f"monitoring.window `{monitoring.window}` is not a whole number of days or "
                                  f"hours of at least 3 days (e.g. `30d`): the slowest ticket alert looks "
                                  f"back 3 days")
    for field in ("selectorLabels", "dashboardLabels"):
        for key, value in getattr(monitoring, field).items():
            if label_key_problem(key):
                yield codes.MONITORING_LABELS.at(_config_position(ctx, ("monitoring", field, key)),
                                                 f"monitoring.{field}: `{key}` is not a Kubernetes label name")
            elif label_value_problem(value):
                yield codes.MONITORING_LABELS.at(_config_position(ctx, ("monitoring", field, key)),
                                                 f"monitoring.{field}.{key}: `{value}` is not a Kubernetes "
                                                 f"label value (at most 63 letters, digits, `-`, `_`, `.`)")


@rule
def serving_monitoring(ctx: RuleContext):
    config = ctx.config
    for project in ctx.repo.projects:
        doc = project.doc
        spec = project.model.spec
        for name, target in spec.serving.items():
            monitoring = target.monitoring
            if monitoring is None:
                continue
            base = ("spec", "serving", name, "monitoring")
            slo = monitoring.slo
            if slo.availability is None and slo.latency is None and monitoring.evaluate is None:
                yield codes.MONITORING_EMPTY.at(doc.position(base, key=True),
                                                f"`{name}`: monitoring sets no `slo` and no `evaluate`: "
                                                f"nothing would be watched")
            for i, env in enumerate(monitoring.environments or []):
                se = target.environments.get(env)
                if se is None or se.release is None:
                    known = [e for e, s in target.environments.items() if s.release is not None]
                    yield codes.MONITORING_ENVIRONMENT.at(
                        doc.position(base + ("environments", i)),
                        f"`{name}` has no release in environment `{env}`, so nothing is served there to "
                        f"watch (released in: {', '.join(known) or 'none yet'}){did_you_mean(str(env), known)}")
            yield from _slo(ctx, doc, base, name, target)
            if monitoring.evaluate is not None:
                yield from _evaluate(ctx, project, base + ("evaluate",), name, monitoring.evaluate)


def _objective(ctx, doc, path, value, what):
    if not 0 < float(value) < 100:
        yield codes.SLO_OBJECTIVE.at(doc.position(path),
                                     f"{what} objective {value} is not a percentage strictly between 0 and 100")
        return
    hours = window_hours(ctx.config.monitoring.window)
    if hours is None:
        return  # M011
    fastest = max(BURN_ALERTS, key=lambda a: a.factor(hours))
    factor, budget = fastest.factor(hours), 1 - float(value) / 100
    if factor * budget >= 1:
        lowest = 100 * (1 - 1 / factor)
        yield codes.SLO_UNALERTABLE.at(
            doc.position(path),
            f"{what} objective {value}%: the {fastest.severity} alert fires at {format(factor, 'g')}x the error "
            f"budget, an error ratio of {factor * budget:.0%}, which no ratio reaches; with window "
            f"{ctx.config.monitoring.window} the objective must be above {lowest:.2f}%")


def _slo(ctx, doc, base, name, target):
    config, slo = ctx.config, target.monitoring.slo
    runtime = target.runtime
    if (runtime.kserve is None) == (runtime.container is None):
        return  # K009 says it; what is measurable depends on the runtime
    container = runtime.container
    if container is not None and container.metrics is not None:
        yield from _container_metrics(doc, ("spec", "serving", name, "runtime", "container", "metrics"),
                                      container)
    for sli in ("availability", "latency"):
        if getattr(slo, sli) is None:
            continue
        path = base + ("slo", sli)
        if sli == "availability":
            yield from _objective(ctx, doc, path, slo.availability, "availability")
        else:
            yield from _objective(ctx, doc, path + ("objective",), slo.latency.objective, "latency")
            seconds = duration_seconds(slo.latency.threshold)
            if seconds is None or seconds <= 0:
                yield codes.SLO_THRESHOLD.at(doc.position(path + ("threshold",)),
                                             f"latency threshold `{slo.latency.threshold}` is not a duration "
                                             f"like `250ms`, `1s` or `1.5s`")
            elif unmeasurable(config, target, sli) is None:
                problem = threshold_bucket_problem(config, target, seconds)
                if problem:
                    yield codes.SLI_NOT_MEASURABLE.at(
                        doc.position(path + ("threshold",)),
                        f"`{name}`: latency threshold `{slo.latency.threshold}` cannot be measured: {problem}; "
                        f"pick one of those")
        why = unmeasurable(config, target, sli)
        if why is None:
            continue
        if container is not None and container.metrics is None:
            yield codes.CONTAINER_METRICS.at(
                doc.position(path, key=True),
                f"`{name}` has an SLO on {sli} but its container runtime names no metrics: add "
                f"`runtime.container.metrics` ({why.partition('needs ')[2]})")
        else:
            yield codes.SLI_NOT_MEASURABLE.at(doc.position(path, key=True),
                                              f"`{name}`: the {sli} SLO cannot be measured: {why}")


def _container_metrics(doc, path, container):
    metrics = container.metrics
    for field in ("requests", "latency"):
        value = getattr(metrics, field)
        if value is not None and not METRIC_NAME.match(value):
            yield codes.METRIC_SELECTOR.at(doc.position(path + (field,)),
                                           f"metrics.{field} `{value}` is not a Prometheus metric name")
    if metrics.errors is not None:
        m = SELECTOR.match(metrics.errors)
        if not m or (m["matchers"] is not None and not _matchers_ok(m["matchers"])):
            yield codes.METRIC_SELECTOR.at(doc.position(path + ("errors",)),
                                           f"metrics.errors `{metrics.errors}` is not a metric name or "
                                           f"`name{{label=\"value\", …}}` selector")
    port = metrics.port
    if port is not None and not (isinstance(port, int) and 1 <= port <= 65535) and port != "http":
        yield codes.METRIC_SELECTOR.at(doc.position(path + ("port",)),
                                       f"metrics.port `{port}` is neither a port number nor `http` (the server's port)")
    if not metrics.path.startswith("/"):
        yield codes.METRIC_SELECTOR.at(doc.position(path + ("path",)),
                                       f"metrics.path `{metrics.path}` must start with `/`")


_MATCHER = re.compile(r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*$')


def _matchers_ok(text: str) -> bool:
    parts = re.findall(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+', text)
    return bool(parts) and all(_MATCHER.match(p) for p in parts)


def _evaluate(ctx, project, path, name, evaluate):
    doc, spec = project.doc, project.model.spec
    # Only when mlopsc.yaml was read: its own errors come first, and its defaults are not what it says.
    if ctx.config.monitoring.pushgateway is None and ctx.repo.config_valid:
        yield codes.PUSHGATEWAY_MISSING.at(doc.position(path, key=True),
                                           f"`{name}` evaluates continuously, but mlopsc.yaml sets no "
                                           f"`monitoring.pushgateway` to report the results to")
    problem = cron_problem(evaluate.schedule)
    if problem:
        yield codes.EVALUATE_SCHEDULE.at(doc.position(path + ("schedule",)),
                                         f"evaluate.schedule `{evaluate.schedule}` {problem}")
    elif day_of_week_seven(evaluate.schedule):  # it becomes a KFP recurring run too
        yield codes.CRON_KFP_REFUSES.at(
            doc.position(path + ("schedule",)),
            f"evaluate.schedule `{evaluate.schedule}`: Kubeflow Pipelines' cron takes day of week 0-6 and "
            f"refuses 7; write Sunday as 0 or SUN")
    evaluation = spec.evaluations.get(evaluate.evaluation)
    if evaluation is None:
        if project.is_broken(("spec", "evaluations")):
            return  # a misspelt field hid it: that S001 is the one error
        yield codes.EVALUATE_UNKNOWN.at(doc.position(path + ("evaluation",)),
                                        f"evaluate.evaluation `{evaluate.evaluation}`: the project defines no "
                                        f"such evaluation{did_you_mean(str(evaluate.evaluation), spec.evaluations)}")
        return
    for input_name, text in evaluate.inputs.items():
        where = doc.position(path + ("inputs", input_name))
        if input_name not in evaluation.inputs:
            yield codes.EVALUATE_INPUT.at(where, f"evaluate.inputs `{input_name}`: evaluation "
                                                 f"`{evaluate.evaluation}` has no such input (inputs: "
                                                 f"{', '.join(sorted(evaluation.inputs)) or 'none'})"
                                                 f"{did_you_mean(input_name, evaluation.inputs)}")
            continue
        ref = refs.parse_ref(text)
        if ref is None or ref.project is not None or ref.source is None:
            yield codes.EVALUATE_INPUT.at(where, f"evaluate.inputs `{input_name}`: `{text}` must be a source of "
                                                 f"this project, `sources.<name>` (the monitor runs no training)")
        elif ref.source not in spec.sources and not project.is_broken(("spec", "sources", ref.source)):
            yield codes.EVALUATE_INPUT.at(where, f"evaluate.inputs `{input_name}`: no source `{ref.source}`"
                                                 f"{did_you_mean(ref.source, spec.sources)}")
    for input_name, text in sorted(evaluation.inputs.items()):
        ref = refs.parse_ref(text)
        if input_name not in evaluate.inputs and ref is not None and ref.source is None:
            yield codes.EVALUATE_INPUT.at(
                doc.position(path + (("inputs",) if evaluate.inputs else ("evaluation",)), key=bool(evaluate.inputs)),
                f"evaluation `{evaluate.evaluation}` reads `{input_name}` from `{text}`, which only a training "
                f"run produces: replace it in evaluate.inputs, e.g. `{input_name}: sources.<recent data>`")


@rule
def live_sources_only_for_evaluate(ctx: RuleContext):
    live = {(project.key, name): project for project in ctx.repo.projects for name in live_sources(project)}
    if not live:
        return
    for project in ctx.repo.projects:
        for task in tasks(project):
            for input_name, text in task.item.inputs.items():
                ref = refs.parse_ref(text)
                if ref is None or ref.source is None:
                    continue
                key = ref.in_project(project.key)
                if (key, ref.source) in live:
                    yield codes.LIVE_SOURCE.at(
                        project.doc.position(task.path + ("inputs", input_name)),
                        f"{task.what} reads source `{ref.source}`{'' if key == project.key else f' of {key}'}, "
                        f"whose version is `live`: training and release gates need a pinned snapshot; only "
                        f"monitoring.evaluate.inputs may read live data")
