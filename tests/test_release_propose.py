"""`mlopsc release propose` and the release task's write-back, against real Git remotes on this
machine: a bare repository over file://, `git daemon` with push enabled over git://, and
`git http-backend` behind a small WSGI server that demands the token (HTTP basic auth)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from conftest import REPO, copy_repo, line_col, run_mlopsc

from compiler.commands import release

SPEC = "specs/risk/fraud-detection.yaml"
BRANCH = "mlopsc/release/risk-fraud-detection-fraud-api-run-0160"
RELEASE_IMAGE = "registry.example.com/platform/mlopsc@sha256:" + "ab" * 32
TOKEN = "glpat-s3cr3t-T0KEN-never-printed"
STAGING_142 = """          release:
            uri: s3://risk-models/fraud/run-0142/
            digest: sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf
            evidence: evidence/risk/fraud-detection/run-0142.json
"""
D160 = "sha256:" + "16" * 32
STAGING_160 = f"""          release:
            uri: s3://risk-models/fraud/run-0160/
            digest: {D160}
            evidence: evidence/risk/fraud-detection/run-0160.json
"""
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2026-11-20T10:00:00Z",
           "GIT_COMMITTER_DATE": "2026-11-20T10:00:00Z"}


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def refs(bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def template_remote(tmp_path_factory) -> Path:
    """A bare repository holding the bundled specs on main, with write-back set, compiled."""
    base = tmp_path_factory.mktemp("template")
    work = copy_repo(REPO, base / "work", with_generated=True)
    config = work / "mlopsc.yaml"
    text = config.read_text()
    text = text.replace("  argocdNamespace: argocd\n", "  argocdNamespace: argocd\n  writeBack:\n"
                        "    # the token of the bot that pushes proposals\n"
                        "    credentials: {secret: mlopsc-git, key: token}\n")
    text = re.sub(r"(?m)^  releaseImage: .*\n", "", text)
    text = text.replace("kubeflow:\n", f"kubeflow:\n  releaseImage: {RELEASE_IMAGE}\n")
    config.write_text(text)
    assert run_mlopsc("compile", cwd=work).code == 0
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "The platform repository")
    git(base, "clone", "-q", "--bare", str(work), "remote.git")
    return base / "remote.git"


@pytest.fixture
def remote(template_remote, tmp_path) -> Path:
    dest = tmp_path / "srv" / "platform.git"
    shutil.copytree(template_remote, dest)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def git_daemon(remote):
    """`git daemon` serving the remote's directory, push enabled; yields the repository's URL."""
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--enable=receive-pack", f"--base-path={remote.parent}",
                             "--export-all", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                             str(remote.parent)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"git://127.0.0.1:{port}/{remote.name}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # the test asserts on what mlopsc prints, not on the server
        pass


@pytest.fixture
def http_remote(remote):
    """`git http-backend` behind HTTP basic auth that accepts only TOKEN; yields (url, requests)."""
    seen: list[tuple[str, str]] = []  # (path, authorization header)
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    def app(environ, start_response):
        seen.append((environ.get("PATH_INFO", ""), environ.get("HTTP_AUTHORIZATION", "")))
        if environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"authentication required\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi = {k: v for k, v in environ.items() if isinstance(v, str) and k.isupper()}
        cgi.update(GIT_PROJECT_ROOT=str(remote.parent), GIT_HTTP_EXPORT_ALL="1", REMOTE_USER="bot",
                   CONTENT_LENGTH=str(len(body)), PATH=os.environ["PATH"])
        out = subprocess.run(["git", "http-backend"], input=body, env=cgi, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [tuple(h.split(": ", 1)) for h in head.decode().split("\r\n") if h]
        status = next((v for k, v in headers if k.lower() == "status"), "200 OK")
        start_response(status, [(k, v) for k, v in headers if k.lower() != "status"])
        return [payload]

    port = free_port()
    server = make_server("127.0.0.1", port, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/{remote.name}", seen
    finally:
        server.shutdown()
        server.server_close()


def evidence(tmp_path: Path, *, run: str = "run-0160", auc: float = 0.96, project: str = "risk/fraud-detection",
             serving: str = "fraud-api", digest: str = D160) -> Path:
    record = {
        "lineage": {"code": {"features": "4f944542e06cd6f28fa72685120ec1c9e2b84a27",
                             "holdout": "822bc13e2d55b402eb4233cb23c9d414a7a03bc1",
                             "train": "94efdd6f628eda9c1ae893467c9652808443ef3e"},
                    "pipelineVersion": "risk-fraud-detection-0123456789", "run": run,
                    "sources": {"chargebacks": "sha256:c9cbc74a5d80acf9bf160e202da5e3f32d1cd9a83a091316a2553c89ba2eb38c",
                                "transactions": "2026-11-01"}},
        "metrics": {"auc": auc, "p95_latency_ms": 30.0, "recall_at_1pct_fpr": 0.62},
        "model": {"digest": digest, "uri": f"s3://risk-models/fraud/{run}/"},
        "project": project, "serving": serving,
    }
    path = tmp_path / "outputs" / f"evidence-{run}-{auc}-{serving}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def propose(tmp_path: Path, ev: Path, url: str, *extra: str):
    return run_mlopsc("release", "propose", "--evidence", str(ev), "--repo", url, *extra, cwd=tmp_path)


def checkout(remote: Path, ref: str, dest: Path) -> Path:
    git(remote.parent, "clone", "-q", "--branch", ref, str(remote), str(dest))
    return dest


# ---------------------------------------------------------------------------------- happy path
@pytest.mark.parametrize("transport", ["file", "git-daemon"])
def test_propose_pushes_a_branch_that_pins_the_release_and_compiles(transport, remote, tmp_path, request):
    url = f"file://{remote}" if transport == "file" else request.getfixturevalue("git_daemon")
    main_before = refs(remote)["refs/heads/main"]
    ev = evidence(tmp_path)
    result = propose(tmp_path, ev, url)
    assert result.code == 0, result.err
    assert f"pushed {BRANCH} " in result.err
    after = refs(remote)
    assert after["refs/heads/main"] == main_before  # never the target revision itself
    assert set(after) == {"refs/heads/main", f"refs/heads/{BRANCH}"}

    # Exactly the evidence, the staging release lines and generated/ change.
    changed = git(remote, "diff", "--name-only", "main", BRANCH).splitlines()
    assert "evidence/risk/fraud-detection/run-0160.json" in changed and SPEC in changed
    assert all(p.startswith("generated/") for p in changed if p not in (SPEC, "evidence/risk/fraud-detection/run-0160.json"))
    assert git(remote, "show", f"{BRANCH}:evidence/risk/fraud-detection/run-0160.json") + "\n" == ev.read_text()
    old_spec = git(remote, "show", f"main:{SPEC}")
    new_spec = git(remote, "show", f"{BRANCH}:{SPEC}")
    assert old_spec.count(STAGING_142) == 2  # staging first, then production: only staging changes
    assert new_spec == old_spec.replace(STAGING_142, STAGING_160, 1)  # every other byte, comments too

    # The commit: one, on main, by the documented default identity, the plan as its body.
    assert git(remote, "rev-parse", f"{BRANCH}^") == main_before
    subject, author, committer, body = git(remote, "log", "-1", "--format=%s%x00%an <%ae>%x00%cn <%ce>%x00%b",
                                           BRANCH).split("\x00")
    assert subject == "Propose risk/fraud-detection fraud-api run run-0160 for staging"
    assert author == committer == "mlopsc <mlopsc@localhost>"
    assert "### mlopsc plan" in body and "`origin/main (" in body
    assert "`InferenceService risk-staging/fraud-api`" in body
    assert "new model digest sha256:02ee06b94f45 → sha256:161616161616" in body

    # A checkout of the branch is what `mlopsc compile` writes, and the pin passes every check.
    work = checkout(remote, BRANCH, tmp_path / "review")
    check = run_mlopsc("compile", "--check", cwd=work)
    assert check.code == 0, check.out + check.err


def test_author_comes_from_the_environment(remote, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Release Bot")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "bot@example.com")
    assert propose(tmp_path, evidence(tmp_path), f"file://{remote}").code == 0
    assert git(remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH) == \
        "Release Bot <bot@example.com>|Release Bot <bot@example.com>"


def test_revision_default_is_the_repositorys_target_revision(remote, tmp_path):
    """Without --revision: the remote's HEAD is read for gitops.targetRevision, and that is the base."""
    work = checkout(remote, "main", tmp_path / "w")
    (work / "mlopsc.yaml").write_text((work / "mlopsc.yaml").read_text().replace("targetRevision: main",
                                                                                 "targetRevision: live"))
    assert run_mlopsc("compile", cwd=work).code == 0
    git(work, "commit", "-q", "-am", "Argo CD syncs live")
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "live")
    (work / "NOTES.md").write_text("live moves on its own\n")
    git(work, "add", "NOTES.md")
    git(work, "commit", "-q", "-m", "Notes")
    git(work, "push", "-q", "origin", "live")
    live = refs(remote)["refs/heads/live"]
    result = propose(tmp_path, evidence(tmp_path), f"file://{remote}")
    assert result.code == 0, result.err
    assert git(remote, "rev-parse", f"{BRANCH}^") == live
    assert "`origin/live (" in git(remote, "log", "-1", "--format=%b", BRANCH)


