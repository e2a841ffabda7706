"""Principle 01, force concentration: learn the repeatable sales model from every deal you win.

For each won deal, a "sales model card" (how it was found, signed amount against the first estimate,
days in each stage, where it stalled and for how long, who drove it); across deals, win rate and cycle
by lead source, the actual/estimate gap, stalls and recoveries, and the drift of all this quarter over
quarter. The what-if (how fast a new team reaches its first customers when it concentrates on one
segment) is `sim.experiments.force_concentration`.

Every function names the columns it needs and raises `MissingColumns` when they are absent, so a
notebook can skip it on an export that lacks them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.schema import MissingColumns, require
from ..core.stats import days_to_win_words, wilson_ci
from ..core.tables import Tables
from .pipeline import DAY, stage_days
from .plots import new_figure

STALL_FACTOR = 2.0   # a stay longer than twice its stage's median is a stall


def _cycle_days(opp: pd.DataFrame) -> pd.Series:
    return (opp["closed_at"] - opp["created_at"]) / DAY


# ---- per won deal ----------------------------------------------------------------------------------------
def model_cards(tables: Tables, factor: float = STALL_FACTOR) -> pd.DataFrame:
    """One card per won deal: source, owner (and champion, when mapped), cycle, signed vs first estimate,
    days per stage, worst stall.

    Stage columns (``days: <stage>``) and the stall columns appear only when the data has a stage history;
    realisation only when it has first estimates. Sorted by close date, so the first rows are the first
    customers — the ones a young team learns its sales model from.
    """
    opp = tables.opportunities
    require(opp, ["opportunity_id", "outcome", "created_at", "closed_at"], "sales model cards")
    won = opp[opp["outcome"] == "won"].sort_values("closed_at", kind="stable")
    keep = [c for c in ("opportunity_id", "account_id", "owner", "champion", "lead_source", "segment", "created_at",
                        "closed_at", "amount", "first_estimate") if c in won and won[c].notna().any()]
    cards = won[keep].copy()
    cards["cycle_days"] = _cycle_days(won).round(1)
    if "first_estimate" in cards and "amount" in cards:
        cards["realisation"] = (cards["amount"] / cards["first_estimate"].where(cards["first_estimate"] > 0)).round(3)
    try:
        days = stage_days(tables)
    except MissingColumns:
        return cards.reset_index(drop=True)
    per_stage = days.pivot_table(index="opportunity_id", columns="stage", values="days", aggfunc="sum")
    order = list(dict.fromkeys(tables.stage_history.sort_values("entered_at")["stage"]))
    per_stage = per_stage.reindex(columns=[s for s in order if s in per_stage.columns]).round(1)
    cards = cards.join(per_stage.add_prefix("days: "), on="opportunity_id")
    worst = _worst_stall(stall_flags(tables, factor))
    cards = cards.join(worst, on="opportunity_id")
    return cards.reset_index(drop=True)


def _worst_stall(flags: pd.DataFrame) -> pd.DataFrame:
    stalled = flags[flags["stalled"]].sort_values("excess_days", ascending=False)
    worst = stalled.drop_duplicates("opportunity_id").set_index("opportunity_id")
    return worst[["stage", "excess_days"]].rename(columns={"stage": "stalled_in", "excess_days": "stall_excess_days"})


# ---- across deals -----------------------------------------------------------------------------------------
def by_lead_source(opportunities: pd.DataFrame) -> pd.DataFrame:
    """Per lead source: deals, won, lost, open, win rate of closed deals with a 95% CI, median days to win."""
    opp = opportunities
    require(opp, ["lead_source", "outcome"], "win rate by lead source")
    grouped = opp.groupby("lead_source")["outcome"]
    out = pd.DataFrame({
        "deals": grouped.size(),
        "won": grouped.apply(lambda s: int((s == "won").sum())),
        "lost": grouped.apply(lambda s: int((s == "lost").sum())),
    })
    out["open"] = out["deals"] - out["won"] - out["lost"]
    closed = out["won"] + out["lost"]
    out["win_rate"] = (out["won"] / closed.where(closed > 0)).round(3)
    lo, hi = wilson_ci(out["won"].to_numpy(), closed.to_numpy())
    out["win_rate_low"], out["win_rate_high"] = np.round(lo, 3), np.round(hi, 3)
    if {"created_at", "closed_at"} <= set(opp.columns):
        won = opp[opp["outcome"] == "won"]
        out["median_days_to_win"] = _cycle_days(won).groupby(won["lead_source"]).median().reindex(out.index).round(1)
    return out.sort_values("deals", ascending=False)


def realisation(opportunities: pd.DataFrame) -> pd.Series:
    """Signed amount / first estimate of won deals: the 'two licences instead of ten' gap, in numbers."""
    opp = opportunities
    require(opp, ["amount", "first_estimate", "outcome"], "actual vs first estimate")
    won = opp[(opp["outcome"] == "won") & (opp["first_estimate"] > 0) & opp["amount"].notna()]
    ratio = won["amount"] / won["first_estimate"]
    if ratio.empty:
        raise MissingColumns("actual vs first estimate", ["amount", "first_estimate"])
    return pd.Series({
        "won_deals": float(len(ratio)),
        "median": ratio.median(),
        "p10": ratio.quantile(0.1),
        "p90": ratio.quantile(0.9),
        "share_below_half": float((ratio < 0.5).mean()),
        "share_above_estimate": float((ratio > 1).mean()),
    }).round(3)


def realisation_ratios(opportunities: pd.DataFrame) -> pd.Series:
    """The ratio itself for every won deal with a first estimate (for a histogram)."""
    require(opportunities, ["amount", "first_estimate", "outcome"], "actual vs first estimate")
    opp = opportunities
    won = opp[(opp["outcome"] == "won") & (opp["first_estimate"] > 0) & opp["amount"].notna()]
    return (won["amount"] / won["first_estimate"]).rename("realisation")


def data_headline(opportunities: pd.DataFrame, min_closed: int = 10) -> str:
    """What the data says first, in one sentence: the lead sources that win most and least (win rate of closed
    deals with its 95% CI, median days to win) among those with at least `min_closed` closed deals; without
    lead sources, the signed / first-estimate gap; without first estimates, the win rate and cycle overall."""
    opp = opportunities
    require(opp, ["outcome"], "headline")
    if "lead_source" in opp and opp["lead_source"].notna().any():
        src = by_lead_source(opp)
        src = src[(src["won"] + src["lost"]) >= min_closed].sort_values("win_rate", ascending=False)
        if len(src) >= 2:
            def said(name: str) -> str:
                row = src.loc[name]
                days = days_to_win_words(row["median_days_to_win"]) if "median_days_to_win" in row else ""
                return (f"{name} wins {row['win_rate']:.0%} of its closed deals "
                        f"(95% CI {row['win_rate_low']:.0%}-{row['win_rate_high']:.0%}){days}")
            return f"Of the lead sources, {said(src.index[0])}; {said(src.index[-1])}."
    if {"amount", "first_estimate"} <= set(opp.columns) and opp["first_estimate"].notna().any():
        try:
            r = realisation(opp)
        except MissingColumns:
            r = None
        if r is not None:
            return (f"Won deals signed a median {r['median']:.2f} of their first estimate (10th to 90th percentile "
                    f"{r['p10']:.2f} to {r['p90']:.2f}, {r['won_deals']:.0f} won deals).")
    closed = opp["outcome"].isin(["won", "lost"])
    won = opp["outcome"].eq("won")
    cycle = (f", in a median {_cycle_days(opp[won]).median():.0f} days from creation to win"
             if {"created_at", "closed_at"} <= set(opp.columns) and won.any() else "")
    return f"{won.sum() / closed.sum():.0%} of {closed.sum():,} closed deals were won{cycle}." if closed.any() else \
        "No deal in the data has closed yet."


# ---- stalls ------------------------------------------------------------------------------------------------
def stall_flags(tables: Tables, factor: float = STALL_FACTOR) -> pd.DataFrame:
    """Every finished stay in a stage, flagged as a stall when it lasted more than `factor` x the stage median.

    `recovered` says whether the deal moved on after the stay (to a later stage or a win) rather than
    being lost in it.
    """
    hist, opp = tables.stage_history, tables.opportunities
    days = stage_days(tables)
    require(opp, ["opportunity_id", "outcome"], "stall detection")
    norm = days.groupby("stage")["days"].transform("median")
    out = days.assign(norm_days=norm.round(1), excess_days=(days["days"] - norm).round(1))
    out["stalled"] = out["days"] > factor * norm
    last = hist.groupby("opportunity_id", sort=False)["stage"].last()
    outcome = opp.set_index("opportunity_id")["outcome"]
    moved_on = (out["stage"].to_numpy() != out["opportunity_id"].map(last).to_numpy()) | \
               (out["opportunity_id"].map(outcome) == "won").to_numpy()
    out["outcome"] = out["opportunity_id"].map(outcome).to_numpy()
    out["recovered"] = moved_on
    out["days"] = out["days"].round(1)
    return out.reset_index(drop=True)


def stall_summary(tables: Tables, factor: float = STALL_FACTOR) -> pd.DataFrame:
    """Per stage: stays, stalls, stall share, share of stalled deals that moved on, and win rates with/without a stall."""
    flags = stall_flags(tables, factor)
    order = list(dict.fromkeys(tables.stage_history.sort_values("entered_at")["stage"]))
    g = flags.groupby("stage")
    out = pd.DataFrame({"stays": g.size(), "stalls": g["stalled"].sum().astype(int),
                        "median_days": g["days"].median().round(1)})
    out["stall_share"] = (out["stalls"] / out["stays"]).round(3)
    stalled = flags[flags["stalled"]]
    out["recovered_share"] = stalled.groupby("stage")["recovered"].mean().reindex(out.index).round(3)
    closed = flags[flags["outcome"].isin(["won", "lost"])]
    for label, part in (("win_rate_stalled", closed[closed["stalled"]]), ("win_rate_not_stalled", closed[~closed["stalled"]])):
        out[label] = part.groupby("stage")["outcome"].apply(lambda s: (s == "won").mean()).reindex(out.index).round(3)
    return out.reindex([s for s in order if s in out.index])


# ---- drift -------------------------------------------------------------------------------------------------
def quarterly_drift(tables: Tables) -> pd.DataFrame:
    """Quarter by quarter of creation: deals, win rate, days to win, deal size, realisation, days per stage.

    The latest quarters hold deals still open and the quick wins only, so read their cycle times with care.
    """
    opp = tables.opportunities
    require(opp, ["created_at", "outcome"], "quarter-over-quarter drift")
    quarter = opp["created_at"].dt.to_period("Q").astype(str).rename("quarter")
    won = opp["outcome"] == "won"
    closed = opp["outcome"].isin(["won", "lost"])
    out = pd.DataFrame({"deals": opp.groupby(quarter).size()})
    out["win_rate"] = (won.groupby(quarter).sum() / closed.groupby(quarter).sum().replace(0, np.nan)).round(3)
    out["open"] = (opp["outcome"] == "open").groupby(quarter).sum()
    if "closed_at" in opp:
        out["median_days_to_win"] = _cycle_days(opp)[won].groupby(quarter[won]).median().round(1)
    if "amount" in opp:
        out["median_won_amount"] = opp.loc[won, "amount"].groupby(quarter[won]).median().round(0)
    if "first_estimate" in opp and opp["first_estimate"].notna().any():
        ratio = (opp["amount"] / opp["first_estimate"].where(opp["first_estimate"] > 0))[won]
        out["median_realisation"] = ratio.groupby(quarter[won]).median().round(3)
    try:
        days = stage_days(tables)
    except MissingColumns:
        return out
    q_of = pd.Series(quarter.to_numpy(), index=opp["opportunity_id"])
    days = days.assign(quarter=days["opportunity_id"].map(q_of))
    per_stage = days.pivot_table(index="quarter", columns="stage", values="days", aggfunc="median").round(1)
    order = [s for s in dict.fromkeys(tables.stage_history.sort_values("entered_at")["stage"]) if s in per_stage]
    return out.join(per_stage[order].add_prefix("median days: "))


# ---- figures -------------------------------------------------------------------------------------------------
def figure_realisation(ratios: pd.Series):
    """Histogram of signed amount / first estimate for won deals, with the 1.0 line (signed as estimated)."""
    fig, ax = new_figure(figsize=(7, 3.8))
    ax.hist(ratios.clip(upper=3), bins=30, color="tab:blue", alpha=0.8)
    ax.axvline(1.0, color="black", lw=1, ls="--", label="signed = first estimate")
    ax.axvline(ratios.median(), color="tab:red", lw=1.5, label=f"median {ratios.median():.2f}")
    ax.set_xlabel("signed amount / first estimate [ratio, capped at 3]")
    ax.set_ylabel("won deals [count]")
    ax.set_title("How much of the first estimate won deals actually signed")
    ax.legend()
    return fig
