"""Schedules as compiled: the desired records, each team's ConfigMap and PostSync Job, the
`<team>-schedules` Application, and the checks on schedules and the release image.

(Strict Kubernetes validation, Pod Security and NetworkPolicy coverage of the Job are in
tests/test_serving_conformance.py, over the same variants.)
"""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import (CONTRACT_EXAMPLES, EXAMPLES_RELEASE_IMAGE, RELEASE_IMAGE_LINE, REPO, copy_repo, edit, line_col,
                      run_mlopsc)
from test_serving_variants import compiled, objects_of

from compiler import layout
from compiler.build import Layout, load_and_check
from compiler.middle.schedules import desired_schedules, record_hash

BUNDLED_IMAGE = "registry.example.com/ml/mlopsc@sha256:"


def desired_of(name: str, team: str) -> dict:
    [cm] = objects_of(name, "ConfigMap", under=f"deploy/schedules/{team}/").values()
    return json.loads(cm["data"][layout.SCHEDULES_KEY])


def test_the_bundled_schedules_become_records_with_kfp_cron():
    checked, _ = compiled("bundled")
    records = desired_schedules(checked)
    assert [(r["namespace"], r["name"], r["pipeline"], r["cron"], r["serviceAccount"]) for r in records] == [
        ("growth", "growth-merchant-segments", "growth-merchant-segments", "0 30 2 * * *", "growth-pipelines"),  # nightly
        ("payments", "payments-dispute-triage", "payments-dispute-triage", "0 0 22 * * SUN", "payments-pci-pipelines"),
        ("risk", "risk-fraud-detection", "risk-fraud-detection", "0 0 3 * * 1", "risk-pipelines"),  # weekly
        # fraud-api's continuous evaluation, daily (monitoring.evaluate.schedule)
        ("risk", "risk-fraud-detection-fraud-api-monitor", "risk-fraud-detection-fraud-api-monitor", "0 0 6 * * *",
         "risk-pipelines"),
    ]
    for r in records:
        assert (r["maxConcurrency"], r["noCatchup"]) == (1, True)
        assert set(r) == {"name", "pipeline", "namespace", "cron", "maxConcurrency", "noCatchup", "serviceAccount",
                          "hash"}
        assert r["hash"] == record_hash(r) and len(r["hash"]) == 64


def test_without_a_pipeline_service_account_records_leave_it_to_the_profile(tmp_path):
    repo = copy_repo(REPO, tmp_path / "repo")
    text = (repo / "mlopsc.yaml").read_text()
    assert "pipelineServiceAccount:" in text
    (repo / "mlopsc.yaml").write_text("\n".join(line for line in text.splitlines()
                                                if "pipelineServiceAccount:" not in line) + "\n")
    checked = load_and_check(Layout(repo))
    assert not checked.has_errors, checked.diagnostics
    assert all("serviceAccount" not in r for r in desired_schedules(checked))


def test_every_team_has_a_configmap_even_without_schedules(tmp_path):
    assert desired_of("bundled", "risk") == {
        "owner": "risk", "namespace": "risk",
        "schedules": [r for r in desired_schedules(compiled("bundled")[0]) if r["namespace"] == "risk"]}
    # The examples' growth team has no schedule: its ConfigMap says so, and its Job still runs.
    assert desired_of("examples", "growth") == {"owner": "growth", "namespace": "growth", "schedules": []}
    assert objects_of("examples", "Job", under="deploy/schedules/growth/")


def test_the_job_is_a_postsync_hook_running_the_reconciler_with_a_projected_token():
    jobs = objects_of("bundled", "Job")
    assert sorted(jobs) == [f"deploy/schedules/{t}/job-mlopsc-schedules-{t}.yaml" for t in ("growth", "payments", "risk")]
    job = jobs["deploy/schedules/risk/job-mlopsc-schedules-risk.yaml"]
    assert job["metadata"]["namespace"] == "risk"
    assert job["metadata"]["annotations"] == {"argocd.argoproj.io/hook": "PostSync",
                                              "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}
    spec = job["spec"]
    assert spec["backoffLimit"] >= 0 and spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"].startswith(BUNDLED_IMAGE)
    assert container["args"] == ["schedules", "sync", "--api", "http://ml-pipeline.kubeflow.svc.cluster.local:8888",
                                 "--from", "/etc/mlopsc/schedules", "--token-file", "/var/run/secrets/kfp/token"]
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert pod["serviceAccountName"] == "mlopsc-schedules-risk" and pod["automountServiceAccountToken"] is False
    assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["schedules"]["configMap"] == {"name": "mlopsc-schedules-risk"}
    [token] = volumes["kfp-token"]["projected"]["sources"]
    assert token["serviceAccountToken"]["audience"] == "pipelines.kubeflow.org"
    assert token["serviceAccountToken"]["path"] == "token"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"schedules": "/etc/mlopsc/schedules", "kfp-token": "/var/run/secrets/kfp"}
    [sa] = objects_of("bundled", "ServiceAccount", under="deploy/schedules/risk/").values()
    assert sa["automountServiceAccountToken"] is False


