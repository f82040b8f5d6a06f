"""`mlopsc schedules sync`: make Kubeflow Pipelines' recurring runs equal the declared ones.

Each team's PostSync hook Job runs it with the team's desired schedules mounted from a ConfigMap
(compiler/backends/schedules.py); it also works by hand. docs/SCHEDULES.md is the user's guide.

Input (`--from`, a file or a directory of `*.json` files): `{"owner": <team>, "namespace": <ns>,
"schedules": [<record>...]}` with the records of compiler/middle/schedules.py.

Ownership: every recurring run this command creates carries, in its description,
`mlopsc-owner=<owner> mlopsc-hash=<record hash>`. It only ever deletes runs carrying its own owner;
a recurring run without the marker (made in the UI, by the SDK, by another team) is never touched.

Per owner, in order:
1. list the recurring runs of the namespace and look each desired pipeline up by name;
2. for each record with no run of its name whose hash and pipeline id match, create one (latest
   pipeline version, max concurrency, no catch-up, cron, ENABLE, namespace, service account);
3. only once it exists, delete the runs it replaces (KFP has no update call), then the runs of this
   owner that are no longer declared.
A record whose pipeline does not exist yet, or whose create fails, keeps its old run. Nothing
changed means only the reads. Exit 0: KFP matches; 1: it could not be made to match (nothing that
existed before was lost); 2: bad usage (missing or malformed --from, unreadable --token-file).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..frontend.loader import UsageError
from ..kfp_api import KfpClient, KfpError
from ..middle.schedules import record_hash

MAX_INPUT_BYTES = 4 * 1024 * 1024
MARKER = re.compile(r"mlopsc-owner=([a-z0-9][a-z0-9.-]*) mlopsc-hash=([0-9a-f]{64})")
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,251}[a-z0-9])?\Z")
RECORD_FIELDS = {"name": str, "pipeline": str, "namespace": str, "cron": str, "maxConcurrency": int,
                 "noCatchup": bool, "hash": str}
OPTIONAL_FIELDS = {"serviceAccount": str}


def add_parser(sub) -> None:
    p = sub.add_parser("schedules", help="Kubeflow Pipelines recurring runs (run by each team's PostSync Job)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = actions.add_parser("sync", help="make KFP's recurring runs equal the desired schedules",
                           description="Create, replace and delete the recurring runs this command "
                                       "manages so that KFP matches the desired schedules; never "
                                       "touches a recurring run it did not create.")
    s.add_argument("--api", required=True, metavar="URL",
                   help="the KFP API, e.g. http://ml-pipeline.kubeflow.svc.cluster.local:8888")
    s.add_argument("--from", dest="source", required=True, type=Path, metavar="PATH",
                   help="a desired-schedules JSON file, or a directory of them (a mounted ConfigMap)")
    s.add_argument("--token-file", type=Path, metavar="PATH",
                   help="a bearer token for the API (a projected ServiceAccount token); never printed")
    s.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (default 30)")
    s.add_argument("--attempts", type=int, default=5, metavar="N",
                   help="tries per request on transient errors (default 5)")
    s.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                   help="first wait between tries, doubling up to 16 s (default 1)")
    s.set_defaults(run=run)


@dataclass
class Desired:
    owner: str
    namespace: str
    records: list[dict] = field(default_factory=list)


def run(args) -> int:
    if not args.api.startswith(("http://", "https://")):
        raise UsageError(f"--api {args.api!r} is not an http:// or https:// URL")
    if args.timeout <= 0 or args.attempts < 1 or args.backoff < 0:
        raise UsageError("--timeout must be positive, --attempts at least 1, --backoff not negative")
    token = _read_token(args.token_file) if args.token_file is not None else None
    desired = load_desired(args.source)
    client = KfpClient(args.api, token=token, timeout=args.timeout, attempts=args.attempts,
                       backoff=args.backoff)
    converged = True
    for item in desired:
        converged &= Reconciler(client, item).run()
    return 0 if converged else 1


# ---------------------------------------------------------------------------------------- input
def _read_token(path: Path) -> str:
    try:
        token = _read_bounded(path).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--token-file {str(path)!r} cannot be read: {getattr(exc, 'strerror', None) or 'not text'}")
    if not token:
        raise UsageError(f"--token-file {str(path)!r} is empty")
    return token


def _read_bounded(path: Path) -> bytes:
    # Plain open: the path is the operator's, and a mounted ConfigMap's files are symlinks into
    # its `..data` directory by design (compiler/files.py is for the repository's files).
    with path.open("rb") as f:
        data = f.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{path}: larger than {MAX_INPUT_BYTES} bytes")
    return data


def load_desired(source: Path) -> list[Desired]:
    if source.is_dir():
        # A ConfigMap volume also holds `..data` and timestamped directories: skip hidden entries.
        files = sorted(p for p in source.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        if not files:
            raise UsageError(f"--from {str(source)!r} holds no *.json file")
    elif source.is_file():
        files = [source]
    else:
        raise UsageError(f"--from {str(source)!r} does not exist")
    merged: dict[tuple[str, str], Desired] = {}
    for path in files:
        try:
            data = json.loads(_read_bounded(path))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: not readable JSON ({exc})")
        item = _parse(path, data)
        into = merged.setdefault((item.owner, item.namespace), Desired(item.owner, item.namespace))
        into.records += item.records
    for item in merged.values():
        names = [r["name"] for r in item.records]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UsageError(f"--from: owner {item.owner} declares {', '.join(twice)} more than once")
        item.records.sort(key=lambda r: r["name"])
    return [merged[k] for k in sorted(merged)]


def _parse(path: Path, data) -> Desired:
    def bad(why: str) -> UsageError:
        return UsageError(f"{path}: {why}")

    if not isinstance(data, dict) or set(data) != {"owner", "namespace", "schedules"}:
        raise bad("expected an object with exactly owner, namespace and schedules")
    owner, namespace, records = data["owner"], data["namespace"], data["schedules"]
    if not (isinstance(owner, str) and NAME.match(owner) and isinstance(namespace, str) and NAME.match(namespace)):
        raise bad("owner and namespace must be DNS-1123 names")
    if not isinstance(records, list):
        raise bad("schedules must be a list")
    for i, record in enumerate(records):
        where = f"schedules[{i}]"
        if not isinstance(record, dict):
            raise bad(f"{where} is not an object")
        allowed = set(RECORD_FIELDS) | set(OPTIONAL_FIELDS)
        if set(RECORD_FIELDS) - set(record) or set(record) - allowed:
            raise bad(f"{where} must have {', '.join(RECORD_FIELDS)} (and optionally serviceAccount), "
                      f"has {', '.join(sorted(record))}")
        for key, kind in {**RECORD_FIELDS, **OPTIONAL_FIELDS}.items():
            if key in record and (type(record[key]) is not kind):
                raise bad(f"{where}.{key} must be a {kind.__name__}")
        if record["namespace"] != namespace:
            raise bad(f"{where} is in namespace {record['namespace']}, not {namespace}")
        if len(record["cron"].split()) != 6:
            raise bad(f"{where}.cron {record['cron']!r} does not have KFP's 6 fields (seconds first)")
        if not 1 <= record["maxConcurrency"] <= 10:
            raise bad(f"{where}.maxConcurrency must be 1-10 (KFP's range)")
        if record["hash"] != record_hash(record):
            raise bad(f"{where} ({record['name']}): hash does not match its fields (edited by hand?)")
    return Desired(owner, namespace, list(records))


# ------------------------------------------------------------------------------------ reconcile
def description(owner: str, record: dict) -> str:
    return (f"Declared in Git and kept by `mlopsc schedules sync` (mlopsc-owner={owner} "
            f"mlopsc-hash={record['hash']}); changes made here are replaced at the next sync.")


def create_body(owner: str, record: dict, pipeline_id: str) -> dict:
    body = {
        "display_name": record["name"],
        "description": description(owner, record),
        # No pipeline_version_id: every trigger runs the pipeline's latest version.
        "pipeline_version_reference": {"pipeline_id": pipeline_id},
        "max_concurrency": str(record["maxConcurrency"]),  # int64: a string in proto3 JSON
        "no_catchup": record["noCatchup"],
        "trigger": {"cron_schedule": {"cron": record["cron"]}},
        "mode": "ENABLE",
        "namespace": record["namespace"],
    }
    if record.get("serviceAccount"):
        body["service_account"] = record["serviceAccount"]
    return body


def owned_by(run: dict, owner: str) -> str | None:
    """The record hash a recurring run was created from, if this owner created it."""
    match = MARKER.search(run.get("description") or "")
    return match[2] if match and match[1] == owner else None


def _pipeline_of(run: dict) -> str | None:
    reference = run.get("pipeline_version_reference") or {}
    return reference.get("pipeline_id")


class Reconciler:
    def __init__(self, client: KfpClient, desired: Desired, out=None, err=None):
        self.client, self.desired = client, desired
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.problems = 0

    def say(self, text: str) -> None:
        print(f"{self.desired.namespace}: {text}", file=self.out)

    def problem(self, text: str) -> None:
        self.problems += 1
        print(f"mlopsc: error: {self.desired.namespace}: {text}", file=self.err)

    def run(self) -> bool:
        owner, namespace = self.desired.owner, self.desired.namespace
        try:
            existing = self.client.list_recurring_runs(namespace)
        except KfpError as exc:
            self.problem(f"cannot list recurring runs, nothing changed: {exc}")
            return False
        mine: dict[str, list[dict]] = {}
        for found in existing:
            if found.get("recurring_run_id") and owned_by(found, owner) is not None:
                mine.setdefault(found.get("display_name") or "", []).append(found)
        for runs in mine.values():
            runs.sort(key=lambda r: (r.get("created_at") or "", r["recurring_run_id"]))

        replaced: list[tuple[dict, str]] = []  # (old run, why) deleted only after the new one exists
        for record in self.desired.records:
            name, old = record["name"], mine.get(record["name"], [])
            try:
                pipeline = self.client.pipeline_by_name(record["pipeline"], namespace)
            except KfpError as exc:
                self.problem(f"{name}: cannot look up pipeline {record['pipeline']}, kept as it was: {exc}")
                continue
            if pipeline is None or not pipeline.get("pipeline_id"):
                self.problem(f"{name}: pipeline {record['pipeline']} does not exist (yet) in {namespace}; "
                             f"kept as it was, the next sync retries")
                continue
            current = [r for r in old if owned_by(r, owner) == record["hash"]
                       and _pipeline_of(r) == pipeline["pipeline_id"]]
            if current:
                replaced += [(r, "duplicate") for r in old if r is not current[0]]
                continue
            try:
                created = self.client.create_recurring_run(create_body(owner, record, pipeline["pipeline_id"]))
            except KfpError as exc:
                self.problem(f"{name}: cannot create the recurring run, the old one is kept: {exc}")
                continue
            verb = "replaced" if old else "created"
            self.say(f"{verb} {name}: {record['pipeline']} at cron {record['cron']!r} "
                     f"(recurring run {created.get('recurring_run_id', '?')})")
            replaced += [(r, f"replaced by the new {name}") for r in old]

        declared = {r["name"] for r in self.desired.records}
        removed = [(r, "no longer declared") for n in sorted(mine) if n not in declared for r in mine[n]]
        for old_run, why in replaced + removed:
            run_id = old_run["recurring_run_id"]
            try:
                self.client.delete_recurring_run(run_id)
            except KfpError as exc:
                self.problem(f"{old_run.get('display_name')}: cannot delete recurring run {run_id} ({why}): {exc}")
                continue
            self.say(f"deleted {old_run.get('display_name')} (recurring run {run_id}, {why})")
        if self.problems:
            self.say(f"not converged: {self.problems} problem(s); no schedule was deleted before its "
                     f"replacement existed")
            return False
        self.say(f"in sync: {len(self.desired.records)} schedule(s) of {owner}")
        return True
