"""`mlopsc plan --base <git ref>`: what a change will do to each environment, in reviewer words.

Both sides are compiled by this mlopsc: the specs as they are at the base ref (read from Git into
a temporary directory, never checked out over the working tree) and as they are now. The plan
compares the rendered Kubernetes objects under deploy/ (what Argo CD syncs), so it says what the
cluster will see, whichever back end wrote an object: which InferenceServices get a new model
digest, replicas or canary, which PipelineVersions are new, which Applications appear or go.
If the base does not compile with this mlopsc, the plan compares with the generated/ committed
at the base instead, and says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from .. import layout as paths
from ..build import Layout, emit_documents, load_and_check, render_files
from ..frontend.loader import UsageError
from ..inventory import INVENTORY, is_inventory, parse_inventory
from .common import layout, print_diagnostics

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FORMATS = ("text", "markdown", "json", "github")
ALL_ENVIRONMENTS = "all environments"
# The order a reviewer reads a section in: what serves traffic first.
KIND_ORDER = ("InferenceService", "Deployment", "HorizontalPodAutoscaler", "Service", "ServiceAccount", "Application",
              "PipelineVersion", "Pipeline", "AppProject", "Namespace")
DIGEST = "mlopsc.dev/model-digest"
CANARY_DIGEST = "mlopsc.dev/canary-model-digest"
# On serving pods: a hash of their ServiceAccount's storage identity (compiler/backends/kubernetes.py).
IDENTITY = "mlopsc.dev/storage-identity"
# On Pipelines: the ServiceAccount the runs mlopsc makes use (compiler/backends/kfp).
RUN_SERVICE_ACCOUNT = "mlopsc.dev/run-service-account"
_LINEAGE = "lineage annotations: "


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="what a change does to each environment, compared with a Git ref")
    p.add_argument("--base", required=True, metavar="REF",
                   help="the Git ref to compare with (e.g. origin/main, a commit, HEAD~1)")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text for a terminal; markdown for a pull-request comment; json; github: "
                        "the markdown plan, with diagnostics as GitHub Actions annotations")
    p.set_defaults(run=run)


# ----------------------------------------------------------------------------------------- model
@dataclass
class ObjectChange:
    action: str  # added | removed | changed
    kind: str
    namespace: str | None
    name: str
    project: str | None
    details: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def lineage_only(self) -> bool:
        return self.action == "changed" and all(d.startswith(_LINEAGE) for d in self.details)

    @property
    def verb(self) -> str:
        return {"added": "new", "removed": "goes", "changed": "changes"}[self.action]


@dataclass
class Section:
    title: str
    changes: list[ObjectChange]
    # Objects whose only change is their lineage annotations (they follow a model or code change).
    lineage_only: list[ObjectChange] = field(default_factory=list)


@dataclass
class Plan:
    base: str
    head: str
    sections: list[Section]
    other_files: list[str]  # generated files outside deploy/ that change (Argo CD does not sync them)
    note: str | None = None

    def summary(self) -> str:
        counts: dict[str, dict[str, int]] = {}
        for section in self.sections:
            for c in section.changes:
                by_kind = counts.setdefault(c.verb, {})
                by_kind[c.kind] = by_kind.get(c.kind, 0) + 1
        parts = [f"{verb}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts[verb].items()))
                 for verb in ("new", "changes", "goes") if verb in counts]
        lineage = sum(len(s.lineage_only) for s in self.sections)
        if lineage:
            parts.append(f"lineage annotations only: {lineage} object(s)")
        if not parts:
            parts.append("no deployed object changes")
        if self.other_files:
            parts.append(f"{len(self.other_files)} other generated file(s) change (not synced by Argo CD)")
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------ run
def run(args) -> int:
    where = layout(args)
    checked = load_and_check(where)
    # Diagnostics go to stderr in the form that suits the plan's reader (annotations for github).
    diagnostics_format = {"json": "json", "github": "github"}.get(args.format, "text")
    print_diagnostics(argparse.Namespace(**{**vars(args), "format": diagnostics_format}),
                      checked.diagnostics, sys.stderr)
    if checked.has_errors:
        print("mlopsc: no plan: fix the errors above", file=sys.stderr)
        return 1
    documents = emit_documents(checked)
    head_files = render_files(documents)
    head_owners = {d.path: d.owner for d in documents if d.owner is not None}
    base_files, base_owners, base_label, note = base_tree(where, args.base)
    envs = list(checked.config.environments)
    plan = build_plan(base_files, base_owners, head_files, head_owners, envs, base_label, "working tree")
    plan.note = note
    if args.format == "json":
        sys.stdout.write(json.dumps(_plan_json(plan), indent=2, sort_keys=True) + "\n")
    elif args.format in ("markdown", "github"):
        sys.stdout.write(render_markdown(plan))
    else:
        sys.stdout.write(render_text(plan))
    return 0


# ------------------------------------------------------------------------------------- the base
def base_tree(where: Layout, ref: str) -> tuple[dict[str, bytes], dict[str, str], str, str | None]:
    """The generated files at `ref` as this mlopsc compiles them (or as committed, if it cannot)."""
    root = Path(where.root).resolve()
    top = Path(_git(root, "rev-parse", "--show-toplevel").decode().strip())
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                  failure=f"unknown Git ref {ref!r} (a shallow CI checkout may need "
                          f"`git fetch --depth=1 origin <branch>` first)").decode().strip()
    label = f"{ref} ({commit[:12]})"
    prefix = PurePosixPath(root.relative_to(top).as_posix())
    out = PurePosixPath(where.out)

    def compile_input(rel: PurePosixPath) -> bool:
        # Specs, settings and evidence, plus what compile reads back from generated/ (the
        # promotion history and the inventory that vouches for it); not the rest of generated/.
        if out not in rel.parents:
            return True
        return rel == out / INVENTORY or out / "promotion" in rel.parents

    with tempfile.TemporaryDirectory(prefix="mlopsc-plan-") as tmp:
        for rel, data in _files_at(top, commit, prefix, compile_input).items():
            dest = Path(tmp, rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        base_layout = Layout(root=Path(tmp), specs=where.specs, out=where.out, config=where.config)
        try:
            checked = load_and_check(base_layout)
        except UsageError as exc:  # e.g. no specs directory yet at the base
            checked, problem = None, str(exc)
        else:
            missing = [d.message.split(":")[0] for d in checked.diagnostics if d.code == "Y008"]
            problem = (missing[0] if missing else f"{sum(d.is_error for d in checked.diagnostics)} error(s)"
                       if checked.has_errors else None)
        if checked is not None and problem is None:
            documents = emit_documents(checked)
            owners = {d.path: d.owner for d in documents if d.owner is not None}
            return render_files(documents), owners, label, None
    committed = {str(PurePosixPath(rel).relative_to(out)): data
                 for rel, data in _files_at(top, commit, prefix, lambda r: out in r.parents).items()}
    inventory = committed.pop(INVENTORY, None)
    owners = parse_inventory(inventory, committed.get).owners if inventory is not None else {}
    committed = {rel: data for rel, data in committed.items() if not is_inventory(rel)}
    note = (f"The specs at {ref} do not compile with this mlopsc ({problem}); compared with the "
            f"{where.out}/ committed there instead.")
    return committed, owners, label, note


def _files_at(top: Path, commit: str, prefix: PurePosixPath, keep) -> dict[str, bytes]:
    """Regular files under `prefix` at `commit` that `keep(relative path)` wants, read from Git's
    object store in one batch (nothing is checked out)."""
    listing = _git(top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", str(prefix))
    wanted: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.decode("utf-8", "surrogateescape").partition("\t")
        mode, kind, sha = meta.split()
        if kind != "blob" or mode == "120000":  # submodules and symlinks are not spec files
            continue
        rel = PurePosixPath(path) if str(prefix) == "." else PurePosixPath(path).relative_to(prefix)
        if keep(rel):
            wanted[str(rel)] = sha
    if not wanted:
        return {}
    rels = sorted(wanted)
    raw = _git(top, "cat-file", "--batch", input_=("\n".join(wanted[r] for r in rels) + "\n").encode())
    files: dict[str, bytes] = {}
    pos = 0
    for rel in rels:
        header_end = raw.index(b"\n", pos)
        size = int(raw[pos:header_end].split()[2])
        files[rel] = raw[header_end + 1:header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return files


def _git(cwd: Path, *args: str, input_: bytes | None = None, failure: str | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", "-C", str(cwd), *args], input=input_, capture_output=True)
    except FileNotFoundError:
        raise UsageError("plan needs git, which is not installed") from None
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip()
        if "not a git repository" in message:
            raise UsageError(f"plan compares with a Git ref, but {cwd} is not in a Git repository")
        raise UsageError(failure or f"git {' '.join(args[:2])} failed: {message}")
    return proc.stdout


# ----------------------------------------------------------------------------------------- diff
def build_plan(base: dict[str, bytes], base_owners: dict[str, str], head: dict[str, bytes],
               head_owners: dict[str, str], environments: list[str], base_label: str,
               head_label: str) -> Plan:
    deploy = paths.DEPLOY + "/"
    differing = sorted(p for p in set(base) | set(head) if base.get(p) != head.get(p))
    old = _objects({p: base[p] for p in differing if p.startswith(deploy) and p in base}, base_owners)
    new = _objects({p: head[p] for p in differing if p.startswith(deploy) and p in head}, head_owners)
    by_env: dict[str, list[ObjectChange]] = {}
    for ident in sorted(set(old) | set(new)):
        before, after = old.get(ident), new.get(ident)
        if before and after and before.obj == after.obj:
            continue  # only its file moved
        change = _describe(before, after)
        env = (after or before).environment
        by_env.setdefault(env if env in environments else ALL_ENVIRONMENTS, []).append(change)
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    sections = []
    for title in [*environments, ALL_ENVIRONMENTS]:
        changes = sorted(by_env.get(title, []), key=lambda c: (order.get(c.kind, len(order)), c.kind,
                                                               c.namespace or "", c.name))
        if changes or title != ALL_ENVIRONMENTS:
            sections.append(Section(title, [c for c in changes if not c.lineage_only],
                                    [c for c in changes if c.lineage_only]))
    other = [p for p in differing if not p.startswith(deploy) and p != INVENTORY]
    return Plan(base_label, head_label, sections, other)


@dataclass
class _Object:
    obj: dict
    path: str
    project: str | None

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", "?"))

    @property
    def meta(self) -> dict:
        return self.obj.get("metadata") or {}

    @property
    def environment(self) -> str | None:
        env = (self.meta.get("labels") or {}).get("mlopsc.dev/environment")
        if env:
            return env
        parts = self.path.split("/")  # deploy/serving/<env>/… and deploy/platform/<env>/…
        return parts[2] if len(parts) > 3 and parts[1] in ("serving", "platform") else None


def _objects(files: dict[str, bytes], owners: dict[str, str]) -> dict[tuple, _Object]:
    found: dict[tuple, _Object] = {}
    for path, data in files.items():
        try:
            docs = list(yaml.load_all(data, Loader=_Loader))
        except yaml.YAMLError:
            continue  # not ours to judge here; --check and Argo CD report broken files
        for obj in docs:
            if isinstance(obj, dict) and "kind" in obj:
                meta = obj.get("metadata") or {}
                ident = (obj.get("apiVersion"), obj["kind"], meta.get("namespace"), meta.get("name"))
                found[ident] = _Object(obj, path, owners.get(path))
    return found


def _describe(before: _Object | None, after: _Object | None) -> ObjectChange:
    ref = after or before
    change = ObjectChange("added" if before is None else "removed" if after is None else "changed",
                          ref.kind, ref.meta.get("namespace"), str(ref.meta.get("name")),
                          ref.project or (ref.meta.get("annotations") or {}).get("mlopsc.dev/project"))
    describe = _DESCRIBERS.get(ref.kind, _describe_generic)
    details = describe(before.obj if before else None, after.obj if after else None)
    lineage = [d for d in details if d.startswith(_LINEAGE)]
    # Lineage annotations follow a model or code change: worth a line only when nothing else changed.
    change.details = [d for d in details if not d.startswith(_LINEAGE)] or lineage
    return change


def _get(obj: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def _short(digest: str | None) -> str:
    if not digest:
        return "none"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest


def _replicas(lo: Any, hi: Any) -> str:
    return f"{lo if lo is not None else '?'}–{hi if hi is not None else '?'}" if (lo, hi) != (None, None) else "default"


# --- InferenceService
def _isvc_model(obj: dict) -> tuple[str | None, str | None]:
    digest = _get(obj, "metadata", "annotations", DIGEST)
    return digest, _get(obj, "spec", "predictor", "model", "storageUri")


def _isvc_canary(obj: dict) -> tuple[Any, str | None] | None:
    """(traffic percent, model) of the canary, in either deployment mode, or None."""
    standard = _get(obj, "spec", "canary", 0)
    if isinstance(standard, dict):
        predictor = standard.get("predictor") or {}
        model = (_get(predictor, "annotations", DIGEST) or _get(obj, "metadata", "annotations", CANARY_DIGEST)
                 or _get(predictor, "model", "storageUri"))
        return standard.get("trafficPercent"), model
    knative = _get(obj, "spec", "predictor", "canaryTrafficPercent")
    if knative is not None:  # Knative: the spec as applied is the canary revision
        return knative, _get(obj, "metadata", "annotations", CANARY_DIGEST) or _isvc_model(obj)[0]
    return None


def _describe_isvc(before: dict | None, after: dict | None) -> list[str]:
    if after is None:
        digest, uri = _isvc_model(before)
        return [f"goes (was serving {_short(digest) if digest else uri})"]
    digest, uri = _isvc_model(after)
    replicas = _replicas(_get(after, "spec", "predictor", "minReplicas"), _get(after, "spec", "predictor", "maxReplicas"))
    canary = _isvc_canary(after)
    if before is None:
        text = [f"serves model {_short(digest) if digest else uri}", f"replicas {replicas}"]
        if canary:
            text.append(f"canary {canary[0]}% to {_short(canary[1])}")
        return text
    details = []
    old_digest, old_uri = _isvc_model(before)
    if old_digest != digest:
        details.append(f"new model digest {_short(old_digest)} → {_short(digest)}")
    elif old_uri != uri:
        details.append(f"model uri {old_uri} → {uri}")
    old_replicas = _replicas(_get(before, "spec", "predictor", "minReplicas"),
                             _get(before, "spec", "predictor", "maxReplicas"))
    if old_replicas != replicas:
        details.append(f"replicas {old_replicas} → {replicas}")
    details += _canary_change(_isvc_canary(before), canary)
    if _get(before, "spec", "predictor", "annotations", IDENTITY) != _get(after, "spec", "predictor", "annotations", IDENTITY):
        details.append(_ROLL)
    old_res = _get(before, "spec", "predictor", "model", "resources")
    new_res = _get(after, "spec", "predictor", "model", "resources")
    if old_res != new_res:
        details.append(f"resources {_resources(old_res)} → {_resources(new_res)}")
    covered = {("spec", "predictor", "minReplicas"), ("spec", "predictor", "maxReplicas"),
               ("spec", "predictor", "model", "storageUri"), ("spec", "predictor", "model", "resources"),
               ("spec", "canary"), ("spec", "predictor", "canaryTrafficPercent"),
               ("spec", "predictor", "annotations")}
    return details + _other_changes(before, after, covered)


def _canary_change(old: tuple | None, new: tuple | None) -> list[str]:
    if old == new:
        return []
    if old is None:
        return [f"canary added: {new[0]}% of traffic to {_short(new[1])}"]
    if new is None:
        return [f"canary removed (was {old[0]}% to {_short(old[1])})"]
    text = []
    if old[0] != new[0]:
        text.append(f"canary traffic {old[0]}% → {new[0]}%")
    if old[1] != new[1]:
        text.append(f"canary model {_short(old[1])} → {_short(new[1])}")
    return text


def _resources(res: Any) -> str:
    if not isinstance(res, dict):
        return "default"
    requests = res.get("requests") or res.get("limits") or {}
    return ", ".join(f"{k} {requests[k]}" for k in sorted(requests)) or "default"


# --- Deployment / HPA (container runtime)
def _describe_deployment(before: dict | None, after: dict | None) -> list[str]:
    def model(obj):
        env = _get(obj, "spec", "template", "spec", "containers", 0, "env") or []
        uri = next((e.get("value") for e in env if isinstance(e, dict) and e.get("name") == "STORAGE_URI"), None)
        return _get(obj, "metadata", "annotations", DIGEST) or uri

    def image(obj):
        return _get(obj, "spec", "template", "spec", "containers", 0, "image")

    if after is None:
        return [f"goes (was serving {_short(model(before))})"]
    if before is None:
        return [f"serves model {_short(model(after))} with {image(after)}"]
    details = []
    if model(before) != model(after):
        details.append(f"new model digest {_short(model(before))} → {_short(model(after))}")
    if image(before) != image(after):
        details.append(f"image {image(before)} → {image(after)}")
    if (_get(before, "spec", "template", "metadata", "annotations", IDENTITY)
            != _get(after, "spec", "template", "metadata", "annotations", IDENTITY)):
        details.append(_ROLL)
    if _get(before, "spec", "replicas") != _get(after, "spec", "replicas"):
        details.append(f"replicas {_get(before, 'spec', 'replicas')} → {_get(after, 'spec', 'replicas')}")
    covered = {("spec", "template", "spec", "containers"), ("spec", "template", "metadata"),
               ("spec", "replicas")}
    return details + _other_changes(before, after, covered)


def _describe_hpa(before: dict | None, after: dict | None) -> list[str]:
    def replicas(obj):
        return _replicas(_get(obj, "spec", "minReplicas"), _get(obj, "spec", "maxReplicas"))

    if after is None or before is None:
        return [f"replicas {replicas(after or before)}"] if after else ["goes"]
    details = [f"replicas {replicas(before)} → {replicas(after)}"] if replicas(before) != replicas(after) else []
    return details + _other_changes(before, after, {("spec", "minReplicas"), ("spec", "maxReplicas")})


# --- ServiceAccount: the identity serving pods read their model with
_ROLL = "pods restart to take the new storage identity"


def _storage_identity(obj: dict) -> str:
    """The storage identity of a serving ServiceAccount: annotations other than mlopsc's lineage, Secrets."""
    annotations = {k: v for k, v in (_get(obj, "metadata", "annotations") or {}).items()
                   if not str(k).startswith("mlopsc.dev/")}
    secrets = [s.get("name") for s in (_get(obj, "secrets") or []) if isinstance(s, dict)]
    parts = [f"{k}={v}" for k, v in sorted(annotations.items())]
    if secrets:
        parts.append("Secrets " + ", ".join(str(s) for s in secrets))
    return "; ".join(parts) if parts else "no storage identity (no annotations, no Secrets)"