def test_the_job_reaches_the_api_port_of_kubeflow_apiurl(example_repo):
    edit(example_repo / "mlopsc.yaml", RELEASE_IMAGE_LINE, RELEASE_IMAGE_LINE + "  apiURL: https://kfp.example.com/\n")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    folder = example_repo / "generated" / layout.schedules_dir("risk")
    policy = yaml.safe_load((folder / "networkpolicy-mlopsc-schedules-risk.yaml").read_text())
    assert {"protocol": "TCP", "port": 443} in policy["spec"]["egress"][1]["ports"]
    job = yaml.safe_load((folder / "job-mlopsc-schedules-risk.yaml").read_text())
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][3] == "https://kfp.example.com/"


def test_each_team_gets_a_schedules_application_its_appproject_allows():
    apps = {o["metadata"]["name"]: o for o in objects_of("bundled", "Application").values()}
    projects = {o["metadata"]["name"]: o for o in objects_of("bundled", "AppProject").values()}
    for team in ("growth", "payments", "risk"):
        app = apps[f"{team}-schedules"]
        assert app["spec"]["source"]["path"] == f"generated/deploy/schedules/{team}"
        assert app["spec"]["destination"]["namespace"] == team
        assert app["spec"]["destination"] in projects[team]["spec"]["destinations"]
        kinds = {(k["group"], k["kind"]) for k in projects[team]["spec"]["namespaceResourceWhitelist"]}
        assert {("", "ConfigMap"), ("", "ServiceAccount"), ("batch", "Job"), ("networking.k8s.io", "NetworkPolicy")} <= kinds
    # after the pipelines, so that a new pipeline usually exists when its schedule is synced
    wave = lambda app: int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])  # noqa: E731
    pipelines = [a for n, a in apps.items() if n.endswith("-pipelines")]
    assert pipelines and all(wave(apps[f"{t}-schedules"]) > wave(p) for t in ("growth", "risk") for p in pipelines)


def test_removing_a_schedule_empties_the_configmap_and_keeps_the_job(example_repo):
    edit(example_repo / "specs/risk/fraud-detection.yaml", '  schedule: "0 3 * * 1"\n', "")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    folder = example_repo / "generated" / layout.schedules_dir("risk")
    cm = yaml.safe_load((folder / "configmap-mlopsc-schedules-risk.yaml").read_text())
    assert json.loads(cm["data"]["schedules.json"])["schedules"] == []
    assert (folder / "job-mlopsc-schedules-risk.yaml").is_file()


def test_compile_refuses_a_tag_only_release_image_under_require_digests(example_repo):
    edit(example_repo / "mlopsc.yaml", EXAMPLES_RELEASE_IMAGE, "registry.example.com/ml/mlopsc:0.2.0")
    result = run_mlopsc("compile", cwd=example_repo)
    line, column = line_col(example_repo / "mlopsc.yaml", "registry.example.com/ml/mlopsc:0.2.0")
    assert result.code == 1
    assert f"mlopsc.yaml:{line}:{column}: error[P002]: kubeflow.releaseImage `registry.example.com/ml/mlopsc:0.2.0` " \
           "is not pinned by digest" in result.err
    assert not (example_repo / "generated").exists()
    edit(example_repo / "mlopsc.yaml", "  requireDigests: true", "  requireDigests: false")
    assert run_mlopsc("compile", cwd=example_repo).code == 0  # the policy decides, as for every image


