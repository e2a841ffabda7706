"""Quotas and attainment: each rep's number per period, and how much of it they booked.

A quota is set per rep per year (`scenario.reps.quota`) and judged per calendar period (month, quarter or
year, `scenario.reps.quota_period`). A rep who joins or leaves mid-period carries the share of the period
they were on the team. `attainment(...)` builds the per-rep-per-period table from the opportunities, so the
same numbers come out of a simulated run and of a CRM export (give it the quota you set your team).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema
from .periods import PER_YEAR, Calendar, Period, bounds, labels


def plan_to_date(quota_per_year: float, period: Period, cal: Calendar, day: float, joined: float) -> float:
    """What a rep should have booked so far this period: the quota's share of the days they have been on."""
    i = cal.index(day)
    start, end = cal.starts[i], cal.ends[i]
    return quota_per_year / PER_YEAR[period] * max(0.0, day - max(start, joined)) / (end - start)


def attainment(
    opportunities: pd.DataFrame,
    quota_per_year: float,
    period: Period = "quarter",
    tenure: pd.DataFrame | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per owner and period: quota, bookings (won amount closed in the period) and attainment.

    `tenure` (owner, joined, left; NaT = before the start / still there) prorates the quota of reps who
    joined or left mid-period; without it every owner counts for the whole span. `start`/`end` default to
    the first creation and the last close in the data. Works the same on an export and a simulated run.
    """
    absent = [c for c in ("owner", "outcome", "amount", "closed_at") if c not in opportunities.columns]
    if absent:   # present but empty is fine: a period where nothing closed is a zero, not a missing column
        raise schema.MissingColumns("attainment", absent)
    if not quota_per_year > 0:
        raise ValueError(f"quota_per_year: {quota_per_year!r} is not allowed, must be a positive amount")
    opp = opportunities
    start = pd.Timestamp(start if start is not None else opp["created_at"].min()).normalize()
    end = pd.Timestamp(end if end is not None else opp["closed_at"].max() + pd.Timedelta(days=1)).normalize()
    spans = bounds(start, end, period)
    if tenure is None:
        owners = sorted(opp["owner"].dropna().unique())
        tenure = pd.DataFrame({"owner": owners, "joined": pd.NaT, "left": pd.NaT})
    grid = tenure.merge(spans, how="cross")
    ns = lambda col: grid[col].to_numpy(dtype="datetime64[ns]")  # noqa: E731 - NaT-aware column access
    on_from = np.fmax(np.fmax(ns("period_start"), ns("joined")), start.to_datetime64())
    on_to = np.fmin(np.fmin(ns("period_end"), ns("left")), end.to_datetime64())
    days_on = np.clip((on_to - on_from) / np.timedelta64(1, "D"), 0, None)
    length = (ns("period_end") - ns("period_start")) / np.timedelta64(1, "D")
    grid["quota"] = np.round(quota_per_year / PER_YEAR[period] * days_on / length, 2)

    won = opp[(opp["outcome"] == "won") & opp["closed_at"].notna()]
    booked = won.groupby([won["owner"], labels(won["closed_at"], period).rename("period")])["amount"].sum()
    grid = grid.merge(booked.rename("bookings").reset_index(), on=["owner", "period"], how="left")
    grid["bookings"] = grid["bookings"].fillna(0.0).round(2)
    grid = grid[grid["quota"] > 0].copy()
    grid["attainment"] = grid["bookings"] / grid["quota"]
    cols = ["owner", "period", "period_start", "period_end", "quota", "bookings", "attainment"]
    return schema.conform(grid[cols].reset_index(drop=True), "attainment")


def annual_attainment(table: pd.DataFrame) -> float:
    """The team's attainment over the whole table: total bookings / total quota."""
    quota = float(table["quota"].sum())
    return float(table["bookings"].sum()) / quota if quota > 0 else np.nan
