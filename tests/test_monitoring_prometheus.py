"""The monitoring objects, checked by the real Prometheus (Debian's `prometheus` and
`prometheus-pushgateway` packages; .ci/run installs them):

- every ServiceMonitor, PodMonitor and PrometheusRule validates strictly against the CRDs;
- `promtool check rules` accepts every rule group (the PrometheusRule's spec as a groups file);
- `promtool test rules` runs unit tests generated for every SLO of every runtime (KServe Standard,
  Knative's queue-proxy, a container's own metrics): the page and the ticket alert fire on a fast
  burn, only the ticket on a medium one, neither on a slow burn below its threshold nor on a
  healthy series; and for continuous evaluations, the failed-gate and missing-report alerts;
- end to end: Prometheus and the Pushgateway on 127.0.0.1 with the generated rules loaded;
  `mlopsc evidence report` pushes a failing gate and the gate alert fires with the target's labels;
  every dashboard query is sent to that Prometheus and parses.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_repo, edit, run_mlopsc
from crd_schema import validate_strict

PROMTOOL, PROMETHEUS, PUSHGATEWAY = "/usr/bin/promtool", "/usr/bin/prometheus", "/usr/bin/prometheus-pushgateway"
FRAUD = "specs/risk/fraud-detection.yaml"


def need(*binaries: str) -> None:
    missing = [b for b in binaries if not Path(b).exists()]
    if missing:
        message = f"{', '.join(missing)} missing: apt-get install -y prometheus prometheus-pushgateway"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI installs them (.ci/run); never skip there
        pytest.skip(message)


# -------------------------------------------------------------------------------- what is emitted
def make_knative(root: Path) -> Path:
    """The bundled specs in Knative mode, where queue-proxy also measures fraud-api's availability."""
    edit(root / "mlopsc.yaml", "deploymentMode: Standard", "deploymentMode: Knative")
    edit(root / FRAUD, "latency: {threshold: 250ms, objective: 99}",
         "availability: 99.9\n          latency: {threshold: 250ms, objective: 99}")
    return root


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """{repository: (documents, [Watched])} for the bundled specs and their Knative variant."""
    from compiler.backends import monitoring
    from compiler.build import Layout, load_and_check
    from compiler.middle.monitoring import monitored_environments

    roots = {"bundled": REPO, "knative": make_knative(copy_repo(REPO, tmp_path_factory.mktemp("knative") / "repo"))}
    result = {}
    for name, root in roots.items():
        checked = load_and_check(Layout(root))
        assert not checked.has_errors, [d.headline() for d in checked.diagnostics if d.is_error]
        watched = [monitoring.Watched(checked, project, t, project.model.spec.serving[t], env)
                   for project in checked.projects for t in sorted(project.model.spec.serving)
                   for env in monitored_environments(checked.config, project.model.spec.serving[t])]
        result[name] = (monitoring.emit(checked), watched)
    return result


def objects(emitted, kind: str) -> list[tuple[str, dict]]:
    return [(f"{repo}:{d.path}", d.content) for repo, (docs, _) in emitted.items() for d in docs
            if d.content["kind"] == kind]


def test_every_runtime_is_monitored(emitted):
    kinds = {w.measure.kind for _, watched in emitted.values() for w in watched}
    assert kinds == {"kserve-standard", "knative", "container"}
    assert len(objects(emitted, "ServiceMonitor")) == 3 and len(objects(emitted, "PodMonitor")) == 1


