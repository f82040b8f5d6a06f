"""Desired schedules: the KFP recurring runs the repository declares, as plain records.

One record per schedule (LANGUAGE.md "Schedules"; docs/SCHEDULES.md):

    {"name": "risk-fraud-detection",        # the recurring run's display name (unique per owner)
     "pipeline": "risk-fraud-detection",    # the KFP pipeline it runs (latest version), by name
     "namespace": "risk",                   # the team's Kubeflow namespace
     "cron": "0 0 3 * * 1",                 # KFP's 6-field cron: "0 " + the spec's 5 fields
     "maxConcurrency": 1, "noCatchup": true,
     "serviceAccount": "...",               # only when one is configured
     "hash": "<sha256 hex of the record without `hash`, canonical JSON>"}

The back end writes each team's records into a ConfigMap that `mlopsc schedules sync` reads; the
reconciler compares hashes to decide what changed, so the hash covers every field that reaches KFP.
Sources of records: `spec.schedule` of every project with a pipeline and the schedule of every
continuous evaluation (`monitoring.evaluate`); recurring runs run as the
team's pipeline service account (mlopsc.yaml `storage`, compiler/middle/storage.py) when one is set.
"""

from __future__ import annotations

import hashlib
import json

from .. import layout
from .monitoring import monitor_schedules
from .storage import pipeline_service_account

MAX_CONCURRENCY = 1
NO_CATCHUP = True


def kfp_cron(five_fields: str) -> str:
    """KFP parses cron with seconds first (robfig/cron v1): a 5-field string would be misread."""
    return "0 " + " ".join(five_fields.split())


def record_hash(record: dict) -> str:
    rest = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def schedule_record(name: str, pipeline: str, namespace: str, five_field_cron: str,
                    service_account: str | None = None) -> dict:
    record = {"name": name, "pipeline": pipeline, "namespace": namespace, "cron": kfp_cron(five_field_cron),
              "maxConcurrency": MAX_CONCURRENCY, "noCatchup": NO_CATCHUP}
    if service_account:
        record["serviceAccount"] = service_account
    record["hash"] = record_hash(record)
    return record


def has_pipeline(project) -> bool:
    """The KFP back end emits a pipeline only for a project with something to run."""
    return bool(project.model.spec.steps or project.model.spec.evaluations)


def _team_records(checked) -> list[tuple[str, dict]]:
    config = checked.config
    found = []
    for project in checked.projects:
        meta, spec = project.model.metadata, project.model.spec
        if spec.schedule is None or not has_pipeline(project):
            continue
        pipeline = layout.pipeline_name(meta.team, meta.name)
        found.append((meta.team, schedule_record(pipeline, pipeline, layout.kubeflow_namespace(config, meta.team),
                                                 spec.schedule, pipeline_service_account(config, meta.team))))
    for team, _, pipeline, cron in monitor_schedules(checked):  # continuous evaluations
        found.append((team, schedule_record(pipeline, pipeline, layout.kubeflow_namespace(config, team), cron,
                                            pipeline_service_account(config, team))))
    return sorted(found, key=lambda tr: (tr[1]["namespace"], tr[1]["name"], tr[0]))


def desired_schedules(checked) -> list[dict]:
    """Every declared recurring run, sorted by namespace and name. `checked` is the
    CheckedRepository (only its config and projects are read)."""
    return [record for _, record in _team_records(checked)]


def schedules_by_team(checked) -> dict[str, list[dict]]:
    """Each team's records (every team, also those without schedules: removal must converge)."""
    by_team: dict[str, list[dict]] = {team: [] for team in layout.teams(checked.config, checked.projects)}
    for team, record in _team_records(checked):
        by_team.setdefault(team, []).append(record)
    return by_team
