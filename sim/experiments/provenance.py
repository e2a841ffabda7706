"""Where each value a what-if uses comes from: `fitted` (n, 95% CI, which rows), `literature` (value, range,
source) or `assumed` (no source: said so, with the range the notebooks explore).

`sim.calibrate` records an `Evidence` for every value it fits or keeps; `provenance(path, evidence)` names its
kind, `columns` gives the calibration table's provenance columns and `note` the YAML comment. The
`LITERATURE` registry lists the defaults that lean on a published figure (the same sources the fields'
descriptions and the policies' docstrings cite); every other value an export cannot show is an assumption,
explored from 0 to twice its default (within the field's bounds) unless `EXPLORED` says otherwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from .export_fit import Evidence

Kind = Literal["fitted", "literature", "assumed"]


@dataclass(frozen=True)
class Source:
    """A published figure behind a default: the range it supports and who measured it."""

    low: float
    high: float
    source: str


# path patterns (regular expressions on the scenario's field path, list items by number) -> the published range
LITERATURE: dict[str, Source] = {
    r"policies\.listening\.rep_talk_share": Source(0.43, 0.75, "Gong Labs, 25,537 recorded B2B calls (Orlob 2017): "
                                                   "~43% on winning calls, 65-75% typical; vendor data, no intervals"),
    r"policies\.first_meeting\.formats\.video\.show_rate": Source(0.70, 0.90, "practitioner reports of 10-30% no-shows "
                                                                  "for booked sales meetings (SDR agencies, scheduling vendors)"),
    r"policies\.bugs\.beta_catch": Source(0.35, 0.50, "Capers Jones, defect removal per test stage "
                                                          "(Dr. Dobb's 2010, ~13,000 projects): 35-50% removed"),
    r"policies\.trials\.investment_effect": Source(0.0, 1.0, "Arkes & Blumer 1985 (sunk cost, theatre tickets); "
                                                   "Ashraf, Berry & Shapiro AER 2010 (no consistent effect)"),
    r"policies\.nurture\.failure_rate": Source(0.19, 0.50, "Standish Group CHAOS 2015-2020: 19-20% of software "
                                               "projects fail outright, about half are challenged"),
    r"policies\.incentives\..*discount": Source(0.06, 0.08, "Larkin 2014: the cost of pulled-in deals' timing, "
                                                "6-8% of revenue"),
}

# assumed values whose explored range is not 0 to 2x the default (what the notebooks and sim.sensitivity vary)
EXPLORED: dict[str, tuple[float, float]] = {
    r"fit_effects\.on_loss": (0.0, 4.0),
    r"market\.patience_days": (30.0, 120.0),
    r"policies\.bugs\.bug_chance": (0.0, 0.5),
    r"truth\.budget_share": (0.3, 0.9),
    r"policies\.staffing\.prospect_hours": (1.5, 6.0),
}


def literature(path: str) -> Source | None:
    """The published figure behind the value at `path`, if any."""
    for pattern, source in LITERATURE.items():
        if re.fullmatch(pattern, path):
            return source
    return None


def explored(path: str, value: Any) -> tuple[float, float] | None:
    """The range an assumed value is explored over: `EXPLORED`, else 0 to twice the default (None if not a number)."""
    for pattern, span in EXPLORED.items():
        if re.fullmatch(pattern, path):
            return span
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value == 0:
        return None     # text, a switch, or a default of 0 (off): nothing to scale
    return (0.0, 2.0 * float(value)) if value >= 0 else (2.0 * float(value), 0.0)


def provenance(evidence: Evidence) -> Kind:
    """`fitted` when the export gave it, `literature` when a published figure backs it, else `assumed`."""
    if evidence.fitted:
        return "fitted"
    return "literature" if literature(evidence.path) is not None else "assumed"


def columns(evidence: Evidence) -> dict[str, Any]:
    """The calibration table's provenance columns for one value: kind, source and the range (CI, published or explored)."""
    kind = provenance(evidence)
    if kind == "fitted":
        return {"provenance": kind, "source": evidence.basis, "range_low": evidence.low, "range_high": evidence.high}
    if kind == "literature":
        src = literature(evidence.path)
        return {"provenance": kind, "source": src.source, "range_low": src.low, "range_high": src.high}
    span = explored(evidence.path, evidence.value)
    return {"provenance": kind, "source": "assumed: no published figure; " + evidence.basis,
            "range_low": span[0] if span else None, "range_high": span[1] if span else None}


def note(evidence: Evidence) -> str:
    """The YAML comment: ``fitted: ...; n = 545, 95% CI ...``, ``literature: <source>, range a to b`` or
    ``assumed (<why>); explored a to b``."""
    kind = provenance(evidence)
    if kind == "fitted":
        return evidence.note()
    if kind == "literature":
        src = literature(evidence.path)
        return f"literature: {src.source}; range {src.low:g} to {src.high:g} ({evidence.basis})"
    span = explored(evidence.path, evidence.value)
    explored_ = f"; explored {span[0]:g} to {span[1]:g}" if span else ""
    return f"assumed ({evidence.basis}){explored_}"
