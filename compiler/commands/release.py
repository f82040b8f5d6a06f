"""`mlopsc release propose --evidence FILE --repo URL [--revision REF]`: a blessed model comes back
to Git as a proposed release branch (LANGUAGE.md, "Release write-back"; docs/PROMOTION.md).

In a temporary directory, nothing else touched:

1. fetch `--revision` of `--repo` (default: the repository's own gitops.targetRevision, read after
   fetching the remote's HEAD) with `--depth 1`;
2. copy the evidence to `evidence/<team>/<project>/<run>.json` and pin the release (uri, digest,
   evidence) in the first environment of mlopsc.yaml's order that the serving target lists, with
   `mlopsc promote`'s splice (only the release lines change; every other byte stays);
3. run every check and compile, in this process; any error: print it, push nothing, exit 1;
4. commit (author and committer from GIT_AUTHOR_NAME/EMAIL and GIT_COMMITTER_NAME/EMAIL, else
   `mlopsc <mlopsc@localhost>`; dates from GIT_AUTHOR_DATE/GIT_COMMITTER_DATE, else the base
   commit's, so the same run on the same base is the same commit) with the subject
   `Propose <team>/<project> <serving> run <run> for <env>` and `mlopsc plan`'s Markdown against
   the base as the body;
5. push `<branchPrefix><team>-<project>-<serving>-<run>` (never the target revision itself). The
   branch exists already with the same tree: nothing to do (exit 0). It exists with a commit this
   command made for the same evidence on an older base: it is replaced by the proposal on the
   current base (`--force-with-lease` on the commit seen, so nobody's later push is lost).
   Anything else on it: exit 1, nothing pushed.

The base moving on between the fetch and the push does not matter to a new branch: it is pushed
as proposed against the base that was checked, and the forge's pull request shows any conflict.

Credentials: the token comes from the environment variable MLOPSC_GIT_TOKEN (the release task
sets it from gitops.writeBack.credentials) and reaches git only through GIT_ASKPASS, a small
script in the temporary directory that prints the variable: never a command-line argument, a
URL, a file's content or a printed line. MLOPSC_GIT_USERNAME names the user (default
`x-access-token`, which GitHub and GitLab accept with a token). Git never prompts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import codes, layout as paths
from ..diagnostics import Diagnostic, Position
from ..files import MAX_SPEC_BYTES, UnsafeFile, read_inside
from ..frontend.loader import UsageError
from .common import add_format, print_diagnostics

DEFAULT_AUTHOR = ("mlopsc", "mlopsc@localhost")
DEFAULT_USERNAME = "x-access-token"
USERNAME_ENV = "MLOPSC_GIT_USERNAME"
DEFAULT_BRANCH_PREFIX = "mlopsc/release/"
# Variables that would point git somewhere else than the temporary clone (e.g. inside a hook).
_GIT_LOCATION = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX")


def add_parser(sub) -> None:
    p = sub.add_parser("release", help="propose a blessed model as a release branch (run by the release task)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pr = actions.add_parser("propose", help="clone, pin the release, check, compile, commit and push a branch")
    pr.add_argument("--evidence", required=True, type=Path, metavar="FILE",
                    help="the evidence JSON `mlopsc evidence write` wrote")
    pr.add_argument("--repo", required=True, metavar="URL", help="the Git repository (gitops.repoURL)")
    pr.add_argument("--revision", metavar="REF",
                    help="the branch to propose against (default: the repository's gitops.targetRevision)")
    add_format(pr)
    pr.set_defaults(run=run)


def add_propose_options(parser: argparse.ArgumentParser) -> None:
    """`evidence write --propose-to URL [--revision REF]`: write, then propose, in one process."""
    parser.add_argument("--propose-to", metavar="URL",
                        help="then run `release propose` with the written evidence against this repository")
    parser.add_argument("--revision", metavar="REF", help="with --propose-to: the branch to propose against")


def run(args) -> int:
    return propose(args, args.root / args.evidence, args.repo, args.revision)


# ----------------------------------------------------------------------------------------- git
class GitFailed(Exception):
    pass


# Exists for tests: called with the clone's directory just before the push (a base moving on).
def _before_push(clone: Path) -> None:  # pragma: no cover - replaced in tests
    pass


class Git:
    """git with a private environment: never prompts, authenticates through GIT_ASKPASS only."""

    def __init__(self, tmp: Path, token: str | None):
        self.token = token
        env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION}
        env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", LANGUAGE="C")
        # No hook and no signing (they could prompt or run anything), added to any the caller set.
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        for i, (key, value) in enumerate((("core.hooksPath", os.devnull), ("commit.gpgSign", "false"),
                                          ("push.gpgSign", "false")), start=count):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
        env["GIT_CONFIG_COUNT"] = str(count + 3)
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        if token:
            askpass = tmp / "askpass"
            # The script holds no secret: it prints the variable git's environment carries.
            askpass.write_text(f"#!{sys.executable} -I\nimport os, sys\n"
                               f"prompt = sys.argv[1] if len(sys.argv) > 1 else ''\n"
                               f"print(os.environ.get({USERNAME_ENV!r}) or {DEFAULT_USERNAME!r}"
                               f" if prompt.lower().startswith('username') else os.environ.get({paths.GIT_TOKEN_ENV!r}, ''))\n",
                               encoding="utf-8")
            askpass.chmod(stat.S_IRWXU)
            env["GIT_ASKPASS"] = str(askpass)
            env.pop("SSH_ASKPASS", None)
        self.env = env
        self.cwd = tmp

    def __call__(self, *args: str, env: dict | None = None, check: bool = True) -> str:
        try:
            proc = subprocess.run(["git", *args], cwd=self.cwd, env={**self.env, **(env or {})},
                                  capture_output=True, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise GitFailed("git is not installed") from None
        if check and proc.returncode != 0:
            raise GitFailed(self.scrub(_last_line(proc.stderr.decode("utf-8", "replace"))))
        return proc.stdout.decode("utf-8", "replace").strip()

    def scrub(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


def _last_line(text: str) -> str:
    """git's reason, on one line: from its first `fatal:`/`error:` line to the end."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "error:"))]
    reason = " ".join(lines[starts[0]:] if starts else lines[-1:]) or "git failed"
    return _USER_INFO.sub(r"\1", reason)[:500]


