"""Continuous evaluation: the `<team>-<project>-<serving>-monitor` pipeline, its schedule and its
place in the lineage graph. (tests/test_kfp_conformance.py holds the pipeline to the same
conformance tests as every training pipeline.)"""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import REPO, edit, run_mlopsc

from compiler.middle.cron import cron_interval_seconds
from compiler.middle.monitoring import monitor_schedules

FRAUD = "specs/risk/fraud-detection.yaml"
MONITOR_IR = REPO / "generated/kfp/risk/fraud-detection/monitor-fraud-api.yaml"
LIVE_URI = "s3://risk-lake/transactions-labelled-recent/"
PRODUCTION = ("s3://risk-models/fraud/run-0142/",
              "sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf")


@pytest.fixture(scope="module")
def checked():
    from compiler.build import Layout, load_and_check

    return load_and_check(Layout(REPO))


def test_monitor_schedules_name_the_pipeline_and_its_cron(checked):
    assert list(monitor_schedules(checked)) == [
        ("risk", "fraud-detection", "risk-fraud-detection-fraud-api-monitor", "0 6 * * *")]


@pytest.mark.parametrize("cron, interval", [
    ("0 6 * * *", 86400), ("*/15 * * * *", 900), ("0 3 * * 1", 7 * 86400), ("0 22 * * SUN", 7 * 86400),
    ("0 9 * * 1-5", 3 * 86400),            # Friday 09:00 to Monday 09:00
    ("0 0 1 * *", 31 * 86400),             # the longest month
    ("0 0 29 2 *", 1461 * 86400),          # leap days: four years apart
    ("0 0 1,15 * 1", 7 * 86400),           # both day fields restricted: either may match
    ("30 1,13 * * *", 12 * 3600)])
def test_schedule_interval_is_the_longest_gap_between_runs(cron, interval):
    assert cron_interval_seconds(cron) == interval


def test_monitor_runs_the_evaluation_on_the_release_in_service_with_live_inputs():
    spec = next(yaml.safe_load_all(MONITOR_IR.read_text()))
    assert spec["pipelineInfo"]["name"] == "risk-fraud-detection-fraud-api-monitor"
    executors, tasks = spec["deploymentSpec"]["executors"], spec["root"]["dag"]["tasks"]
    imported = {tasks[t]["taskInfo"]["name"]: executors[f"exec-{t}"]["importer"] for t in tasks if t.startswith("importer")}
    assert imported["fraud-api@production"]["artifactUri"]["constant"] == PRODUCTION[0]
    assert imported["fraud-api@production"]["metadata"]["digest"] == PRODUCTION[1]
    assert imported["recent-transactions"]["artifactUri"]["constant"] == LIVE_URI
    assert set(imported) == {"fraud-api@production", "recent-transactions"}  # nothing else is read
    evaluation = tasks["holdout-production"]
    sources = {n: b["taskOutputArtifact"]["producerTask"] for n, b in evaluation["inputs"]["artifacts"].items()}
    assert tasks[sources["test"]]["taskInfo"]["name"] == "recent-transactions"
    assert tasks[sources["model"]]["taskInfo"]["name"] == "fraud-api@production"
    # the evaluation's own image and command; never cached, since the live data changes under one URI
    assert executors["exec-holdout-production"]["container"]["command"] == ["python", "-m", "fraud.evaluate"]
    assert evaluation["cachingOptions"] == {} and all(tasks[t]["cachingOptions"] == {} for t in tasks)
    report = executors["exec-report-production"]["container"]
    assert report["command"] == ["mlopsc", "evidence", "report"]
    args = report["args"]
    pairs = list(zip(args[::2], args[1::2]))
    assert ("--environment", "production") in pairs
    assert ("--pushgateway", "http://prometheus-pushgateway.monitoring.svc:9091") in pairs
    assert [v for k, v in pairs if k == "--gate"] == ["auc >= 0.92", "recall_at_1pct_fpr >= 0.55", "p95_latency_ms <= 40"]
    assert tasks["report-production"]["dependentTasks"] == sorted([sources["model"], "holdout-production"])