# ---------------------------------------------------------------------------------- idempotence
def test_proposing_the_same_run_again_changes_nothing(remote, tmp_path):
    ev, url = evidence(tmp_path), f"file://{remote}"
    assert propose(tmp_path, ev, url).code == 0
    first = refs(remote)[f"refs/heads/{BRANCH}"]
    again = propose(tmp_path, ev, url)
    assert again.code == 0, again.err
    assert f"{BRANCH} already holds this proposal ({first[:12]}); nothing to do" in again.err
    assert refs(remote)[f"refs/heads/{BRANCH}"] == first
    # The commit is deterministic: deleted and proposed again, it is the very same commit.
    git(remote, "update-ref", "-d", f"refs/heads/{BRANCH}")
    assert propose(tmp_path, ev, url).code == 0
    assert refs(remote)[f"refs/heads/{BRANCH}"] == first


def test_a_branch_with_other_content_is_left_alone(remote, tmp_path):
    url = f"file://{remote}"
    assert propose(tmp_path, evidence(tmp_path, auc=0.96), url).code == 0
    first = refs(remote)[f"refs/heads/{BRANCH}"]
    other = propose(tmp_path, evidence(tmp_path, auc=0.97), url)  # same run id, other evidence
    assert other.code == 1
    assert (f"not proposed: branch {BRANCH} already exists on {url} with other content ({first[:12]}); "
            f"nothing pushed") in other.err
    assert refs(remote)[f"refs/heads/{BRANCH}"] == first


