"""Recording: the canonical tables built from what happened in a run (deals, accounts, reps).

The recorder reads the run's entities after the end and writes each table once, so the processes only
keep plain Python lists while they run. Simulated tables carry ``truth_*`` columns that no analysis uses.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..core import metrics, periods, quota, schema
from ..world import World
from .entities import Account, Deal
from .team import Rep


def timestamps(world: World, days: np.ndarray | list) -> pd.DatetimeIndex:
    """Simulated days since the start -> real timestamps (to the second), NaT where missing."""
    return pd.DatetimeIndex(_stamps(world, days))


def _stamps(world: World, days: np.ndarray | list) -> np.ndarray:
    """`timestamps` as a datetime64[ns] array (what a table's column is made from)."""
    secs = np.round(np.asarray(days, dtype=float) * 86400.0)
    out = np.full(secs.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    known = ~np.isnan(secs)
    out[known] = np.datetime64(world.start, "ns") + secs[known].astype(np.int64).astype("timedelta64[s]")
    return out


def text(values) -> pd.Series:
    """A column of Python strings in pandas' `object` dtype, the canonical text dtype (see `schema`).

    A Series with an explicit dtype keeps pandas from inferring its own string dtype, which `conform`
    would then have to convert back.
    """
    return pd.Series(list(values), dtype="object")


def _text(values: list) -> pd.Series:
    """`text` made from an `object` array without copying it (pandas would infer its `str` dtype from the array)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return pd.Series(out, dtype="object", copy=False)


def _frame(table: str, columns: dict[str, np.ndarray | pd.Series]) -> pd.DataFrame:
    """The canonical table from columns already in their canonical dtypes (object text, datetime64[ns], float64):
    the declared columns first, in the schema's order, then the others in theirs, as `schema.conform` orders them
    (a test checks the tables equal `conform`'s), without building a first frame for `conform` to rebuild."""
    declared = [c.name for c in schema.TABLES[table].cols if c.name in columns]
    known = set(declared)
    order = declared + [c for c in columns if c not in known]
    return pd.DataFrame({c: columns[c] for c in order}, copy=False)


def opportunities(world: World, deals: list[Deal]) -> pd.DataFrame:
    """One row per deal, as a CRM's opportunity report would show it, plus the hidden truth."""
    stages = world.stage_names
    end = world.days
    leads = [d.lead for d in deals]
    truths = [lead.truth for lead in leads]
    closed = [np.nan if d.closed is None else d.closed for d in deals]
    columns = {
        "opportunity_id": _text([d.id for d in deals]),
        "account_id": _text([lead.account.id for lead in leads]),
        "owner": _text([d.owner.name for d in deals]),
        "created_at": _stamps(world, [lead.arrived for lead in leads]),
        "closed_at": _stamps(world, closed),
        "stage": _text([stages[d.stage_index] for d in deals]),
        "outcome": _text(["open" if d.won is None else ("won" if d.won else "lost") for d in deals]),
        "amount": np.array([d.amount if d.amount is not None else d.lead.first_estimate for d in deals], dtype=float),
        "first_estimate": np.array([lead.first_estimate for lead in leads], dtype=float),
        "lead_source": _text([lead.source for lead in leads]),
        "segment": _text([lead.segment for lead in leads]),
        "fit_score": np.array([round(lead.fit, 4) for lead in leads], dtype=float),
    }
    for column in ("competitor", "loss_reason"):   # only when a policy recorded them
        values = [getattr(d, column) for d in deals]
        if any(v is not None for v in values):
            columns[column] = _text(values)
    columns.update({
        "truth_win_chance": np.array([round(math.prod(d.pass_chances), 4) for d in deals], dtype=float),
        "truth_budget": np.array([t.budget for t in truths], dtype=bool),
        "truth_champion_power": np.array([round(t.champion_power, 4) for t in truths], dtype=float),
        "truth_competitor_ahead": np.array([t.competitor_ahead for t in truths], dtype=bool),
        "truth_budget_cut_at": _stamps(world, [_cut_while_open(d, end) for d in deals]),
        "truth_amount": np.array([round(lead.first_estimate * lead.realisation, 2) for lead in leads], dtype=float),
        "truth_stalls": np.array([d.stalls for d in deals], dtype=np.int64),
    })
    if not deals:   # as pandas types empty lists: numbers as float64
        columns.update({c: v.astype(float) for c, v in columns.items() if isinstance(v, np.ndarray) and v.dtype.kind in "bi"})
    return _frame("opportunities", columns)


def deal_metrics(world: World, deals: list[Deal]) -> dict[str, float]:
    """`pipeline_metrics` of the opportunities table these deals make, without making the table: the same
    arithmetic (`sim.core.metrics.deal_metrics`) on the won deals' numbers. Their dates are whole seconds
    (`timestamps`), so days from creation to close come out exactly as the table's dates give them."""
    won = [d for d in deals if d.won]
    lost = sum(d.won is False for d in deals)
    created = np.round(np.array([d.lead.arrived for d in won], dtype=float) * 86400.0)
    closed = np.round(np.array([d.closed for d in won], dtype=float) * 86400.0)
    return metrics.deal_metrics(
        opportunities=len(deals), won=len(won), lost=lost, open_=len(deals) - len(won) - lost,
        amount=np.array([d.amount if d.amount is not None else d.lead.first_estimate for d in won], dtype=float),
        cycle=(closed - created) / 86400,
        first_estimate=np.array([d.lead.first_estimate for d in won], dtype=float),
    )


def stage_history(world: World, deals: list[Deal]) -> pd.DataFrame:
    """One row per stay of a deal in a stage."""
    stages = world.stage_names
    ids = [d.id for d in deals for _ in d.history]
    stays = [stay for d in deals for stay in d.history]
    index, entered, exited = zip(*stays) if stays else ((), (), ())
    return _frame("stage_history", {
        "opportunity_id": _text(ids),
        "stage": _text([stages[s] for s in index]),
        "entered_at": _stamps(world, entered),
        "exited_at": _stamps(world, [np.nan if x is None else x for x in exited]),
    })


def accounts(world: World, met: list[Account]) -> pd.DataFrame:
    """One row per account the run met: its segment, what it bought, its real fit."""
    names = [s.name for s in world.segments]
    return _frame("accounts", {
        "account_id": _text([a.id for a in met]),
        "segment": _text([names[a.segment] for a in met]),
        "revenue": np.array([round(a.revenue, 2) for a in met], dtype=float),
        "truth_fit": np.array([round(a.fit, 4) for a in met], dtype=float),
    })


def attainment(world: World, reps: list[Rep], opportunities: pd.DataFrame) -> pd.DataFrame:
    """Each rep's quota, bookings and attainment per quota period, prorated for when they joined or left."""
    tenure = pd.DataFrame({
        "owner": [r.name for r in reps],
        "joined": timestamps(world, [r.joined if r.joined > 0 else np.nan for r in reps]),
        "left": timestamps(world, [np.nan if r.left is None else r.left for r in reps]),
    })
    cfg, start = world.reps, pd.Timestamp(world.start)
    return quota.attainment(opportunities, cfg.quota, cfg.quota_period, tenure,
                            start=start, end=start + pd.Timedelta(days=world.days))


def annual_attainment(world: World, reps: list[Rep], deals: list[Deal]) -> float:
    """`quota.annual_attainment` of the `attainment` table these deals make, without making the table (the
    table's merges and checks cost a run of the `demo` preset a twentieth of its time, and `replicate` only keeps
    this number). The same arithmetic on the same numbers: each rep's prorated quota per period with numpy
    (`quota.attainment`'s formula, on a reps x periods grid instead of a cross merge), the bookings of each rep
    and period summed in the table's row order as pandas' grouped sum does (compensated, Kahan), rounded and
    totalled as the table's columns are. A test compares the two on every preset with a quota."""
    cfg = world.reps
    period = cfg.quota_period
    cal = periods.calendar(world.start, world.days, period)        # the periods of [start, start + days)
    t0 = np.datetime64(world.start, "ns")
    day = np.timedelta64(86_400_000_000_000, "ns")
    period_start = (t0 + cal.starts.astype(np.int64) * day)[None, :]
    period_end = (t0 + cal.ends.astype(np.int64) * day)[None, :]
    joined = _stamps(world, [r.joined if r.joined > 0 else np.nan for r in reps])[:, None]
    left = _stamps(world, [np.nan if r.left is None else r.left for r in reps])[:, None]
    on_from = np.fmax(np.fmax(period_start, joined), t0)
    on_to = np.fmin(np.fmin(period_end, left), t0 + world.days * day)
    days_on = np.clip((on_to - on_from) / np.timedelta64(1, "D"), 0, None)
    length = (period_end - period_start) / np.timedelta64(1, "D")
    quotas = np.round(cfg.quota / quota.PER_YEAR[period] * days_on / length, 2)

    sums = np.zeros(quotas.shape)
    carry = np.zeros(quotas.shape)
    row = {r.name: k for k, r in enumerate(reps)}
    won = [d for d in deals if d.won]
    closed_at = _stamps(world, [d.closed for d in won])
    cols = np.searchsorted(period_start[0], closed_at, side="right") - 1
    for d, col, at in zip(won, cols.tolist(), closed_at):
        k = row.get(d.owner.name)
        if k is None or col < 0 or at >= period_end[0, -1]:
            continue            # not a rep's, or after the last period: no row of the table holds it
        amount = d.amount if d.amount is not None else d.lead.first_estimate
        y = amount - carry[k, col]
        t = sums[k, col] + y
        carry[k, col] = (t - sums[k, col]) - y
        sums[k, col] = t
    bookings = np.round(sums, 2)
    kept = quotas > 0
    total_quota = float(quotas[kept].sum())
    return float(bookings[kept].sum()) / total_quota if total_quota > 0 else np.nan


def _cut_while_open(deal: Deal, end: float) -> float:
    """Day the deal's budget was cut while it was open (NaN if it never was)."""
    cut, until = deal.lead.truth.budget_cut_at, deal.closed if deal.closed is not None else end
    return cut if deal.lead.truth.budget and cut < until else np.nan