def test_training_never_reads_the_live_source():
    text = (REPO / "generated/kfp/risk/fraud-detection/pipeline.yaml").read_text()
    assert LIVE_URI not in text and "recent-transactions" not in text


def test_every_monitored_environment_gets_its_own_run(bundled_repo, tmp_path):
    edit(bundled_repo / FRAUD, "environments: [production]", "environments: [staging, production]")
    assert run_mlopsc("compile", cwd=bundled_repo).code == 0
    spec = next(yaml.safe_load_all((bundled_repo / "generated/kfp/risk/fraud-detection/monitor-fraud-api.yaml").read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    assert {t for t in tasks if not t.startswith("importer")} == {
        "holdout-staging", "report-staging", "holdout-production", "report-production"}


def test_the_monitor_goes_when_evaluate_goes(bundled_repo):
    text = (bundled_repo / FRAUD).read_text()
    start = text.index("        evaluate:\n")
    end = text.index("inputs: {test: sources.recent-transactions}\n") + len("inputs: {test: sources.recent-transactions}\n")
    (bundled_repo / FRAUD).write_text(text[:start] + text[end:])
    # the live source now has no reader: W001 says so, and it would be imported by nothing
    result = run_mlopsc("compile", cwd=bundled_repo)
    assert result.code == 0 and "warning[W001]" in result.err
    assert not (bundled_repo / "generated/kfp/risk/fraud-detection/monitor-fraud-api.yaml").exists()
    assert not list((bundled_repo / "generated/deploy/pipelines/risk/fraud-detection").glob("*monitor*"))


def test_lineage_graph_shows_the_monitor():
    result = run_mlopsc("graph", "--format", "json", cwd=REPO)
    graph = json.loads(result.out)
    monitor = "risk/fraud-detection:serving.fraud-api.monitor"
    (node,) = [n for n in graph["nodes"] if n["id"] == monitor]
    assert node["kind"] == "monitor" and node["schedule"] == "0 6 * * *"
    edges = {(e["source"], e["kind"]) for e in graph["edges"] if e["target"] == monitor}
    assert edges == {("risk/fraud-detection:serving.fraud-api", "monitored-by"),
                     ("risk/fraud-detection:evaluations.holdout", "runs"),
                     ("risk/fraud-detection:sources.recent-transactions", "reads")}


# -------------------------------------------------------------------------------- cards and plans
def test_model_card_shows_slos_per_environment_and_the_evaluation():
    card = (REPO / "generated/model-cards/growth/merchant-recs.md").read_text()
    assert "Watched in `staging`" in card
    assert "| availability: requests answered without a server error | 99.5% |" in card
    assert "| latency: requests answered within 500ms | 95% |" in card
    fraud = (REPO / "generated/model-cards/risk/fraud-detection.md").read_text()
    assert ("Continuous evaluation: `holdout` runs on the release in service at `0 6 * * *` (UTC), pipeline "
            "`risk-fraud-detection-fraud-api-monitor`, reading `test` from `sources.recent-transactions`; "
            "a ticket when a gate fails on live data or no run has reported for 2 days.") in fraud


def test_plan_says_what_monitoring_changes(bundled_repo):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args], cwd=bundled_repo,
                       check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    edit(bundled_repo / FRAUD, "latency: {threshold: 250ms, objective: 99}", "latency: {threshold: 250ms, objective: 99.5}")
    edit(bundled_repo / "specs/growth/merchant-recs.yaml", "      monitoring:\n        slo:\n",
         "      monitoring:\n        environments: []\n        slo:\n")
    assert run_mlopsc("compile", cwd=bundled_repo).code == 0
    result = run_mlopsc("plan", "--base", "main", cwd=bundled_repo)
    assert result.code == 0, result.err
    assert ("SLO latency: 99% of requests answered within 250ms over 30d → "
            "99.5% of requests answered within 250ms over 30d") in result.out
    assert "stops watching: SLO availability 99.5% of requests answered without a server error over 30d" in result.out


# -------------------------------------------------------------------------------- serving side
def _serving_objects(root, env: str, project: str) -> dict[tuple[str, str], dict]:
    folder = root / "generated/deploy/serving" / env / project
    return {(o["kind"], o["metadata"]["name"]): o for o in (yaml.safe_load(p.read_text()) for p in folder.iterdir())}


def _scrape_ingress(policy: dict) -> list[dict]:
    return [rule["ports"] for rule in policy["spec"]["ingress"]
            if rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"]


def test_prometheus_may_scrape_what_is_watched_and_nothing_else():
    recs = _serving_objects(REPO, "staging", "growth/merchant-recs")
    assert _scrape_ingress(recs[("NetworkPolicy", "recs-api")]) == [[{"port": 8080, "protocol": "TCP"}]]
    # fraud-api is watched in production only
    production = _serving_objects(REPO, "production", "risk/fraud-detection")
    assert _scrape_ingress(production[("NetworkPolicy", "fraud-api")]) == [[{"port": 8080, "protocol": "TCP"}]]
    staging = _serving_objects(REPO, "staging", "risk/fraud-detection")
    assert _scrape_ingress(staging[("NetworkPolicy", "fraud-api")]) == []
    assert ("ServiceMonitor", "fraud-api") not in staging and ("ServiceMonitor", "fraud-api") in production


def test_a_separate_metrics_port_reaches_pod_service_monitor_and_policy(bundled_repo):
    import kubernetes_validate

    edit(bundled_repo / "specs/growth/merchant-recs.yaml", "latency: http_request_duration_seconds",
         "latency: http_request_duration_seconds\n            port: 9102\n            path: /internal/metrics")
    assert run_mlopsc("compile", cwd=bundled_repo).code == 0
    objects = _serving_objects(bundled_repo, "staging", "growth/merchant-recs")
    service = objects[("Service", "recs-api")]
    assert {"name": "metrics", "port": 9102, "protocol": "TCP", "targetPort": "metrics"} in service["spec"]["ports"]
    (container,) = objects[("Deployment", "recs-api")]["spec"]["template"]["spec"]["containers"]
    assert {"containerPort": 9102, "name": "metrics", "protocol": "TCP"} in container["ports"]
    (endpoint,) = objects[("ServiceMonitor", "recs-api")]["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/internal/metrics")
    assert _scrape_ingress(objects[("NetworkPolicy", "recs-api")]) == [[{"port": 9102, "protocol": "TCP"}]]
    for kind in ("Service", "Deployment", "NetworkPolicy"):
        obj = next(o for (k, _), o in objects.items() if k == kind)
        kubernetes_validate.validate(obj, "1.33", strict=True)


def test_lineage_page_shows_the_monitor_after_the_releases(checked):
    from compiler.backends import lineage_html

    page = lineage_html._Page(checked)
    boxes, _ = page.boxes()
    page.place(boxes, page.shown_edges())
    (monitor,) = [b for b in boxes if b.kind == "monitor"]
    assert monitor.x > max(b.x for b in boxes if b.kind == "release")
    assert (monitor.title, monitor.subtitle) == ("fraud-api monitor", "holdout · 0 6 * * *")
    assert ("pipeline", "risk-fraud-detection-fraud-api-monitor") in monitor.details
    assert ("watches", "production") in monitor.details
    html = lineage_html.render(checked)
    assert ">Monitors<" in html and "<b>1</b> monitors" in html


def test_impact_of_the_live_source_reaches_the_monitor():
    result = run_mlopsc("impact", "risk/fraud-detection:sources.recent-transactions", cwd=REPO)
    assert result.code == 0
    assert "reaches 1 source and 1 continuous evaluation in 1 team" in result.out
    assert "    monitors:     fraud-api monitor" in result.out