def _describe_service_account(before: dict | None, after: dict | None) -> list[str]:
    if after is None:
        return ["goes"]
    if before is None:
        return [f"identity: {_storage_identity(after)}"]
    details = []
    if _storage_identity(before) != _storage_identity(after):
        details.append(f"identity: {_storage_identity(before)} → {_storage_identity(after)}")
    covered = {("secrets",)} | {("metadata", "annotations", k)
                                for obj in (before, after) for k in (_get(obj, "metadata", "annotations") or {})
                                if not str(k).startswith("mlopsc.dev/")}
    return details + _other_changes(before, after, covered)


# --- Kubeflow Pipelines and Argo CD
def _describe_pipeline(before: dict | None, after: dict | None) -> list[str]:
    def runs_as(obj):
        account = _get(obj, "metadata", "annotations", RUN_SERVICE_ACCOUNT)
        return f"ServiceAccount {account}" if account else "the profile's default ServiceAccount (default-editor)"

    if after is None:
        return ["goes"]
    if before is None:
        return ["appears", f"runs as {runs_as(after)}"]
    details = [f"runs as {runs_as(before)} → {runs_as(after)}"] if runs_as(before) != runs_as(after) else []
    return details + _other_changes(before, after, {("metadata", "annotations", RUN_SERVICE_ACCOUNT)})


