"""Is this export enough for what we are about to say? The data-sufficiency gate, in one place.

A real export is not the demo: a lead funnel never marks a lead lost, an order-line file opens and closes
every "deal" the same day, a CRM leaves won amounts at 0. Analyses run on such data still produce numbers
("organic search wins 100% of its closed deals"), and a calibration fitted to them simulates a team that
never loses. `sufficiency(tables)` states what the export cannot support, in plain words, and what each
finding switches off; `playbook check`, `playbook calibrate`, the report and the explorer all read it.

    gate = sufficiency(tables)
    gate.lines()                 # one plain sentence per finding, with what it switches off
    gate.blocks("win rates")     # the findings that make win rates meaningless here
    gate.calibration_blocked()   # a reason not to simulate on a calibration of this export, or None

The one repair it offers, `open_as_lost`, is applied only when the user asks for it: an open deal with no
activity for more than N days counts as lost, N taken from the tail of the export's own time to a win. Every
deal it changes is listed as a repair.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core import schema
from ..core.tables import Tables

DAY = pd.Timedelta(days=1)

# what a finding can switch off: the kinds of measurement cards, calibration and the explorer rely on
WIN_RATES = "win rates"                 # won / closed, loss chances, stage of loss
AMOUNTS = "amounts"                     # deal sizes, bookings, revenue concentration
CYCLE = "cycle times"                   # days to close, time in stage, stalls
PER_REP = "per-rep figures"             # reps, attainment, incentives
STAGES = "stage analyses"               # stage funnel, stage of loss, policies that name a stage
COMPARISONS = "comparisons between groups"
BACKTEST = "backtest"
CALIBRATION = "calibrated what-ifs"

MIN_CLOSED = 30          # closed deals below which a comparison of win rates is noise
MIN_BACKTEST_DAYS = 180  # a backtest holds out a quarter and needs about as much again to fit on
ZERO_SHARE = 0.5         # more than half the won amounts 0 or missing: sizes come from a minority
SAME_DAY_SHARE = 0.5     # more than half the closed deals closed the day they were created
MIN_IDLE_DAYS = 14       # the open-as-lost rule never calls a deal lost after less than two weeks


@dataclass(frozen=True)
class Finding:
    """One thing the export cannot support: `key` (stable, for code), `text` (for a leader), `off` (what it
    switches off) and, where there is one, `fix` (what the user can do about it)."""

    key: str
    text: str
    off: tuple[str, ...]
    fix: str | None = None

    def line(self) -> str:
        """The finding as one sentence: what, what it switches off, and the fix."""
        out = f"{self.text} Switched off: {', '.join(self.off)}."
        return out + (f" {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Sufficiency:
    """The gate's verdict on one export: the findings, and the counts they were read from."""

    findings: tuple[Finding, ...]
    deals: int
    won: int
    lost: int
    open: int
    span_days: int
    currency: str | None = None
    idle_days: int | None = None       # N of the offered open-as-lost rule (None: no won deal to take it from)
    repaired: int = 0                  # deals the open-as-lost rule turned lost (0 when not applied)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.findings

    def has(self, key: str) -> bool:
        return any(f.key == key for f in self.findings)

    def blocks(self, *kinds: str) -> list[Finding]:
        """The findings that switch off any of `kinds` (e.g. `WIN_RATES`)."""
        return [f for f in self.findings if set(kinds) & set(f.off)]

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]

    def calibration_blocked(self) -> str | None:
        """Why a what-if should not run on this export's calibration (it would simulate nonsense), or None."""
        found = self.blocks(CALIBRATION)
        return "; ".join(f.text.rstrip(".") for f in found) if found else None


def _col(opp: pd.DataFrame, name: str) -> pd.Series:
    """The column, or an empty one of the right kind (dates stay dates) when the export lacks it."""
    if name in opp:
        return opp[name]
    return pd.Series(pd.NaT, index=opp.index, dtype="datetime64[ns]") if name.endswith("_at") else pd.Series(np.nan, index=opp.index)


def currency_of(opp: pd.DataFrame) -> str | None:
    """The export's currency: the most common value of its `currency` column (from the mapping's `currency:`
    or the amounts' own symbols), or None when it does not say."""
    cur = _col(opp, "currency").dropna().astype(str).str.strip()
    cur = cur[cur != ""]
    return str(cur.mode().iloc[0]) if len(cur) else None


def currency_unstated(gate: Sufficiency, opp: pd.DataFrame) -> bool:
    """An export with amounts that does not say their currency (plain numbers): `check` and every report page say
    so, since the forecast and the what-ifs then label them in their preset's currency."""
    return gate.currency is None and "amount" in opp and bool(opp["amount"].notna().any())