# -------------------------------------------------------------------------- nothing is pushed
def test_a_failing_gate_never_reaches_a_branch(remote, tmp_path):
    before = refs(remote)
    result = propose(tmp_path, evidence(tmp_path, auc=0.5), f"file://{remote}")
    assert result.code == 1
    line, col = line_col(REPO / SPEC, "evidence: evidence/risk/fraud-detection/run-0142.json")
    assert f"{SPEC}:{line}:{col + len('evidence: ')}: error[{'E005'}]" in result.err
    assert "auc 0.5 < 0.92" in result.err
    assert "not proposed: risk/fraud-detection fraud-api run run-0160 does not pass the checks" in result.err
    assert "nothing pushed" in result.err
    assert refs(remote) == before


def test_evidence_naming_an_unknown_project_or_serving_target(remote, tmp_path):
    before = refs(remote)
    ev = evidence(tmp_path, project="risk/fraud-detectoin")
    result = propose(tmp_path, ev, f"file://{remote}")
    assert result.code == 1
    line, col = line_col(ev, '"project"')
    assert f"{ev}:{line}:{col}: error[E020]: the evidence names project `risk/fraud-detectoin`" in result.err
    ev = evidence(tmp_path, serving="fraud-ap")
    result = propose(tmp_path, ev, f"file://{remote}")
    assert result.code == 1
    line, col = line_col(ev, '"serving"')
    assert f"{ev}:{line}:{col}: error[E021]: the evidence names serving target `fraud-ap`" in result.err
    assert "(its serving targets: fraud-api)" in result.err
    assert refs(remote) == before


