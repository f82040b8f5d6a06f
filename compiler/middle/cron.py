"""5-field cron expressions (minute hour day-of-month month day-of-week): one reading of them for
the rules (S005 for spec.schedule and monitoring's evaluate.schedule, KFP's day-of-week 7) and for
the back ends (how long a continuous evaluation may be late).
"""

from __future__ import annotations

import datetime

# Cron shorthands users reach for, and the 5-field form to write instead.
CRON_SHORTHANDS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                   "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
                   "@annually": "0 0 1 1 *"}
CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
CRON_NAMES = [None, None, None,
              "jan feb mar apr may jun jul aug sep oct nov dec".split(),
              "sun mon tue wed thu fri sat".split()]
CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def cron_problem(expr: str) -> str | None:
    if expr.strip().lower() in CRON_SHORTHANDS:
        return f"is a shorthand; write the 5 fields instead: `{CRON_SHORTHANDS[expr.strip().lower()]}`"
    fields = expr.split()
    if len(fields) != 5:
        return (f"has {len(fields)} field{'s' if len(fields) != 1 else ''}; a cron expression has 5 "
                f"(minute hour day-of-month month day-of-week)")
    for text, (lo, hi), names, label in zip(fields, CRON_RANGES, CRON_NAMES, CRON_FIELDS):
        for part in text.split(","):
            base, _, step = part.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                return f"{label} field `{text}` has an invalid step `/{step}`"
            if base == "*":
                continue
            bounds = base.split("-")
            if len(bounds) > 2:
                return f"{label} field `{text}` is not a value, range or list"
            values = []
            for b in bounds:
                value = names.index(b.lower()) + (1 if label == "month" else 0) if names and b.lower() in names else b
                if not str(value).isdigit() or not lo <= int(value) <= hi:
                    return f"{label} field `{text}`: `{b}` is outside {lo}-{hi}"
                values.append(int(value))
            if len(values) == 2 and values[0] > values[1]:
                return f"{label} field `{text}`: the range `{base}` runs backwards"
    return None


def day_of_week_seven(expr: str) -> bool:
    """Whether a 5-field cron names day of week 7 (Sunday to Vixie cron, refused by KFP's)."""
    fields = expr.split()
    if len(fields) != 5:
        return False
    for part in fields[4].split(","):
        base = part.partition("/")[0]
        if "7" in base.split("-"):
            return True
    return False


def cron_interval_seconds(expr: str) -> int:
    """The longest gap between two runs of a valid 5-field cron (UTC), found by walking eight
    years of days from 2026-01-01 (so leap days and short months count)."""
    minutes, hours, doms, months, dows = (field_values(f, lo, hi, names) for f, (lo, hi), names in zip(
        expr.split(), CRON_RANGES, CRON_NAMES))
    dows = {d % 7 for d in dows}
    dom_star, dow_star = expr.split()[2].startswith("*"), expr.split()[4].startswith("*")
    day = datetime.date(2026, 1, 1)
    times = sorted(h * 60 + mi for h in hours for mi in minutes)
    previous, longest = None, 0
    for offset in range(8 * 366):
        d = day + datetime.timedelta(days=offset)
        dom_ok, dow_ok = d.day in doms, (d.isoweekday() % 7) in dows
        # cron: with both day fields restricted, either may match
        matches = (dom_ok or dow_ok) if not (dom_star or dow_star) else (dom_ok and dow_ok)
        if d.month not in months or not matches:
            continue
        for t in times:
            at = offset * 1440 + t
            if previous is not None:
                longest = max(longest, at - previous)
            previous = at
    return (longest or 8 * 366 * 1440) * 60


def field_values(text: str, lo: int, hi: int, names) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        step_n = int(step) if step else 1
        if base == "*":
            start, end = lo, hi
        else:
            bounds = [names.index(b.lower()) + (1 if lo == 1 else 0) if names and b.lower() in names else int(b)
                      for b in base.split("-")]
            start, end = bounds[0], bounds[-1] if len(bounds) > 1 else (hi if step else bounds[0])
        values.update(range(start, end + 1, step_n))
    return values
