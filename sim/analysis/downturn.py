"""Principle 04, remain aggressive, on your own data: how deep bookings fell in a past downturn and how long
they took to come back. The staffing what-if is `sim.experiments.remain_aggressive`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.schema import require


def history(opportunities: pd.DataFrame, level: float = 0.8, window: int = 6) -> dict[str, object]:
    """Your own history: monthly bookings (`window`-month mean, which irons out single large deals), the
    deepest fall from a previous peak, and the months it took to get back to `level` x that peak (NaN if it
    has not yet)."""
    require(opportunities, ["outcome", "amount", "closed_at"], "bookings history")
    won = opportunities[opportunities["outcome"].eq("won") & opportunities["closed_at"].notna()]
    if won.empty:
        raise ValueError("no won deal with a close date: there is no bookings history to read")
    monthly = won["amount"].groupby(won["closed_at"].dt.to_period("M")).sum()
    monthly = monthly.reindex(pd.period_range(monthly.index.min(), monthly.index.max(), freq="M"), fill_value=0.0)
    smooth = monthly.rolling(window, min_periods=window).mean().dropna()
    peak = smooth.cummax()
    fall = 1 - smooth / peak
    bottom = fall.idxmax()
    before = peak.loc[bottom]
    after = smooth.loc[bottom:]
    back = after[after >= level * before]
    months = float((back.index[0] - bottom).n) if len(back) else np.nan
    return {"monthly": monthly, "smooth": smooth, "deepest_fall": float(fall.max()), "bottom": str(bottom),
            "peak_before": float(before), "months_back": months}


def history_headline(past: dict[str, object], level: float = 0.8) -> str:
    """`history` in one sentence: how deep the worst fall in bookings was, when it bottomed, and the way back."""
    fall = float(past["deepest_fall"])
    if fall <= 1 - level:
        back = f"they never fell below {level:.0%} of an earlier peak"
    elif past["months_back"] == past["months_back"]:
        back = f"they were back at {level:.0%} of that peak {past['months_back']:.0f} month(s) later"
    else:
        back = f"they are not yet back at {level:.0%} of that peak"
    return (f"Your bookings (6-month mean) fell at worst {fall:.0%} below their previous peak, "
            f"bottoming in {past['bottom']}; {back}.")
