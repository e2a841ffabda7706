"""Meetings and deals: talk share, questions, silent attendees and the first meeting against win rate.

Reads the canonical `activities` and `opportunities` tables only, so it runs unchanged on a CRM or
call-recording export and on a simulated run. A deal counts once, closed deals only (won or lost); win
rates carry 95% Wilson intervals, honest for the small groups a binned table makes. These are
associations on your own data, not effects: a rep who talks less may also be a rep who qualifies better;
the simulator's what-ifs are where cause and effect are controlled.

Each analysis names the columns it needs (`require`) and raises `MissingColumns` when the data lacks them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ..core.schema import require
from ..core.stats import wilson_ci
from .plots import new_figure

REP_TALK_BINS = (0.0, 0.35, 0.45, 0.55, 0.65, 0.75, 1.0)
QUESTION_BINS = (0.0, 2.0, 4.0, 6.0, 8.0, 11.0, np.inf)
ATTENDEE_CAP = 6          # first meetings with this many customer attendees or more share one row
HELD, NO_SHOW = "held", "no-show"


def closed_deals(opportunities: pd.DataFrame) -> pd.Series:
    """Won (True) or lost (False) per closed deal, indexed by opportunity id."""
    require(opportunities, ["opportunity_id", "outcome"], "win rate by deal")
    closed = opportunities[opportunities["outcome"].isin(["won", "lost"])]
    return pd.Series(closed["outcome"].eq("won").to_numpy(), index=closed["opportunity_id"].to_numpy(), name="won")


def win_rates(key: pd.Series, won: pd.Series) -> pd.DataFrame:
    """Per value of `key` (one per deal, aligned with `won`): closed deals, won, win rate and its 95% Wilson CI."""
    frame = pd.DataFrame({"key": key, "won": won.astype(float)}).dropna(subset=["key"])
    g = frame.groupby("key", observed=False, sort=True)["won"]
    out = pd.DataFrame({"deals": g.size(), "won": g.sum()})
    out["won"] = out["won"].astype(int)
    lo, hi = wilson_ci(out["won"], out["deals"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["win_rate"] = out["won"] / out["deals"].where(out["deals"] > 0)
    out["ci_low"], out["ci_high"] = lo, hi
    return out.rename_axis(key.name)


def first_conversations(tables) -> pd.DataFrame:
    """Per closed deal, its first recorded conversation (earliest activity with a customer talk share): rep
    talk share, questions, attendees and who spoke, and whether the deal was won.

    The first conversation is measured before the outcome could shape it. Averaging over all of a deal's
    meetings instead would mix in how far the deal got: deals lost early have one meeting and extreme
    averages, deals that go on have many, and the binned win rates would show that, not listening.
    Needs activities.opportunity_id, at, customer_talk_share and opportunities.outcome.
    """
    acts = tables.activities
    require(acts, ["opportunity_id", "at", "customer_talk_share"], "first conversation per deal")
    won = closed_deals(tables.opportunities)
    talk = acts[acts["customer_talk_share"].notna() & acts["opportunity_id"].isin(won.index)]
    first = talk.sort_values("at", kind="stable").drop_duplicates("opportunity_id").set_index("opportunity_id")
    out = pd.DataFrame({"rep_talk_share": 1.0 - first["customer_talk_share"]})
    for c in ("questions", "attendees", "attendees_spoke"):
        if c in first and first[c].notna().any():
            out[c] = first[c]
    out["won"] = won.reindex(out.index)
    return out


def _bin_labels(edges: Sequence[float], percent: bool) -> list[str]:
    fmt = (lambda x: f"{x:.0%}") if percent else (lambda x: f"{x:g}")
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        labels.append(f"{fmt(lo)}+" if np.isinf(hi) else f"{fmt(lo)}-{fmt(hi)}")
    return labels


def win_rate_by_rep_talk(tables, bins: Sequence[float] = REP_TALK_BINS) -> pd.DataFrame:
    """Win rate of closed deals by the rep's share of the talking in the deal's first recorded conversation
    (bins include their lower edge: 45%-55% holds 45% up to just under 55%).

    Needs activities.opportunity_id, at, customer_talk_share and opportunities.outcome.
    """
    deals = first_conversations(tables)
    edges = [*bins[:-1], bins[-1] + 1e-9]          # the last bin holds its upper edge (a rep who did all the talking)
    key = pd.cut(deals["rep_talk_share"].round(6), edges, labels=_bin_labels(bins, True), right=False)
    return win_rates(key.rename("rep talk share"), deals["won"])


def win_rate_by_questions(tables, bins: Sequence[float] = QUESTION_BINS) -> pd.DataFrame:
    """Win rate of closed deals by the questions the rep asked in the deal's first recorded conversation.

    Needs activities.opportunity_id, at, customer_talk_share, questions and opportunities.outcome.
    """
    require(tables.activities, ["opportunity_id", "questions"], "win rate by questions asked")
    deals = first_conversations(tables)
    require(deals, ["questions"], "win rate by questions asked")
    key = pd.cut(deals["questions"], list(bins), labels=_bin_labels(bins, False), include_lowest=True, right=False)
    return win_rates(key.rename("questions asked"), deals["won"])


def silent_attendees(tables) -> pd.DataFrame:
    """First conversations with two or more customer attendees: did someone never speak, and the win rate.

    One row per group (someone never spoke / everyone spoke): closed deals, won, win rate with its 95%
    Wilson CI, and the mean attendees (larger meetings have more chances of a silent attendee, and more
    chances of a champion too, so compare like with like), plus the share of all counted meetings of the
    deals (any meeting, not only the first) where someone never spoke. Needs activities.opportunity_id, at,
    customer_talk_share, attendees, attendees_spoke and opportunities.outcome.
    """
    require(tables.activities, ["opportunity_id", "attendees", "attendees_spoke"], "meetings where an attendee never spoke")
    deals = first_conversations(tables)
    require(deals, ["attendees", "attendees_spoke"], "meetings where an attendee never spoke")
    deals = deals[deals["attendees"] >= 2]
    silent = deals["attendees_spoke"] < deals["attendees"]
    key = pd.Series(np.where(silent, "someone never spoke", "everyone spoke"), index=deals.index,
                    name="first conversation (2+ attendees)")
    out = win_rates(key, deals["won"])
    out["mean_attendees"] = deals["attendees"].groupby(key).mean()
    acts = tables.activities
    counted = acts[acts["attendees"].ge(2) & acts["attendees_spoke"].notna()]
    out.attrs["silent_meeting_share"] = float((counted["attendees_spoke"] < counted["attendees"]).mean()) if len(counted) else np.nan
    return out


def first_meetings(activities: pd.DataFrame) -> pd.DataFrame:
    """Each deal's first meeting that took place with a head count: its earliest activity with attendees > 0."""
    require(activities, ["opportunity_id", "at", "attendees"], "first meeting per deal")
    held = activities[activities["attendees"].gt(0) & activities["opportunity_id"].notna()]
    return held.sort_values("at", kind="stable").drop_duplicates("opportunity_id").set_index("opportunity_id")