_USER_INFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")


def redact(url: str) -> str:
    """A URL fit to print: no user info (a token someone put in the URL stays out of logs)."""
    return _USER_INFO.sub(r"\1", url)


# ------------------------------------------------------------------------------------ proposing
@dataclass
class Failure(Exception):
    message: str


def propose(args, evidence_file: Path, url: str, revision: str | None) -> int:
    shown = str(evidence_file)
    diagnostics: list[Diagnostic] = []
    raw, record = _read_evidence(evidence_file, shown, diagnostics)
    if record is None:
        _print(args, diagnostics, Path("."))
        print(f"mlopsc: release propose: not proposed: {shown} is not usable evidence", file=sys.stderr)
        return 1
    token = os.environ.get(paths.GIT_TOKEN_ENV) or None
    try:
        with tempfile.TemporaryDirectory(prefix="mlopsc-release-") as tmp:
            return _propose(args, raw, record, shown, url, revision, Git(Path(tmp), token), Path(tmp))
    except GitFailed as exc:
        print(f"mlopsc: release propose: {redact(url)}: {exc}; nothing pushed", file=sys.stderr)
        return 1
    except Failure as exc:
        print(f"mlopsc: release propose: {exc.message}", file=sys.stderr)
        return 1
    except UsageError as exc:  # the arguments were fine: the repository at that revision is not
        print(f"mlopsc: release propose: {redact(url)} {revision or 'HEAD'}: {exc}; nothing pushed",
              file=sys.stderr)
        return 1


def _read_evidence(path: Path, shown: str, out: list[Diagnostic]):
    from pydantic import ValidationError

    from ..frontend.evidence import Evidence

    if not path.exists() and not path.is_symlink():
        raise UsageError(f"--evidence {shown!r} does not exist")
    try:
        raw = read_inside(path.parent, path.name, MAX_SPEC_BYTES)
    except UnsafeFile as exc:
        out.append(codes.EVIDENCE_MISSING.at(Position(shown), f"the evidence {exc.reason}"))
        return None, None
    try:
        record = Evidence.model_validate(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError, ValidationError) as exc:
        why = (f"`{'.'.join(map(str, exc.errors(include_url=False)[0]['loc']))}`: "
               f"{exc.errors(include_url=False)[0]['msg'].lower()}" if isinstance(exc, ValidationError)
               else "not valid UTF-8 JSON")
        out.append(codes.EVIDENCE_MISSING.at(Position(shown), f"not an evidence record ({why})"))
        return None, None
    problems = []
    if not re.fullmatch(r"[^/\s]+/[^/\s]+", record.project):
        problems.append(("project", f"`project` is {record.project!r}, not <team>/<project>"))
    if not record.lineage.run or not paths.safe_run_id(record.lineage.run):
        problems.append(("run", "`lineage.run` names no run: the proposal's branch and file are named after it"))
    for key, message in problems:
        out.append(codes.EVIDENCE_MISSING.at(_json_position(raw, shown, key), message))
    return (raw, None) if problems else (raw, record)


