"""Pipeline coverage from the team's own numbers, not the "3x" rule of thumb.

To book B in a month, the deals that close that month must already be open: a deal closes about one
cycle after it opens, and of the pipeline's value only the value win rate is booked. So the open pipeline
needed at the start of month m is the bookings still to come over the next cycle (the months m .. m+cycle
of the target, spread evenly over the period) divided by the value win rate:

    needed(m) = sum of the monthly target over [start of m, start of m + cycle days) / value win rate

per segment, with each segment's own value win rate (won amount / closed amount), median cycle (days from
creation to a win) and share of the bookings, all read from the opportunities table (an export, or a
simulated run of a calibrated scenario). The coverage ratio this implies is `1 / value win rate` over a
cycle's worth of target. Beside it: the pipeline open now (the open deals' amounts, by segment).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_CLOSED = 5    # fewer closed deals than this in a segment: its rates are not read from so little


def segment_rates(opportunities: pd.DataFrame) -> pd.DataFrame:
    """Per segment: closed deals, value win rate, median cycle (days to a win) and share of won amount."""
    opp = opportunities
    closed = opp[opp["outcome"].isin(["won", "lost"])]
    rows = []
    total_won = float(closed.loc[closed["outcome"] == "won", "amount"].sum())
    for segment, group in closed.groupby("segment", sort=True):
        won = group[group["outcome"] == "won"]
        amount = float(group["amount"].sum())
        cycle = (won["closed_at"] - won["created_at"]).dt.total_seconds() / 86400
        rows.append({"segment": segment, "closed": len(group), "won": len(won),
                     "value_win_rate": float(won["amount"].sum()) / amount if amount > 0 else np.nan,
                     "cycle_days": float(cycle.median()) if len(won) else np.nan,
                     "bookings_share": float(won["amount"].sum()) / total_won if total_won > 0 else np.nan})
    return pd.DataFrame(rows, columns=["segment", "closed", "won", "value_win_rate", "cycle_days", "bookings_share"])


def coverage(opportunities: pd.DataFrame, target: float, start: pd.Timestamp, end: pd.Timestamp,
             open_now: pd.DataFrame | None = None) -> pd.DataFrame:
    """Open pipeline needed per segment at the start of each month of [start, end) to book `target` over it.

    `opportunities`: the closed deals the rates are read from. `open_now`: the deals open now (default: the
    open deals of `opportunities`), whose amounts are the pipeline beside the need. One row per segment and
    month: the month, the segment's target for it, the pipeline needed, the value win rate, the cycle, the
    coverage ratio (needed / the bookings due within a cycle: the number to set beside "3x"), and the pipeline open now with the gap (needed - open
    now, shown for the first month, where "now" is).
    """
    if not np.isfinite(target) or target <= 0:
        raise ValueError(f"target: {target!r} is not allowed, must be a positive amount")
    rates = segment_rates(opportunities)
    thin = rates[rates["closed"] < MIN_CLOSED]
    if rates.empty or rates["bookings_share"].isna().all():
        raise ValueError("coverage needs won deals to read win rates and cycles from; the opportunities have none")
    if not thin.empty:
        rates = rates[rates["closed"] >= MIN_CLOSED]
    opened = opportunities if open_now is None else open_now
    opened = opened[opened["outcome"] == "open"]
    pipeline = opened.groupby("segment")["amount"].sum()
    months = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end) - pd.Timedelta(days=1), freq="MS")
    if len(months) == 0:
        months = pd.DatetimeIndex([pd.Timestamp(start).normalize()])
    span_days = (pd.Timestamp(end) - pd.Timestamp(start)).days
    rows = []
    share = rates["bookings_share"] / rates["bookings_share"].sum()
    for (_, r), s in zip(rates.iterrows(), share):
        per_day = target * s / span_days
        for i, month in enumerate(months):
            ahead_end = min(pd.Timestamp(end), month + pd.Timedelta(days=float(r["cycle_days"])))
            due = per_day * max(0.0, (ahead_end - month).days)
            monthly = per_day * ((min(month + pd.DateOffset(months=1), pd.Timestamp(end)) - month).days)
            needed = due / r["value_win_rate"] if r["value_win_rate"] > 0 else np.inf
            now = float(pipeline.get(r["segment"], 0.0)) if i == 0 else np.nan
            rows.append({"segment": r["segment"], "month": month.strftime("%Y-%m"), "target": monthly,
                         "pipeline_needed": needed, "value_win_rate": r["value_win_rate"], "cycle_days": r["cycle_days"],
                         "coverage_ratio": needed / due if due > 0 else np.nan,
                         "pipeline_now": now, "gap": needed - now if i == 0 else np.nan})
    out = pd.DataFrame(rows)
    out.attrs["left_out"] = list(thin["segment"])   # segments with too few closed deals to read rates from
    return out
