"""Promotion order and its history: which digests each environment has pinned, ever.

LANGUAGE.md, "Evidence and promotion", rule 3: an environment with `promotesFrom: X` may only pin
(as release or canary) a digest that X pins now or has pinned in an earlier compile. "Earlier" is
kept by the compiler itself in `generated/promotion/history.json` (committed with the rest of
`generated/`): every (project, serving target, environment, digest) it has seen pinned, in the
order it first saw them, newest first, one entry per line. It never shrinks, so a reviewer sees a
promotion as exactly one added line and a removal as a `-` line in a file that only grows.

Reading the previous history, and deciding whether to trust it, is the front end's job
(compiler.frontend.history); this module decides what the pins of this compile add to it and
which earlier pin allowed each promotion.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..diagnostics import Position
from ..frontend.history import FORMAT, HistoryEntry, PromotionHistory, link
from ..frontend.loader import LoadedProject
from ..frontend.models import Repository

ROLES = ("release", "canary")
ABOUT = ("Every model digest each serving environment has pinned, in the order mlopsc first saw it "
         "(newest first). Written by `mlopsc compile`; it only grows. Never edit it: a hand edit "
         "makes the history untrusted (`mlopsc explain E007`).")


@dataclass(frozen=True)
class Pin:
    """A release or canary release that the specs pin now."""

    project: str
    serving: str
    environment: str
    role: str  # "release" or "canary"
    digest: str
    uri: str
    evidence: str
    position: Position  # the pinned digest in the spec

    @property
    def target(self) -> tuple[str, str]:
        return self.project, self.serving


# ------------------------------------------------------------------------------ the pins now
def current_pins(projects: Iterable[LoadedProject]) -> list[Pin]:
    pins = []
    for project in projects:
        for sname, target in sorted(project.model.spec.serving.items()):
            for env, se in sorted(target.environments.items()):
                base = ("spec", "serving", sname, "environments", env)
                pairs = [("release", base + ("release",), se.release)]
                if se.canary is not None:
                    pairs.append(("canary", base + ("canary", "release"), se.canary.release))
                for role, path, rel in pairs:
                    if rel is not None:
                        pins.append(Pin(project.key, sname, env, role, rel.digest, rel.uri, rel.evidence,
                                        project.doc.position(path + ("digest",))))
    return pins


def extend(entries: list[HistoryEntry], pins: list[Pin], config: Repository) -> list[HistoryEntry]:
    """The history after this compile: the previous entries, then every new pin, in a fixed order."""
    order = {env: i for i, env in enumerate(config.environments)}
    known = {(e.project, e.serving, e.environment, e.digest) for e in entries}
    result = list(entries)
    previous = entries[-1].chain if entries else ""
    for pin in sorted(pins, key=lambda p: (p.project, p.serving, order.get(p.environment, len(order)),
                                           p.environment, ROLES.index(p.role), p.digest)):
        key = (pin.project, pin.serving, pin.environment, pin.digest)
        if key in known:
            continue
        known.add(key)
        entry = HistoryEntry(len(result) + 1, pin.project, pin.serving, pin.environment, pin.role,
                             pin.digest, pin.uri, pin.evidence)
        entry = HistoryEntry(**{**asdict(entry), "chain": link(previous, entry)})
        result.append(entry)
        previous = entry.chain
    return result


def render(entries: list[HistoryEntry]) -> str:
    """JSON, one entry per line, newest first: a new entry is one added line in the diff."""
    head = (f'{{\n  "about": {json.dumps(ABOUT)},\n  "format": {FORMAT},\n  "entries": [')
    if not entries:
        return head + "]\n}\n"
    lines = [json.dumps(e.to_json(), ensure_ascii=False) for e in reversed(entries)]
    return head + "\n" + ",\n".join("    " + line for line in lines) + "\n  ]\n}\n"


# ------------------------------------------------------------------------------ the verdict
@dataclass(frozen=True)
class Promotion:
    """A pin in an environment that promotes from another, and what (if anything) allowed it."""

    pin: Pin
    source: str  # the environment it promotes from
    basis: str | None  # e.g. "staging pins it now as release"; None: not promoted (E006)
    source_pins: tuple[str, ...]  # what the source pins now / pinned before, for notes


def promotions(pins: list[Pin], history: list[HistoryEntry], config: Repository) -> list[Promotion]:
    pinned_now: dict[tuple, list[Pin]] = {}
    for p in pins:
        pinned_now.setdefault((p.project, p.serving, p.environment), []).append(p)
    pinned_before: dict[tuple, list[HistoryEntry]] = {}
    for e in history:
        pinned_before.setdefault((e.project, e.serving, e.environment), []).append(e)
    result = []
    for pin in pins:
        env = config.environments.get(pin.environment)
        source = env.promotesFrom if env is not None else None
        if source is None or source not in config.environments:
            continue  # no promotion order here (unknown environments are reported as N005)
        now = pinned_now.get((*pin.target, source), [])
        before = pinned_before.get((*pin.target, source), [])
        basis = next((f"`{source}` pins it now as {p.role}" for p in now if p.digest == pin.digest), None)
        if basis is None:
            basis = next((f"`{source}` pinned it as {e.role} in an earlier compile (promotion history "
                          f"#{e.seq})" for e in before if e.digest == pin.digest), None)
        seen = [f"`{source}` pins {p.role} {p.digest} now" for p in now]
        seen += [f"`{source}` pinned {e.role} {e.digest} before (promotion history #{e.seq})" for e in before]
        result.append(Promotion(pin, source, basis, tuple(seen)))
    return result


def info_lines(projects: Iterable[LoadedProject], history: PromotionHistory, config: Repository) -> list[str]:
    """For `compile --verbose`: which pin allowed each passing promotion (no diagnostic to hang it on)."""
    promoted = promotions(current_pins(projects), history.entries, config)
    return [f"{p.pin.position}: info: `{p.pin.serving}` in `{p.pin.environment}` pins {p.pin.role} "
            f"{p.pin.digest}, promoted from `{p.source}`: {p.basis}"
            for p in sorted(promoted, key=lambda p: p.pin.position) if p.basis is not None]
