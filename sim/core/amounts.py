"""Amounts and shares as people type them: '12M', '750k', '12,000,000'; '0.8' or '80%'."""

from __future__ import annotations

import math
import re

_AMOUNT = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMbB]?)\s*$")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_amount(text: str) -> float:
    """'12M' -> 12,000,000; '750k', '1.5m', '12,000,000' too; ValueError naming the text otherwise."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not an amount (write 12M, 750k or 12000000)")
    value = float(m[1].replace(",", "").replace("_", "")) * _SCALE[m[2].lower()]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r} is not allowed, must be an amount > 0")
    return value


def parse_share(text: str) -> float:
    """A share strictly between 0 and 1: '0.8' or '80%'; ValueError naming the text otherwise."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a share (write 0.8 or 80%)") from None
    if not 0 < value < 1:
        raise ValueError(f"{text!r} is not allowed, must be between 0 and 1 (0.8 = 80%)")
    return value