def _json_position(raw: bytes, shown: str, key: str) -> Position:
    """Where `"key":` is in a JSON file (its first occurrence), else the file's start."""
    text = raw.decode("utf-8", "replace")
    match = re.search(r'"%s"\s*:' % re.escape(key), text)
    if match is None:
        return Position(shown)
    before = text[:match.start()]
    return Position(shown, before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1)


def _print(args, diagnostics: list[Diagnostic], root: Path) -> None:
    if diagnostics:
        print_diagnostics(argparse.Namespace(**{**vars(args), "root": root}), diagnostics, sys.stderr)


def _fetch(git: Git, ref: str) -> str:
    try:
        git("fetch", "--quiet", "--depth", "1", "--no-tags", "origin", ref)
    except GitFailed as exc:
        raise GitFailed(f"cannot fetch {ref!r}: {exc}") from None
    return git("rev-parse", "FETCH_HEAD^{commit}")


def _propose(args, raw: bytes, record, shown: str, url: str, revision: str | None,
             git: Git, tmp: Path) -> int:
    from ..build import Layout, emit_documents, load_and_check, render_files
    from ..frontend.loader import load_repository
    from ..output.writer import write_tree
    from .plan import base_tree, build_plan, render_markdown
    from .promote import splice_release

    clone = tmp / "repo"
    git("init", "--quiet", str(clone))
    git.cwd = clone
    git("remote", "add", "origin", url)
    base = _fetch(git, revision or "HEAD")
    git("checkout", "--quiet", "--detach", base)

    def load():
        repo = load_repository(clone, args.specs, args.config, out_dir=args.out)
        for diagnostic in repo.diagnostics:
            if diagnostic.code == codes.NO_SPECS_DIRECTORY.code:  # not a spec repository at all
                raise UsageError(diagnostic.message)
        return repo

    repo = load()
    target_revision = repo.config.gitops.targetRevision
    if revision is None:
        revision = target_revision
        commit = _fetch(git, revision)
        if commit != base:
            base = commit
            git("checkout", "--quiet", "--detach", base)
            repo = load()
    short_ref = revision.removeprefix("refs/heads/")
    if paths.is_branch_name(short_ref) and not re.fullmatch(r"[0-9a-f]{40}", short_ref):
        git("update-ref", f"refs/remotes/origin/{short_ref}", base)
        base_ref = f"origin/{short_ref}"
    else:
        base_ref = base

    # Which project, serving target and environment the evidence is for, at this base.
    team, _, name = record.project.partition("/")
    run_id = record.lineage.run
    project = next((p for p in repo.projects if p.key == record.project), None)
    where = f"at {redact(url)} {revision} ({base[:12]})"
    if project is None:
        _print(args, [codes.RELEASE_UNKNOWN_PROJECT.at(
            _json_position(raw, shown, "project"),
            f"the evidence names project `{record.project}`, which the repository does not define {where}")],
            clone)
        raise Failure("not proposed: unknown project; nothing pushed")
    target = project.model.spec.serving.get(record.serving)
    if target is None:
        known = ", ".join(sorted(project.model.spec.serving)) or "none"
        _print(args, [codes.RELEASE_UNKNOWN_SERVING.at(
            _json_position(raw, shown, "serving"),
            f"the evidence names serving target `{record.serving}`, which `{record.project}` does not "
            f"define {where} (its serving targets: {known})")], clone)
        raise Failure("not proposed: unknown serving target; nothing pushed")
    env = next((e for e in repo.config.environments if e in target.environments), None)
    if env is None:
        _print(args, [codes.RELEASE_NO_ENVIRONMENT.at(
            project.doc.key_position(("spec", "serving", record.serving)),
            f"`{record.serving}` lists no environment of mlopsc.yaml "
            f"({', '.join(repo.config.environments)}), so there is nowhere to pin the release")], clone)
        raise Failure("not proposed: no environment to pin in; nothing pushed")

    write_back = repo.config.gitops.writeBack
    prefix = write_back.branchPrefix if write_back is not None else DEFAULT_BRANCH_PREFIX
    branch = paths.release_branch(prefix, team, name, record.serving, run_id)
    if not paths.is_branch_name(branch) or branch in (revision, short_ref, target_revision):
        raise Failure(f"not proposed: `{branch}` cannot be the proposal's branch (it is not a branch "
                      f"name, or it is the target revision); nothing pushed")
    evidence_rel = paths.evidence_path(team, name, run_id)
    evidence_abs = clone / evidence_rel
    if evidence_abs.is_symlink() or (evidence_abs.exists() and evidence_abs.read_bytes() != raw):
        _print(args, [codes.RELEASE_EVIDENCE_CONFLICT.at(
            Position(evidence_rel), f"{evidence_rel} exists {where} and differs from {shown}")], clone)
        raise Failure("not proposed: the evidence path is taken; nothing pushed")

    # The edit: the evidence file and the release lines, then every check and a full compile.
    release = {"uri": record.model.uri, "digest": record.model.digest, "evidence": evidence_rel}
    spec_path = clone / project.path
    before = spec_path.read_bytes()
    try:
        edited = splice_release(before, record.serving, env, release)
    except UsageError as exc:
        raise Failure(f"not proposed: {project.path}: {exc}; nothing pushed") from None
    pinned = target.environments[env].release
    if pinned is not None and pinned.model_dump() == release and evidence_abs.exists():
        print(f"mlopsc: release propose: {record.serving} in {env} already pins {release['digest']} {where}; "
              f"nothing to propose", file=sys.stderr)
        return 0
    evidence_abs.parent.mkdir(parents=True, exist_ok=True)
    evidence_abs.write_bytes(raw)
    spec_path.write_bytes(edited)

    where_layout = Layout(clone, args.specs, args.out, args.config)
    checked = load_and_check(where_layout)
    _print(args, checked.diagnostics, clone)
    if checked.has_errors:
        raise Failure(f"not proposed: {record.project} {record.serving} run {run_id} does not pass the "
                      f"checks {where} (positions above are in the proposal); nothing pushed")
    documents = emit_documents(checked)
    files = render_files(documents)
    owners = {d.path: d.owner for d in documents if d.owner is not None}
    write_tree(where_layout.out_dir, files, owners)

    # The commit: deterministic for a given run and base; the plan against the base as its body.
    plan_base, plan_owners, label, note = base_tree(where_layout, base_ref)
    plan = build_plan(plan_base, plan_owners, files, owners, list(checked.config.environments),
                      label, branch)
    plan.note = note
    subject = f"Propose {record.project} {record.serving} run {run_id} for {env}"
    message = tmp / "message"
    message.write_text(f"{subject}\n\n{render_markdown(plan)}", encoding="utf-8")
    git("add", "--all")
    git("commit", "--quiet", "--no-verify", "--cleanup=whitespace", "--file", str(message),
        env=_identity(git, base))
    head = git("rev-parse", "HEAD")
    tree = git("rev-parse", "HEAD^{tree}")

    # The push: a new branch, the same proposal already there, or ours on an older base.
    remote = git("ls-remote", "origin", f"refs/heads/{branch}").split()
    existing = remote[0] if remote else None
    lease = ""
    if existing is not None:
        git("fetch", "--quiet", "--depth", "1", "--no-tags", "origin", f"refs/heads/{branch}")
        if git("rev-parse", "FETCH_HEAD^{tree}") == tree:
            print(f"mlopsc: release propose: {branch} already holds this proposal ({existing[:12]}); "
                  f"nothing to do", file=sys.stderr)
            return 0
        if not _ours_on_older_base(git, subject, evidence_rel, base):
            raise Failure(f"not proposed: branch {branch} already exists on {redact(url)} with other "
                          f"content ({existing[:12]}); nothing pushed. Delete the branch to propose "
                          f"run {run_id} again")
        lease = existing
    _before_push(clone)
    git("push", "--quiet", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{lease}",
        "origin", f"{head}:refs/heads/{branch}")
    again = f" (replacing {lease[:12]}, proposed against an older base)" if lease else ""
    print(f"mlopsc: release propose: pushed {branch} ({head[:12]}) to {redact(url)}{again}: {subject}",
          file=sys.stderr)
    return 0