def recs_evidence(tmp_path: Path, run: str = "run-0007") -> Path:
    path = tmp_path / f"recs-{run}.json"
    path.write_text(json.dumps({
        "project": "growth/merchant-recs", "serving": "recs-api",
        "model": {"uri": f"s3://growth-models/recs/{run}/", "digest": "sha256:" + "07" * 32},
        "metrics": {"ndcg_at_10": 0.35, "coverage": 0.9}, "lineage": {"run": run}}, indent=2) + "\n")
    return path


def test_a_target_without_a_release_gets_its_release_lines_added(remote, tmp_path):
    """recs-api's staging without a release: the lines are added, in the file's style."""
    spec = "specs/growth/merchant-recs.yaml"
    work = checkout(remote, "main", tmp_path / "w")
    text = (work / spec).read_text()
    start = text.index("          release:\n", text.index("recs-api:"))
    end = text.index("          replicas:", start)
    (work / spec).write_text(text[:start] + text[end:])
    assert run_mlopsc("compile", cwd=work).code == 0
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "recs-api: nothing released to staging yet")
    git(work, "push", "-q", "origin", "main")
    result = propose(tmp_path, recs_evidence(tmp_path, run="run-0008"), f"file://{remote}")
    assert result.code == 0, result.err
    branch = "mlopsc/release/growth-merchant-recs-recs-api-run-0008"
    old, new = git(remote, "show", f"main:{spec}"), git(remote, "show", f"{branch}:{spec}")
    added = ["          release:", "            uri: s3://growth-models/recs/run-0008/",
             "            digest: sha256:" + "07" * 32,
             "            evidence: evidence/growth/merchant-recs/run-0008.json"]
    new_lines, old_lines = new.splitlines(), old.splitlines()
    at = new_lines.index(added[0])
    assert new_lines[at:at + 4] == added  # four lines, together, under staging's last line...
    assert new_lines[:at] + new_lines[at + 4:] == old_lines  # ...and not one other byte changed
    assert new_lines[at - 1] == old_lines[at - 1] == '          resources: {cpu: "500m", memory: 1Gi}'


def test_a_serving_target_without_environments_has_nowhere_to_pin(remote, tmp_path):
    work = checkout(remote, "main", tmp_path / "w")
    spec = work / "specs/growth/merchant-recs.yaml"
    text = spec.read_text()
    spec.write_text(text[:text.index("      environments:\n")] + "      environments: {}\n")
    assert run_mlopsc("compile", cwd=work).code == 0
    git(work, "commit", "-q", "-am", "recs-api: not deployed anywhere for now")
    git(work, "push", "-q", "origin", "main")
    before = refs(remote)
    result = propose(tmp_path, recs_evidence(tmp_path), f"file://{remote}")
    assert result.code == 1
    line, col = line_col(spec, "recs-api:")
    assert (f"specs/growth/merchant-recs.yaml:{line}:{col}: error[E022]: `recs-api` lists no environment of "
            f"mlopsc.yaml (staging, production)") in result.err
    assert refs(remote) == before


def test_evidence_whose_path_is_taken_by_other_content(remote, tmp_path):
    """Run ids repeat (a hand-made evidence file, another pipeline): the proposal refuses."""
    before = refs(remote)
    ev = evidence(tmp_path, run="run-0142")
    result = propose(tmp_path, ev, f"file://{remote}")
    assert result.code == 1
    assert (f"evidence/risk/fraud-detection/run-0142.json:1:1: error[E023]: "
            "evidence/risk/fraud-detection/run-0142.json exists at") in result.err
    assert refs(remote) == before