def _describe_pipeline_version(before: dict | None, after: dict | None) -> list[str]:
    obj = after or before
    pipeline = _get(obj, "spec", "pipelineName")
    if before is None:
        return [f"new version of pipeline {pipeline}"]
    if after is None:
        return [f"version of pipeline {pipeline} goes"]
    return _other_changes(before, after, set())


def _describe_application(before: dict | None, after: dict | None) -> list[str]:
    obj = after or before
    where = (f"syncs {_get(obj, 'spec', 'source', 'path')} to "
             f"{_get(obj, 'spec', 'destination', 'namespace')} on "
             f"{_get(obj, 'spec', 'destination', 'server') or _get(obj, 'spec', 'destination', 'name')}")
    if before is None:
        return [f"appears: {where}"]
    if after is None:
        return [f"goes: it synced {_get(obj, 'spec', 'source', 'path')}; its objects are deleted (cascade)"
                if "resources-finalizer.argocd.argoproj.io" in (_get(obj, "metadata", "finalizers") or [])
                else "goes"]
    return _other_changes(before, after, set())


def _describe_appproject(before: dict | None, after: dict | None) -> list[str]:
    if before is None:
        destinations = _get(after, "spec", "destinations") or []
        return [f"may deploy to {_labels(destinations)}"] if destinations else ["appears"]
    return _describe_generic(before, after)


