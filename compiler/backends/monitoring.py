"""Monitoring objects: what watches a served model (docs/MONITORING.md).

Per project, serving target with `monitoring` and monitored environment (one with a release), in
the team's namespace of that environment, under `layout.serving_dir(env, team, project)` (the
directory the project's serving Application syncs):

- a ServiceMonitor (KServe Standard mode: the predictor Service KServe creates; a container
  runtime: the Service mlopsc emits) or a PodMonitor (Knative mode: queue-proxy's metrics on
  9091), when the target has an SLO. Each adds the label `mlopsc_serving=<target>` to what it
  scrapes, so rules select one target's series by namespace and that label;
- a PrometheusRule: per SLO, recording rules of the SLI's error ratio over 5m … 3d and the SLO
  window, and two multiwindow multi-burn-rate alerts (page, ticket; Google SRE workbook);
  with `evaluate`, an alert when a gate fails on live data and one when no evaluation reported
  for twice the schedule's interval;
- a ConfigMap with a Grafana dashboard (SLIs, burn rates, budget left, replicas, evaluation
  results, the release and canary in service), labelled with `monitoring.dashboardLabels`.

Every PrometheusRule, ServiceMonitor and PodMonitor carries `monitoring.selectorLabels`.
"""

from __future__ import annotations

import json

from ..frontend.loader import LoadedProject
from ..frontend.models import ServingTarget
from ..middle.check import CheckedRepository
from ..middle.cron import cron_interval_seconds
from ..middle.monitoring import (BURN_ALERTS, RATE_WINDOWS, SELECTOR, SERVING_LABEL, dashboard_uid, duration_seconds,
                                 measurement, monitor_pipeline_name, monitored_environments, window_hours)
from .. import layout
from . import Document

API_VERSION = "monitoring.coreos.com/v1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlopsc"}
SCRAPE_INTERVAL = "30s"
# How long no serving pod may be scraped before MlopscMetricsMissing (a rollout takes minutes).
SCRAPE_GRACE = "15m"
# What continuous evaluations push (compiler/commands/evidence.py, `evidence report`).
EVALUATION_JOB = layout.EVALUATION_JOB
METRIC_GAUGE = layout.EVALUATION_METRIC_GAUGE
GATE_GAUGE = layout.EVALUATION_GATE_GAUGE
RECORD = "mlopsc:sli_error:ratio_rate"


def emit(checked: CheckedRepository) -> list[Document]:
    documents: list[Document] = []
    for project in checked.projects:
        for name in sorted(project.model.spec.serving):
            target = project.model.spec.serving[name]
            for env in monitored_environments(checked.config, target):
                documents.extend(Watched(checked, project, name, target, env).documents())
    return documents


def le_matcher(value: float) -> str:
    """A regex for a bucket bound however the client library writes it (`0.25`, `1` or `1.0`)."""
    text = format(value, ".12g")
    if "e" in text:
        text = format(value, "f").rstrip("0").rstrip(".")
    whole, _, frac = text.partition(".")
    return f"{whole}\\\\.{frac}0*" if frac else f"{whole}(\\\\.0*)?"


def with_labels(selector: str, labels: dict[str, str]) -> str:
    """`name{a="b"}` with `labels` added first: a metric name or a selector of one."""
    m = SELECTOR.match(selector.strip())
    name, matchers = m["name"], (m["matchers"] or "").strip()
    ours = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{ours}{', ' + matchers if matchers else ''}}}"


def prometheus_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def number(value: float) -> str:
    return format(value, ".10g")


