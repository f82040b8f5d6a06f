"""A fake Kubeflow Pipelines API server on 127.0.0.1 that accepts exactly what the API describes.

Routes, methods, query parameters and body fields come from ../shared/api/kfp-v2beta1/*.swagger.json:
an unknown path is 404, a known path with another method 405, an unknown query parameter, a
query value of the wrong type or outside its enum, an unknown body field or a field of the
wrong type 400 (as a strict grpc-gateway would). Behind that, the operations the reconciler uses
keep state like KFP: pipelines by name and namespace, recurring runs with ids, pages.

Failures are injected per operation id (`RecurringRunService_CreateRecurringRun`, …):
`fail(op, status, times)` answers with an HTTP error; `stall(op, seconds, times)` waits before
closing the connection without doing anything (a timeout for a client with a shorter one).
`requests` records every request that reached the server (method, path, query, body).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from conftest import SHARED

API_DIR = SHARED / "api" / "kfp-v2beta1"
WRITE_METHODS = {"POST", "DELETE", "PATCH", "PUT"}


@dataclass
class Route:
    method: str
    template: str
    pattern: re.Pattern
    operation: str
    query: dict  # name -> parameter
    body: dict | None  # JSON schema of the body, or None
    definitions: dict


def _routes() -> list[Route]:
    routes = []
    for path in sorted(API_DIR.glob("*.swagger.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        for template, methods in spec["paths"].items():
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            for method, op in methods.items():
                params = op.get("parameters", [])
                body = next((p["schema"] for p in params if p["in"] == "body"), None)
                routes.append(Route(method.upper(), template, re.compile(regex), op["operationId"],
                                    {p["name"]: p for p in params if p["in"] == "query"}, body,
                                    spec["definitions"]))
    return routes


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _check(value, schema: dict, definitions: dict, where: str) -> None:
    """`value` against a swagger 2.0 schema, with unknown object fields refused."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            raise Refused(400, f"{where}: expected an object")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                _check(item, props[key], definitions, f"{where}.{key}")
            elif extra is None or extra is False:
                raise Refused(400, f"{where}: unknown field {key!r}")
        return
    if kind == "array":
        if not isinstance(value, list):
            raise Refused(400, f"{where}: expected an array")
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), definitions, f"{where}[{i}]")
        return
    if kind == "string":
        fmt = schema.get("format")
        if fmt in ("int64", "uint64"):  # proto3 JSON: a string of digits, or a number
            if not (isinstance(value, int) and not isinstance(value, bool)) and not (
                    isinstance(value, str) and re.fullmatch(r"-?\d+", value)):
                raise Refused(400, f"{where}: expected an int64")
            return
        if not isinstance(value, str):
            raise Refused(400, f"{where}: expected a string")
        if "enum" in schema and value not in schema["enum"]:
            raise Refused(400, f"{where}: {value!r} is not one of {schema['enum']}")
        return
    if kind == "boolean" and not isinstance(value, bool):
        raise Refused(400, f"{where}: expected a boolean")
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        raise Refused(400, f"{where}: expected an integer")


def _check_query(route: Route, query: dict[str, list[str]]) -> dict[str, str]:
    flat = {}
    for name, values in query.items():
        param = route.query.get(name)
        if param is None:
            raise Refused(400, f"unknown query parameter {name!r} for {route.operation}")
        if len(values) != 1:
            raise Refused(400, f"query parameter {name!r} given {len(values)} times")
        value = values[0]
        if param.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
            raise Refused(400, f"query parameter {name!r}: not an integer")
        if param.get("type") == "boolean" and value not in ("true", "false"):
            raise Refused(400, f"query parameter {name!r}: not a boolean")
        if "enum" in param and value not in param["enum"]:
            raise Refused(400, f"query parameter {name!r}: not one of {param['enum']}")
        flat[name] = value
    return flat


