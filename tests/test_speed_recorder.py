"""The recorder's tables, built straight from columns in their canonical dtypes, equal the straightforward way:
a DataFrame of Python lists put through `schema.conform` (the recorder as it was). `assert_frame_equal` checks
values, column order and dtypes (the golden hashes in `test_speed_golden.py` do not see a dtype: pandas 3 would
quietly turn an `object` text column into its `str` dtype with the same hash).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core import schema
from sim.engine import recorder
from sim.engine.model import SalesModel
from sim.experiments.simulate import make_rng


def straight_opportunities(world, deals) -> pd.DataFrame:
    stages = world.stage_names
    table = pd.DataFrame({
        "opportunity_id": recorder.text([d.id for d in deals]),
        "account_id": recorder.text([d.lead.account.id for d in deals]),
        "owner": recorder.text([d.owner.name for d in deals]),
        "created_at": recorder.timestamps(world, [d.lead.arrived for d in deals]),
        "closed_at": recorder.timestamps(world, [np.nan if d.closed is None else d.closed for d in deals]),
        "stage": recorder.text([stages[d.stage_index] for d in deals]),
        "outcome": recorder.text(["open" if d.won is None else ("won" if d.won else "lost") for d in deals]),
        "amount": [d.amount if d.amount is not None else d.lead.first_estimate for d in deals],
        "first_estimate": [d.lead.first_estimate for d in deals],
        "lead_source": recorder.text([d.lead.source for d in deals]),
        "segment": recorder.text([d.lead.segment for d in deals]),
        "fit_score": [round(d.lead.fit, 4) for d in deals],
        "truth_win_chance": [round(math.prod(d.pass_chances), 4) for d in deals],
        "truth_budget": [d.lead.truth.budget for d in deals],
        "truth_champion_power": [round(d.lead.truth.champion_power, 4) for d in deals],
        "truth_competitor_ahead": [d.lead.truth.competitor_ahead for d in deals],
        "truth_budget_cut_at": recorder.timestamps(world, [recorder._cut_while_open(d, world.days) for d in deals]),
        "truth_amount": [round(d.lead.first_estimate * d.lead.realisation, 2) for d in deals],
        "truth_stalls": [d.stalls for d in deals],
    })
    for column in ("competitor", "loss_reason"):
        values = [getattr(d, column) for d in deals]
        if any(v is not None for v in values):
            table.insert(table.columns.get_loc("fit_score") + 1, column, recorder.text(values))
    return schema.conform(table, "opportunities")


def straight_stage_history(world, deals) -> pd.DataFrame:
    stays = [(d.id, world.stage_names[s], entered, exited) for d in deals for s, entered, exited in d.history]
    ids, names, entered, exited = zip(*stays) if stays else ((), (), (), ())
    return schema.conform(pd.DataFrame({
        "opportunity_id": recorder.text(ids), "stage": recorder.text(names),
        "entered_at": recorder.timestamps(world, entered),
        "exited_at": recorder.timestamps(world, [np.nan if x is None else x for x in exited]),
    }), "stage_history")


def straight_accounts(world, met) -> pd.DataFrame:
    return schema.conform(pd.DataFrame({
        "account_id": recorder.text([a.id for a in met]),
        "segment": recorder.text([world.segments[a.segment].name for a in met]),
        "revenue": [round(a.revenue, 2) for a in met],
        "truth_fit": [round(a.fit, 4) for a in met],
    }), "accounts")


def ran(scenario: sim.Scenario, seed: int) -> SalesModel:
    model = SalesModel(scenario, scenario.policies.active(), make_rng(seed))
    model.run(seed)
    return model


@pytest.mark.parametrize("preset,days", [("baseline", 120), ("second-place", 150), ("customer-orbits", 90)])
def test_recorded_tables_equal_the_straightforward_build(preset, days):
    model = ran(sim.Scenario.preset(preset).replace(days=days), seed=3)
    world, deals = model.world, model.deals
    assert any(d.closed is None for d in deals) and any(d.won for d in deals)   # open, won and lost rows
    if preset == "second-place":
        assert any(d.competitor is not None for d in deals)                     # the optional columns too
    pd.testing.assert_frame_equal(recorder.opportunities(world, deals), straight_opportunities(world, deals))
    pd.testing.assert_frame_equal(recorder.stage_history(world, deals), straight_stage_history(world, deals))
    pd.testing.assert_frame_equal(recorder.accounts(world, model.leads.accounts),
                                  straight_accounts(world, model.leads.accounts))


def test_a_run_without_deals_has_empty_tables_with_canonical_columns():
    world = sim.Scenario.preset("baseline")
    for got, want in ((recorder.opportunities(world, []), straight_opportunities(world, [])),
                      (recorder.stage_history(world, []), straight_stage_history(world, [])),
                      (recorder.accounts(world, []), straight_accounts(world, []))):
        assert got.empty
        pd.testing.assert_frame_equal(got, want)
