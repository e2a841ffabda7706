"""The figures a simulated pipeline is checked against an export on: the same numbers from either.

`window_measures(tables, start, end, stages)` returns one flat dict of numbers for the window [start, end):
the win rate, quantiles of the cycle time and of won deal sizes, the median time per stage and the bookings
of each month. `sim.validate` computes it on the export and on every simulated run, and asks whether the
export's figure falls inside the simulation's 95% band. `family` groups the keys for the verdicts and the
figures; `label` is what a reader sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.periods import label as period_label
from ..core.schema import require
from ..core.tables import Tables
from .fit import DAY, ONE_STAGE, has_history, stays

QUANTILES = (0.25, 0.5, 0.75, 0.9)
FAMILIES = {"win_rate": "win rate", "cycle": "cycle time", "stage": "time per stage", "size": "deal size",
            "bookings": "bookings per month"}
UNITS = {"win rate": "share of closed deals", "cycle time": "days from creation to win", "time per stage": "median days",
         "deal size": "won amount", "bookings per month": "won amount"}


def family(key: str) -> str:
    """The measure a figure belongs to: ``cycle/q50`` -> ``cycle time``."""
    return FAMILIES[key.split("/")[0]]


def label(key: str) -> str:
    """What the reader sees for a figure: ``cycle/q50`` -> ``median``, ``bookings/2026-03`` -> ``2026-03``."""
    head, _, tail = key.partition("/")
    if head in ("cycle", "size"):
        q = float(tail[1:]) / 100
        return {0.5: "median"}.get(q, f"{q:.0%}")
    return tail or FAMILIES[head]


def window_measures(tables: Tables, start: pd.Timestamp, end: pd.Timestamp, stages: list[str] | None = None) -> dict[str, float]:
    """The figures of the deals closed (and stays finished) in [start, end), as a flat dict of floats.

    `stages`: the stages whose time is measured, in order (None: one stage from creation to close).
    """
    opp = tables.opportunities
    require(opp, ["outcome", "created_at", "closed_at", "amount"], "validation figures")
    closed = opp[(opp["closed_at"] >= start) & (opp["closed_at"] < end) & opp["outcome"].isin(["won", "lost"])]
    won = closed[closed["outcome"] == "won"]
    out: dict[str, float] = {"win_rate": len(won) / len(closed) if len(closed) else np.nan}
    cycle = ((won["closed_at"] - won["created_at"]) / DAY).to_numpy(dtype=float)
    sizes = won["amount"].to_numpy(dtype=float)
    for q in QUANTILES:
        out[f"cycle/q{round(q * 100)}"] = float(np.quantile(cycle, q)) if len(cycle) else np.nan
        out[f"size/q{round(q * 100)}"] = float(np.nanquantile(sizes, q)) if np.isfinite(sizes).any() else np.nan
    if stages is None or not has_history(tables):
        out[f"stage/{ONE_STAGE}"] = out["cycle/q50"]
    else:
        s = stays(tables, end, stages)
        done = s[s["fate"] != "open"]
        medians = done.groupby("stage")["days"].median()
        for name in stages:
            out[f"stage/{name}"] = float(medians.get(name, np.nan))
    months = pd.period_range(start, end - DAY, freq="M")
    booked = won.groupby(won["closed_at"].dt.to_period("M"))["amount"].sum()
    for m in months:
        out[f"bookings/{period_label(m.start_time, 'month')}"] = float(booked.get(m, 0.0))
    return out