class Watched:
    """One serving target in one monitored environment."""

    def __init__(self, checked: CheckedRepository, project: LoadedProject, name: str, target: ServingTarget,
                 env: str):
        self.checked, self.config = checked, checked.config
        self.project, self.name, self.target, self.env = project, name, target, env
        meta = project.model.metadata
        self.team, self.project_name = meta.team, meta.name
        self.namespace = layout.namespace(self.team, env)
        self.directory = layout.serving_dir(env, self.team, self.project_name)
        self.serving_env = target.environments[env]
        self.window = self.config.monitoring.window
        self.window_h = window_hours(self.window) or 720
        self.uid = dashboard_uid(self.team, self.project_name, name, env)
        self.measure = measurement(self.config, target)
        self.slos = self._slos()

    # -- what is measured ---------------------------------------------------------------------
    @property
    def identity(self) -> dict[str, str]:
        """The labels every recorded series and alert of this target carries."""
        return {"team": self.team, "project": self.project_name, "serving": self.name, "environment": self.env}

    @property
    def scraped(self) -> dict[str, str]:
        """What selects this target's scraped series (the monitors add `mlopsc_serving`)."""
        return {"namespace": self.namespace, SERVING_LABEL: self.name}

    def _slos(self) -> list[dict]:
        slo = self.target.monitoring.slo
        found = []
        if slo.availability is not None:
            found.append({"sli": "availability", "objective": float(slo.availability),
                          "what": "requests answered without a server error"})
        if slo.latency is not None:
            found.append({"sli": "latency", "objective": float(slo.latency.objective),
                          "what": f"requests answered within {slo.latency.threshold}",
                          "seconds": duration_seconds(slo.latency.threshold)})
        for s in found:
            s["budget"] = round(1 - s["objective"] / 100, 12)
        return found

    def error_ratio(self, sli: dict, window: str) -> str:
        m, sel = self.measure, self.scraped
        if sli["sli"] == "availability":
            errors, requests = with_labels(m.errors, sel), with_labels(m.requests, sel)
            return f"sum(rate({errors}[{window}])) / sum(rate({requests}[{window}]))"
        le = le_matcher(sli["seconds"] / m.latency_unit)
        fast = with_labels(f"{m.latency}_bucket", {**sel, "le": "__LE__"}).replace('le="__LE__"', f'le=~"{le}"')
        total = with_labels(f"{m.latency}_count", sel)
        return f"1 - (sum(rate({fast}[{window}])) / sum(rate({total}[{window}])))"

    def series(self, sli: dict, window: str) -> str:
        labels = {**self.identity, "sli": sli["sli"]}
        return f"{RECORD}{window}{{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"

    # -- documents ------------------------------------------------------------------------------
    def documents(self) -> list[Document]:
        objects = []
        if self.slos:
            objects.append(self.monitor())
        rule = self.prometheus_rule()
        if rule["spec"]["groups"]:
            objects.append(rule)
        objects.append(self.dashboard())
        return [Document(f"{self.directory}/{layout.object_filename(o['kind'], o['metadata']['name'])}", o,
                         owner=self.project.key) for o in objects]

    def metadata(self, name: str, labels: dict[str, str]) -> dict:
        return {"name": name, "namespace": self.namespace,
                "labels": {**labels, "app.kubernetes.io/name": self.name,
                           "app.kubernetes.io/part-of": self.project_name, **MANAGED_BY,
                           "mlopsc.dev/team": self.team, "mlopsc.dev/environment": self.env},
                "annotations": {"mlopsc.dev/spec": self.project.path, "mlopsc.dev/project": self.project.key,
                                "mlopsc.dev/serving-target": self.name}}

    def monitor(self) -> dict:
        m = self.measure
        selector_labels = dict(self.config.monitoring.selectorLabels)
        relabel = [{"action": "replace", "targetLabel": SERVING_LABEL, "replacement": self.name}]
        if m.kind == "knative":
            return {"apiVersion": API_VERSION, "kind": "PodMonitor",
                    "metadata": self.metadata(self.name, selector_labels),
                    "spec": {"selector": {"matchLabels": {"serving.kserve.io/inferenceservice": self.name}},
                             "podMetricsEndpoints": [{"portNumber": m.port, "path": m.path,
                                                      "interval": SCRAPE_INTERVAL, "relabelings": relabel}]}}
        if m.kind == "kserve-standard":
            # KServe's raw-mode Service: labels of the predictor, one port named after itself
            # (`<isvc>-predictor`, 80 → 8080) when the runtime declares no container port.
            selector = {"serving.kserve.io/inferenceservice": self.name, "component": "predictor"}
            port = f"{self.name}-predictor"
        else:
            selector = {"app.kubernetes.io/name": self.name, "app.kubernetes.io/part-of": self.project_name}
            port = m.port
        return {"apiVersion": API_VERSION, "kind": "ServiceMonitor",
                "metadata": self.metadata(self.name, selector_labels),
                "spec": {"selector": {"matchLabels": selector},
                         "endpoints": [{"port": port, "path": m.path, "interval": SCRAPE_INTERVAL,
                                        "relabelings": relabel}]}}

    # -- rules -------------------------------------------------------------------------------
    def annotations(self, summary: str, description: str) -> dict[str, str]:
        release, canary = self.serving_env.release, self.serving_env.canary
        owners = self.project.model.metadata.owners
        out = {"summary": summary, "description": description,
               "owners": ", ".join(owners) if owners else f"team {self.team}",
               "model_digest": release.digest, "evidence": release.evidence, "spec": self.project.path,
               "dashboard": f"/d/{self.uid}"}
        if canary is not None:
            out.update(canary_digest=canary.release.digest, canary_evidence=canary.release.evidence,
                       canary_percent=str(int(canary.percent)))
        return out

    def prometheus_rule(self) -> dict:
        groups = []
        for sli in self.slos:
            groups.append({"name": f"{self.name}-{self.env}-{sli['sli']}-slo", "rules": self.slo_rules(sli)})
        # Knative scaled to zero has no pod to scrape, rightly: no alert for that.
        if self.slos and not (self.measure.kind == "knative" and self.serving_env.replicas.min == 0):
            groups.append({"name": f"{self.name}-{self.env}-scrape", "rules": [self.scrape_rule()]})
        evaluate = self.target.monitoring.evaluate
        if evaluate is not None:
            groups.append({"name": f"{self.name}-{self.env}-evaluation", "rules": self.evaluation_rules(evaluate)})
        meta = self.metadata(self.name, dict(self.config.monitoring.selectorLabels))
        # What `mlopsc plan` and reviewers read: the SLOs and the evaluation, as written in the spec.
        slos = {sli["sli"]: f"{number(sli['objective'])}% of {sli['what']} over {self.window}" for sli in self.slos}
        meta["annotations"]["mlopsc.dev/slos"] = json.dumps(slos, sort_keys=True, separators=(",", ":"))
        if evaluate is not None:
            meta["annotations"]["mlopsc.dev/continuous-evaluation"] = f"{evaluate.evaluation} at {evaluate.schedule} (UTC)"
        return {"apiVersion": API_VERSION, "kind": "PrometheusRule", "metadata": meta, "spec": {"groups": groups}}

    def slo_rules(self, sli: dict) -> list[dict]:
        labels = {**self.identity, "sli": sli["sli"]}
        rules = [{"record": f"{RECORD}{w}", "expr": self.error_ratio(sli, w), "labels": dict(labels)}
                 for w in RATE_WINDOWS]
        # The whole window's ratio, for the budget left: the mean of the 5m ratios over it.
        rules.append({"record": f"{RECORD}{self.window}",
                      "expr": f"avg_over_time({self.series(sli, '5m')}[{self.window}])", "labels": dict(labels)})
        budget = sli["budget"]
        for severity in ("page", "ticket"):
            conditions = []
            for alert in (a for a in BURN_ALERTS if a.severity == severity):
                threshold = f"({number(alert.factor(self.window_h))} * {number(budget)})"
                conditions.append(f"({self.series(sli, alert.long)} > {threshold}"
                                  f" and {self.series(sli, alert.short)} > {threshold})")
            shares = " or ".join(f"{int(a.budget_share * 100)}% of the budget in {a.long}"
                                 for a in BURN_ALERTS if a.severity == severity)
            rules.append({
                "alert": f"Mlopsc{sli['sli'].capitalize()}BudgetBurn",
                "expr": " or ".join(conditions),
                "labels": {**labels, "severity": severity},
                "annotations": self.annotations(
                    f"{self.name} ({self.env}) burns its {sli['sli']} error budget too fast",
                    f"{self.project.key} {self.name} in {self.env}: the SLO is {number(sli['objective'])}% of "
                    f"{sli['what']} over {self.window}; it burns {shares}, so at this rate it will "
                    f"be missed."),
            })
        return rules

    def scrape_rule(self) -> dict:
        """Without scraped series every SLO rule is silent: say so rather than stay quiet."""
        selector = ", ".join(f'{k}="{v}"' for k, v in self.scraped.items())
        return {"alert": "MlopscMetricsMissing",
                "expr": f"absent(up{{{selector}}} == 1)", "for": SCRAPE_GRACE,
                "labels": {**self.identity, "severity": "ticket"},
                "annotations": self.annotations(
                    f"No metrics of {self.name} ({self.env}) for {SCRAPE_GRACE}",
                    f"Prometheus has scraped no {self.measure.monitor} target of {self.name} in {self.namespace} "
                    f"for {SCRAPE_GRACE}: its SLO alerts cannot fire. Check the {self.measure.monitor} "
                    f"`{self.name}` (selector labels, port) and the pods.")}

    def evaluation_rules(self, evaluate) -> list[dict]:
        pushed = {"job": EVALUATION_JOB, **self.identity}
        selector = ", ".join(f'{k}="{v}"' for k, v in pushed.items())
        interval = cron_interval_seconds(evaluate.schedule)
        late = prometheus_duration(2 * interval)
        pipeline = monitor_pipeline_name(self.team, self.project_name, self.name)
        missing = self.annotations(
            f"No continuous evaluation of {self.name} ({self.env}) for {late}",
            f"Pipeline {pipeline} (schedule `{evaluate.schedule}`, UTC) has not reported to the Pushgateway for "
            f"twice its longest interval ({late}): the model in service is not being checked.")
        return [
            {"alert": "MlopscEvaluationGateFailed",
             "expr": f"{GATE_GAUGE}{{{selector}}} == 0",
             "labels": {**self.identity, "severity": "ticket"},
             "annotations": self.annotations(
                 f"{self.name} ({self.env}) fails gate {{{{ $labels.gate }}}} on live data",
                 f"The continuous evaluation `{evaluate.evaluation}` of the model in service failed the gate "
                 f"`{{{{ $labels.gate }}}}` in its latest run (pipeline {pipeline}).")},
            {"alert": "MlopscEvaluationMissing",
             "expr": f"time() - max(push_time_seconds{{{selector}}}) > {2 * interval}",
             "labels": {**self.identity, "severity": "ticket"}, "annotations": missing},
            # Never reported at all (a new monitor, or a pipeline that never ran): no series to age.
            {"alert": "MlopscEvaluationNeverReported",
             "expr": f"absent(push_time_seconds{{{selector}}})", "for": late,
             # its own copy: a mapping shared by two rules would be written as a YAML anchor and alias
             "labels": {**self.identity, "severity": "ticket"}, "annotations": dict(missing)},
        ]

    # -- dashboard ----------------------------------------------------------------------------
    def dashboard_json(self) -> dict:
        datasource = {"type": "prometheus", "uid": "${datasource}"}
        panels: list[dict] = []
        cursor = {"x": 0, "y": 4}  # below the 4-high text panel

        def panel(title: str, kind: str, exprs: list[tuple[str, str]], width: int = 12, unit: str = "percentunit",
                  **extra) -> None:
            if cursor["x"] + width > 24:
                cursor.update(x=0, y=cursor["y"] + 8)
            panels.append({"id": len(panels) + 1, "type": kind, "title": title, "datasource": datasource,
                           "gridPos": {"x": cursor["x"], "y": cursor["y"], "w": width, "h": 8},
                           "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                           "targets": [{"refId": chr(ord("A") + i), "expr": e, "legendFormat": legend,
                                        "datasource": datasource} for i, (e, legend) in enumerate(exprs)],
                           **extra})
            cursor["x"] += width

        release, canary = self.serving_env.release, self.serving_env.canary
        lines = [f"**Release in service**: `{release.digest}` from `{release.uri}` (evidence `{release.evidence}`)"]
        if canary is not None:
            lines.append(f"**Canary** ({int(canary.percent)}% of requests): `{canary.release.digest}` from "
                         f"`{canary.release.uri}` (evidence `{canary.release.evidence}`)")
        lines.append(f"Spec: `{self.project.path}`; owners: {', '.join(self.project.model.metadata.owners) or self.team}")
        panels.append({"id": 1, "type": "text", "title": "In service", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 4},
                       "options": {"mode": "markdown", "content": "\n\n".join(lines)}})
        for sli in self.slos:
            target = 1 - sli["budget"]
            # One row per SLO: the SLI, its burn rates, the budget left.
            panel(f"SLI: {sli['sli']} (objective {number(sli['objective'])}%)", "timeseries",
                  [(f"1 - {self.series(sli, w)}", f"{w}") for w in ("5m", "1h")], width=10)
            panels[-1]["fieldConfig"]["defaults"]["thresholds"] = {
                "mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": target}]}
            panel(f"Burn rate: {sli['sli']} (1 = budget spent exactly over {self.window})", "timeseries",
                  [(f"{self.series(sli, w)} / {number(sli['budget'])}", w) for w in ("1h", "6h", "1d", "3d")],
                  width=10, unit="none")
            panel(f"Error budget left: {sli['sli']} ({self.window})", "stat",
                  [(f"1 - {self.series(sli, self.window)} / {number(sli['budget'])}", "budget left")], width=4)
        deployment = {"knative": f"{self.name}-predictor-.*", "kserve-standard": f"{self.name}-predictor.*",
                      "container": f"{self.name}(-canary)?"}[self.measure.kind]
        panel("Replicas available", "timeseries",
              [(f'sum by (deployment) (kube_deployment_status_replicas_available{{namespace="{self.namespace}", '
                f'deployment=~"{deployment}"}})', "{{deployment}}")], width=8, unit="none")
        evaluate = self.target.monitoring.evaluate
        if evaluate is not None:
            pushed = ", ".join(f'{k}="{v}"' for k, v in {"job": EVALUATION_JOB, **self.identity}.items())
            panel(f"Continuous evaluation: {evaluate.evaluation} metrics", "timeseries",
                  [(f"{METRIC_GAUGE}{{{pushed}}}", "{{metric}}")], width=8, unit="none")
            panel("Continuous evaluation: gates passed (1) or failed (0)", "timeseries",
                  [(f"{GATE_GAUGE}{{{pushed}}}", "{{gate}}")], width=8, unit="none")
        return {
            "uid": self.uid, "title": f"{self.project.key} {self.name} ({self.env})",
            "tags": ["mlopsc", self.team, self.project_name, self.env], "editable": False,
            "schemaVersion": 39, "time": {"from": "now-24h", "to": "now"}, "refresh": "1m",
            "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                     "label": "Data source"}]},
            "links": [], "panels": panels,
        }

    def dashboard(self) -> dict:
        labels = dict(self.config.monitoring.dashboardLabels)
        meta = self.metadata(f"{self.name}-dashboard", labels)
        # kube-prometheus-stack's sidecar puts it in a folder per team (sidecar.dashboards.folderAnnotation).
        meta["annotations"]["grafana_folder"] = self.team
        text = json.dumps(self.dashboard_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {f"{self.name}-{self.env}.json": text}}