def test_monitors_and_rules_validate_strictly_against_the_crds(emitted):
    found = [o for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule") for o in objects(emitted, kind)]
    problems = [f"{path}: {error}" for path, obj in found for error in validate_strict(obj)]
    assert not problems, "\n".join(problems)
    # monitoring.selectorLabels (release: prometheus) on every one of them, for kube-prometheus-stack
    assert all(obj["metadata"]["labels"]["release"] == "prometheus" for _, obj in found)


def test_every_alert_carries_its_routing_labels_and_annotations(emitted):
    alerts = [r for _, obj in objects(emitted, "PrometheusRule") for g in obj["spec"]["groups"]
              for r in g["rules"] if "alert" in r]
    assert alerts
    for alert in alerts:
        assert {"team", "project", "serving", "environment", "severity"} <= set(alert["labels"]), alert["alert"]
        assert alert["labels"]["severity"] in ("page", "ticket")
        assert {"owners", "model_digest", "evidence", "spec", "dashboard", "summary",
                "description"} <= set(alert["annotations"]), alert["alert"]
        assert re.fullmatch(r"/d/mlopsc-[0-9a-f]{20}", alert["annotations"]["dashboard"])


def write_groups(directory: Path, name: str, groups: list[dict]) -> Path:
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    return path


def rule_files(emitted, directory: Path) -> list[Path]:
    """Each PrometheusRule's spec as a plain `groups:` file, as promtool and Prometheus read them."""
    directory.mkdir(parents=True, exist_ok=True)
    return [write_groups(directory, re.sub(r"[^a-z0-9-]+", "-", path), obj["spec"]["groups"])
            for path, obj in objects(emitted, "PrometheusRule")]


def test_promtool_checks_every_rule_group(emitted, tmp_path):
    need(PROMTOOL)
    files = rule_files(emitted, tmp_path)
    result = subprocess.run([PROMTOOL, "check", "rules", *map(str, files)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # promtool 2.42 prints lint failures (duplicate rules) but still exits 0
    assert result.stdout.count("SUCCESS") == len(files) and "FAILED" not in result.stdout, result.stdout


# -------------------------------------------------------------------------------- promtool unit tests
REQUESTS_PER_MINUTE = 100
# Label values tried for an error selector's matchers: the first that matches makes an error series,
# the first that does not makes a good one.
ERROR_VALUES, GOOD_VALUES = ("500", "5xx", "503", "error", "true"), ("200", "2xx", "ok", "false")


def _matchers(selector: str) -> list[tuple[str, str, str]]:
    inner = selector.partition("{")[2].rpartition("}")[0]
    return re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', inner)


def _satisfying(matchers, candidates) -> dict[str, str]:
    labels = {}
    for name, op, value in matchers:
        value = value.encode().decode("unicode_escape")
        test = {"=": lambda c: c == value, "!=": lambda c: c != value,
                "=~": lambda c: re.fullmatch(value, c) is not None, "!~": lambda c: re.fullmatch(value, c) is None}[op]
        labels[name] = next(c for c in candidates if test(c))
    return labels


def _series(name: str, labels: dict, per_minute: float, minutes: int) -> dict:
    text = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": f"0+{per_minute:g}x{minutes}"}


def input_series(w, sli: dict, ratio: float, minutes: int) -> list[dict]:
    """Raw metrics as the runtime exports them, with `ratio` of the requests bad."""
    m, base = w.measure, w.scraped
    bad, total = REQUESTS_PER_MINUTE * ratio, REQUESTS_PER_MINUTE
    if sli["sli"] == "availability":
        errors_name = m.errors.partition("{")[0]
        matchers = _matchers(m.errors)
        if errors_name == m.requests:  # one counter, errors picked by a label
            return [_series(errors_name, {**base, **_satisfying(matchers, ERROR_VALUES)}, bad, minutes),
                    _series(errors_name, {**base, **{n: _satisfying([(n, "!~" if op in ("=", "=~") else "=~", v)],
                                                                    GOOD_VALUES)[n] for n, op, v in matchers}},
                            total - bad, minutes)]
        return [_series(errors_name, {**base, **_satisfying(matchers, ERROR_VALUES)}, bad, minutes),
                _series(m.requests, base, total, minutes)]
    bound = sli["seconds"] / m.latency_unit
    # How the exporting library writes the bound: Go's OpenCensus exporter `250`, prometheus_client `0.25`/`1.0`.
    le = format(bound, "g") if m.kind == "knative" else repr(float(bound))
    return [_series(f"{m.latency}_bucket", {**base, "le": le}, total - bad, minutes),
            _series(f"{m.latency}_bucket", {**base, "le": "+Inf"}, total, minutes),
            _series(f"{m.latency}_count", base, total, minutes)]


def slo_unit_tests(w, sli: dict, rules: list[dict]) -> list[dict]:
    alerts = {r["labels"]["severity"]: r for r in rules if "alert" in r}
    name = next(iter(alerts.values()))["alert"]
    budget = sli["budget"]

    def expected(*severities):
        return [{"exp_labels": alerts[s]["labels"], "exp_annotations": alerts[s]["annotations"]} for s in severities]

    cases = [("fast burn: page and ticket", min(0.99, budget * 20), {"70m": ("page", "ticket")}),
             ("medium burn (4x): ticket only", budget * 4, {"70m": ("ticket",)}),
             ("slow burn below every threshold (0.5x)", budget * 0.5, {"70m": (), "2h": ()}),
             ("healthy", 0.0, {"70m": ()})]
    tests = []
    for title, ratio, checks in cases:
        tests.append({
            "name": f"{w.name} {w.env} {sli['sli']}: {title}",
            "interval": "1m",
            "input_series": input_series(w, sli, ratio, 150),
            "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": expected(*severities)}
                                for at, severities in checks.items()],
        })
    return tests


def evaluation_unit_tests(w, rules: list[dict]) -> list[dict]:
    from compiler.backends.monitoring import EVALUATION_JOB, GATE_GAUGE

    failed = next(r for r in rules if r["alert"] == "MlopscEvaluationGateFailed")
    stale = next(r for r in rules if r["alert"] == "MlopscEvaluationMissing")
    absent = next(r for r in rules if r["alert"] == "MlopscEvaluationNeverReported")
    late = int(stale["expr"].rpartition("> ")[2])  # twice the schedule's interval, in seconds
    pushed = {"job": EVALUATION_JOB, **w.identity}
    text = ", ".join(f'{k}="{v}"' for k, v in pushed.items())
    gate = "auc >= 0.92"
    gate_annotations = {k: v.replace("{{ $labels.gate }}", gate) for k, v in failed["annotations"].items()}
    hours = late // 3600
    return [
        {"name": f"{w.name} {w.env}: a failed gate alerts, a passed one does not",
         "interval": "1m",
         "input_series": [{"series": f'{GATE_GAUGE}{{{text}, gate="{gate}", metric="auc"}}', "values": "0x60"},
                          {"series": f'{GATE_GAUGE}{{{text}, gate="p95_latency_ms <= 40", metric="p95_latency_ms"}}',
                           "values": "1x60"}],
         "alert_rule_test": [{"eval_time": "30m", "alertname": failed["alert"], "exp_alerts": [
             {"exp_labels": {**pushed, "gate": gate, "metric": "auc", **failed["labels"]},
              "exp_annotations": gate_annotations}]}]},
        {"name": f"{w.name} {w.env}: no report for twice the interval alerts",
         "interval": "1h",
         "input_series": [{"series": f"push_time_seconds{{{text}}}", "values": f"0x{hours + 4}"}],
         "alert_rule_test": [
             {"eval_time": f"{hours - 1}h", "alertname": stale["alert"], "exp_alerts": []},
             {"eval_time": f"{hours + 1}h", "alertname": stale["alert"], "exp_alerts": [
                 {"exp_labels": stale["labels"], "exp_annotations": stale["annotations"]}]}]},
        {"name": f"{w.name} {w.env}: never reported alerts after twice the interval",
         "interval": "1h",
         "input_series": [],
         "alert_rule_test": [
             {"eval_time": f"{hours - 1}h", "alertname": absent["alert"], "exp_alerts": []},
             {"eval_time": f"{hours + 1}h", "alertname": absent["alert"], "exp_alerts": [
                 {"exp_labels": {**pushed, **absent["labels"]}, "exp_annotations": absent["annotations"]}]}]},
    ]


def scrape_unit_tests(w, rules: list[dict]) -> list[dict]:
    (rule,) = rules
    up = "up{" + ", ".join(f'{k}="{v}"' for k, v in w.scraped.items()) + ', instance="10.0.0.7:8080"}'
    firing = [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]
    return [
        {"name": f"{w.name} {w.env}: scraped, no alert", "interval": "1m",
         "input_series": [{"series": up, "values": "1x40"}],
         "alert_rule_test": [{"eval_time": "30m", "alertname": rule["alert"], "exp_alerts": []}]},
        {"name": f"{w.name} {w.env}: nothing scraped alerts after the grace period", "interval": "1m",
         "input_series": [],
         "alert_rule_test": [{"eval_time": "10m", "alertname": rule["alert"], "exp_alerts": []},
                             {"eval_time": "30m", "alertname": rule["alert"], "exp_alerts": firing}]},
        {"name": f"{w.name} {w.env}: a target that is down alerts", "interval": "1m",
         "input_series": [{"series": up, "values": "0x40"}],
         "alert_rule_test": [{"eval_time": "30m", "alertname": rule["alert"], "exp_alerts": firing}]},
    ]


def test_promtool_unit_tests_of_every_slo_and_evaluation(emitted, tmp_path):
    need(PROMTOOL)
    test_files, counts = [], {}
    for repo, (_, watched) in emitted.items():
        for w in watched:
            rule = w.prometheus_rule()
            for group in rule["spec"]["groups"]:
                base = f"{repo}-{group['name']}"
                rules_file = write_groups(tmp_path, f"{base}-rules", [group])
                if group["name"].endswith("-evaluation"):
                    tests = evaluation_unit_tests(w, group["rules"])
                elif group["name"].endswith("-scrape"):
                    tests = scrape_unit_tests(w, group["rules"])
                else:
                    sli = next(s for s in w.slos if group["name"].endswith(f"-{s['sli']}-slo"))
                    tests = slo_unit_tests(w, sli, group["rules"])
                counts[base] = len(tests)
                test_file = tmp_path / f"{base}-test.yml"
                # Evaluation alerts look back days: evaluate them every 15 minutes, not every minute.
                every = "15m" if group["name"].endswith("-evaluation") else "1m"
                test_file.write_text(yaml.safe_dump({"rule_files": [rules_file.name], "evaluation_interval": every,
                                                     "tests": tests}, sort_keys=False), encoding="utf-8")
                test_files.append(test_file)
    # Every runtime's metric names have their SLOs tested, and the evaluation alerts too.
    assert {k.split("-")[0] for k in counts} == {"bundled", "knative"}
    assert sum(1 for k in counts if k.endswith("-slo")) == 7 and sum(1 for k in counts if k.endswith("-evaluation")) == 2
    assert sum(1 for k in counts if k.endswith("-scrape")) == 4
    # One promtool per file, two at a time (each takes a few seconds of CPU).
    failures, passed = [], 0
    for pair in (test_files[i:i + 2] for i in range(0, len(test_files), 2)):
        running = [subprocess.Popen([PROMTOOL, "test", "rules", f.name], cwd=tmp_path, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for f in pair]
        for f, process in zip(pair, running):
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                failures.append(f"{f.name}:\n{output[-4000:]}")
            passed += output.count("SUCCESS")
    assert not failures, "\n".join(failures)
    assert passed == len(test_files)


def test_a_wrong_threshold_fails_the_unit_tests(emitted, tmp_path):
    """The unit tests can fail: a page alert whose factor is halved fires on the medium burn."""
    need(PROMTOOL)
    _, watched = emitted["bundled"]
    w = next(x for x in watched if x.name == "recs-api")
    group = w.prometheus_rule()["spec"]["groups"][0]
    sli = w.slos[0]
    tests = slo_unit_tests(w, sli, group["rules"])
    for rule in group["rules"]:
        if rule.get("labels", {}).get("severity") == "page":
            rule["expr"] = rule["expr"].replace("(14.4 *", "(3.6 *").replace("(6 *", "(1.5 *")
    write_groups(tmp_path, "rules", [group])
    (tmp_path / "test.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "tests": tests}), encoding="utf-8")
    result = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and "medium burn" in result.stdout + result.stderr


# -------------------------------------------------------------------------------- end to end
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{what} within {seconds}s (last: {last!r})")


@pytest.fixture(scope="module")
def prometheus(emitted, tmp_path_factory):
    """Prometheus (the bundled specs' rules loaded, evaluating every second) scraping a Pushgateway,
    both on 127.0.0.1. (The Knative variant watches the same target with the same labels.)"""
    need(PROMETHEUS, PUSHGATEWAY)
    work = tmp_path_factory.mktemp("prometheus")
    # The committed generated/ (tests/test_smoke.py keeps it equal to a fresh compile): each
    # PrometheusRule's spec as a rule file, as the operator hands it to Prometheus.
    (work / "rules").mkdir()
    files = []
    for path in sorted((REPO / "generated/deploy").rglob("prometheusrule-*.yaml")):
        rule = yaml.safe_load(path.read_text(encoding="utf-8"))
        files.append(write_groups(work / "rules", f"{rule['metadata']['namespace']}-{rule['metadata']['name']}",
                                  rule["spec"]["groups"]))
    assert len(files) == 2
    gateway_port, prometheus_port = free_port(), free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(f) for f in files],
              # honor_labels: the pushed job and grouping labels stay as pushed (as the platform's
              # Pushgateway ServiceMonitor must set it too; docs/MONITORING.md)
              "scrape_configs": [{"job_name": "pushgateway", "honor_labels": True,
                                  "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}]}]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    logs = [open(work / "pushgateway.log", "wb"), open(work / "prometheus.log", "wb")]
    processes = [
        subprocess.Popen([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{gateway_port}"],
                         stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
                          f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                         stdout=logs[1], stderr=subprocess.STDOUT),
    ]
    try:
        api = f"http://127.0.0.1:{prometheus_port}"
        gateway = f"http://127.0.0.1:{gateway_port}"
        wait_until(lambda: urllib.request.urlopen(f"{api}/-/ready", timeout=2).status == 200, 30, "Prometheus ready")
        wait_until(lambda: urllib.request.urlopen(f"{gateway}/-/ready", timeout=2).status == 200, 30,
                   "Pushgateway ready")
        yield api, gateway, work
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def test_prometheus_loads_every_generated_rule(prometheus, emitted):
    api, _, _ = prometheus
    groups = get_json(f"{api}/api/v1/rules")["data"]["groups"]
    expected = {g["name"] for _, obj in objects({"bundled": emitted["bundled"]}, "PrometheusRule")
                for g in obj["spec"]["groups"]}
    assert {g["name"] for g in groups} == expected
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups


def test_a_failing_gate_pushed_by_evidence_report_fires_the_gate_alert(prometheus):
    api, gateway, work = prometheus
    # auc 0.941 in the evidence: the gate `auc >= 0.95` fails on "live data", `p95_latency_ms <= 40` passes
    result = run_mlopsc("evidence", "report", "--evidence", "evidence/risk/fraud-detection/run-0142.json",
                        "--environment", "production", "--pushgateway", gateway,
                        "--gate", "auc >= 0.95", "--gate", "p95_latency_ms <= 40", cwd=REPO)
    assert result.code == 0, result.err
    assert "auc >= 0.95: FAILED (0.941)" in result.err

    def firing():
        alerts = get_json(f"{api}/api/v1/alerts")["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "MlopscEvaluationGateFailed" and a["state"] == "firing"]

    alerts = wait_until(firing, 30, "the gate alert firing")
    assert len(alerts) == 1
    labels = alerts[0]["labels"]
    assert {k: labels[k] for k in ("team", "project", "serving", "environment", "severity", "gate", "metric")} == {
        "team": "risk", "project": "fraud-detection", "serving": "fraud-api", "environment": "production",
        "severity": "ticket", "gate": "auc >= 0.95", "metric": "auc"}
    annotations = alerts[0]["annotations"]
    assert annotations["model_digest"] == "sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf"
    assert annotations["summary"] == "fraud-api (production) fails gate auc >= 0.95 on live data"
    # the pushed metrics are there for the dashboard too
    value = get_json(f"{api}/api/v1/query?" + urllib.parse.urlencode(
        {"query": 'mlopsc_evaluation_metric{team="risk", metric="auc"}'}))["data"]["result"]
    assert [float(v["value"][1]) for v in value] == [0.941]


def test_every_dashboard_query_parses_in_prometheus(prometheus, emitted):
    api, _, _ = prometheus
    queries = []
    for _, configmap in objects(emitted, "ConfigMap"):
        (text,) = configmap["data"].values()
        dashboard = json.loads(text)
        queries += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) > 20
    problems = []
    for query in queries:
        try:
            body = get_json(f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
            if body["status"] != "success":
                problems.append(f"{query}: {body}")
        except urllib.error.HTTPError as exc:
            problems.append(f"{query}: {exc.read().decode()}")
    assert not problems, "\n".join(problems)


def test_report_that_cannot_reach_the_pushgateway_exits_1():
    port = free_port()  # nothing listens there
    result = run_mlopsc("evidence", "report", "--evidence", "evidence/risk/fraud-detection/run-0142.json",
                        "--environment", "production", "--pushgateway", f"http://127.0.0.1:{port}", cwd=REPO)
    assert result.code == 1 and "could not push" in result.err


@pytest.mark.parametrize("args, message", [
    (["--gate", "auc >>= 1"], "is not `<metric> <op> <number>`"),
    (["--pushgateway", "prometheus-pushgateway:9091"], "is not an http:// or https:// URL"),
    (["--project", "risk/fraud-detection"], "needs --serving, --model-uri, --model-digest, --pipeline-version, --run"),
    (["--evidence", "evidence/nope.json"], "--evidence 'evidence/nope.json' does not exist"),
    (["--evidence", "mlopsc.yaml"], "is not an evidence record"),
])
def test_report_usage_errors_exit_2(args, message):
    base = {"--evidence": "evidence/risk/fraud-detection/run-0142.json", "--environment": "production",
            "--pushgateway": "http://127.0.0.1:9"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    result = run_mlopsc("evidence", "report", *[x for kv in base.items() for x in kv], cwd=REPO)
    assert result.code == 2 and message in result.err, result.err

