"""The promotion history that the previous compile left in generated/: read it and decide
whether to trust it. (What it means for promotion is compiler.middle.promotion's business.)

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
import reprlib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..files import MAX_DATA_BYTES, UnsafeFile, read_inside, safe_relative
from ..inventory import read_inventory, sha256
from .evidence import parse_json
from ..layout import PROMOTION_HISTORY

FORMAT = 1


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
        # Every field is an int or a str, so vars() is what asdict() gives, without its deep copy
        # (the whole chain is verified on every compile: 2,250 entries at 1,000 projects).
        data = {k: v for k, v in vars(self).items() if k != "chain"}
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
def read_history(root: Path, out_label: str) -> PromotionHistory:
    """Read the previous compile's history and check it against the inventory and its chain.
    It is read through compiler.files (inside the repository, no symlink, regular, bounded)."""
    label = f"{out_label.rstrip('/')}/{PROMOTION_HISTORY}"
    recorded = read_inventory(root / out_label).get(PROMOTION_HISTORY)
    restore = f"restore it with `git checkout -- {label}` and compile again"
    try:
        try:
            inside = safe_relative(label)
        except UnsafeFile:  # --out names a directory outside the root: the command line's choice
            raw = read_inside(root / out_label, PROMOTION_HISTORY, MAX_DATA_BYTES)
        else:
            raw = read_inside(root, inside, MAX_DATA_BYTES)
    except UnsafeFile as exc:
        if exc.reason != "does not exist":
            return PromotionHistory(label, problems=[(1, 1, f"{label} cannot be read: {exc.path} {exc.reason}; "
                                                             f"{restore}")])
        if recorded is None:
            return PromotionHistory(label)  # nothing promoted yet
        return PromotionHistory(label, problems=[(1, 1, f"{label} was deleted, but the inventory records "
                                                         f"that mlopsc wrote it; {restore}")])
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
        data = parse_json(raw)
    except ValueError as exc:
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
            problems.append((1, 1, f"{label} holds an entry that is not a promotion record: {reprlib.repr(item):.80}"))
            return []
        values = {("role" if k == "as" else k): (v if k == "seq" else str(v)) for k, v in item.items()}
        entries.append(HistoryEntry(**values))
    return sorted(entries, key=lambda e: e.seq)


def _verify_chain(entries: list[HistoryEntry], raw: bytes, problems: list) -> None:
    lines = {int(m[1]): i + 1 for i, text in enumerate(raw.decode("utf-8", "replace").splitlines())
             if (m := re.search(r'"seq":\s*(\d{1,18})\b', text))}
    previous = ""
    for expected_seq, entry in enumerate(entries, start=1):
        if entry.seq != expected_seq or entry.chain != link(previous, entry):
            gone = "an earlier entry was removed or" if entry.seq != expected_seq else "it or an earlier entry was"
            problems.append((lines.get(entry.seq, 1), 1,
                             f"history entry #{entry.seq} does not follow from the entries before it: "
                             f"{gone} edited by hand"))
            return
        previous = entry.chain


def link(previous: str, entry: HistoryEntry) -> str:
    """The chain value of `entry` after the entry whose chain is `previous`."""
    return hashlib.sha256(f"{previous}\n{entry.fields_for_chain()}".encode()).hexdigest()
