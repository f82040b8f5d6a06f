"""Monitoring facts shared by the rules and the back ends (docs/MONITORING.md).

- which environments of a serving target are watched;
- which metrics measure each SLI, per runtime (`measurement`), or why none can;
- the SLO arithmetic of the Google SRE workbook (multiwindow, multi-burn-rate alerts);
- the continuous-evaluation schedules (`monitor_schedules`; their intervals: compiler/middle/cron.py).

The back ends (monitoring, kubernetes, kfp) read these; no back end decides on its own what a
runtime can measure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..frontend.models import ServingTarget

# -------------------------------------------------------------------------------- environments


def monitored_environments(config, target: ServingTarget) -> list[str]:
    """Environments watched, in promotion order: the listed ones (default: every environment
    where the target has a release), kept only where there is a release to watch."""
    if target.monitoring is None:
        return []
    released = {env for env, se in target.environments.items() if se.release is not None}
    wanted = target.monitoring.environments
    chosen = released if wanted is None else set(wanted) & released
    return [env for env in config.environments if env in chosen]


def has_slo(target: ServingTarget) -> bool:
    m = target.monitoring
    return m is not None and (m.slo.availability is not None or m.slo.latency is not None)


# -------------------------------------------------------------------------------- durations
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)\Z")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
WINDOW = re.compile(r"^([1-9]\d*)(d|h)\Z")


def duration_seconds(text: str) -> float | None:
    """`250ms`, `1s`, `1.5s`, `2m` → seconds; None if not such a duration."""
    m = _DURATION.match(str(text).strip())
    if not m:
        return None
    return float(m[1]) * _UNIT_SECONDS[m[2]]


def window_hours(text: str) -> int | None:
    m = WINDOW.match(str(text).strip())
    if not m:
        return None
    return int(m[1]) * (24 if m[2] == "d" else 1)


# -------------------------------------------------------------------------------- burn rates
@dataclass(frozen=True)
class BurnAlert:
    """One condition of a multiwindow alert: the budget share burnt over `long`, checked on `short` too."""

    severity: str  # page | ticket
    long: str
    short: str
    budget_share: float  # share of the whole window's budget burnt over `long`
    long_hours: float

    def factor(self, window_h: int) -> float:
        """The burn rate that spends `budget_share` of the budget in `long` (14.4 for 2% in 1h of 30d)."""
        return round(self.budget_share * window_h / self.long_hours, 6)


# Google SRE workbook, chapter 5, table 5-8 (and Sloth's google-30d windows).
BURN_ALERTS = (BurnAlert("page", "1h", "5m", 0.02, 1), BurnAlert("page", "6h", "30m", 0.05, 6),
               BurnAlert("ticket", "1d", "2h", 0.10, 24), BurnAlert("ticket", "3d", "6h", 0.10, 72))
RATE_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


# -------------------------------------------------------------------------------- what runtimes measure
# KServe's Python model server (python/kserve/kserve/metrics.py) times predict() with a
# prometheus_client Histogram at the library's default buckets, in seconds, and counts no errors.
PYTHON_SERVER_FORMATS = ("sklearn", "xgboost", "lightgbm", "huggingface")
PYTHON_SERVER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Knative's queue-proxy up to Knative 1.18 (OpenCensus names; 1.19 renamed them for OpenTelemetry):
# request_latencies in milliseconds with defaultLatencyDistribution.
KNATIVE_BUCKETS_MS = (5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800,
                      900, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
KNATIVE_METRICS_PORT = 9091
KSERVE_HTTP_PORT = 8080
# The label every monitor adds to the series it scrapes, so rules select one target's series.
SERVING_LABEL = "mlopsc_serving"
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
SELECTOR = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<matchers>.*)\})?$", re.S)


@dataclass(frozen=True)
class Measurement:
    """How one target's SLIs are measured: PromQL parts, before the target's own selector."""

    kind: str  # kserve-standard | knative | container
    monitor: str  # ServiceMonitor | PodMonitor
    requests: str | None  # a selector of the requests counter
    errors: str | None  # a selector of the failed-requests counter
    latency: str | None  # the histogram's base name
    latency_unit: float  # seconds per unit of the histogram's `le`
    buckets: tuple | None  # the histogram's known bucket bounds, in its unit; None: unknown
    port: int | str  # container/service port (number) or port name
    path: str = "/metrics"


def measurement(config, target: ServingTarget) -> Measurement:
    runtime = target.runtime
    if runtime.container is not None:
        m = runtime.container.metrics
        if m is None:
            return Measurement("container", "ServiceMonitor", None, None, None, 1.0, None, "http")
        unit = 0.001 if (m.latency or "").endswith("_milliseconds") else 1.0
        return Measurement("container", "ServiceMonitor", m.requests, m.errors, m.latency, unit, None,
                           metrics_port_name(target), m.path)
    if config.kserve.deploymentMode == "Knative":
        return Measurement("knative", "PodMonitor", "revision_request_count",
                           'revision_request_count{response_code_class="5xx"}', "revision_request_latencies",
                           0.001, KNATIVE_BUCKETS_MS, KNATIVE_METRICS_PORT)
    kserve = runtime.kserve
    python_server = kserve.format in PYTHON_SERVER_FORMATS and not kserve.runtime
    return Measurement("kserve-standard", "ServiceMonitor", None, None,
                       "request_predict_seconds" if python_server else None, 1.0, PYTHON_SERVER_BUCKETS,
                       KSERVE_HTTP_PORT)


def unmeasurable(config, target: ServingTarget, sli: str) -> str | None:
    """Why `sli` (availability | latency) cannot be measured for this target, or None."""
    m = measurement(config, target)
    if m.kind == "kserve-standard":
        kserve = target.runtime.kserve
        if sli == "availability":
            return ("in kserve.deploymentMode Standard there is no queue-proxy, and KServe's model "
                    "servers count no failed requests, so nothing measures availability: use Knative "
                    "mode (its queue-proxy counts responses by code class), or serve with a container "
                    "runtime that exports an errors counter, or drop `availability`")
        if m.latency is None:
            why = (f"runtime `{kserve.runtime}` is not one mlopsc knows the metrics of" if kserve.runtime
                   else f"format `{kserve.format}` is not served by KServe's Python model server")
            return (f"{why}; mlopsc measures latency in Standard mode only from the Python model "
                    f"server's request_predict_seconds histogram (formats "
                    f"{', '.join(PYTHON_SERVER_FORMATS)}, without `runtime`)")
        return None
    if m.kind == "container":
        metrics = target.runtime.container.metrics
        if sli == "availability" and (metrics is None or not metrics.requests or not metrics.errors):
            return "runtime.container.metrics needs `requests` and `errors` counters for availability"
        if sli == "latency" and (metrics is None or not metrics.latency):
            return "runtime.container.metrics needs a `latency` histogram for latency"
    return None


def threshold_bucket_problem(config, target: ServingTarget, seconds: float) -> str | None:
    """A latency SLI counts requests in the histogram bucket `le=<threshold>`: it must be a bound."""
    m = measurement(config, target)
    if m.buckets is None or m.latency is None:
        return None
    value = seconds / m.latency_unit
    if any(abs(value - b) < 1e-9 for b in m.buckets):
        return None
    unit = "ms" if m.latency_unit == 0.001 else "s"
    bounds = ", ".join(f"{format(b, 'g')}{unit}" for b in m.buckets)
    return f"{m.latency} has no bucket bound at the threshold (its bounds: {bounds})"


def metrics_port_name(target: ServingTarget) -> str:
    """The Service port name the container's metrics are scraped on: `http`, or `metrics`."""
    runtime = target.runtime.container
    port = runtime.metrics.port if runtime and runtime.metrics else None
    if port is None or port == "http" or port == runtime.port:
        return "http"
    return "metrics"