def win_rate_by_first_meeting_attendees(tables, cap: int = ATTENDEE_CAP) -> pd.DataFrame:
    """Win rate of closed deals by the number of customer attendees at their first meeting (cap and more pooled).

    Needs activities.opportunity_id, activities.at, activities.attendees and opportunities.outcome.
    """
    won = closed_deals(tables.opportunities)
    first = first_meetings(tables.activities)
    first = first[first.index.isin(won.index)]
    n = first["attendees"].round().clip(upper=cap).astype(int)
    labels = {k: (f"{k}+" if k == cap else str(k)) for k in range(1, cap + 1)}
    key = pd.Categorical(n.map(labels), categories=list(labels.values()), ordered=True)
    return win_rates(pd.Series(key, index=first.index, name="attendees at the first meeting"), won.reindex(first.index))


def first_meeting_formats(tables) -> pd.DataFrame:
    """Per kind of first meeting (the kind of each deal's first booked activity): closed deals and win rate
    with its 95% Wilson CI, bookings up to the first one held, the share of them held (no-shows need an
    outcome saying 'no-show'), and the mean attendees of the first meeting with a head count.

    Needs activities.opportunity_id, at, kind, outcome and opportunities.outcome.
    """
    acts = tables.activities
    require(acts, ["opportunity_id", "at", "kind", "outcome"], "first meeting by format")
    won = closed_deals(tables.opportunities)
    acts = acts[acts["opportunity_id"].isin(won.index)].sort_values("at", kind="stable")
    first_kind = acts.drop_duplicates("opportunity_id").set_index("opportunity_id")["kind"].rename("first meeting")
    # the bookings up to and including the first one held (or all of them, if none was)
    held_yet = acts["outcome"].eq(HELD).groupby(acts["opportunity_id"]).cumsum()
    before = held_yet.eq(0) | (held_yet.eq(1) & acts["outcome"].eq(HELD))
    bookings = acts[before & acts["outcome"].isin([HELD, NO_SHOW]) & acts["kind"].eq(acts["opportunity_id"].map(first_kind))]
    out = win_rates(first_kind, won.reindex(first_kind.index))
    g = bookings.groupby("kind")
    out["bookings"] = g.size().reindex(out.index)
    out["show_rate"] = (g["outcome"].apply(lambda s: s.eq(HELD).mean())).reindex(out.index)
    if "attendees" in acts and acts["attendees"].gt(0).any():   # head count of the first meeting that had one
        counted = first_meetings(acts)["attendees"]
        out["attendees"] = counted.groupby(first_kind.reindex(counted.index)).mean().reindex(out.index)
    return out


