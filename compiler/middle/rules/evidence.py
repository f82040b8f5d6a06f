"""Evidence and promotion (LANGUAGE.md, "Evidence and promotion"): every release and canary release
is checked against the evidence file it names, and environments that promote from another may
only pin what that environment pins now or has pinned before (compiler.middle.promotion).

Each finding sits at the release's own lines in the spec: the `evidence` value for what is wrong
with the evidence, the `uri` or `digest` value for a mismatch, the `digest` for promotion order.
"""

from __future__ import annotations

import math

from ... import codes
from ...diagnostics import Position
from ...frontend.evidence import Evidence, shown
from ...frontend.loader import LoadedProject
from ...frontend.models import Release, ServingTarget
from ..gates import Gate, parse_gate
from ..images import SHA256_DIGEST
from ..promotion import current_pins, promotions
from . import RuleContext, releases_in, rule

# How a failed gate is shown: `auc >= 0.92` fails as `auc 0.901 < 0.92`.
NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}


def release_gates(project: LoadedProject, target: ServingTarget) -> list[tuple[str, Gate]]:
    """(evaluation, gate) for every well-formed gate a release of `target` must pass.

    Unknown evaluations, malformed gates and gates on undeclared metrics are reported by their
    own rules (G001-G003) and skipped here, so one mistake gives one diagnostic.
    """
    result = []
    evaluations = project.model.spec.evaluations
    for name in dict.fromkeys(target.gates):
        evaluation = evaluations.get(name)
        if evaluation is None:
            continue
        for text in evaluation.gates:
            gate = parse_gate(text)
            if gate is not None and gate.metric in evaluation.metrics:
                result.append((name, gate))
    return result


def format_value(value: float) -> str:
    return repr(value) if math.isfinite(value) else str(value)


@rule
def release_evidence(ctx: RuleContext):
    for project in ctx.repo.projects:
        for sname, target, env, path, release in releases_in(project):
            loaded = ctx.repo.evidence.get(release.evidence)
            at = project.doc.position(path + ("evidence",))
            if loaded is not None and loaded.bad_metrics:
                continue  # reported once, in the evidence file itself (below)
            if loaded is None or loaded.record is None:
                problem = loaded.problem if loaded is not None else "was not loaded"
                yield codes.EVIDENCE_MISSING.at(at, f"evidence `{release.evidence}` {problem}")
                continue
            yield from check_evidence(project, sname, target, path, release, loaded.record, at)


@rule
def evidence_metrics(ctx: RuleContext):
    """E008 at the metric's value in the evidence file: a string, boolean, Infinity or 1e400 would
    otherwise pass or fail gates by accident and end up as non-JSON in the lineage annotations."""
    for path in sorted(ctx.repo.evidence):
        for name, line, column, problem in ctx.repo.evidence[path].bad_metrics:
            yield codes.EVIDENCE_METRIC_NOT_NUMBER.at(
                Position(path, line, column),
                f"evidence metric `{shown(name)}` is {problem}, not a finite JSON number: write it as a "
                f"plain number such as 0.93 (gates compare it; the lineage annotations hold it as JSON)")


def check_evidence(project: LoadedProject, sname: str, target: ServingTarget, path: tuple,
                   release: Release, record: Evidence, at: Position):
    """E002-E005 and W003 for one release whose evidence could be read; shared with `promote`."""
    # Evidence naming the project as its file's place does is about this project even while the
    # metadata has a typo (N003/N006 report that one).
    if record.project not in (project.key, project.path_key) or record.serving != sname:
        yield codes.EVIDENCE_OTHER_TARGET.at(
            at, f"evidence `{release.evidence}` is about `{record.project}` serving target "
                f"`{record.serving}`, not `{project.key}` serving target `{sname}`")
        return
    mismatched = False
    for name, ours, theirs in (("uri", release.uri, record.model.uri),
                               ("digest", release.digest, record.model.digest)):
        if name == "digest" and not SHA256_DIGEST.match(ours):
            mismatched = True  # P005 reports the malformed digest; a mismatch on top says nothing new
            continue
        if ours != theirs:
            mismatched = True
            yield codes.EVIDENCE_MODEL_MISMATCH.at(
                project.doc.position(path + (name,)),
                f"release {name} `{ours}` differs from the model {name} `{theirs}` in evidence "
                f"`{release.evidence}`: the evidence is about another model")
    if mismatched:
        return  # its metrics say nothing about this model
    missing_reported = set()
    for evaluation, gate in release_gates(project, target):
        value = record.metrics.get(gate.metric)
        if value is None:
            if gate.metric not in missing_reported:
                missing_reported.add(gate.metric)
                yield codes.EVIDENCE_METRIC_MISSING.at(
                    at, f"evidence `{release.evidence}` has no metric `{gate.metric}`, which gate "
                        f"`{gate}` of evaluation `{evaluation}` tests")
        elif not gate.passes(value):
            yield codes.GATE_FAILED.at(
                at, f"the release fails gate `{gate}` of evaluation `{evaluation}`: {gate.metric} "
                    f"{format_value(value)} {NEGATED[gate.op]} {gate.text} (evidence `{release.evidence}`)")
    drift = lineage_drift(project, record) if not project.broken else None  # a typo hides declarations
    if drift:
        yield codes.LINEAGE_DRIFT.at(
            at, f"evidence `{release.evidence}` was produced from other inputs than the spec declares "
                f"now ({'; '.join(drift)}): the model was built from earlier code or data")


def lineage_drift(project: LoadedProject, record: Evidence) -> list[str]:
    spec = project.model.spec
    declared = {"code": {n: c.code.commit for n, c in (spec.steps | spec.evaluations).items()},
                # `live` sources feed continuous evaluations only, never a training run.
                "source": {n: str(s.version) for n, s in spec.sources.items() if str(s.version).strip() != "live"}}
    recorded = {"code": record.lineage.code, "source": record.lineage.sources}
    found = []
    for kind in ("code", "source"):
        ours, theirs = declared[kind], recorded[kind]
        for name in sorted(set(ours) | set(theirs)):
            if name not in theirs:
                found.append(f"{kind} `{name}` not recorded")
            elif name not in ours:
                found.append(f"{kind} `{name}` {theirs[name]} is no longer declared")
            elif ours[name] != theirs[name]:
                found.append(f"{kind} `{name}` {theirs[name]}, spec {ours[name]}")
    return found


@rule
def promotion_order(ctx: RuleContext):
    history = ctx.repo.promotion_history
    for line, column, message in history.problems:
        yield codes.HISTORY_TAMPERED.at(Position(history.path, line, column), message)
    pins = current_pins(ctx.repo.projects)
    by_key = {p.key: p for p in ctx.repo.projects}
    for promotion in promotions(pins, history.entries, ctx.config):
        if promotion.basis is not None:
            continue
        owner = by_key.get(promotion.pin.project)
        if owner is not None and owner.is_broken(("spec", "serving", promotion.pin.serving, "environments",
                                                  promotion.source)):
            continue  # what the source pins is hidden behind a typo there (S001)
        pin = promotion.pin
        untrusted = "" if history.trusted else " (the promotion history is not trusted, see E007)"
        notes = promotion.source_pins or (f"`{promotion.source}` has never pinned a release of "
                                          f"`{pin.serving}`{untrusted}",)
        yield codes.NOT_PROMOTED.at(
            pin.position,
            f"`{pin.serving}` in `{pin.environment}` pins {pin.role} {pin.digest}, which "
            f"`{promotion.source}` has never pinned{untrusted}: release it to `{promotion.source}` first",
            notes)
