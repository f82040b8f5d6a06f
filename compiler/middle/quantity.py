"""Kubernetes resource quantities: parsing, and the canonical form the API server stores.

Argo CD compares live objects against Git after the API server normalised them, so `1500m` in Git
and `1.5` in the cluster (or `1024Mi` and `1Gi`) is reported as drift forever. Emitters therefore
write `canonical_quantity(...)`, which follows apimachinery's resource.Quantity.String().
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

_QUANTITY = re.compile(r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}


class QuantityError(ValueError):
    pass


def _split(value: object) -> tuple[Decimal, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QuantityError("expected a number or a string such as `500m` or `2Gi`")
    text = repr(value) if isinstance(value, float) else str(value)
    m = _QUANTITY.match(text.strip())
    if not m or text != text.strip():
        raise QuantityError("expected a number with an optional suffix: m, k, M, G, Ki, Mi, Gi, …")
    try:
        return Decimal(m["num"]), m["suffix"] or ""
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(str(exc)) from exc


_UNIT_WORDS = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[kKmMgGtTpP])(?:i?[bB]|i)?$")


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


def parse_quantity(value: object) -> Decimal:
    number, suffix = _split(value)
    if suffix in _BINARY:
        return number * (Decimal(2) ** _BINARY[suffix])
    if suffix[:1] in ("e", "E"):
        return number.scaleb(int(suffix[1:]))
    return number.scaleb(_DECIMAL[suffix])


def canonical_quantity(value: object) -> str:
    """The string the API server would give back for this quantity."""
    number, suffix = _split(value)
    amount = parse_quantity(value)
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
    if suffix[:1] in ("e", "E"):
        return f"{mantissa}e{exp}" if exp else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIX[exp]}"