def _describe_generic(before: dict | None, after: dict | None) -> list[str]:
    if before is None:
        return ["appears"]
    if after is None:
        return ["goes"]
    return _other_changes(before, after, set())


def _describe_prometheus_rule(before: dict | None, after: dict | None) -> list[str]:
    """Monitoring as the spec says it: SLOs and the continuous evaluation, from the rule's annotations."""
    def watched(obj: dict | None) -> dict[str, str]:
        annotations = _get(obj, "metadata", "annotations") or {} if obj else {}
        try:
            found = {f"SLO {k}": v for k, v in json.loads(annotations.get("mlopsc.dev/slos", "{}")).items()}
        except ValueError:
            found = {}
        if annotations.get("mlopsc.dev/continuous-evaluation"):
            found["continuous evaluation"] = annotations["mlopsc.dev/continuous-evaluation"]
        return found

    old, new = watched(before), watched(after)
    if before is None:
        return [f"starts watching: {k} {v}" for k, v in sorted(new.items())] or ["appears"]
    if after is None:
        return [f"stops watching: {k} {v}" for k, v in sorted(old.items())] or ["goes"]
    lines = [f"{k}: {old.get(k, 'none')} → {new.get(k, 'none')}" for k in sorted(set(old) | set(new))
             if old.get(k) != new.get(k)]
    return lines or _other_changes(before, after, set())