def test_bad_arguments_and_bad_evidence(remote, tmp_path):
    missing = propose(tmp_path, tmp_path / "nope.json", f"file://{remote}")
    assert missing.code == 2 and "--evidence" in missing.err and "does not exist" in missing.err
    assert run_mlopsc("release", "propose", "--repo", f"file://{remote}", cwd=tmp_path).code == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = propose(tmp_path, broken, f"file://{remote}")
    assert result.code == 1 and f"{broken}:1:1: error[{'E001'}]: not an evidence record" in result.err


def test_a_remote_that_is_no_spec_repository(tmp_path):
    """Reachable, but nothing to propose into: exit 1 (the arguments were fine), nothing pushed."""
    work = tmp_path / "empty"
    work.mkdir()
    (work / "README.md").write_text("not a spec repository\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "empty")
    result = propose(tmp_path, evidence(tmp_path), f"file://{work}", "--revision", "main")
    assert result.code == 1
    assert result.err.startswith(f"mlopsc: release propose: file://{work} main: ")
    assert result.err.rstrip().endswith("nothing pushed")
    assert refs(work / ".git") == {"refs/heads/main": git(work, "rev-parse", "main")}


# --------------------------------------------------------------------------- the base moves on
def test_a_base_that_moves_between_clone_and_push(remote, tmp_path, monkeypatch):
    """The proposal is pushed against the base it was checked on; proposing again after main moved
    replaces the branch with the proposal on the new base (the forge shows any conflict)."""
    url = f"file://{remote}"
    old_main = refs(remote)["refs/heads/main"]
    work = checkout(remote, "main", tmp_path / "w")

    def someone_pushes(_clone):
        readme = work / "NOTES.md"
        readme.write_text("A colleague's change, merged while the pipeline ran.\n")
        git(work, "add", "NOTES.md")
        git(work, "commit", "-q", "-m", "Notes")
        git(work, "push", "-q", "origin", "main")

    monkeypatch.setattr(release, "_before_push", someone_pushes)
    ev = evidence(tmp_path)
    result = propose(tmp_path, ev, url)
    assert result.code == 0, result.err
    new_main = refs(remote)["refs/heads/main"]
    assert new_main != old_main
    assert git(remote, "rev-parse", f"{BRANCH}^") == old_main  # proposed against what was checked

    monkeypatch.setattr(release, "_before_push", lambda _clone: None)
    again = propose(tmp_path, ev, url)
    assert again.code == 0, again.err
    assert "replacing" in again.err and "proposed against an older base" in again.err
    assert git(remote, "rev-parse", f"{BRANCH}^") == new_main
    assert git(remote, "show", f"{BRANCH}:NOTES.md").startswith("A colleague's change")
    # ...and once on the new base, proposing again is a no-op.
    assert "already holds this proposal" in propose(tmp_path, ev, url).err


def test_a_branch_someone_created_meanwhile_is_not_overwritten(remote, tmp_path, monkeypatch):
    url = f"file://{remote}"

    def someone_creates_the_branch(_clone):
        git(remote, "branch", BRANCH, "main")

    monkeypatch.setattr(release, "_before_push", someone_creates_the_branch)
    result = propose(tmp_path, evidence(tmp_path), url)
    assert result.code == 1
    assert result.err.strip().splitlines()[-1].startswith(f"mlopsc: release propose: {url}: ")
    assert "nothing pushed" in result.err
    assert refs(remote)[f"refs/heads/{BRANCH}"] == refs(remote)["refs/heads/main"]


# ------------------------------------------------------------------------- unreachable remotes
@pytest.mark.parametrize("url", ["git://127.0.0.1:{port}/platform.git", "file:///nonexistent/platform.git",
                                 "http://x-access-token:{token}@127.0.0.1:{port}/platform.git"])
def test_an_unreachable_remote_is_one_clear_line(url, tmp_path):
    url = url.format(port=free_port(), token=TOKEN)
    result = propose(tmp_path, evidence(tmp_path), url)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("mlopsc: release propose: ") and "cannot fetch 'HEAD'" in lines[0]
    assert lines[0].endswith("; nothing pushed")
    assert "Traceback" not in result.err and TOKEN not in result.err  # a URL's user info is cut


# ----------------------------------------------------------------------------------- the token
def test_the_token_authenticates_and_is_never_shown(http_remote, remote, tmp_path, monkeypatch):
    url, seen = http_remote
    trace = tmp_path / "git-trace.log"
    monkeypatch.setenv("MLOPSC_GIT_TOKEN", TOKEN)
    monkeypatch.setenv("GIT_TRACE", str(trace))  # every git command line mlopsc runs, and askpass's
    scratch: dict[str, bytes] = {}

    def look_at_the_scratch_space(clone: Path):  # the askpass script, .git/config, everything
        scratch.update({str(f): f.read_bytes() for f in clone.parent.rglob("*") if f.is_file()})

    monkeypatch.setattr(release, "_before_push", look_at_the_scratch_space)
    result = propose(tmp_path, evidence(tmp_path), url)
    assert result.code == 0, result.err
    assert refs(remote)[f"refs/heads/{BRANCH}"]
    assert any(auth for _, auth in seen)  # the server demanded it, and got it from GIT_ASKPASS
    log = trace.read_text()
    assert "askpass" in log and "git push" in log
    assert TOKEN not in result.out + result.err + log
    assert any(path.endswith("/askpass") for path in scratch) and len(scratch) > 100
    assert not [path for path, data in scratch.items() if TOKEN.encode() in data]
    # Nor in any file of the pushed branch, nor in its commit.
    assert subprocess.run(["git", "grep", "-F", "-q", TOKEN, BRANCH], cwd=remote).returncode == 1
    assert TOKEN not in git(remote, "log", "-1", "--format=%B", BRANCH)


def test_a_wrong_token_fails_clearly_without_showing_it(http_remote, remote, tmp_path, monkeypatch):
    url, _ = http_remote
    before = refs(remote)
    monkeypatch.setenv("MLOPSC_GIT_TOKEN", TOKEN + "-revoked")
    result = propose(tmp_path, evidence(tmp_path), url)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mlopsc: release propose: {url}: cannot fetch")
    assert TOKEN not in result.err
    assert refs(remote) == before


def test_without_a_token_git_never_prompts(http_remote, tmp_path, monkeypatch):
    url, _ = http_remote
    monkeypatch.delenv("MLOPSC_GIT_TOKEN", raising=False)
    result = propose(tmp_path, evidence(tmp_path), url)
    assert result.code == 1 and "cannot fetch" in result.err


# ------------------------------------------------------------------------ the release task
def _resolve(text: str, values: dict) -> str:
    return re.sub(r"\{\{\$[^}]*\}\}", lambda m: values[m[0]], text)


def test_the_release_task_writes_evidence_and_proposes_in_one_command(remote, tmp_path, monkeypatch):
    """What the compiled pipeline runs, as the KFP launcher would run it: the token arrives as
    env from the Secret (kfp-kubernetes secretAsEnv), and one process writes and proposes."""
    work = checkout(remote, "main", tmp_path / "w")
    ir = [d for d in __import__("yaml").safe_load_all(
        (work / "generated/kfp/risk/fraud-detection/pipeline.yaml").read_text())]
    spec, platform = ir
    container = spec["deploymentSpec"]["executors"]["exec-release-fraud-api"]["container"]
    executor = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-release-fraud-api"]
    assert executor == {"secretAsEnv": [{"keyToEnv": [{"envVar": "MLOPSC_GIT_TOKEN", "secretKey": "token"}],
                                         "optional": False, "secretName": "mlopsc-git",
                                         "secretNameParameter": {"runtimeValue": {"constant": "mlopsc-git"}}}]}
    assert container["command"] == ["mlopsc", "evidence", "write"]
    args = container["args"]
    assert args[-4:] == ["--propose-to", "https://git.example.com/ml/platform.git", "--revision", "main"]
    args = args[:-3] + [f"file://{remote}", "--revision", "main"]  # this machine's remote instead

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text('{"trees": 300}\n')
    values = {
        "{{$.inputs.artifacts['model'].uri}}": "s3://risk-models/fraud/run-0300/",
        "{{$.inputs.artifacts['model'].path}}": str(model),
        "{{$.inputs.parameters['holdout_auc']}}": "0.957",
        "{{$.inputs.parameters['holdout_recall_at_1pct_fpr']}}": "0.61",
        "{{$.inputs.parameters['holdout_p95_latency_ms']}}": "29.5",
        "{{$.pipeline_job_uuid}}": "6f1c2a3e-0300",
        "{{$.outputs.artifacts['evidence'].path}}": str(tmp_path / "outputs" / "evidence"),
    }
    monkeypatch.setenv("MLOPSC_GIT_TOKEN", TOKEN)
    result = run_mlopsc(*container["command"][1:], *(_resolve(a, values) for a in args), cwd=tmp_path)
    assert result.code == 0, result.err
    branch = "mlopsc/release/risk-fraud-detection-fraud-api-6f1c2a3e-0300"
    assert f"pushed {branch} " in result.err
    assert git(remote, "show", f"{branch}:evidence/risk/fraud-detection/6f1c2a3e-0300.json") + "\n" == \
        (tmp_path / "outputs" / "evidence").read_text()
    assert TOKEN not in result.out + result.err


def test_revision_without_propose_to_is_bad_usage(tmp_path):
    model = tmp_path / "m.bin"
    model.write_bytes(b"x")
    result = run_mlopsc("evidence", "write", "--project", "risk/x", "--serving", "api", "--model-uri",
                        "s3://b/m", "--model-path", str(model), "--pipeline-version", "v", "--run", "r",
                        "--output", str(tmp_path / "e.json"), "--revision", "main", cwd=tmp_path)
    assert result.code == 2 and "--revision needs --propose-to" in result.err


# ------------------------------------------------------------------------ gitops.writeBack
def _config_codes(tmp_path: Path, write_back: str, target: str = "main") -> list[tuple[str, int, int]]:
    repo = copy_repo(REPO, tmp_path / "cfg")
    config = repo / "mlopsc.yaml"
    config.write_text(config.read_text().replace("  targetRevision: main\n",
                                                 f"  targetRevision: {target}\n  writeBack: {write_back}\n"))
    result = run_mlopsc("validate", "--format", "json", cwd=repo)
    return [(d["code"], d["line"], d["column"], d["message"]) for d in json.loads(result.out)
            if d["path"] == "mlopsc.yaml"]


def test_write_back_settings_are_checked_where_they_are_written(tmp_path):
    assert _config_codes(tmp_path / "ok", "{credentials: {secret: mlopsc-git, key: token}}") == []
    bad = _config_codes(tmp_path / "bad", "{credentials: {secret: Git_Token, key: 'to ken'}, branchPrefix: 'release..x/'}")
    config = tmp_path / "bad" / "cfg" / "mlopsc.yaml"
    assert [c[:3] for c in bad] == [("S030", *line_col(config, "Git_Token")), ("S031", *line_col(config, "'to ken'")),
                                    ("S032", *line_col(config, "'release..x/'"))]
    assert "`Git_Token` is not a Secret name" in bad[0][3] and "(try `git-token`)" in bad[0][3]
    assert "`to ken` is not a Secret data key" in bad[1][3]
    target = _config_codes(tmp_path / "target", "{credentials: {secret: s, key: k}, branchPrefix: release/}",
                           target="release/live")
    assert [c[0] for c in target] == ["S032"] and "also prefixes gitops.targetRevision" in target[0][3]
    unknown = _config_codes(tmp_path / "unknown", "{credentials: {secret: s, key: k}, branch: x}")
    assert [c[0] for c in unknown] == ["S001"]
    missing = _config_codes(tmp_path / "missing", "{branchPrefix: x/}")
    assert [c[0] for c in missing] == ["S002"]


def test_branch_names_follow_gits_grammar():
    """One grammar for targetRevision (K024), branchPrefix (S032) and the pushed branches."""
    from compiler.layout import is_branch_name

    assert is_branch_name("mlopsc/release/risk-fraud-detection-fraud-api-run-0142")
    for name in ("a.lock/b", "a/.b", "a..b", "a//b", "-a", "a/", "a b", "a\u00a0b", "@", "a@{b", "a~1"):
        assert not is_branch_name(name), name
