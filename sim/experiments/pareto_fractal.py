"""Principle 12, the fractal 80/20, in the simulator: rep time spent on the biggest deals first vs in arrival
order, when time is scarce."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.pareto import share_of_top
from ..scenario import Scenario
from .replicate import replicate_each, summarise
from .simulate import SimResult


def allocation_measure(result: SimResult) -> dict[str, float]:
    """Bookings, wins, wins among the smaller half of deals (the growth accounts of tomorrow), top-20% share."""
    opp = result.tables.opportunities
    won = opp[opp["outcome"] == "won"]
    small = won["first_estimate"] < opp["first_estimate"].median()
    revenue = won.groupby("account_id")["amount"].sum()
    return {"bookings": float(won["amount"].sum()), "deals_won": float(len(won)),
            "small_deals_won": float(small.sum()),
            "top_20_share": share_of_top(revenue, 0.2) if len(revenue) else np.nan}

def time_allocation(base: Scenario, reps: int | None = None, replications: int = 40, seed: int = 0) -> pd.DataFrame:
    """Even (arrival order) vs top-first (largest first estimate first) rep time, on common random numbers.

    `reps` shrinks the team so that time is scarce (the principle is about a constraint; with idle reps
    the order does not matter). Returns mean, 95% CI and paired difference to 'even' for each measure.
    """
    even = base if reps is None else base.replace({"reps.count": reps})
    even = even.replace({"name": "even", "policies.allocation.rule": "first_come"})
    top = even.replace({"name": "top first", "policies.allocation.rule": "largest_first"})
    runs = replicate_each({"even": even, "top first": top}, replications, seed, measure=allocation_measure,
                          progress=False)
    return summarise(runs)