_DESCRIBERS = {"PrometheusRule": _describe_prometheus_rule, "InferenceService": _describe_isvc,
               "Deployment": _describe_deployment, "HorizontalPodAutoscaler": _describe_hpa,
               "ServiceAccount": _describe_service_account, "Pipeline": _describe_pipeline,
               "PipelineVersion": _describe_pipeline_version,
               "Application": _describe_application, "AppProject": _describe_appproject}


def _other_changes(before: dict, after: dict, covered: set[tuple]) -> list[str]:
    """What else differs: list items by their identity (name, namespace, destination), other
    fields as paths; lineage annotations are summed up in one line."""
    old, new = _flatten(before), _flatten(after)
    changed = sorted((k for k in set(old) | set(new) if old.get(k) != new.get(k)), key=repr)
    changed = [k for k in changed if not any(k[:len(c)] == c for c in covered)]
    lineage = sorted({str(k[2]).removeprefix("mlopsc.dev/") for k in changed
                      if _is_lineage(k) and k[2] not in (DIGEST, CANARY_DIGEST, RUN_SERVICE_ACCOUNT)})
    lists, rest = [], set()
    for key in changed:
        if _is_lineage(key):
            continue
        described = _list_change(key, old.get(key), new.get(key))
        if described is not None:
            lists.append(described)
        else:  # a list whose items have no identity: by index, as a last resort
            inner_old, inner_new = _flatten(old.get(key), key, lists=False), _flatten(new.get(key), key, lists=False)
            rest |= {_dotted(k) for k in set(inner_old) | set(inner_new) if inner_old.get(k) != inner_new.get(k)}
    text = []
    if lineage:
        text.append(_LINEAGE + ", ".join(lineage))
    text += lists
    rest = sorted(rest)
    if rest:
        text.append("also: " + ", ".join(rest[:4]) + (f" and {len(rest) - 4} more" if len(rest) > 4 else ""))
    return text


