"""Kubernetes resource quantities: parsing, and the canonical form the API server stores.

Argo CD compares live objects against Git after the API server normalised them, so `1500m` in Git
and `1.5` in the cluster (or `1024Mi` and `1Gi`) is reported as drift forever. Emitters therefore
write `canonical_quantity(...)`, which follows apimachinery's resource.Quantity.String().

Bounds (apimachinery's resource.Quantity): parsing caps a binary-suffixed quantity silently at
2^63-1 (`8Ei` reads back as 9223372036854775807), and everything that uses a quantity (the
scheduler, the kubelet, quota) reads it through the int64 accessors `Value()` and, for CPU,
`MilliValue()`, which overflow beyond that. So a quantity mlopsc accepts is at most 2^63-1 in
value (`MAX_VALUE`), and a CPU amount at most (2^63-1)/1000 cores, whose milli-value still fits
(`MAX_CPU`): anything larger would be silently changed or overflow in the cluster.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_CEILING, Context, Decimal, DecimalException, localcontext

_QUANTITY = re.compile(r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?\Z")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}


# Largest value a quantity may have (int64, apimachinery's maxAllowed), and a CPU amount whose
# milli-value still fits an int64 (apimachinery's MaxMilliValue, in cores).
MAX_VALUE = Decimal(2**63 - 1)
MAX_CPU = Decimal((2**63 - 1) // 1000)
# Enough digits for any bounded quantity at nano precision (19 + 9), and exponents far beyond it.
_CONTEXT = Context(prec=60, Emax=10**6, Emin=-(10**6))


class QuantityError(ValueError):
    pass


def _split(value: object) -> tuple[Decimal, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QuantityError("expected a number or a string such as `500m` or `2Gi`")
    text = repr(value) if isinstance(value, float) else str(value)
    m = _QUANTITY.match(text.strip())
    if not m or text != text.strip():
        raise QuantityError("expected a number with an optional suffix: m, k, M, G, Ki, Mi, Gi, …")
    return Decimal(m["num"]), m["suffix"] or ""


def _is_exponent(suffix: str) -> bool:
    # `E` alone is the exa suffix (10^18); `E3` or `e3` is a decimal exponent.
    return len(suffix) > 1 and suffix[0] in "eE"


_UNIT_WORDS = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[kKmMgGtTpP])(?:i?[bB]|i)?\Z")


def suggest_quantity(value: object) -> str | None:
    """The quantity a near miss most likely meant: `16GB`, `16gb`, `16GiB` → `16Gi` (memory is
    sized in powers of two, and `G` would be a thousand million bytes), `2 Gi` → `2Gi`."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if text != value:
        try:
            _split(text)
            return text
        except QuantityError:
            pass
    m = _UNIT_WORDS.match(text)
    if m is None:
        return None
    unit = m["unit"].upper()
    return f"{m['num']}{'Ki' if unit == 'K' else unit + 'i'}"


def parse_quantity(value: object, limit: Decimal = MAX_VALUE) -> Decimal:
    """The quantity's value; QuantityError if it is malformed or larger than `limit` in magnitude."""
    if isinstance(value, (int, float, str)):
        return _parsed_quantity(value, limit)
    return _parsed_quantity.__wrapped__(value, limit)  # not hashable: nothing to remember


# Every task and environment of every project states its cpu and memory, with a few dozen
# distinct values among thousands; Decimal arithmetic in a local context is slow enough to matter.
# `typed`, so that 1, 1.0 and True (refused) stay apart; a QuantityError is raised anew each time.
@functools.lru_cache(maxsize=4096, typed=True)
def _parsed_quantity(value: object, limit: Decimal) -> Decimal:
    number, suffix = _split(value)
    with localcontext(_CONTEXT):
        try:
            if suffix in _BINARY:
                amount = number * (Decimal(2) ** _BINARY[suffix])
            elif _is_exponent(suffix):
                exponent = int(suffix[1:])
                if abs(exponent) > 1000:
                    raise QuantityError(f"the exponent {exponent} is out of range")
                amount = number.scaleb(exponent)
            else:
                amount = number.scaleb(_DECIMAL[suffix])
        except DecimalException as exc:  # pragma: no cover - the context admits every bounded input
            raise QuantityError("the number is out of range") from exc
    if abs(amount) > limit:
        raise QuantityError(f"larger than {limit}, the most Kubernetes can hold")
    return amount


def canonical_quantity(value: object) -> str:
    """The string the API server would give back for this quantity (QuantityError if out of bounds)."""
    number, suffix = _split(value)
    amount = parse_quantity(value)
    with localcontext(_CONTEXT):
        return _canonical(amount, suffix)


def _canonical(amount: Decimal, suffix: str) -> str:
    if suffix in _BINARY and abs(amount) >= 1024 and amount == amount.to_integral_value():
        exp = 0
        while exp < 60 and amount % (Decimal(2) ** (exp + 10)) == 0 and amount != 0:
            exp += 10
        mantissa = amount / (Decimal(2) ** exp)
        return f"{int(mantissa)}{_BINARY_SUFFIX.get(exp, '')}"
    # Decimal forms: round up to nano precision, then take the largest exponent (a multiple of 3)
    # that leaves an integer mantissa.
    amount = amount.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)
    exp = -9
    while exp < 18 and amount != 0 and (amount.scaleb(-(exp + 3))) == amount.scaleb(-(exp + 3)).to_integral_value():
        exp += 3
    if amount == 0:
        exp = 0
    mantissa = int(amount.scaleb(-exp))
    if _is_exponent(suffix):
        return f"{mantissa}e{exp}" if exp else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIX[exp]}"
