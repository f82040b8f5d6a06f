"""`mlopsc impact`: what a change reaches downstream, across teams, and whom to notify.

    mlopsc impact risk/fraud-detection:sources.transactions      a node id or any selector
    mlopsc impact specs/risk/fraud-detection.yaml                 a whole spec file
    mlopsc impact evidence/risk/fraud-detection/run-0151.json     the releases citing an evidence file
    mlopsc impact --base origin/main --format markdown            a pull request: the specs and
                                                                  evidence files changed since the ref
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from ..build import Layout, load_and_check
from ..frontend.loader import UsageError
from ..middle import impact
from ..middle.selectors import select_nodes
from .common import layout


def add_parser(sub) -> None:
    p = sub.add_parser("impact", help="what a change reaches downstream, grouped by team and environment",
                       description="Everything a change reaches downstream (steps, models, evaluations, "
                                   "serving targets and the environments serving them), across teams, "
                                   "with the owners to notify.")
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="a node id or selector (`+`, `team:`, `project:`, `kind:`), a spec file, or an "
                        "evidence file")
    p.add_argument("--base", metavar="REF",
                   help="also analyse every spec and evidence file changed since this git ref "
                        "(committed, staged, unstaged or untracked)")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    if not args.targets and args.base is None:
        raise UsageError("name what changes: node ids, selectors, spec or evidence files, or --base <git ref>")
    where = layout(args)
    checked = load_and_check(where)
    if checked.has_errors:
        count = sum(d.is_error for d in checked.diagnostics)
        print(f"mlopsc: note: the specs have {count} error(s) (see `mlopsc validate`); the impact "
              f"follows the references that resolve", file=sys.stderr)
    lineage = checked.lineage
    start: set[str] = set()
    for target in args.targets:
        start |= _resolve_target(where, checked, target, getattr(args, "start", None))
    old, removed, causes = None, set(), list(args.targets)
    if args.base is not None:
        changed_files = _changed_files(where.root, args.base)
        old = _checked_at(where, args.base).lineage
        spec_prefix = where.specs.rstrip("/") + "/"
        specs = [f for f in changed_files if f.startswith(spec_prefix) and f.endswith((".yaml", ".yml"))]
        cited = {e for lg in (lineage, old) for _, e in lg.graph.nodes(data="evidence") if e}
        evidence = [f for f in changed_files if f in cited]
        projects = {key for lg in (lineage, old) for key, p in lg.projects.items() if p.path in specs}
        changed, gone = impact.changed_nodes(old, lineage, projects)
        start |= changed
        removed |= gone
        for path in evidence:
            start |= impact.evidence_nodes(lineage, path)
        causes += specs + evidence
        if not specs and not evidence:
            print(f"mlopsc: no spec or evidence file changed since {args.base}", file=sys.stderr)
    team_owners = {team: list(t.owners) for team, t in (checked.config.teams or {}).items()}
    result = impact.analyse(lineage, start, old=old, removed=removed, team_owners=team_owners,
                            causes=causes)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(impact.render_markdown(result))
    else:
        sys.stdout.write(impact.render_text(result))
    return 0


def _resolve_target(where: Layout, checked, target: str, start: Path | None = None) -> set[str]:
    """A spec file → its project's nodes; an evidence file → the releases citing it; otherwise a
    selector expression over the graph."""
    lineage = checked.lineage
    path = Path(target)
    full = path if path.is_absolute() else (start or where.root) / path
    if not full.is_file() and not path.is_absolute():
        full = where.root / path  # a repository-relative path works from anywhere
    if full.is_file():
        try:
            rel = full.resolve().relative_to(where.root.resolve()).as_posix()
        except ValueError:
            raise UsageError(f"{target} is outside the repository {where.root}") from None
        keys = [key for key, p in lineage.projects.items() if p.path == rel]
        if keys:
            return set().union(*(impact.project_nodes(lineage, k) for k in keys))
        cited = impact.evidence_nodes(lineage, rel)
        if cited:
            return cited
        if rel in checked.repo.broken_files:
            raise UsageError(f"{rel} has errors, so its lineage is unknown: run `mlopsc validate`")
        raise UsageError(f"{rel} is neither a project spec nor an evidence file that a release cites")
    if target.endswith((".yaml", ".yml", ".json")) and "/" in target and ":" not in target:
        raise UsageError(f"no file {target} under {where.root}")
    return select_nodes(lineage.graph, target)


def _git(root: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=text, check=False)
    except FileNotFoundError:
        raise UsageError("--base needs git, which is not installed") from None


def _verify(root: Path, ref: str) -> str:
    done = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0:
        probe = _git(root, "rev-parse", "--git-dir")
        if probe.returncode != 0:
            raise UsageError(f"--base needs a git repository, and {root} is not in one")
        raise UsageError(f"--base {ref!r} is not a commit in this repository")
    return done.stdout.strip()


def _changed_files(root: Path, ref: str) -> list[str]:
    """Files that differ from `ref` in the working tree, relative to the repository root:
    committed since, staged, unstaged, deleted, added or untracked."""
    commit = _verify(root, ref)
    diff = _git(root, "diff", "--name-only", "--no-renames", "--relative", "-z", commit)
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    for done in (diff, untracked):
        if done.returncode != 0:
            raise UsageError(f"git failed: {done.stderr.strip()}")
    names = {n for n in (diff.stdout + untracked.stdout).split("\0") if n}
    return sorted(names)


def _checked_at(where: Layout, ref: str):
    """The repository as it was at `ref`: its specs, settings and evidence files, checked."""
    commit = _verify(where.root, ref)
    prefix = _git(where.root, "rev-parse", "--show-prefix").stdout.strip()
    archive = _git(where.root, "archive", "--format=tar", f"{commit}:{prefix}", text=False)
    if archive.returncode != 0:
        raise UsageError(f"git archive failed: {archive.stderr.decode(errors='replace').strip()}")
    wanted = (where.specs.rstrip("/") + "/", where.config)
    with tempfile.TemporaryDirectory(prefix="mlopsc-base-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and (
                m.name.startswith(wanted[0]) or m.name == wanted[1]
                or (m.name.endswith(".json") and PurePosixPath(m.name).parts[0] != where.out))]
            tar.extractall(tmp, members=members, filter="data")
        (Path(tmp) / where.specs).mkdir(parents=True, exist_ok=True)
        return load_and_check(Layout(Path(tmp), where.specs, where.out, where.config))
