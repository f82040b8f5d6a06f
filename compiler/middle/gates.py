"""Evaluation gates: `<metric> <op> <number>`, parsed once and shared by rules and back ends."""

from __future__ import annotations

import functools
import math
import operator
import re
from dataclasses import dataclass

OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
             "==": operator.eq, "!=": operator.ne}
# Metric names may hold `-` (N007); no name holds an operator character, so the split is unambiguous.
_GATE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*?)\s*(>=|<=|==|!=|>|<)\s*"
                      r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    threshold: float
    text: str  # the threshold as written, so messages quote the user's number

    def passes(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.text}"


def parse_gate(text: object) -> Gate | None:
    if not isinstance(text, str):
        return None
    return _parse_gate_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_gate_text(text: str) -> Gate | None:
    # The graph, four rules and the back ends parse every gate again; a Gate is immutable, and
    # the same few texts (`auc >= 0.9`) recur across projects.
    m = _GATE_RE.match(text)
    if not m:
        return None
    threshold = float(m[3])
    if not math.isfinite(threshold):
        return None
    return Gate(m[1], m[2], threshold, m[3])