def test_the_contract_examples_as_shipped_need_a_release_image():
    result = run_mlopsc("validate", "--format", "json", cwd=CONTRACT_EXAMPLES)
    assert result.code == 1
    [d] = json.loads(result.out)
    assert (d["code"], d["path"], d["line"], d["column"]) == ("P010", "mlopsc.yaml",
                                                              *line_col(CONTRACT_EXAMPLES / "mlopsc.yaml", "kubeflow:"))


def test_a_repository_without_serving_or_schedules_needs_no_release_image(example_repo):
    edit(example_repo / "mlopsc.yaml", RELEASE_IMAGE_LINE, "")
    for spec in (example_repo / "specs").glob("*/*.yaml"):
        text = spec.read_text()
        spec.write_text(text[:text.index("  serving:\n")] if "  serving:\n" in text else text)
    edit(example_repo / "specs/risk/fraud-detection.yaml", "  evaluations:", "  schedule: \"0 3 * * 1\"\n  evaluations:")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert [d["code"] for d in json.loads(result.out) if d["severity"] == "error"] == ["P010"]  # the schedule
    edit(example_repo / "specs/risk/fraud-detection.yaml", "  schedule: \"0 3 * * 1\"\n", "")
    result = run_mlopsc("compile", cwd=example_repo)
    assert result.code == 0, result.out
    folder = example_repo / "generated" / layout.schedules_dir("risk")
    assert sorted(p.name for p in folder.iterdir()) == ["configmap-mlopsc-schedules-risk.yaml",
                                                       "serviceaccount-mlopsc-schedules-risk.yaml"]


def test_a_schedule_without_a_pipeline_is_s010(example_repo):
    (example_repo / "specs/growth/idle.yaml").write_text(
        "apiVersion: mlopsc.dev/v1\nkind: MLProject\nmetadata: {name: idle, team: growth}\n"
        "spec:\n  sources:\n    raw: {uri: s3://growth-lake/raw/, version: \"2026-11-01\"}\n"
        "  schedule: \"0 6 * * *\"\n")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    found = [d for d in json.loads(result.out) if d["path"] == "specs/growth/idle.yaml" and d["severity"] == "error"]
    line, column = line_col(example_repo / "specs/growth/idle.yaml", "\"0 6 * * *\"")
    assert [(d["code"], d["line"], d["column"]) for d in found] == [("S010", line, column)]
    assert "has no steps or evaluations" in found[0]["message"] and result.code == 1


def test_a_team_whose_schedules_application_another_team_would_own_is_k011(example_repo):
    """Team `a-b`'s schedules and team `a`'s project `b` in an environment `schedules` meet."""
    config = example_repo / "mlopsc.yaml"
    edit(config, "  staging:\n", "  schedules:\n    cluster: https://kubernetes.default.svc\n  staging:\n")
    edit(config, "  growth: {}\n", "  growth: {}\n  risk-fraud-detection: {}\n")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    messages = [d["message"] for d in json.loads(result.out) if d["code"] == "K011"]
    assert any("Argo CD Application `risk-fraud-detection-schedules`" in m for m in messages), messages


def test_the_reconcilers_job_name_must_fit_a_label(example_repo):
    long_team = "t" * 50
    edit(example_repo / "mlopsc.yaml", "  growth: {}\n", f"  growth: {{}}\n  {long_team}: {{}}\n")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    found = [d for d in json.loads(result.out) if d["code"] == "N001" and "schedule reconciler" in d["message"]]
    assert [(d["line"], d["column"]) for d in found] == [line_col(example_repo / "mlopsc.yaml", long_team)]


@pytest.mark.parametrize("team", ["risk", "growth"])
def test_the_committed_configmaps_hold_the_bundled_schedules(team):
    path = REPO / "generated" / layout.schedules_dir(team) / f"configmap-mlopsc-schedules-{team}.yaml"
    data = json.loads(yaml.safe_load(path.read_text())["data"]["schedules.json"])
    assert [r["cron"] for r in data["schedules"]] == {"risk": ["0 0 3 * * 1", "0 0 6 * * *"],
                                                                 "growth": ["0 30 2 * * *"]}[team]


def test_synced_files_spell_every_object_out():
    """No YAML anchors or aliases (a dict shared between two places would be written as one)."""
    anchored = [p for p in (REPO / "generated" / "deploy").rglob("*.yaml")
                if any(event.__class__.__name__ in ("AliasEvent",) or getattr(event, "anchor", None)
                       for event in yaml.parse(p.read_text()))]
    assert anchored == []
