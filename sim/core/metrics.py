"""Headline metrics of a pipeline, computed from the canonical tables (so they work on exports too).

`pipeline_metrics(opportunities)` reads the table. The simulator gets the same numbers without building
the table (`deal_metrics`, fed with the won deals' columns straight from the run): both go through
`deal_metrics`, so they agree to the last bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# name -> what it means (units in brackets); the order is the order shown everywhere
METRICS: dict[str, str] = {
    "opportunities": "deals created [count]",
    "deals_won": "deals won [count]",
    "deals_lost": "deals lost [count]",
    "deals_open": "deals still open at the end [count]",
    "win_rate": "won / (won + lost) [share]",
    "bookings": "total amount of won deals [currency]",
    "mean_deal_size": "average amount of a won deal [currency]",
    "median_cycle_days": "median days from creation to win [days]",
    "realisation": "median signed amount / first estimate of won deals [ratio]",
}


def pipeline_metrics(opportunities: pd.DataFrame) -> dict[str, float]:
    """Counts, win rate, bookings, deal size, cycle time and realisation of the deals in `opportunities`."""
    opp = opportunities
    won = opp[opp["outcome"] == "won"]
    n_won = len(won)
    cycle = (won["closed_at"] - won["created_at"]).dt.total_seconds() / 86400 if n_won else pd.Series(dtype=float)
    return deal_metrics(
        opportunities=len(opp),
        won=n_won,
        lost=int((opp["outcome"] == "lost").sum()),
        open_=int((opp["outcome"] == "open").sum()),
        amount=won["amount"].to_numpy(dtype=float) if "amount" in won else np.array([]),
        cycle=cycle.to_numpy(dtype=float),
        first_estimate=won["first_estimate"].to_numpy(dtype=float) if {"amount", "first_estimate"} <= set(won.columns) else None,
    )


def deal_metrics(opportunities: int, won: int, lost: int, open_: int, amount: np.ndarray, cycle: np.ndarray,
                 first_estimate: np.ndarray | None) -> dict[str, float]:
    """The headline metrics from the counts and, per won deal, its amount, days from creation to close and first
    estimate (None when the data has no first estimates). Missing values (NaN) are skipped, as pandas does."""
    if first_estimate is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            realised = amount / first_estimate
    return {
        "opportunities": float(opportunities),
        "deals_won": float(won),
        "deals_lost": float(lost),
        "deals_open": float(open_),
        "win_rate": won / (won + lost) if won + lost else np.nan,
        "bookings": _sum(amount),
        "mean_deal_size": _mean(amount) if won else np.nan,
        "median_cycle_days": _median(cycle) if won else np.nan,
        "realisation": _median(realised) if first_estimate is not None and won else np.nan,
    }


# pandas' own reductions, without a Series around them: NaN counts as zero in a sum and is left out of the
# count of a mean; a median is `np.nanmedian` of the values that are not NaN (same arithmetic, same bits)
def _sum(x: np.ndarray) -> float:
    missing = np.isnan(x)
    return float((np.where(missing, 0.0, x) if missing.any() else x).sum())


def _mean(x: np.ndarray) -> float:
    count = float(x.size - np.isnan(x).sum())
    return _sum(x) / count if count > 0 else np.nan


def _median(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(np.nanmedian(x)) if x.size else np.nan
