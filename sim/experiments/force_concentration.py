"""Principle 01, force concentration, in the simulator: how fast a new team wins its first customers when it
concentrates on one segment instead of spreading its time over every lead."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from ..analysis.pipeline import DAY
from ..scenario import Scenario
from .replicate import replicate_each, summarise
from .simulate import SimResult


def new_team(base: Scenario, reps: int = 2, leads_per_month: float = 30.0) -> Scenario:
    """A new team: a few fully productive founders/reps, no customers yet, flat lead flow, one year."""
    return base.replace({
        "name": f"new team of {reps}", "reps.count": reps, "reps.ramp_days": 0, "reps.hires": [],
        "market.leads_per_month": leads_per_month, "accounts.repeat_per_year": 0.0, "market.seasonality": None,
    })

def days_to_customers(result: SimResult, n: int = 5, segment: str | None = None) -> dict[str, float]:
    """Days from the start until the n-th won deal (NaN if fewer), with won deals and bookings of the year."""
    opp = result.tables.opportunities
    won = opp[opp["outcome"] == "won"].sort_values("closed_at")
    if segment is not None:
        won = won[won["segment"] == segment]
    days = ((won["closed_at"] - pd.Timestamp(result.scenario.start)) / DAY).to_numpy()
    return {f"days_to_{n}_customers": float(days[n - 1]) if len(days) >= n else np.nan,
            "customers": float(len(won)), "bookings": float(won["amount"].sum())}

def first_customers(base: Scenario, focus: str, n_customers: int = 5, reps: int = 2,
                    leads_per_month: float = 30.0, replications: int = 40, seed: int = 0) -> pd.DataFrame:
    """Spread vs concentrate: a new team works every lead in arrival order, or puts `focus` segment deals first.

    Both run on the same seeds (common random numbers); returns per scenario the mean and 95% CI of the
    days to the first `n_customers` customers, customers won in the year and bookings, plus the paired
    difference to spreading.
    """
    spread = new_team(base, reps, leads_per_month).replace({"name": "spread"})
    focused = spread.replace({"name": f"focus on {focus}", "policies.allocation.focus_segments": [focus]})
    runs = replicate_each({"spread": spread, f"focus on {focus}": focused}, replications, seed,
                          measure=partial(days_to_customers, n=n_customers), progress=False)
    return summarise(runs)

def focus_headline(summary: pd.DataFrame, focus: str, n_customers: int, reps: int = 2) -> str:
    """The what-if in one sentence: how much sooner (or later) the focused team reached its first customers."""
    row = summary.loc[(f"focus on {focus}", f"days_to_{n_customers}_customers")]
    sooner, low, high = -row["diff"], -row["diff_high"], -row["diff_low"]

    def days(v: float) -> str:
        return f"{abs(v):.0f} days {'sooner' if v >= 0 else 'later'}"

    return (f"A new {reps}-rep team that works {focus} deals first reaches its first {n_customers} customers "
            f"{days(sooner)} (95% CI from {days(low)} to {days(high)}) than a team that spreads its time over every lead.")
