"""Schedules: per team, the desired KFP recurring runs and the Job that makes KFP match them.

KFP has no CRD for recurring runs (docs/SCHEDULES.md): they exist only through its REST API. So,
per team, under `layout.schedules_dir(team)` (synced by the Application `<team>-schedules` into the
team's Kubeflow namespace, `layout.kubeflow_namespace`), one object per file:

- ConfigMap `mlopsc-schedules-<team>`: `schedules.json`, the team's records from
  `compiler.middle.schedules` (owner, namespace and the list; deterministic JSON). It exists for
  every team, also without schedules, so that removing the last schedule still converges.
- ServiceAccount `mlopsc-schedules-<team>`: no token mounted; the Job projects one itself.
- Job `mlopsc-schedules-<team>`: an Argo CD PostSync hook (re-created at every sync) that runs
  `mlopsc schedules sync` in `kubeflow.releaseImage` with the ConfigMap mounted and a projected
  token of audience `pipelines.kubeflow.org`; Pod Security restricted, requests = limits.
- NetworkPolicy `mlopsc-schedules-<team>`: the Job's pod takes no traffic and reaches only DNS
  and the KFP API's port.

Without `kubeflow.releaseImage` (allowed only while no project has serving targets or schedules,
rule P010) there is nothing for the Job to run: the ConfigMap and ServiceAccount are still written.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from ..middle.check import CheckedRepository
from ..middle.schedules import schedules_by_team
from .. import layout
from . import Document

MANAGED_BY = {"app.kubernetes.io/managed-by": "mlopsc"}
APP_NAME = "mlopsc-schedules"
RUN_AS = 65532  # the release image's numeric user (Dockerfile)
RESOURCES = {"cpu": "100m", "memory": "128Mi"}
TOKEN_SECONDS = 3600
# One run calls the API a handful of times; retries back off for under two minutes in all.
BACKOFF_LIMIT, DEADLINE_SECONDS, TTL_SECONDS = 2, 600, 86400


def emit(checked: CheckedRepository) -> list[Document]:
    config = checked.config
    documents = []
    for team, records in sorted(schedules_by_team(checked).items()):
        namespace = layout.kubeflow_namespace(config, team)
        name = layout.schedules_object_name(team)
        labels = {"app.kubernetes.io/name": APP_NAME, **MANAGED_BY, "mlopsc.dev/team": team}

        def meta() -> dict:  # a fresh dict per object: a shared one is written as a YAML anchor and alias
            return {"name": name, "namespace": namespace, "labels": dict(labels)}

        desired = {"owner": team, "namespace": namespace, "schedules": records}
        objects = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(),
             "data": {layout.SCHEDULES_KEY: json.dumps(desired, sort_keys=True, separators=(",", ":"), ensure_ascii=False)}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(), "automountServiceAccountToken": False},
        ]
        if config.kubeflow.releaseImage is not None:
            objects += [_job(config, meta(), dict(labels)), _network_policy(config, meta(), team)]
        folder = layout.schedules_dir(team)
        documents += [Document(f"{folder}/{layout.object_filename(o['kind'], name)}", o) for o in objects]
    return documents


def api_port(url: str) -> int:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return port or (443 if parts.scheme == "https" else 80)


def _job(config, meta: dict, labels: dict) -> dict:
    name = meta["name"]
    args = ["schedules", "sync", "--api", config.kubeflow.apiURL, "--from", layout.SCHEDULES_MOUNT,
            "--token-file", layout.KFP_TOKEN_PATH]
    token_dir, token_file = layout.KFP_TOKEN_PATH.rsplit("/", 1)
    container = {
        "name": "sync",
        "image": config.kubeflow.releaseImage,
        "args": args,
        "resources": {"requests": dict(RESOURCES), "limits": dict(RESOURCES)},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True},
        "volumeMounts": [{"name": "schedules", "mountPath": layout.SCHEDULES_MOUNT, "readOnly": True},
                         {"name": "kfp-token", "mountPath": token_dir, "readOnly": True}],
    }
    pod = {
        "serviceAccountName": name,
        # The default token is not mounted; the one KFP accepts is projected below.
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [
            {"name": "schedules", "configMap": {"name": name}},
            {"name": "kfp-token", "projected": {"sources": [{"serviceAccountToken": {
                "audience": layout.KFP_TOKEN_AUDIENCE, "expirationSeconds": TOKEN_SECONDS, "path": token_file}}]}},
        ],
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {**meta, "annotations": {
            # After every sync of the team's schedules (the ConfigMap is applied by then); the
            # previous Job is deleted just before the new one is created.
            "argocd.argoproj.io/hook": "PostSync",
            "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}},
        "spec": {"backoffLimit": BACKOFF_LIMIT, "activeDeadlineSeconds": DEADLINE_SECONDS,
                 "ttlSecondsAfterFinished": TTL_SECONDS,
                 "template": {"metadata": {"labels": labels}, "spec": pod}},
    }


def _network_policy(config, meta: dict, team: str) -> dict:
    port = api_port(config.kubeflow.apiURL)
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": APP_NAME, "mlopsc.dev/team": team}},
            "policyTypes": ["Ingress", "Egress"],
            # No ingress rule: nothing may reach the Job. Egress: name resolution and the KFP API.
            "egress": [{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                       {"ports": [{"protocol": "TCP", "port": port}]}],
        },
    }
