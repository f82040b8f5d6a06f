"""A small client of the Kubeflow Pipelines REST API (v2beta1), for `mlopsc schedules sync`.

Plain urllib and JSON (no generated client, no kfp import: the release image stays small and the
command starts fast). Only the calls the reconciler needs, exactly as
../shared/api/kfp-v2beta1/*.swagger.json describes them:

    GET    /apis/v2beta1/pipelines/names/{name}?namespace=      look a pipeline up by name
    GET    /apis/v2beta1/recurringruns?namespace=&page_size=&page_token=
    POST   /apis/v2beta1/recurringruns                          create (there is no update call)
    DELETE /apis/v2beta1/recurringruns/{recurring_run_id}

Transient failures (HTTP 5xx, timeouts, refused or reset connections) are retried with bounded
exponential backoff; anything else fails at once. The bearer token is sent in the Authorization
header and never appears in an error message.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

API = "/apis/v2beta1"
PAGE_SIZE = 100
MAX_PAGES = 1000  # a server that hands out page tokens forever is not followed forever
TRANSIENT_ERRNO_TYPES = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError, TimeoutError,
                         socket.timeout, http.client.RemoteDisconnected, http.client.IncompleteRead)


class KfpError(Exception):
    """A call that failed; `transient` when retrying later may succeed (it was retried already)."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


class KfpClient:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0,
                 attempts: int = 5, backoff: float = 1.0, max_backoff: float = 16.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request sent, retries included

    # -- the calls -------------------------------------------------------------------------------
    def pipeline_by_name(self, name: str, namespace: str) -> dict | None:
        """The pipeline, or None when it does not exist (HTTP 404)."""
        try:
            return self._call("GET", f"{API}/pipelines/names/{_quote(name)}", {"namespace": namespace})
        except KfpError as exc:
            if exc.status == 404:
                return None
            raise

    def list_recurring_runs(self, namespace: str) -> list[dict]:
        runs: list[dict] = []
        token = ""
        for _ in range(MAX_PAGES):
            query = {"namespace": namespace, "page_size": str(PAGE_SIZE)}
            if token:
                query["page_token"] = token
            page = self._call("GET", f"{API}/recurringruns", query)
            runs += page.get("recurringRuns") or page.get("recurring_runs") or []
            token = page.get("next_page_token") or page.get("nextPageToken") or ""
            if not token:
                return runs
        raise KfpError(f"listing recurring runs in {namespace}: more than {MAX_PAGES} pages")

    def create_recurring_run(self, body: dict) -> dict:
        return self._call("POST", f"{API}/recurringruns", None, body)

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        try:
            self._call("DELETE", f"{API}/recurringruns/{_quote(recurring_run_id)}")
        except KfpError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    # -- transport -------------------------------------------------------------------------------
    def _call(self, method: str, path: str, query: dict | None = None, body: dict | None = None) -> dict:
        url = self.base_url + path + (("?" + urllib.parse.urlencode(sorted(query.items()))) if query else "")
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(method, path, url, body)
            except KfpError as exc:
                if not exc.transient or attempt == self.attempts:
                    if exc.transient:
                        exc.args = (f"{exc.args[0]} (gave up after {self.attempts} attempts)",)
                    raise
            self._sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, url: str, body: dict | None) -> dict:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, sort_keys=True).encode()
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        self.calls.append((method, path))
        what = f"{method} {path}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_message(exc)
            raise KfpError(self._redact(f"{what}: HTTP {exc.code}{': ' + detail if detail else ''}"),
                           status=exc.code, transient=exc.code >= 500) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            transient = isinstance(reason, TRANSIENT_ERRNO_TYPES) or isinstance(reason, OSError)
            raise KfpError(self._redact(f"{what}: {reason}"), transient=transient) from None
        except TRANSIENT_ERRNO_TYPES as exc:
            raise KfpError(self._redact(f"{what}: {exc or type(exc).__name__}"), transient=True) from None
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise KfpError(f"{what}: the answer is not JSON") from None
        if not isinstance(parsed, dict):
            raise KfpError(f"{what}: the answer is not a JSON object")
        return parsed

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[token]") if self._token else text


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _error_message(exc: urllib.error.HTTPError) -> str:
    """googleRpcStatus.message when the server sent one; at most a line of it."""
    try:
        body = json.loads(exc.read(64 * 1024) or b"{}")
    except (ValueError, OSError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return str(message).splitlines()[0][:300] if message else ""
