"""Recording: the canonical tables built from what happened in a run (deals, accounts, reps).

The recorder reads the run's entities after the end and writes each table once, so the processes only
keep plain Python lists while they run. Simulated tables carry ``truth_*`` columns that no analysis uses.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..core import metrics, quota, schema
from ..world import World
from .entities import Account, Deal
from .team import Rep


def timestamps(world: World, days: np.ndarray | list) -> pd.DatetimeIndex:
    """Simulated days since the start -> real timestamps (to the second), NaT where missing."""
    secs = np.round(np.asarray(days, dtype=float) * 86400.0)
    out = np.full(secs.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    known = ~np.isnan(secs)
    out[known] = np.datetime64(world.start, "ns") + secs[known].astype(np.int64).astype("timedelta64[s]")
    return pd.DatetimeIndex(out)


def text(values) -> pd.Series:
    """A column of Python strings in pandas' `object` dtype, the canonical text dtype (see `schema`).

    A Series with an explicit dtype keeps pandas from inferring its own string dtype, which `conform`
    would then have to convert back.
    """
    return pd.Series(list(values), dtype="object")


def opportunities(world: World, deals: list[Deal]) -> pd.DataFrame:
    """One row per deal, as a CRM's opportunity report would show it, plus the hidden truth."""
    stages = world.stage_names
    outcome = ["open" if d.won is None else ("won" if d.won else "lost") for d in deals]
    table = pd.DataFrame({
        "opportunity_id": text([d.id for d in deals]),
        "account_id": text([d.lead.account.id for d in deals]),
        "owner": text([d.owner.name for d in deals]),
        "created_at": timestamps(world, [d.lead.arrived for d in deals]),
        "closed_at": timestamps(world, [np.nan if d.closed is None else d.closed for d in deals]),
        "stage": text([stages[d.stage_index] for d in deals]),
        "outcome": text(outcome),
        "amount": [d.amount if d.amount is not None else d.lead.first_estimate for d in deals],
        "first_estimate": [d.lead.first_estimate for d in deals],
        "lead_source": text([d.lead.source for d in deals]),
        "segment": text([d.lead.segment for d in deals]),
        "fit_score": [round(d.lead.fit, 4) for d in deals],
        "truth_win_chance": [round(math.prod(d.pass_chances), 4) for d in deals],
        "truth_budget": [d.lead.truth.budget for d in deals],
        "truth_champion_power": [round(d.lead.truth.champion_power, 4) for d in deals],
        "truth_competitor_ahead": [d.lead.truth.competitor_ahead for d in deals],
        "truth_budget_cut_at": timestamps(world, [_cut_while_open(d, world.days) for d in deals]),
        "truth_amount": [round(d.lead.first_estimate * d.lead.realisation, 2) for d in deals],
        "truth_stalls": [d.stalls for d in deals],
    })
    for column in ("competitor", "loss_reason"):   # only when a policy recorded them
        values = [getattr(d, column) for d in deals]
        if any(v is not None for v in values):
            table.insert(table.columns.get_loc("fit_score") + 1, column, text(values))
    return schema.conform(table, "opportunities")


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
    stays = [(d.id, stages[s], entered, exited) for d in deals for s, entered, exited in d.history]
    ids, names, entered, exited = zip(*stays) if stays else ((), (), (), ())
    return schema.conform(pd.DataFrame({
        "opportunity_id": text(ids),
        "stage": text(names),
        "entered_at": timestamps(world, entered),
        "exited_at": timestamps(world, [np.nan if x is None else x for x in exited]),
    }), "stage_history")


def accounts(world: World, met: list[Account]) -> pd.DataFrame:
    """One row per account the run met: its segment, what it bought, its real fit."""
    return schema.conform(pd.DataFrame({
        "account_id": text([a.id for a in met]),
        "segment": text([world.segments[a.segment].name for a in met]),
        "revenue": [round(a.revenue, 2) for a in met],
        "truth_fit": [round(a.fit, 4) for a in met],
    }), "accounts")


def won_deals(world: World, deals: list[Deal]) -> pd.DataFrame:
    """The won rows of the opportunities table, with only the columns `attainment` reads."""
    won = [d for d in deals if d.won]
    return pd.DataFrame({
        "owner": text([d.owner.name for d in won]),
        "outcome": text(["won"] * len(won)),
        "amount": pd.Series([d.amount if d.amount is not None else d.lead.first_estimate for d in won], dtype=float),
        "closed_at": timestamps(world, [d.closed for d in won]),
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


def _cut_while_open(deal: Deal, end: float) -> float:
    """Day the deal's budget was cut while it was open (NaN if it never was)."""
    cut, until = deal.lead.truth.budget_cut_at, deal.closed if deal.closed is not None else end
    return cut if deal.lead.truth.budget and cut < until else np.nan
