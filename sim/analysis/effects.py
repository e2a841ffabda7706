"""Policy effects read off an export: the sizes behind each what-if, each with a 95% interval, n and its rows.

`sim.calibrate` fits the world (arrivals, stages, deal sizes); this module measures what the principles'
policies assume, wherever the export has the columns:

- listening (03): the team's rep talk share (the mean of each rep's own mean, a t interval over reps) and
  questions per meeting (geometric mean over reps), from call recordings; talk share against the win rate;
- first meetings (08): per format (activity kind) the share of deals, the show rate (held / booked, Wilson)
  and the mean customer attendees when held; one attendee against two or more, against the win rate;
- trials (10): per trial type the buyers' typical engagement (hands-on minutes over a full trial's, averaged
  on the logit scale) and the conversion; paid pilots against free trials; pilot take-up;
- bugs in evaluation (06): the share of evaluations meeting a bug, and what the buyer did (lost, stalled);
- nurture (09): who won the losses (competitor shares), accounts lost and later won back, and the lag;

Every `Effect` says what it is, its value and 95% interval, the number of rows behind it and which rows.
These are measurements of the leader's own data; `sim.experiments.policy_fit` turns those that map onto a
policy setting into the calibrated scenario's values. Comparisons of two groups also carry what their
sample can detect (`sim.core.stats.detectable`): associations, not causes (see `sim.analysis.meetings`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..core.schema import MissingColumns
from ..core.stats import Detectable, detectable, wilson_ci
from . import evaluation, meetings, second_place
from . import trials as trial_analysis
from .model_cards import by_lead_source
from .sweet_spot import by_group

MIN_ROWS = 10            # fewer rows than this: no effect is reported (an interval from a handful says nothing)
HELD, NO_SHOW = meetings.HELD, meetings.NO_SHOW


@dataclass(frozen=True)
class Effect:
    """One measured effect size: value, 95% interval, how many rows and which."""

    key: str                 # stable name, e.g. "first_meeting.show_rate.video"
    what: str                # in words
    value: float
    low: float
    high: float
    n: int
    rows: str                # which rows it was measured on
    comparison: Detectable | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        out = {"key": self.key, "what": self.what, "value": self.value, "ci_low": self.low, "ci_high": self.high,
               "n": self.n, "rows": self.rows}
        if self.comparison is not None:
            out["detectable"] = self.comparison.to_dict()
        return out

    def covers(self, truth: float) -> bool:
        return bool(self.low <= truth <= self.high)


# ---- interval helpers --------------------------------------------------------------------------------------------
def _share(key: str, what: str, k: int, n: int, rows: str) -> Effect:
    lo, hi = wilson_ci(k, n)
    return Effect(key, what, k / n, float(lo), float(hi), int(n), rows)


def _t(values: np.ndarray) -> tuple[float, float, float]:
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _owners(tables, acts: pd.DataFrame) -> pd.Series:
    opp = tables.opportunities
    if "owner" not in opp:
        raise MissingColumns("effects by rep", ["opportunities.owner"])
    return acts["opportunity_id"].map(opp.drop_duplicates("opportunity_id").set_index("opportunity_id")["owner"])


# ---- listening -----------------------------------------------------------------------------------------------------
def listening(tables, low: float = 0.45, high: float = 0.65, target: float | None = None) -> list[Effect]:
    """Rep talk share and questions (the team's habits, over reps), and the win rate with the rep talking under
    `low` against `high` or more in the deal's first conversation (with what that comparison can detect;
    `target`: the difference worth detecting, e.g. the what-if's). Needs activities.customer_talk_share."""
    acts = tables.activities
    talk = acts[acts["customer_talk_share"].notna() & acts["opportunity_id"].notna()] if "customer_talk_share" in acts else acts.iloc[:0]
    if len(talk) < MIN_ROWS:
        raise MissingColumns("listening effects", ["activities.customer_talk_share (call recordings)"])
    out = []
    owner = _owners(tables, talk)
    per_rep = (1.0 - talk["customer_talk_share"]).groupby(owner).mean()
    m, lo, hi = _t(per_rep.to_numpy())
    rows = f"activities: {len(talk):,} recorded meetings of {len(per_rep)} reps (mean of each rep's mean)"
    out.append(Effect("listening.rep_talk_share", "the team's average rep talk share", m, lo, hi, len(per_rep), rows))
    if "questions" in talk and talk["questions"].notna().sum() >= MIN_ROWS:
        q = talk["questions"].groupby(owner).mean()
        q = q[q > 0]
        if len(q) >= 2:
            m, lo, hi = _t(np.log(q.to_numpy()))
            out.append(Effect("listening.questions", "questions a typical rep asks per meeting (geometric mean over reps)",
                              math.exp(m), math.exp(lo), math.exp(hi), len(q), rows))
    out.extend(_talk_comparison(tables, low, high, target))
    return out


def talk_comparison(tables, low: float = 0.45, high: float = 0.65, target: float | None = None) -> Detectable | None:
    """Win rate of closed deals whose first conversation had the rep talking under `low` against `high` or more
    (notebook 03's data half), with what the sample can detect. None when a side has no deals."""
    deals = meetings.first_conversations(tables)
    share, won = deals["rep_talk_share"], deals["won"].astype(bool)
    quiet, loud = won[share < low], won[share >= high]
    if min(len(quiet), len(loud)) == 0:
        return None
    return detectable(int(quiet.sum()), len(quiet), int(loud.sum()), len(loud),
                      f"rep talking under {low:.0%}", f"{high:.0%} or more", target)


def _talk_comparison(tables, low: float, high: float, target: float | None) -> list[Effect]:
    try:
        d = talk_comparison(tables, low, high, target)
    except MissingColumns:
        return []
    if d is None:
        return []
    return [Effect("listening.win_rate_gap", f"win rate, rep talking under {low:.0%} minus {high:.0%} or more "
                   "(first conversation)", d.difference, d.low, d.high, d.n_a + d.n_b,
                   f"opportunities: {d.n_a + d.n_b:,} closed deals with a recorded first conversation", d)]


# ---- first meetings ------------------------------------------------------------------------------------------------
def first_meeting_bookings(tables) -> pd.DataFrame:
    """Each deal's bookings of its first meeting: those up to and including the first held, in the kind of the
    deal's first booking (all deals, open ones too). Columns: opportunity_id, kind, outcome, attendees."""
    acts = tables.activities
    has_columns = {"opportunity_id", "at", "kind", "outcome"} <= set(acts)
    if not has_columns or not acts["outcome"].isin([HELD, NO_SHOW]).any():
        raise MissingColumns("first meeting effects", ["activities.kind and outcome (held / no-show)"])
    acts = acts[acts["opportunity_id"].notna() & acts["outcome"].isin([HELD, NO_SHOW])].sort_values("at", kind="stable")
    first_kind = acts.drop_duplicates("opportunity_id").set_index("opportunity_id")["kind"]
    held_yet = acts["outcome"].eq(HELD).groupby(acts["opportunity_id"]).cumsum()
    before = held_yet.eq(0) | (held_yet.eq(1) & acts["outcome"].eq(HELD))
    same = acts["kind"].eq(acts["opportunity_id"].map(first_kind))
    return acts[before & same]


def first_meetings(tables, several: int = 2, target: float | None = None) -> list[Effect]:
    """Per first-meeting kind: share of deals, show rate and attendees when held; attendees against the win rate."""
    book = first_meeting_bookings(tables)
    if book["outcome"].ne(HELD).sum() == 0 or len(book) < MIN_ROWS:
        raise MissingColumns("first meeting effects", ["activities rows of first meetings with no-shows"])
    out = []
    deals = book.drop_duplicates("opportunity_id")
    for kind, rows in book.groupby("kind", sort=True):
        n_deals = int(deals["kind"].eq(kind).sum())
        out.append(_share(f"first_meeting.mix.{kind}", f"share of deals whose first meeting was a {kind}", n_deals,
                          len(deals), f"activities: first bookings of {len(deals):,} deals"))
        held = rows["outcome"].eq(HELD)
        if len(rows) >= MIN_ROWS:
            out.append(_share(f"first_meeting.show_rate.{kind}", f"show rate of first meetings held as a {kind}",
                              int(held.sum()), len(rows), f"activities: {len(rows):,} first-meeting bookings of kind {kind}"))
        people = rows.loc[held, "attendees"].dropna() if "attendees" in rows else pd.Series(dtype=float)
        if len(people) >= MIN_ROWS:
            m, lo, hi = _t(people.to_numpy())
            out.append(Effect(f"first_meeting.attendees.{kind}", f"customer attendees at a held {kind}", m, lo, hi,
                              len(people), f"activities: {len(people):,} first meetings held as a {kind}"))
    comp = attendee_comparison(tables, several, target)
    if comp is not None:
        out.append(Effect("first_meeting.win_rate_gap", f"win rate, first meeting with {several}+ customer attendees "
                          "minus fewer", comp.difference, comp.low, comp.high, comp.n_a + comp.n_b,
                          f"opportunities: {comp.n_a + comp.n_b:,} closed deals with a held first meeting", comp))
    return out


def attendee_comparison(tables, several: int = 2, target: float | None = None) -> Detectable | None:
    """Win rate of closed deals whose first meeting had `several`+ customer attendees against fewer."""
    table = meetings.win_rate_by_first_meeting_attendees(tables)
    people = pd.Series([int(str(k).rstrip("+")) for k in table.index], index=table.index)
    many, few = table[people >= several], table[people < several]
    if many["deals"].sum() == 0 or few["deals"].sum() == 0:
        return None
    return detectable(int(many["won"].sum()), int(many["deals"].sum()), int(few["won"].sum()), int(few["deals"].sum()),
                      f"{several}+ attendees", f"fewer than {several}" if several > 2 else "one attendee", target)


# ---- trials --------------------------------------------------------------------------------------------------------
def trials(tables, full_use_hours: float = 40.0, target: float | None = None) -> list[Effect]:
    """Per trial type: typical engagement (hands-on hours over `full_use_hours`, averaged on the logit scale) and
    conversion; paid pilots against free trials; pilot take-up among deals that reached the trials' stage."""
    rows = trial_analysis.trials(tables.activities, opportunities=tables.opportunities)
    if len(rows) < MIN_ROWS:
        raise MissingColumns("trial effects", ["activities rows of kind trial or pilot"])
    out = []
    for kind, g in rows.groupby("trial_type", sort=True):
        slug = "paid" if "paid" in str(kind) else "free"
        hours = g["engagement_hours"].dropna()
        if len(hours) >= MIN_ROWS:
            m, lo, hi = _t(_logit((hours / full_use_hours).to_numpy()))
            out.append(Effect(f"trials.engagement.{slug}", f"typical engagement of a {kind} (share of full use)",
                              _expit(m), _expit(lo), _expit(hi), len(hours),
                              f"activities: {len(hours):,} {kind}s with hands-on minutes (full use = {full_use_hours:g} h)"))
        done = g["converted"].dropna()
        if len(done) >= MIN_ROWS:
            out.append(_share(f"trials.conversion.{slug}", f"conversion of a {kind}", int(done.sum()), len(done),
                              f"activities: {len(done):,} decided {kind}s"))
    comp = trial_comparison(rows, target)
    if comp is not None:
        out.append(Effect("trials.conversion_gap", "conversion, paid pilot minus free trial", comp.difference, comp.low,
                          comp.high, comp.n_a + comp.n_b, f"activities: {comp.n_a + comp.n_b:,} decided trials", comp))
    return out


def trial_comparison(trial_rows: pd.DataFrame, target: float | None = None) -> Detectable | None:
    """Conversion of paid pilots against free trials (decided ones), with what the sample can detect."""
    done = trial_rows.dropna(subset=["converted"])
    paid, free = done[done["trial_type"] == "paid pilot"], done[done["trial_type"] == "free trial"]
    if paid.empty or free.empty:
        return None
    return detectable(int(paid["converted"].sum()), len(paid), int(free["converted"].sum()), len(free),
                      "paid pilots", "free trials", target)


# ---- bugs in evaluation --------------------------------------------------------------------------------------------
def bugs(tables, stage: str | None = None, target: float | None = None) -> list[Effect]:
    """The share of evaluations (deals entering the bugs' stage) meeting a bug, and what the buyers did.

    Only evaluations that began early enough for a bug to show within the data count (entered at least the
    longest observed entry-to-bug delay before the last bug), so the end of the export does not dilute it.
    """
    act, hist = tables.activities, tables.stage_history
    stage = stage or evaluation.bug_stage(tables)
    bug = act[act["kind"].astype(str).str.lower().eq("bug") & act["opportunity_id"].notna()]
    entered = hist[hist["stage"] == stage].drop_duplicates("opportunity_id").set_index("opportunity_id")["entered_at"]
    if len(bug) < MIN_ROWS or entered.empty:
        raise MissingColumns("bug effects", ["activities rows of kind 'bug'", f"stage_history rows of {stage!r}"])
    first_bug = bug.sort_values("at").drop_duplicates("opportunity_id").set_index("opportunity_id")["at"]
    delay = (first_bug - entered.reindex(first_bug.index)).dropna()
    cutoff = act["at"].max() - delay.max()
    counted = entered[entered <= cutoff]
    k = int(counted.index.isin(first_bug.index).sum())
    out = [_share("bugs.chance", f"share of evaluations ({stage}) meeting a bug", k, len(counted),
                  f"stage_history: {len(counted):,} deals entering {stage} (before {cutoff:%Y-%m-%d}); activities: bug rows")]
    if "outcome" in bug:
        said = bug["outcome"].astype(str).str.lower()
        judged = said[said.isin(["lost", "stalled"])]
        if len(judged) >= MIN_ROWS:
            out.append(_share("bugs.lost_share", "share of bugs (not disclosed up front) after which the buyer left",
                              int(judged.eq("lost").sum()), len(judged), f"activities: {len(judged):,} bugs with outcome lost or stalled"))
    try:
        impact = evaluation.bug_impact(tables, stage)
    except MissingColumns:
        impact = None
    if impact is not None and impact["deals"].notna().all() and impact["deals"].min() > 0:
        d = detectable(int(impact.loc["met a bug", "won"]), int(impact.loc["met a bug", "deals"]),
                       int(impact.loc["no bug", "won"]), int(impact.loc["no bug", "deals"]), "met a bug", "no bug", target)
        out.append(Effect("bugs.win_rate_gap", "win rate, deals meeting a bug minus none", d.difference, d.low, d.high,
                          d.n_a + d.n_b, f"opportunities: {d.n_a + d.n_b:,} closed deals that reached {stage}", d))
    return out


def bug_comparison(tables, stage: str | None = None, target: float | None = None) -> Detectable | None:
    """Win rate of closed deals that met a bug in `stage` against those that did not (notebook 06's data half)."""
    impact = evaluation.bug_impact(tables, stage or evaluation.bug_stage(tables))
    if impact["deals"].isna().any() or impact["deals"].min() == 0:
        return None
    return detectable(int(impact.loc["met a bug", "won"]), int(impact.loc["met a bug", "deals"]),
                      int(impact.loc["no bug", "won"]), int(impact.loc["no bug", "deals"]), "met a bug", "no bug", target)


def best_and_worst(table: pd.DataFrame, what: str, target: float | None = None, closed: str = "closed",
                   won: str = "won", min_closed: int = MIN_ROWS) -> Detectable | None:
    """The groups of a win-rate `table` (one row per group, with `closed` and `won` counts) with the highest
    and the lowest win rate among those with at least `min_closed` closed deals, compared: what a table of
    fit bands (11) or lead sources (01) can tell apart. None with fewer than two such groups."""
    t = table[table[closed] >= min_closed]
    if len(t) < 2:
        return None
    rate = t[won] / t[closed]
    hi, lo = rate.idxmax(), rate.idxmin()
    return detectable(int(t.loc[hi, won]), int(t.loc[hi, closed]), int(t.loc[lo, won]), int(t.loc[lo, closed]),
                      f"{what} {hi}", f"{what} {lo}", target)


def fit_band_comparison(opportunities: pd.DataFrame, target: float | None = None) -> Detectable | None:
    """Best against worst fit band by win rate (notebook 11's data half)."""
    return best_and_worst(by_group(opportunities, "fit_band"), "fit band", target)


def source_comparison(opportunities: pd.DataFrame, target: float | None = None) -> Detectable | None:
    """Best against worst lead source by win rate (notebook 01's data half)."""
    t = by_lead_source(opportunities)
    return best_and_worst(t.assign(closed=t["won"] + t["lost"]), "lead source", target)


# ---- nurture -------------------------------------------------------------------------------------------------------
def nurture(tables) -> list[Effect]:
    """Competitor shares of the losses to a competitor, and accounts lost then won back (rate, lag)."""
    opp = tables.opportunities
    if "competitor" not in opp or opp["competitor"].notna().sum() < MIN_ROWS:
        raise MissingColumns("nurture effects", ["opportunities.competitor"])
    lost = opp[(opp["outcome"] == "lost") & opp["competitor"].notna()]
    out = []
    for name, count in lost["competitor"].value_counts().sort_index().items():
        out.append(_share(f"nurture.competitor_share.{name}", f"share of the losses to a competitor won by {name}",
                          int(count), len(lost), f"opportunities: {len(lost):,} deals lost to a named competitor"))
    try:
        back = second_place.win_backs(opp)["summary"].iloc[0]
    except MissingColumns:
        return out
    if back["lost_accounts"] >= MIN_ROWS:
        out.append(Effect("nurture.win_back_rate", "share of accounts lost first that were won back (so far)",
                          float(back["rate"]), float(back["rate_low"]), float(back["rate_high"]), int(back["lost_accounts"]),
                          f"opportunities: {int(back['lost_accounts']):,} accounts whose first closed deal was lost"))
        if back["won_back"] >= 3:
            lags = second_place.win_backs(opp)["accounts"]["lag_days"].to_numpy() / (365.25 / 12)
            m, lo, hi = _t(lags)
            out.append(Effect("nurture.win_back_months", "months from the loss to the won-back deal's signature", m, lo, hi,
                              len(lags), f"opportunities: {len(lags):,} won-back accounts"))
    return out


MEASURES: dict[str, Callable[..., list[Effect]]] = {
    "listening": listening, "first_meeting": first_meetings, "trials": trials, "bugs": bugs, "nurture": nurture,
}


def measure(tables) -> dict[str, list[Effect]]:
    """Every policy effect the tables can show, by policy key; a policy whose columns are missing is left out."""
    found = {}
    for key, fn in MEASURES.items():
        try:
            found[key] = fn(tables)
        except MissingColumns:
            continue
    return found


def table(effects: dict[str, list[Effect]]) -> pd.DataFrame:
    """The effects as one table: key, what, value, 95% interval, n and the rows."""
    rows = [e.to_dict() for found in effects.values() for e in found]
    cols = ["key", "what", "value", "ci_low", "ci_high", "n", "rows"]
    return pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols).set_index("key")
