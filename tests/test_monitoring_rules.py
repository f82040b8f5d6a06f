"""Monitoring rules: each mistake in `monitoring`, `runtime.container.metrics` or a `live` source is
reported with its code at the offending spot, and an SLO the runtime cannot measure is an error."""

from __future__ import annotations

import json

import pytest

from conftest import edit, line_col, run_mlopsc

FRAUD = "specs/risk/fraud-detection.yaml"
RECS = "specs/growth/merchant-recs.yaml"


def diagnostics(root) -> list[dict]:
    result = run_mlopsc("validate", "--format", "json", cwd=root)
    return json.loads(result.out)


def at(root, code: str, path: str = FRAUD) -> list[tuple[int, int]]:
    return [(d["line"], d["column"]) for d in diagnostics(root) if d["code"] == code and d["path"] == path]


def messages(root, code: str) -> list[str]:
    return [d["message"] for d in diagnostics(root) if d["code"] == code]


def test_bundled_monitoring_is_clean(bundled_repo):
    assert [d for d in diagnostics(bundled_repo) if d["severity"] == "error"] == []


@pytest.mark.parametrize("objective", ["100", "0", "-5", "120"])
def test_latency_objective_is_a_percentage_strictly_inside(bundled_repo, objective):
    edit(bundled_repo / FRAUD, "objective: 99}", f"objective: {objective}}}")
    line, column = line_col(bundled_repo / FRAUD, f"objective: {objective}")
    assert at(bundled_repo, "M001") == [(line, column + len("objective: "))]


def test_availability_objective_is_a_percentage(bundled_repo):
    edit(bundled_repo / RECS, "availability: 99.5", "availability: 100")
    line, column = line_col(bundled_repo / RECS, "availability: 100")
    assert at(bundled_repo, "M001", RECS) == [(line, column + len("availability: "))]


@pytest.mark.parametrize("threshold", ["'250'", "fast", "0ms", "-1s"])
def test_latency_threshold_is_a_duration(bundled_repo, threshold):
    edit(bundled_repo / FRAUD, "threshold: 250ms", f"threshold: {threshold}")
    line, column = line_col(bundled_repo / FRAUD, f"threshold: {threshold}")
    assert at(bundled_repo, "M002") == [(line, column + len("threshold: "))]


def test_evaluate_names_an_existing_evaluation(bundled_repo):
    edit(bundled_repo / FRAUD, "evaluation: holdout", "evaluation: holdot")
    line, column = line_col(bundled_repo / FRAUD, "evaluation: holdot")
    assert at(bundled_repo, "M003") == [(line, column + len("evaluation: "))]
    assert "did you mean `holdout`" in messages(bundled_repo, "M003")[0]


def test_evaluate_replaces_only_inputs_the_evaluation_has(bundled_repo):
    edit(bundled_repo / FRAUD, "inputs: {test: sources.recent-transactions}",
         "inputs: {test: sources.recent-transactions, tset: sources.recent-transactions}")
    found = messages(bundled_repo, "M004")
    assert len(found) == 1 and "`tset`" in found[0] and "inputs: test" in found[0]


def test_evaluate_must_replace_what_only_training_produces(bundled_repo):
    edit(bundled_repo / FRAUD, "          inputs: {test: sources.recent-transactions}\n", "")
    found = messages(bundled_repo, "M004")
    assert len(found) == 1 and "`steps.features.outputs.test`" in found[0]


def test_evaluate_replacement_is_a_source_of_the_project(bundled_repo):
    edit(bundled_repo / FRAUD, "inputs: {test: sources.recent-transactions}",
         "inputs: {test: steps.features.outputs.test}")
    line, column = line_col(bundled_repo / FRAUD, "{test: steps.features.outputs.test}", 2)
    assert at(bundled_repo, "M004") == [(line, column + len("{test: "))]