def _identity(git: Git, base: str) -> dict[str, str]:
    env = os.environ
    name = env.get("GIT_AUTHOR_NAME") or DEFAULT_AUTHOR[0]
    email = env.get("GIT_AUTHOR_EMAIL") or DEFAULT_AUTHOR[1]
    date = git("show", "-s", "--format=%cI", base)
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": env.get("GIT_COMMITTER_NAME") or name,
            "GIT_COMMITTER_EMAIL": env.get("GIT_COMMITTER_EMAIL") or email,
            "GIT_AUTHOR_DATE": env.get("GIT_AUTHOR_DATE") or date,
            "GIT_COMMITTER_DATE": env.get("GIT_COMMITTER_DATE") or env.get("GIT_AUTHOR_DATE") or date}


def _ours_on_older_base(git: Git, subject: str, evidence_rel: str, base: str) -> bool:
    """The fetched branch head is this command's proposal of the same evidence, on another base."""
    raw = git("cat-file", "commit", "FETCH_HEAD")
    header, _, body = raw.partition("\n\n")
    parents = [line.split()[1] for line in header.splitlines() if line.startswith("parent ")]
    same_evidence = (git("rev-parse", "--verify", "--quiet", f"FETCH_HEAD:{evidence_rel}", check=False)
                     == git("rev-parse", f"HEAD:{evidence_rel}"))
    return body.splitlines()[:1] == [subject] and parents != [base] and len(parents) == 1 and same_evidence
