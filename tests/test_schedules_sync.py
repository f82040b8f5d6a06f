"""`mlopsc schedules sync` against a fake KFP API on 127.0.0.1 (tests/kfp_fake_server.py) that
accepts exactly the requests ../shared/api/kfp-v2beta1 describes.

Scenarios: create, no-op (reads only), change (create, then delete), removal, recurring runs it did
not create left alone, and each injected failure (HTTP 500, a stalled response, a pipeline that
does not exist yet, the server down): exit 1 and nothing that existed before is lost. The KFP
calls of each scenario are counted (docs/SCHEDULES.md quotes them).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_mlopsc
from kfp_fake_server import FakeKfp, Server

from compiler import layout
from compiler.middle.schedules import schedule_record

NS = "risk"
FAST = ("--backoff", "0", "--attempts", "3", "--timeout", "2")
TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLWZvci10ZXN0cw.c2lnbmF0dXJl"


def record(name: str, cron: str = "0 3 * * 1", namespace: str = NS, **extra) -> dict:
    return schedule_record(name, name, namespace, cron, **extra)


def write_desired(path: Path, records: list[dict], owner: str = "risk", namespace: str = NS) -> Path:
    path.write_text(json.dumps({"owner": owner, "namespace": namespace, "schedules": records}))
    return path


@pytest.fixture
def kfp():
    fake = FakeKfp()
    with Server(fake) as server:
        fake.url = server.url
        yield fake


def sync(kfp, desired: Path, *extra: str, cwd: Path):
    kfp.requests.clear()
    return run_mlopsc("schedules", "sync", "--api", kfp.url, "--from", str(desired), *FAST, *extra, cwd=cwd)


def calls(kfp) -> list[tuple[str, str]]:
    return [(r.method, r.operation.split("_", 1)[1]) for r in kfp.requests]


def by_name(kfp, namespace: str = NS) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for run in kfp.runs_in(namespace):
        found.setdefault(run["display_name"], []).append(run)
    return found


@pytest.fixture
def two(kfp, tmp_path):
    """Two pipelines with schedules, synced once: (desired file, records, pipeline ids)."""
    ids = {name: kfp.add_pipeline(name, NS) for name in ("risk-fraud", "risk-credit")}
    records = [record("risk-credit", "30 2 * * *"), record("risk-fraud")]
    desired = write_desired(tmp_path / "schedules.json", records)
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 0, result.err
    return desired, records, ids


# ------------------------------------------------------------------------------------ scenarios
def test_create_makes_each_declared_recurring_run_exactly_as_kfp_wants_it(kfp, two, tmp_path):
    desired, records, ids = two
    runs = by_name(kfp)
    assert sorted(runs) == ["risk-credit", "risk-fraud"]
    fraud = runs["risk-fraud"][0]
    assert fraud["pipeline_version_reference"] == {"pipeline_id": ids["risk-fraud"]}  # latest version
    assert fraud["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * 1"}}  # six fields, seconds first
    assert (fraud["max_concurrency"], fraud["no_catchup"], fraud["mode"], fraud["namespace"]) == ("1", True, "ENABLE", NS)
    assert f"mlopsc-owner=risk mlopsc-hash={records[1]['hash']}" in fraud["description"]
    assert "service_account" not in fraud


def test_create_output_is_one_line_per_action(kfp, tmp_path):
    kfp.add_pipeline("risk-fraud", NS)
    result = sync(kfp, write_desired(tmp_path / "d.json", [record("risk-fraud")]), cwd=tmp_path)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].startswith("risk: created risk-fraud: risk-fraud at cron '0 0 3 * * 1' (recurring run ")
    assert lines[1:] == ["risk: in sync: 1 schedule(s) of risk"]
    assert calls(kfp) == [("GET", "ListRecurringRuns"), ("GET", "GetPipelineByName"), ("POST", "CreateRecurringRun")]


def test_nothing_changed_means_reads_only(kfp, two, tmp_path):
    desired, _, _ = two
    before = json.dumps(kfp.runs, sort_keys=True)
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 0
    assert kfp.writes() == []
    assert json.dumps(kfp.runs, sort_keys=True) == before
    assert result.out == "risk: in sync: 2 schedule(s) of risk\n"
    assert calls(kfp) == [("GET", "ListRecurringRuns"), ("GET", "GetPipelineByName"), ("GET", "GetPipelineByName")]


def test_a_change_creates_the_new_run_before_deleting_the_old(kfp, two, tmp_path):
    desired, records, _ = two
    old = by_name(kfp)["risk-fraud"][0]["recurring_run_id"]
    write_desired(desired, [records[0], record("risk-fraud", "0 4 * * 1")])
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 0, result.err
    writes = [(r.method, r.operation) for r in kfp.writes()]
    assert writes == [("POST", "RecurringRunService_CreateRecurringRun"),
                      ("DELETE", "RecurringRunService_DeleteRecurringRun")]
    assert kfp.writes()[1].path.endswith(old)
    [fraud] = by_name(kfp)["risk-fraud"]
    assert fraud["trigger"]["cron_schedule"]["cron"] == "0 0 4 * * 1"
    assert "risk: replaced risk-fraud" in result.out and f"deleted risk-fraud (recurring run {old}" in result.out


def test_a_recreated_pipeline_gets_its_schedule_moved_to_the_new_id(kfp, two, tmp_path):
    """Kubernetes-native mode: a Pipeline object recreated has a new id (its uid)."""
    desired, _, _ = two
    new_id = kfp.add_pipeline("risk-fraud", NS)
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    [fraud] = by_name(kfp)["risk-fraud"]
    assert fraud["pipeline_version_reference"]["pipeline_id"] == new_id


def test_removal_deletes_what_is_no_longer_declared(kfp, two, tmp_path):
    desired, records, _ = two
    write_desired(desired, [records[0]])
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 0
    assert sorted(by_name(kfp)) == ["risk-credit"]
    assert [r.method for r in kfp.writes()] == ["DELETE"]
    write_desired(desired, [])  # the team's last schedule goes: the ConfigMap stays, empty
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    assert by_name(kfp) == {}


def test_recurring_runs_it_did_not_create_are_never_touched(kfp, two, tmp_path):
    desired, records, ids = two
    reference = {"pipeline_id": ids["risk-fraud"]}
    foreign = {
        "by-hand": kfp.add_run(display_name="risk-fraud", namespace=NS, description="made in the UI",
                               pipeline_version_reference=reference),
        "other-team": kfp.add_run(display_name="risk-fraud", namespace=NS, pipeline_version_reference=reference,
                                  description=f"mlopsc-owner=growth mlopsc-hash={records[1]['hash']}"),
        "undeclared": kfp.add_run(display_name="nightly-experiment", namespace=NS),
    }
    before = {k: dict(kfp.runs[v]) for k, v in foreign.items()}
    write_desired(desired, [record("risk-fraud", "0 5 * * 1")])  # change one, remove the other
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    write_desired(desired, [])
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    assert {k: kfp.runs.get(v) for k, v in foreign.items()} == before
    assert sync(kfp, desired, cwd=tmp_path).code == 0 and kfp.writes() == []


def test_pages_of_recurring_runs_are_all_read(kfp, tmp_path):
    kfp.add_pipeline("risk-fraud", NS)
    for i in range(5):
        kfp.add_run(display_name=f"other-{i}", namespace=NS)
    desired = write_desired(tmp_path / "d.json", [record("risk-fraud")])
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    assert kfp.writes() == []
    assert [c for c in calls(kfp) if c[1] == "ListRecurringRuns"] == [("GET", "ListRecurringRuns")] * 3  # 6 runs, pages of 2


def test_a_service_account_reaches_kfp(kfp, tmp_path):
    kfp.add_pipeline("risk-fraud", NS)
    desired = write_desired(tmp_path / "d.json", [record("risk-fraud", service_account="risk-pipelines")])
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    assert by_name(kfp)["risk-fraud"][0]["service_account"] == "risk-pipelines"


# ----------------------------------------------------------------------------- injected failures
def test_a_create_that_keeps_failing_keeps_the_old_run(kfp, two, tmp_path):
    desired, records, _ = two
    before = json.dumps(kfp.runs, sort_keys=True)
    kfp.fail("RecurringRunService_CreateRecurringRun", 500, times=3)
    write_desired(desired, [records[0], record("risk-fraud", "0 4 * * 1")])
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 1
    assert "risk-fraud: cannot create the recurring run, the old one is kept" in result.err
    assert "HTTP 500" in result.err and "gave up after 3 attempts" in result.err
    assert [r.method for r in kfp.writes()] == ["POST"] * 3  # retried, never a DELETE
    assert json.dumps(kfp.runs, sort_keys=True) == before
    assert sync(kfp, desired, cwd=tmp_path).code == 0  # the next sync converges
    assert by_name(kfp)["risk-fraud"][0]["trigger"]["cron_schedule"]["cron"] == "0 0 4 * * 1"


def test_a_transient_500_is_retried_and_converges(kfp, two, tmp_path):
    desired, records, _ = two
    kfp.fail("RecurringRunService_ListRecurringRuns", 503, times=1)
    kfp.fail("PipelineService_GetPipelineByName", 502, times=1)
    write_desired(desired, [records[0]])
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 0, result.err
    assert sorted(by_name(kfp)) == ["risk-credit"]


def test_a_stalled_server_times_out_and_loses_nothing(kfp, two, tmp_path):
    desired, records, _ = two
    before = json.dumps(kfp.runs, sort_keys=True)
    kfp.stall("PipelineService_GetPipelineByName", 1.0, times=3)
    write_desired(desired, [record("risk-credit", "0 1 * * *"), records[1]])
    result = sync(kfp, desired, "--timeout", "0.3", cwd=tmp_path)
    assert result.code == 1
    assert "risk-credit: cannot look up pipeline risk-credit, kept as it was" in result.err
    assert "timed out" in result.err
    assert kfp.writes() == []
    assert json.dumps(kfp.runs, sort_keys=True) == before


def test_a_pipeline_that_does_not_exist_yet_is_not_converged(kfp, two, tmp_path):
    desired, records, _ = two
    del kfp.pipelines[(NS, "risk-fraud")]  # e.g. its Application has not synced yet
    write_desired(desired, [record("risk-credit", "0 1 * * *"), record("risk-fraud", "0 4 * * 1"),
                            record("risk-new")])
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 1
    assert "risk-fraud: pipeline risk-fraud does not exist (yet) in risk; kept as it was" in result.err
    assert "risk-new: pipeline risk-new does not exist (yet)" in result.err
    runs = by_name(kfp)
    assert runs["risk-fraud"][0]["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * 1"  # the old one stays
    assert runs["risk-credit"][0]["trigger"]["cron_schedule"]["cron"] == "0 0 1 * * *"  # the rest converged
    kfp.add_pipeline("risk-fraud", NS)
    kfp.add_pipeline("risk-new", NS)
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    assert sorted(by_name(kfp)) == ["risk-credit", "risk-fraud", "risk-new"]


def test_a_failed_delete_leaves_both_and_the_next_sync_removes_the_old(kfp, two, tmp_path):
    desired, records, _ = two
    kfp.fail("RecurringRunService_DeleteRecurringRun", 500, times=3)
    write_desired(desired, [records[0], record("risk-fraud", "0 4 * * 1")])
    result = sync(kfp, desired, cwd=tmp_path)
    assert result.code == 1
    assert len(by_name(kfp)["risk-fraud"]) == 2  # nothing lost: the new one and the old one
    assert sync(kfp, desired, cwd=tmp_path).code == 0
    [fraud] = by_name(kfp)["risk-fraud"]
    assert fraud["trigger"]["cron_schedule"]["cron"] == "0 0 4 * * 1"


def test_a_server_that_is_down_fails_after_bounded_retries(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    desired = write_desired(tmp_path / "d.json", [record("risk-fraud")])
    result = run_mlopsc("schedules", "sync", "--api", f"http://127.0.0.1:{port}", "--from", str(desired), *FAST,
                        cwd=tmp_path)
    assert result.code == 1
    assert "cannot list recurring runs, nothing changed" in result.err and "Connection refused" in result.err
    assert "gave up after 3 attempts" in result.err


def test_a_refused_request_is_not_retried(kfp, two, tmp_path):
    desired, records, _ = two
    kfp.fail("RecurringRunService_CreateRecurringRun", 400, times=1)
    write_desired(desired, [records[0], record("risk-fraud", "0 4 * * 1")])
    assert sync(kfp, desired, cwd=tmp_path).code == 1
    assert [r.method for r in kfp.writes()] == ["POST"]


# ---------------------------------------------------------------------------------------- token
def test_the_token_is_sent_as_a_bearer_and_never_printed(kfp, tmp_path):
    kfp.add_pipeline("risk-fraud", NS)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    desired = write_desired(tmp_path / "d.json", [record("risk-fraud")])
    kfp.token = TOKEN
    ok = sync(kfp, desired, "--token-file", str(token_file), cwd=tmp_path)
    assert ok.code == 0 and by_name(kfp)
    kfp.token = "another-token"  # the server wants another one and echoes what it got
    refused = sync(kfp, desired, "--token-file", str(token_file), cwd=tmp_path)
    assert refused.code == 1 and "HTTP 401" in refused.err
    for result in (ok, refused):
        assert TOKEN not in result.out + result.err
        assert "c2VjcmV0LXRva2VuLWZvci10ZXN0cw" not in result.out + result.err
    assert "[token]" in refused.err


def test_without_a_token_file_no_authorization_is_sent(kfp, tmp_path):
    kfp.add_pipeline("risk-fraud", NS)
    kfp.token = TOKEN
    result = sync(kfp, write_desired(tmp_path / "d.json", [record("risk-fraud")]), cwd=tmp_path)
    assert result.code == 1 and "HTTP 401" in result.err and "got ''" in result.err


# ------------------------------------------------------------------------------------ bad usage
@pytest.mark.parametrize("case", ["missing-from", "not-json", "bad-hash", "five-field-cron", "bad-api",
                                  "missing-token", "empty-dir"])
def test_bad_usage_exits_2_and_calls_nothing(kfp, tmp_path, case):
    desired = write_desired(tmp_path / "d.json", [record("risk-fraud")])
    args = ["--api", kfp.url, "--from", str(desired)]
    if case == "missing-from":
        args[3] = str(tmp_path / "nowhere")
    elif case == "not-json":
        desired.write_text("{")
    elif case == "bad-hash":
        data = json.loads(desired.read_text())
        data["schedules"][0]["cron"] = "0 0 4 * * 1"
        desired.write_text(json.dumps(data))
    elif case == "five-field-cron":
        data = json.loads(desired.read_text())
        data["schedules"][0] = record("risk-fraud") | {"cron": "3 * * 1 1"}
        desired.write_text(json.dumps(data))
    elif case == "bad-api":
        args[1] = "ml-pipeline:8888"
    elif case == "missing-token":
        args += ["--token-file", str(tmp_path / "no-token")]
    elif case == "empty-dir":
        (tmp_path / "empty").mkdir()
        args[3] = str(tmp_path / "empty")
    kfp.requests.clear()
    result = run_mlopsc("schedules", "sync", *args, cwd=tmp_path)
    assert result.code == 2, (result.out, result.err)
    assert result.err.startswith("mlopsc: error: ")
    assert kfp.requests == []


# --------------------------------------------------------------------- the compiled ConfigMaps
def mounted_configmap(team: str, dest: Path) -> Path:
    """The bundled ConfigMap of `team`, laid out as Kubernetes mounts it (files are symlinks)."""
    obj = yaml.safe_load((REPO / "generated" / layout.schedules_dir(team)
                          / layout.object_filename("ConfigMap", layout.schedules_object_name(team))).read_text())
    data_dir = dest / "..2026_12_01_00_00_00.000000001"
    data_dir.mkdir(parents=True)
    (dest / "..data").symlink_to(data_dir.name)
    for key, value in obj["data"].items():
        (data_dir / key).write_text(value)
        (dest / key).symlink_to(f"..data/{key}")
    return dest


@pytest.mark.parametrize("team, schedules", [
    ("risk", [("risk-fraud-detection", "0 0 3 * * 1"), ("risk-fraud-detection-fraud-api-monitor", "0 0 6 * * *")]),
    ("growth", [("growth-merchant-segments", "0 30 2 * * *")])])
def test_the_bundled_configmaps_drive_the_reconciler(kfp, tmp_path, team, schedules):
    mount = mounted_configmap(team, tmp_path / "mount")
    for pipeline, _ in schedules:
        kfp.add_pipeline(pipeline, team)
    result = sync(kfp, mount, cwd=tmp_path)
    assert result.code == 0, result.err
    runs = kfp.runs_in(team)
    assert sorted((r["display_name"], r["trigger"]["cron_schedule"]["cron"]) for r in runs) == schedules
    assert sync(kfp, mount, cwd=tmp_path).code == 0 and kfp.writes() == []


# ------------------------------------------------------------------------------- the fake itself
def test_the_fake_refuses_what_the_api_does_not_describe():
    """The tests above can fail: a misspelt field, parameter, path or method is refused."""
    fake = FakeKfp()
    fake.add_pipeline("p", NS)
    body = {"display_name": "x", "pipeline_version_reference": {"pipeline_id": "nope"}, "max_concurrency": "1",
            "trigger": {"cron_schedule": {"cron": "0 0 3 * * 1"}}, "mode": "ENABLE"}

    def status(method, target, payload=None):
        raw = json.dumps(payload).encode() if payload is not None else b""
        return fake.handle(method, target, {}, raw)[0]

    assert status("POST", "/apis/v2beta1/recurringruns", {**body, "maxConcurrency": "1"}) == 400
    assert status("POST", "/apis/v2beta1/recurringruns", {**body, "trigger": {"cron": "0 0 3 * * 1"}}) == 400
    assert status("POST", "/apis/v2beta1/recurringruns", {**body, "no_catchup": "true"}) == 400
    assert status("POST", "/apis/v2beta1/recurringruns", {**body, "mode": "ON"}) == 400
    assert status("GET", "/apis/v2beta1/recurringruns?namespace=risk&pageSize=10") == 400
    assert status("GET", "/apis/v2beta1/pipelines/names/p?namespace=risk&version=1") == 400
    assert status("PUT", "/apis/v2beta1/recurringruns/x") == 405
    assert status("GET", "/apis/v2beta1/schedules") == 404
    assert status("POST", "/apis/v2beta1/recurringruns", body) == 400  # no such pipeline: KFP refuses too
    assert status("GET", "/apis/v2beta1/pipelines/names/p?namespace=risk") == 200


# ---------------------------------------------------------------------------------------- costs
def test_what_each_scenario_costs_in_kfp_calls(kfp, tmp_path):
    """docs/SCHEDULES.md quotes these: per team, one list (per 100 recurring runs) and one lookup
    per declared schedule on every sync; plus one create per new schedule, one create and one
    delete per changed one, one delete per removed one."""
    kfp.page_size_cap = 100  # KFP pages as asked
    names = ["risk-a", "risk-b", "risk-c"]
    for name in names:
        kfp.add_pipeline(name, NS)
    desired = tmp_path / "d.json"

    def cost(records) -> dict[str, int]:
        write_desired(desired, records)
        assert sync(kfp, desired, cwd=tmp_path).code == 0
        counted: dict[str, int] = {}
        for method, operation in calls(kfp):
            counted[operation] = counted.get(operation, 0) + 1
        return counted

    three = [record(n) for n in names]
    assert cost(three) == {"ListRecurringRuns": 1, "GetPipelineByName": 3, "CreateRecurringRun": 3}
    assert cost(three) == {"ListRecurringRuns": 1, "GetPipelineByName": 3}  # nothing changed: reads only
    changed = three[:2] + [record("risk-c", "0 4 * * 1")]
    assert cost(changed) == {"ListRecurringRuns": 1, "GetPipelineByName": 3, "CreateRecurringRun": 1,
                             "DeleteRecurringRun": 1}
    assert cost(changed[1:]) == {"ListRecurringRuns": 1, "GetPipelineByName": 2, "DeleteRecurringRun": 1}
    assert cost([]) == {"ListRecurringRuns": 1, "DeleteRecurringRun": 2}