def test_container_slo_without_metrics(bundled_repo):
    text = (bundled_repo / RECS).read_text()
    start = text.index("          # The server's Prometheus client")
    end = text.index("      environments:")
    (bundled_repo / RECS).write_text(text[:start] + text[end:])
    found = [d for d in diagnostics(bundled_repo) if d["path"] == RECS and d["severity"] == "error"]
    assert [(d["code"], d["line"], d["column"]) for d in found] == [
        ("M005", *line_col(bundled_repo / RECS, "availability: 99.5")),
        ("M005", *line_col(bundled_repo / RECS, "latency: {threshold"))]
    assert "requests` and `errors` counters" in found[0]["message"]


def test_availability_in_standard_mode_cannot_be_measured(bundled_repo):
    edit(bundled_repo / FRAUD, "latency: {threshold: 250ms, objective: 99}",
         "availability: 99.9\n          latency: {threshold: 250ms, objective: 99}")
    assert at(bundled_repo, "M006") == [line_col(bundled_repo / FRAUD, "availability: 99.9")]
    assert "no queue-proxy" in messages(bundled_repo, "M006")[0]


def test_availability_in_knative_mode_is_measured_by_queue_proxy(bundled_repo):
    edit(bundled_repo / "mlopsc.yaml", "deploymentMode: Standard", "deploymentMode: Knative")
    edit(bundled_repo / FRAUD, "latency: {threshold: 250ms, objective: 99}",
         "availability: 99.9\n          latency: {threshold: 250ms, objective: 99}")
    assert at(bundled_repo, "M006") == []


def test_latency_threshold_must_be_a_bucket_bound(bundled_repo):
    edit(bundled_repo / FRAUD, "threshold: 250ms", "threshold: 300ms")
    assert at(bundled_repo, "M006") == [line_col(bundled_repo / FRAUD, "300ms")]
    assert "0.25s" in messages(bundled_repo, "M006")[0]


def test_latency_of_a_server_mlopsc_knows_no_metrics_of(bundled_repo):
    edit(bundled_repo / FRAUD, "kserve: {format: xgboost}", "kserve: {format: tensorflow}")
    assert "format `tensorflow` is not served by KServe's Python model server" in messages(bundled_repo, "M006")[0]


def test_live_source_read_by_training(bundled_repo):
    edit(bundled_repo / FRAUD, "labels: sources.chargebacks", "labels: sources.recent-transactions")
    assert at(bundled_repo, "M007") == [line_col(bundled_repo / FRAUD, "sources.recent-transactions")]


def test_live_is_still_unpinned_for_nobody_else(bundled_repo):
    edit(bundled_repo / FRAUD, 'version: "2026-11-01"', "version: latest")
    assert at(bundled_repo, "P001") == [line_col(bundled_repo / FRAUD, "latest")]


def test_pushgateway_required_when_something_evaluates(bundled_repo):
    edit(bundled_repo / "mlopsc.yaml", "  pushgateway: http://prometheus-pushgateway.monitoring.svc:9091\n", "")
    assert at(bundled_repo, "M008") == [line_col(bundled_repo / FRAUD, "evaluate:")]


def test_monitored_environment_needs_a_release(bundled_repo):
    edit(bundled_repo / FRAUD, "environments: [production]", "environments: [production, prodution]")
    assert at(bundled_repo, "M009") == [line_col(bundled_repo / FRAUD, "prodution")]


def test_evaluate_schedule_is_a_cron(bundled_repo):
    edit(bundled_repo / FRAUD, 'schedule: "0 6 * * *"', 'schedule: "0 6 * *"')
    line, column = line_col(bundled_repo / FRAUD, '"0 6 * *"')
    assert at(bundled_repo, "M010") == [(line, column)]


@pytest.mark.parametrize("window", ["2d", "30days", "0d"])
def test_window_is_days_or_hours_of_at_least_three_days(bundled_repo, window):
    edit(bundled_repo / "mlopsc.yaml", "monitoring:\n", f"monitoring:\n  window: {window}\n")
    assert at(bundled_repo, "M011", "mlopsc.yaml") == [line_col(bundled_repo / "mlopsc.yaml", f"{window}\n")]