def win_rate_figure(table: pd.DataFrame, xlabel: str, title: str) -> Figure:
    """Win rate per group with its 95% Wilson interval, and the number of closed deals above each point."""
    fig, ax = new_figure(figsize=(7.5, 4.2))
    x = np.arange(len(table))
    rate = table["win_rate"].to_numpy(dtype=float)
    lo, hi = table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float)
    ax.errorbar(x, rate, yerr=[rate - lo, hi - rate], fmt="o", capsize=4, color="tab:blue")
    for xi, top, n in zip(x, hi, table["deals"].to_numpy()):
        if np.isfinite(top):
            ax.annotate(f"n={n}", (xi, top), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    ax.set_xticks(x, [str(i) for i in table.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("win rate of closed deals [%], 95% Wilson CI")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, min(1.0, max(0.1, float(np.nanmax(hi)) + 0.1)) if np.isfinite(hi).any() else 1.0)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return fig


def new_logo_cohort(opportunities: pd.DataFrame, since: pd.Timestamp, days: float) -> pd.DataFrame:
    """The first deal of every account created in the `days` after `since`: in simulations compared on common
    random numbers, these are the same prospects in every scenario (repeat business depends on earlier wins).

    Needs opportunities.account_id, created_at, outcome.
    """
    require(opportunities, ["account_id", "created_at", "outcome"], "new-logo cohort")
    first = opportunities.sort_values("created_at", kind="stable").drop_duplicates("account_id")
    return first[(first["created_at"] >= since) & (first["created_at"] < since + pd.Timedelta(days=days))]


def cohort_summary(cohort: pd.DataFrame) -> dict[str, float]:
    """Deals, win rate of the closed ones, share still open, bookings and mean days to win of a cohort."""
    won = cohort["outcome"].eq("won")
    closed = cohort["outcome"].isin(["won", "lost"])
    days = (cohort["closed_at"] - cohort["created_at"]).dt.total_seconds() / 86400 if "closed_at" in cohort else None
    return {
        "cohort_deals": float(len(cohort)),
        "cohort_win_rate": float(won.sum() / closed.sum()) if closed.any() else np.nan,
        "cohort_open_share": float(1.0 - closed.mean()) if len(cohort) else np.nan,
        "cohort_bookings": float(cohort["amount"].where(won).sum()) if "amount" in cohort else np.nan,
        "cohort_days_to_win": float(days[won].mean()) if days is not None and won.any() else np.nan,
    }


def _rate(won: pd.Series) -> str:
    """A win rate of closed deals with its 95% Wilson CI and the count, as the data headlines say it."""
    k, n = int(won.sum()), int(won.size)
    lo, hi = wilson_ci(k, n)
    return f"{k / n:.0%} (95% CI {float(lo):.0%}-{float(hi):.0%}, {n:,} closed deals)"


def talk_headline(tables, low: float = 0.45, high: float = 0.65) -> str:
    """The listening measurement in one sentence: win rate of closed deals whose first conversation had the rep
    talking under `low` of it against `high` or more, each with its 95% Wilson CI (see `first_conversations`)."""
    deals = first_conversations(tables)
    share = deals["rep_talk_share"]
    quiet, loud = deals["won"][share < low], deals["won"][share >= high]
    said_quiet = f"won {_rate(quiet)}" if len(quiet) else "were none"
    said_loud = f"won {_rate(loud)}" if len(loud) else "were none"
    return (f"Deals whose first conversation had the rep talking under {low:.0%} of it {said_quiet}; "
            f"those at {high:.0%} or more {said_loud}.")


def attendees_headline(table: pd.DataFrame, several: int = 2) -> str:
    """A `win_rate_by_first_meeting_attendees` table in one sentence: win rate of closed deals whose first meeting
    had fewer than `several` customer attendees against `several` or more, each with its 95% Wilson CI."""
    people = pd.Series([int(str(k).rstrip("+")) for k in table.index], index=table.index)
    said = []
    for name, rows in ((f"fewer than {several}" if several > 2 else "one", table[people < several]),
                       (f"{several} or more", table[people >= several])):
        n, k = int(rows["deals"].sum()), int(rows["won"].sum())
        if n:
            lo, hi = wilson_ci(k, n)
            said.append(f"{name} customer attendee{'' if name == 'one' else 's'} won {k / n:.0%} "
                        f"(95% CI {float(lo):.0%}-{float(hi):.0%}, {n:,} closed deals)")
        else:
            said.append(f"{name} customer attendees: no closed deals")
    return f"Deals whose first meeting had {said[0]}; those with {said[1]}."