def _is_lineage(key: tuple) -> bool:
    return len(key) > 2 and key[:2] == ("metadata", "annotations") and str(key[2]).startswith("mlopsc.dev/")


def _flatten(obj: Any, prefix: tuple = (), lists: bool = True) -> dict[tuple, Any]:
    """Leaf paths → values; a list stays one value (compared by its items' identities) unless
    `lists` is False."""
    if isinstance(obj, dict):
        out: dict[tuple, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, prefix + (k,), lists))
        return out or {prefix: {}}
    if isinstance(obj, list):
        if lists:
            return {prefix: obj}
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, prefix + (i,), lists))
        return out or {prefix: []}
    return {prefix: obj}


def _identity(item: Any) -> Any:
    """What names a list item: its name (with kind and group), else its destination or kind, else
    the value itself."""
    if not isinstance(item, dict):
        return json.dumps(item, sort_keys=True, default=str)
    if "name" in item:
        return (item.get("group"), item.get("kind"), item["name"])
    keys = [k for k in ("group", "kind", "namespace", "server") if k in item]
    return tuple((k, item[k]) for k in keys) if keys else json.dumps(item, sort_keys=True, default=str)


def _label(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    if "name" in item:
        return f"{item['kind']} {item['name']}" if "kind" in item else str(item["name"])
    if "namespace" in item or "server" in item:
        where = item.get("namespace")
        return f"{where} on {item.get('server')}" if where and item.get("server") else str(where or item.get("server"))
    if "kind" in item:
        return str(item["kind"]) + (f" ({item['group']})" if item.get("group") else "")
    return json.dumps(item, sort_keys=True, default=str)


def _labels(items: list) -> str:
    """`Namespace nlp-production, nlp-staging`: items of one kind share the word."""
    parts: list[str] = []
    by_kind: dict[str, list[str]] = {}
    for item in items:
        if isinstance(item, dict) and "name" in item and "kind" in item:
            by_kind.setdefault(str(item["kind"]), []).append(str(item["name"]))
        else:
            parts.append(_label(item))
    parts = [f"{kind} {', '.join(names)}" for kind, names in by_kind.items()] + parts
    shown = parts[:6]
    return ", ".join(shown) + (f" and {len(parts) - 6} more" if len(parts) > 6 else "")


def _list_change(path: tuple, old: Any, new: Any) -> str | None:
    """`spec.destinations: adds nlp-staging on https://…; removes …`, or None when the lists'
    items have no identity to match them by (two items with one name)."""
    if not isinstance(old, list) and not isinstance(new, list):
        return None
    if (old is not None and not isinstance(old, list)) or (new is not None and not isinstance(new, list)):
        return None
    old, new = old or [], new or []
    before, after = {_identity(i): i for i in old}, {_identity(i): i for i in new}
    if len(before) != len(old) or len(after) != len(new):
        return None
    parts = []
    added = [after[k] for k in after if k not in before]
    removed = [before[k] for k in before if k not in after]
    changed = [k for k in after if k in before and before[k] != after[k]]
    if added:
        parts.append("adds " + _labels(added))
    if removed:
        parts.append("removes " + _labels(removed))
    if changed:
        described = []
        for k in changed[:6]:
            a, b = _flatten(before[k], lists=False), _flatten(after[k], lists=False)
            fields = sorted({_dotted(f) for f in set(a) | set(b) if a.get(f) != b.get(f)})
            described.append(f"{_label(after[k])} ({', '.join(fields[:3])}{' …' if len(fields) > 3 else ''})")
        parts.append("changes " + ", ".join(described) + (f" and {len(changed) - 6} more" if len(changed) > 6 else ""))
    if not parts:
        parts.append("same items in another order")
    return f"{_dotted(path)}: " + "; ".join(parts)


def _dotted(key: tuple) -> str:
    text = ""
    for part in key:
        if isinstance(part, int):
            text += f"[{part}]"
        elif any(c in str(part) for c in "./"):
            text += f'["{part}"]'
        else:
            text += f".{part}" if text else str(part)
    return text


# ------------------------------------------------------------------------------------ rendering
def render_text(plan: Plan) -> str:
    lines = [f"mlopsc plan: {plan.base} → {plan.head}"]
    if plan.note:
        lines.append(f"note: {plan.note}")
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for section in plan.sections:
        lines.append("")
        lines.append(section.title)
        if not section.changes and not section.lineage_only:
            lines.append("  no changes")
        for c in section.changes:
            owner = f"  [{c.project}]" if c.project else ""
            lines.append(f"  {marks[c.action]} {c.title} {c.verb}{owner}")
            lines.extend(f"      {d}" for d in c.details)
        if section.lineage_only:
            lines.append("  ~ lineage annotations only: " + ", ".join(c.title for c in section.lineage_only))
    lines += ["", plan.summary()]
    return "\n".join(lines) + "\n"


def render_markdown(plan: Plan) -> str:
    import jinja2  # only the markdown form needs it

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=False, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["cell"] = _markdown_cell
    return env.get_template("plan.md.j2").render(plan=plan)


def _markdown_cell(text: str) -> str:
    """Text that cannot break out of a Markdown table cell (or inject HTML into the comment)."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " "))


def _plan_json(plan: Plan) -> dict:
    return {"base": plan.base, "head": plan.head, "note": plan.note, "summary": plan.summary(),
            "environments": {s.title: [asdict(c) for c in s.changes + s.lineage_only] for s in plan.sections},
            "otherFiles": plan.other_files}