@pytest.mark.parametrize("old, new", [("requests: http_requests_total", "requests: http-requests"),
                                      ('errors: http_requests_total{code=~"5.."}', "errors: http_requests_total{code=5}"),
                                      ("latency: http_request_duration_seconds",
                                       "latency: http_request_duration_seconds\n            port: metrics")])
def test_container_metric_names(bundled_repo, old, new):
    edit(bundled_repo / RECS, old, new)
    assert len(at(bundled_repo, "M012", RECS)) == 1


def test_monitoring_without_anything_to_watch(bundled_repo):
    edit(bundled_repo / RECS, "availability: 99.5\n          latency: {threshold: 500ms, objective: 95}", "{}")
    assert at(bundled_repo, "M013", RECS) == [line_col(bundled_repo / RECS, "monitoring:")]


def test_selector_labels_are_kubernetes_labels(bundled_repo):
    edit(bundled_repo / "mlopsc.yaml", "selectorLabels: {release: prometheus}", "selectorLabels: {release: prom etheus}")
    assert at(bundled_repo, "M014", "mlopsc.yaml") == [line_col(bundled_repo / "mlopsc.yaml", "prom etheus")]


@pytest.mark.parametrize("labels", ['{release: "prometheus\\n"}', "{" + "a" * 254 + "/release: prometheus}"])
def test_selector_labels_follow_the_label_grammar_to_the_end(bundled_repo, labels):
    # The same grammar as K021's node label: no trailing newline, a prefix of at most 253 characters.
    edit(bundled_repo / "mlopsc.yaml", "selectorLabels: {release: prometheus}", f"selectorLabels: {labels}")
    assert len(at(bundled_repo, "M014", "mlopsc.yaml")) == 1


def test_an_objective_no_burn_alert_could_reach(bundled_repo):
    edit(bundled_repo / RECS, "objective: 95}", "objective: 90}")
    line, column = line_col(bundled_repo / RECS, "objective: 90")
    assert at(bundled_repo, "M015", RECS) == [(line, column + len("objective: "))]
    assert "must be above 93.06%" in messages(bundled_repo, "M015")[0]


def test_no_team_may_own_the_monitoring_namespace(bundled_repo):
    """Serving NetworkPolicies admit monitoring.namespace: a team owning it could scrape every team."""
    edit(bundled_repo / "mlopsc.yaml", "monitoring:\n", "monitoring:\n  namespace: growth-staging\n")
    found = messages(bundled_repo, "K011")
    assert found == ["team `growth` would own namespace `growth-staging`, which is the monitoring namespace "
                     "(monitoring.namespace), which serving pods admit scrapes from: rename the team or the environment"]


def test_a_refused_mlopsc_yaml_is_one_error_not_a_missing_pushgateway(bundled_repo):
    """mlopsc.yaml a symlink: Y006 alone; the defaults standing in for it have no Pushgateway, but
    that is not what the file says (no M008, no P010)."""
    config = bundled_repo / "mlopsc.yaml"
    config.rename(bundled_repo / "settings.yaml")
    config.symlink_to("settings.yaml")
    assert [(d["code"], d["path"]) for d in diagnostics(bundled_repo) if d["severity"] == "error"] == [
        ("Y006", "mlopsc.yaml")]


def test_an_evaluation_schedule_on_day_of_week_7_is_refused_as_kfp_would(bundled_repo):
    """evaluate.schedule becomes a KFP recurring run like spec.schedule: robfig/cron refuses a 7."""
    edit(bundled_repo / FRAUD, 'schedule: "0 6 * * *"', 'schedule: "0 6 * * 7"')
    found = [d for d in diagnostics(bundled_repo) if d["severity"] == "error"]
    assert [(d["code"], d["path"], d["line"], d["column"]) for d in found] == [
        ("S011", FRAUD, *line_col(bundled_repo / FRAUD, '"0 6 * * 7"'))]
    assert "write Sunday as 0 or SUN" in found[0]["message"]