def days_to_win(opp: pd.DataFrame) -> pd.Series:
    """Days from creation to close of the won deals that have both dates."""
    won = opp[(opp["outcome"] == "won")] if "outcome" in opp else opp.iloc[:0]
    return ((_col(won, "closed_at") - _col(won, "created_at")) / DAY).dropna()


def idle_days(tables: Tables, q: float = 0.95) -> int | None:
    """N of the open-as-lost rule: the `q` quantile of the days won deals took to close (the tail of the
    cycle), rounded up, at least `MIN_IDLE_DAYS`. A deal idle longer than nearly every win took is very
    unlikely to be won. None when no won deal has both dates."""
    days = days_to_win(tables.opportunities)
    if len(days) == 0:
        return None
    return max(MIN_IDLE_DAYS, int(math.ceil(float(np.quantile(days.to_numpy(dtype=float), q, method="higher")))))


def last_activity(tables: Tables) -> pd.Series:
    """Per deal (indexed like the opportunities): the last date anything happened to it — its creation, a
    stage change, an activity."""
    opp = tables.opportunities
    last = _col(opp, "created_at").copy()
    ids = opp["opportunity_id"]
    hist = tables.stage_history
    if len(hist):
        when = pd.concat([hist["entered_at"], hist["exited_at"]]).groupby(pd.concat([hist["opportunity_id"]] * 2)).max()
        last = pd.concat([last, ids.map(when)], axis=1).max(axis=1)
    acts = tables.activities
    if len(acts) and "opportunity_id" in acts:
        when = acts.dropna(subset=["opportunity_id"]).groupby("opportunity_id")["at"].max()
        last = pd.concat([last, ids.map(when)], axis=1).max(axis=1)
    return last


def export_end(tables: Tables) -> pd.Timestamp | None:
    """The last date the export shows (creation, close, stage change or activity): when it was taken."""
    opp = tables.opportunities
    dates = [_col(opp, "created_at"), _col(opp, "closed_at")]
    if len(tables.stage_history):
        dates += [tables.stage_history["entered_at"], tables.stage_history["exited_at"]]
    if len(tables.activities):
        dates.append(tables.activities["at"])
    every = pd.concat(dates).dropna()
    return every.max() if len(every) else None


def open_as_lost(tables: Tables, days: int | None = None) -> tuple[Tables, pd.DataFrame, int | None]:
    """The offered repair for a CRM that never marks a deal lost: an open deal with no activity for more than
    `days` days before the export was taken counts as lost, closed on its last activity + `days`.

    `days` defaults to `idle_days(tables)`. Returns the repaired tables, one row per changed deal
    (opportunity_id, column, value, reason — the report lists them with the loader's repairs) and the N used.
    Nothing changes when no N can be had (no won deal) or no deal is idle that long.
    """
    opp = tables.opportunities
    columns = ["opportunity_id", "column", "value", "reason"]
    n = idle_days(tables) if days is None else int(days)
    end = export_end(tables)
    if n is None or end is None or "outcome" not in opp:
        return tables, pd.DataFrame(columns=columns), n
    last = last_activity(tables)
    idle = (opp["outcome"] == "open") & last.notna() & ((end - last) / DAY > n)
    if not idle.any():
        return tables, pd.DataFrame(columns=columns), n
    out = opp.copy()
    out.loc[idle, "outcome"] = "lost"
    out.loc[idle, "closed_at"] = (last[idle] + n * DAY).dt.normalize()
    repairs = pd.DataFrame({"opportunity_id": opp.loc[idle, "opportunity_id"].to_numpy(), "column": "outcome",
                            "value": "open",
                            "reason": f"open with no activity for more than {n} days before the export was taken: "
                                      f"counted as lost (rule asked for; closed {n} days after its last activity)"})
    hist = tables.stage_history
    if len(hist):   # the deal's last stay ends where it was lost
        hist = hist.copy()
        closing = hist["opportunity_id"].map(out.loc[idle].set_index("opportunity_id")["closed_at"])
        hist.loc[hist["exited_at"].isna() & closing.notna(), "exited_at"] = closing
    return Tables(**{**dict(tables.items()), "opportunities": out, "stage_history": hist}), repairs, n


