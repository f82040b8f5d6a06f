"""A step's `timeout` (`90s`, `30m`, `1h30m`, `2d`): the grammar K012 checks and the seconds the
KFP back end writes as the pod's activeDeadlineSeconds, read the same way by both.

(monitoring's latency thresholds, `250ms` or `1.5s`, and SLO windows, `30d`, are other grammars
with other consumers: compiler/middle/monitoring.py.)
"""

from __future__ import annotations

import re

TIMEOUT = re.compile(r"^(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?\Z")
_PART = re.compile(r"(\d+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def timeout_seconds(text: str) -> int:
    """The seconds of a duration TIMEOUT accepts."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
