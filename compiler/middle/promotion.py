"""Promotion order and its history: which digests each environment has pinned, ever.

LANGUAGE.md, "Evidence and promotion", rule 3: an environment with `promotesFrom: X` may only pin
(as release or canary) a digest that X pins now or has pinned in an earlier compile. "Earlier" is
kept by the compiler itself in `generated/promotion/history.json` (committed with the rest of
`generated/`): every (project, serving target, environment, digest) it has seen pinned, in the
order it first saw them, newest first, one entry per line. It never shrinks, so a reviewer sees a
promotion as exactly one added line and a removal as a `-` line in a file that only grows.

Why the history is tamper-evident. The history is both an input and an output of `compile`, so
`compile --check` alone would find a hand-edited history self-consistent: it would rebuild the
edited file from itself. Two independent anchors therefore decide whether it is trusted:

1. The inventory (`generated/.mlopsc-inventory.json`, owned by compiler.output.writer) records the
   sha256 of every file the compiler wrote. A history whose bytes differ from that record, that
   exists without a record, or whose record exists without the file, was not written by mlopsc.
   This is what catches the realistic case: someone deletes (or adds) a line in a pull request.
2. Each entry carries `chain`, the sha256 of the previous entry's chain and this entry's fields.
   An entry removed from the middle breaks the chain at the next entry, so the diagnostic points
   at the line where it happened, and such an edit stays visible even if someone also rewrites
   the inventory's hash by hand.

A history that fails either check is not trusted at all (E007, and then only what environments
pin now counts for E006): losing entries only ever makes promotion stricter, never lets an
unpromoted digest through, and a forged entry is not believed. The fix is to restore the file
from Git. Someone who recomputes every hash deliberately is not stopped by this; the pull
request's diff of a file that only grows, under code-owner review, is the defence there.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from ..layout import PROMOTION_HISTORY
from ..diagnostics import Position

if TYPE_CHECKING:  # the loader imports this module; importing it back would be circular
    from ..frontend.loader import LoadedProject
    from ..frontend.models import Repository

FORMAT = 1
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


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    project: str
    serving: str
    environment: str
    role: str
    digest: str
    uri: str
    evidence: str
    chain: str = ""

    def fields_for_chain(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "chain"}
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def to_json(self) -> dict:
        return {"seq": self.seq, "project": self.project, "serving": self.serving,
                "environment": self.environment, "as": self.role, "digest": self.digest,
                "uri": self.uri, "evidence": self.evidence, "chain": self.chain}


_ENTRY_KEYS = {f.name for f in fields(HistoryEntry)} - {"role"} | {"as"}


@dataclass
class PromotionHistory:
    """The history as read from the output directory, and whether it can be trusted."""

    path: str  # repository-relative, e.g. generated/promotion/history.json
    entries: list[HistoryEntry] = field(default_factory=list)  # empty unless trusted
    # Why it is not trusted: (line, column, message); empty when trusted.
    problems: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def trusted(self) -> bool:
        return not self.problems


# ------------------------------------------------------------------------------ reading
def read_history(out_dir: Path, out_label: str) -> PromotionHistory:
    """Read the previous compile's history and check it against the inventory and its chain."""
    # The writer owns the inventory's format; imported here because it imports the front end.
    from ..output.writer import read_inventory, sha256

    label = f"{out_label.rstrip('/')}/{PROMOTION_HISTORY}"
    path = out_dir / PROMOTION_HISTORY
    recorded = read_inventory(out_dir).get(PROMOTION_HISTORY)
    restore = f"restore it with `git checkout -- {label}` and compile again"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if recorded is None:
            return PromotionHistory(label)  # nothing promoted yet
        return PromotionHistory(label, problems=[(1, 1, f"{label} was deleted, but the inventory records "
                                                         f"that mlopsc wrote it; {restore}")])
    except OSError as exc:
        return PromotionHistory(label, problems=[(1, 1, f"{label} cannot be read ({exc.strerror or exc})")])
    history = PromotionHistory(label)
    if recorded is None:
        history.problems.append((1, 1, f"{label} was not written by mlopsc (the inventory has no record "
                                       f"of it); {restore}, or delete it if nothing was ever promoted"))
    elif sha256(raw) != recorded:
        history.problems.append((1, 1, f"{label} is not what mlopsc last wrote (its sha256 differs from the "
                                       f"inventory's record): the history was edited by hand; {restore}"))
    entries = _parse(raw, label, history.problems)
    _verify_chain(entries, raw, history.problems)
    if history.trusted:
        history.entries = entries
    return history


def _parse(raw: bytes, label: str, problems: list) -> list[HistoryEntry]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        problems.append((line, col, f"{label} is not valid JSON ({exc}); the history is not trusted"))
        return []
    items = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(items, list) or data.get("format") != FORMAT:
        problems.append((1, 1, f"{label} is not a format-{FORMAT} promotion history"))
        return []
    entries = []
    for item in items:
        if not isinstance(item, dict) or set(item) != _ENTRY_KEYS or not isinstance(item.get("seq"), int):
            problems.append((1, 1, f"{label} holds an entry that is not a promotion record: {item!r:.80}"))
            return []
        values = {("role" if k == "as" else k): (v if k == "seq" else str(v)) for k, v in item.items()}
        entries.append(HistoryEntry(**values))
    return sorted(entries, key=lambda e: e.seq)


def _verify_chain(entries: list[HistoryEntry], raw: bytes, problems: list) -> None:
    lines = {int(m[1]): i + 1 for i, text in enumerate(raw.decode("utf-8", "replace").splitlines())
             if (m := re.search(r'"seq":\s*(\d+)', text))}
    previous = ""
    for expected_seq, entry in enumerate(entries, start=1):
        if entry.seq != expected_seq or entry.chain != _link(previous, entry):
            gone = "an earlier entry was removed or" if entry.seq != expected_seq else "it or an earlier entry was"
            problems.append((lines.get(entry.seq, 1), 1,
                             f"history entry #{entry.seq} does not follow from the entries before it: "
                             f"{gone} edited by hand"))
            return
        previous = entry.chain


def _link(previous: str, entry: HistoryEntry) -> str:
    return hashlib.sha256(f"{previous}\n{entry.fields_for_chain()}".encode()).hexdigest()


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
        entry = HistoryEntry(**{**asdict(entry), "chain": _link(previous, entry)})
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