def sufficiency(tables: Tables, repaired: int = 0) -> Sufficiency:
    """The gate: what this export can and cannot support, with what each finding switches off.

    `repaired` is the number of deals the open-as-lost rule already turned lost (said, not re-checked).
    """
    opp = tables.opportunities
    outcome = _col(opp, "outcome")
    won, lost, open_ = (int((outcome == k).sum()) for k in ("won", "lost", "open"))
    closed = won + lost
    created = _col(opp, "created_at").dropna()
    span = int((created.max() - created.min()) / DAY) + 1 if len(created) else 0
    n_idle = idle_days(tables)
    found: list[Finding] = []
    if closed and lost == 0:
        rule = (f" Playbook can count an open deal with no activity for more than {n_idle} days (95% of wins took "
                f"less) as lost: pass --open-as-lost to `playbook check`, `calibrate` or `report`." if n_idle and open_ else "")
        found.append(Finding(
            "no_lost", f"No deal is marked lost: all {closed:,} closed deals are won and {open_:,} stay open (a lead "
            "funnel, or a CRM that never closes a lost deal), so every win rate would read 100%.",
            (WIN_RATES, COMPARISONS, CALIBRATION), rule.strip() or None))
    elif closed and won == 0:
        found.append(Finding("no_won", f"No deal is marked won: all {closed:,} closed deals are lost, so every win "
                             "rate would read 0%.", (WIN_RATES, COMPARISONS, CALIBRATION)))
    amounts = _col(opp.loc[outcome == "won"], "amount")
    if won:
        empty = int((amounts.isna() | (amounts <= 0)).sum())
        if empty == won:
            found.append(Finding("no_amounts", f"None of the {won:,} won deals has an amount above 0.", (AMOUNTS,)))
        elif empty / won > ZERO_SHARE:
            found.append(Finding(
                "zero_amounts", f"{empty:,} of {won:,} won amounts are 0 or missing: deal sizes and bookings would rest "
                f"on the other {won - empty:,} alone.", (AMOUNTS,)))
    cycle = ((_col(opp, "closed_at") - _col(opp, "created_at")) / DAY)[outcome.isin(["won", "lost"])].dropna()
    if len(cycle) and float((cycle < 1).mean()) > SAME_DAY_SHARE:
        found.append(Finding(
            "same_day", f"{int((cycle < 1).sum()):,} of {len(cycle):,} closed deals were created and closed the same "
            "day: these look like order lines, not a pipeline, so there is no time to close to measure.",
            (CYCLE, STAGES)))
    owner = _col(opp, "owner")
    if owner.isna().all():
        found.append(Finding("no_owner", "The export has no owner (rep) for its deals.", (PER_REP,),
                             "Map the rep column under `columns: owner:` in the mapping if the export has one."))
    stages = set(_col(opp.loc[outcome == "open"], "stage").dropna())
    if len(tables.stage_history) == 0:
        found.append(Finding(
            "one_stage", "There is no stage history (no file of stage changes), so the pipeline is one stage from "
            f"creation to close{f' (open deals sit in: {len(stages)} label(s))' if stages else ''}.", (STAGES,)))
    if closed < MIN_CLOSED:
        found.append(Finding("few_closed", f"Only {closed:,} closed deals: fewer than {MIN_CLOSED}, too few to compare "
                             "groups' win rates.", (COMPARISONS,)))
    if span < MIN_BACKTEST_DAYS:
        found.append(Finding("short_span", f"Deals were created over {span:,} days: fewer than {MIN_BACKTEST_DAYS}, too "
                             "short to hold out a quarter and backtest.", (BACKTEST,)))
    notes = ((f"{repaired:,} open deal(s) with no activity for more than {n_idle} days were counted as lost "
              "(--open-as-lost); see the repairs.",) if repaired else ())
    return Sufficiency(tuple(found), len(opp), won, lost, open_, span, currency_of(opp), n_idle, repaired, notes)


def describe(gate: Sufficiency, kinds: Iterable[str]) -> str | None:
    """A card's headline when its inputs fail the gate: what it would have measured cannot be measured here
    and why (None when nothing it needs is switched off)."""
    found = gate.blocks(*kinds)
    if not found:
        return None
    return "Not measured on this export: " + " ".join(f.text for f in found)


TABLE_WORDS = {
    "stage_history": "stage history (a file of stage changes per deal)",
    "activities": "activities (meetings, calls, trials: an activity file)",
    "forecasts": "forecast snapshots (a file of past forecasts)",
    "accounts": "an accounts table",
    "orbit_history": "customer lifecycle history",
    "tickets": "support tickets",
    "attainment": "attainment per rep and period",
}


def missing_words(missing: Iterable[str], tables: Tables | None = None) -> str:
    """What an analysis really lacks, in words: "column(s) owner", or — when the columns it names are in the
    opportunities but a whole table is absent — "stage history (a file of stage changes per deal)"."""
    missing = list(missing)
    said = f"column(s) {', '.join(missing)}"
    if tables is None or not missing:
        return said
    opp = tables.opportunities
    if not any(c in opp and opp[c].notna().any() for c in missing):
        return said
    frames = dict(tables.items())
    for name, words in TABLE_WORDS.items():
        spec = schema.TABLES.get(name)
        if spec is not None and len(frames.get(name, ())) == 0 and set(missing) <= set(spec.columns):
            return words
    return said