@dataclass
class Request:
    method: str
    path: str
    operation: str
    query: dict
    body: dict | None

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class FakeKfp:
    token: str | None = None
    pipelines: dict = field(default_factory=dict)  # (namespace, name) -> pipeline
    runs: dict = field(default_factory=dict)  # id -> recurring run
    requests: list[Request] = field(default_factory=list)
    page_size_cap: int = 2  # small pages, so paging is exercised
    _failures: dict = field(default_factory=dict)  # operation -> [(status | None, seconds, times left)]
    _clock: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- set-up ------------------------------------------------------------------------------------
    def add_pipeline(self, name: str, namespace: str) -> str:
        pipeline_id = str(uuid.uuid4())
        self.pipelines[(namespace, name)] = {"pipeline_id": pipeline_id, "name": name, "display_name": name,
                                             "namespace": namespace, "created_at": self._now()}
        return pipeline_id

    def add_run(self, **fields) -> str:
        """A recurring run made by someone else (the UI, the SDK): stored as given."""
        run_id = str(uuid.uuid4())
        self.runs[run_id] = {"recurring_run_id": run_id, "created_at": self._now(), "status": "ENABLED", **fields}
        return run_id

    def fail(self, operation: str, status: int = 500, times: int = 1) -> None:
        self._failures.setdefault(operation, []).append([status, 0.0, times])

    def stall(self, operation: str, seconds: float, times: int = 1) -> None:
        self._failures.setdefault(operation, []).append([None, seconds, times])

    def runs_in(self, namespace: str) -> list[dict]:
        return sorted((r for r in self.runs.values() if r.get("namespace") == namespace),
                      key=lambda r: (r.get("display_name", ""), r["created_at"]))

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.writes]

    def _now(self) -> str:
        return f"2026-12-01T00:00:{next(self._clock):02d}Z"

    # -- serving ---------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers, raw: bytes) -> tuple[int, dict] | None:
        """(status, JSON answer), or None to drop the connection (a stall)."""
        parts = urlsplit(target)
        matching = [(r, m) for r in ROUTES if (m := r.pattern.match(parts.path))]
        if not matching:
            return 404, {"code": 5, "message": f"no route for {parts.path}"}
        chosen = [(r, m) for r, m in matching if r.method == method]
        if not chosen:
            return 405, {"code": 12, "message": f"{method} not allowed on {parts.path}"}
        # A literal route wins over a template (`/pipelines/names/x` is not `/pipelines/{id}`).
        route, match = min(chosen, key=lambda rm: rm[0].template.count("{"))
        try:
            query = _check_query(route, parse_qs(parts.query, keep_blank_values=True))
            body = None
            if route.body is not None:
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    raise Refused(400, "body is not JSON")
                if body is None:
                    raise Refused(400, "body required")
                _check(body, route.body, route.definitions, "body")
            elif raw:
                raise Refused(400, f"{route.operation} takes no body")
            with self._lock:
                self.requests.append(Request(method, parts.path, route.operation, query, body))
                planned = self._failures.get(route.operation)
                failure = None
                if planned:
                    failure = planned[0]
                    failure[2] -= 1
                    if failure[2] <= 0:
                        planned.pop(0)
            if failure is not None:
                status, seconds, _ = failure
                if status is None:
                    time.sleep(seconds)
                    return None
                return status, {"code": 13, "message": "injected failure"}
            if self.token is not None:
                sent = headers.get("Authorization", "")
                if sent != f"Bearer {self.token}":
                    # Like a careless proxy, echo what came: the client must not print it.
                    return 401, {"code": 16, "message": f"unauthenticated: got {sent!r}"}
            with self._lock:
                return self._operate(route.operation, match.groups(), query, body)
        except Refused as exc:
            return exc.status, {"code": 3, "message": str(exc)}

    def _operate(self, operation: str, args: tuple, query: dict, body) -> tuple[int, dict]:
        if operation == "PipelineService_GetPipelineByName":
            found = self.pipelines.get((query.get("namespace", ""), args[0]))
            return (200, found) if found else (404, {"code": 5, "message": f"pipeline {args[0]} not found"})
        if operation == "RecurringRunService_ListRecurringRuns":
            runs = self.runs_in(query.get("namespace", ""))
            size = min(int(query.get("page_size", "20")), self.page_size_cap)
            start = int(query.get("page_token") or 0)
            page = runs[start:start + size]
            answer = {"recurringRuns": page, "total_size": len(runs)}
            if start + size < len(runs):
                answer["next_page_token"] = str(start + size)
            return 200, answer
        if operation == "RecurringRunService_CreateRecurringRun":
            return self._create(body)
        if operation == "RecurringRunService_DeleteRecurringRun":
            if args[0] not in self.runs:
                return 404, {"code": 5, "message": "recurring run not found"}
            del self.runs[args[0]]
            return 200, {}
        if operation == "RecurringRunService_GetRecurringRun":
            found = self.runs.get(args[0])
            return (200, found) if found else (404, {"code": 5, "message": "recurring run not found"})
        return 501, {"code": 12, "message": f"{operation} is valid but this fake does not implement it"}

    def _create(self, body: dict) -> tuple[int, dict]:
        """What KFP's server checks on create (recurring_run_server.go and its validation)."""
        problems = []
        if not body.get("display_name"):
            problems.append("display_name is required")
        reference = body.get("pipeline_version_reference") or {}
        pipeline = next((p for p in self.pipelines.values() if p["pipeline_id"] == reference.get("pipeline_id")), None)
        if pipeline is None:
            problems.append("pipeline_version_reference.pipeline_id names no pipeline")
        if not 1 <= int(body.get("max_concurrency") or 0) <= 10:
            problems.append("max_concurrency must be 1-10")
        cron = ((body.get("trigger") or {}).get("cron_schedule") or {}).get("cron", "")
        if len(cron.split()) != 6:
            problems.append(f"cron {cron!r} must have 6 fields")
        if body.get("mode") not in ("ENABLE", "DISABLE"):
            problems.append("mode is required")
        if pipeline is not None and body.get("namespace") != pipeline["namespace"]:
            problems.append("namespace differs from the pipeline's")
        if problems:
            return 400, {"code": 3, "message": "; ".join(problems)}
        run_id = str(uuid.uuid4())
        run = {**body, "recurring_run_id": run_id, "created_at": self._now(), "status": "ENABLED"}
        self.runs[run_id] = run
        return 200, run


ROUTES = _routes()


class Server:
    """`with Server(FakeKfp()) as server:` serves on server.url until the block ends."""

    def __init__(self, fake: FakeKfp):
        self.fake = fake
        fake_ref = fake

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                answer = fake_ref.handle(self.command, self.path, self.headers, raw)
                if answer is None:
                    self.close_connection = True
                    return
                status, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