def extra_metrics_port(target: ServingTarget) -> int | None:
    """A container's metrics port number when it is not the serving port (added to pod and Service)."""
    runtime = target.runtime.container
    if runtime is None or runtime.metrics is None:
        return None
    port = runtime.metrics.port
    return port if isinstance(port, int) and port != runtime.port else None


def scrape_ports(config, target: ServingTarget) -> list[int]:
    """Pod ports Prometheus scrapes (for the NetworkPolicy)."""
    m = measurement(config, target)
    if m.kind == "container":
        return [extra_metrics_port(target) or target.runtime.container.port]
    return [m.port]


def dashboard_uid(team: str, project: str, serving: str, env: str) -> str:
    """A Grafana dashboard uid (at most 40 characters), stable for a target and environment."""
    digest = hashlib.sha256(f"{team}/{project}/{serving}/{env}".encode()).hexdigest()
    return f"mlopsc-{digest[:20]}"


def slo_lines(target: ServingTarget) -> list[tuple[str, str, float]]:
    """(sli, what it counts, objective percent) for each SLO of a target: cards and plans show them."""
    m = target.monitoring
    if m is None:
        return []
    found = []
    if m.slo.availability is not None:
        found.append(("availability", "requests answered without a server error", float(m.slo.availability)))
    if m.slo.latency is not None:
        found.append(("latency", f"requests answered within {m.slo.latency.threshold}", float(m.slo.latency.objective)))
    return found


def monitor_pipeline_name(team: str, project: str, serving: str) -> str:
    """`<team>-<project>-<serving>-monitor`: the project's pipeline name, the target, `-monitor`."""
    return f"{team}-{project}-{serving}-monitor"


def monitor_schedules(checked) -> Iterator[tuple[str, str, str, str]]:
    """(team, project, pipeline_name, five_field_cron) per continuous evaluation, sorted: what the
    schedules reconciler turns into KFP recurring runs (`0 ` + the cron, as for training)."""
    for project in checked.projects:
        meta = project.model.metadata
        for name in sorted(project.model.spec.serving):
            target = project.model.spec.serving[name]
            if (target.monitoring is not None and target.monitoring.evaluate is not None
                    and monitored_environments(checked.config, target)):
                yield (meta.team, meta.name, monitor_pipeline_name(meta.team, meta.name, name),
                       target.monitoring.evaluate.schedule)


def live_sources(project) -> set[str]:
    """Sources read at run time (`version: live`)."""
    return {name for name, src in project.model.spec.sources.items() if str(src.version).strip() == "live"}
