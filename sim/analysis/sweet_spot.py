"""Find the sweet spot in a pipeline: where deals are won most, biggest, fastest, and per hour of rep time.

Everything here reads the canonical tables only, so it runs unchanged on a CRM export and on a simulated
run. A "fit band" groups deals by their fit score; a segment is whatever the CRM calls it. Rep time is not
in most exports, so `bookings_per_rep_hour` estimates it from the stages each deal reached and the hours a
stage takes (the leader's own estimate, by default the scenario's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..core.schema import MissingColumns, require
from ..core.stats import wilson_ci

FIT_BANDS = (0.0, 0.3, 0.45, 0.6, 0.75, 1.0)


def fit_band(fit: pd.Series, edges: Sequence[float] = FIT_BANDS) -> pd.Series:
    """Each fit score's band as a label such as '0.45-0.60' (ordered categorical)."""
    labels = [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(edges[:-1], edges[1:])]
    return pd.cut(fit, bins=list(edges), labels=labels, include_lowest=True)


def _group_key(opp: pd.DataFrame, by: str, edges: Sequence[float]) -> pd.Series:
    if by == "fit_band":
        require(opp, ["fit_score"], "sweet spot by fit band")
        return fit_band(opp["fit_score"], edges).rename("fit_band")
    require(opp, [by], f"sweet spot by {by}")
    return opp[by].fillna("(none)").rename(by)


def by_group(opportunities: pd.DataFrame, by: str = "fit_band", edges: Sequence[float] = FIT_BANDS) -> pd.DataFrame:
    """Per group (fit band, segment or any column): deals, win rate with its 95% CI, deal size, cycle.

    Win rate counts closed deals only; deal size and cycle are medians over won deals; bookings is the
    total won amount. Groups with no closed deal show NaN rates rather than a misleading zero.
    """
    require(opportunities, ["outcome", "amount", "created_at", "closed_at"], "sweet spot analysis")
    opp = opportunities
    key = _group_key(opp, by, edges)
    won = opp["outcome"].eq("won")
    closed = opp["outcome"].isin(["won", "lost"])
    cycle = (opp["closed_at"] - opp["created_at"]).dt.total_seconds() / 86400
    frame = pd.DataFrame({
        "key": key, "won": won, "closed": closed,
        "won_amount": opp["amount"].where(won), "won_cycle": cycle.where(won),
    })
    g = frame.groupby("key", observed=False, sort=True)
    out = pd.DataFrame({
        "deals": g.size(),
        "closed": g["closed"].sum(),
        "won": g["won"].sum(),
        "bookings": g["won_amount"].sum(),
        "median_deal_size": g["won_amount"].median(),
        "median_cycle_days": g["won_cycle"].median(),
    })
    out["win_rate"] = out["won"] / out["closed"].where(out["closed"] > 0)
    out["win_rate_low"], out["win_rate_high"] = wilson_ci(out["won"], out["closed"].where(out["closed"] > 0))
    out.index.name = by
    cols = ["deals", "closed", "won", "win_rate", "win_rate_low", "win_rate_high",
            "median_deal_size", "median_cycle_days", "bookings"]
    return out[cols]


def deal_hours(stage_history: pd.DataFrame, stage_hours: Mapping[str, float]) -> pd.Series:
    """Estimated rep hours per deal: the hours of every stage it entered (stages not listed count 0)."""
    require(stage_history, ["opportunity_id", "stage"], "rep hours per deal")
    hours = stage_history["stage"].map(dict(stage_hours)).fillna(0.0)
    return hours.groupby(stage_history["opportunity_id"]).sum()


def bookings_per_rep_hour(
    tables, stage_hours: Mapping[str, float], by: str = "segment", edges: Sequence[float] = FIT_BANDS,
) -> pd.DataFrame:
    """Per group: won amount, estimated rep hours spent on all its deals (won or not), and their ratio.

    This is the number that says where the team's time pays: a segment with a fine win rate can still
    return little per hour if its deals are small or drag through every stage before being lost.
    """
    opp = tables.opportunities
    require(opp, ["opportunity_id", "outcome", "amount"], "bookings per rep hour")
    hours = deal_hours(tables.stage_history, stage_hours)
    if not (hours > 0).any():
        raise MissingColumns("bookings per rep hour", ["stage_history rows whose stage is one of " + ", ".join(stage_hours)])
    key = _group_key(opp, by, edges)
    frame = pd.DataFrame({
        "key": key,
        "bookings": opp["amount"].where(opp["outcome"].eq("won"), 0.0),
        "rep_hours": opp["opportunity_id"].map(hours).fillna(0.0),
    })
    out = frame.groupby("key", observed=False, sort=True)[["bookings", "rep_hours"]].sum()
    out["bookings_per_rep_hour"] = out["bookings"] / out["rep_hours"].where(out["rep_hours"] > 0)
    out["share_of_hours"] = out["rep_hours"] / out["rep_hours"].sum()
    out.index.name = by
    return out


def sweet_spot(table: pd.DataFrame, metric: str = "bookings_per_rep_hour") -> str:
    """The group that scores best on `metric` in a table from `by_group` or `bookings_per_rep_hour`."""
    scores = table[metric].dropna()
    if scores.empty:
        raise ValueError(f"no group has a value for {metric}; is there any closed deal in the data?")
    return str(scores.idxmax())


def data_headline(table: pd.DataFrame, min_closed: int = 10) -> str:
    """A `by_group` table in one sentence: the group that wins most and the one that wins least (win rates of
    closed deals with 95% CIs, median won deal size), among groups with at least `min_closed` closed deals."""
    rows = table[table["closed"] >= min_closed].dropna(subset=["win_rate"]).sort_values("win_rate", ascending=False)
    if rows.empty:
        raise ValueError(f"no group has {min_closed} closed deals; the sweet spot cannot be read yet")
    by = str(table.index.name).replace("_", " ")

    def said(name) -> str:
        r = rows.loc[name]
        return (f"{name} wins {r['win_rate']:.0%} of its closed deals (95% CI {r['win_rate_low']:.0%}-"
                f"{r['win_rate_high']:.0%}), median won deal {r['median_deal_size']:,.0f}")
    if len(rows) == 1:
        return f"By {by}: {said(rows.index[0])}."
    return f"By {by}, {said(rows.index[0])}; {said(rows.index[-1])}."
