"""Accounts live on after their deals: customers come back with repeat business and refer others; a deal
that was open before the run began resumes where it was."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import sim
from sim.engine.deal import _noise_beyond


@pytest.fixture(scope="module")
def base() -> sim.Scenario:
    return sim.Scenario.preset("baseline")


def repeat_rate(result: sim.SimResult) -> dict[str, float]:
    """Repeat leads per customer-year: customers counted from their first win to the end of the run."""
    opp = result.tables.opportunities
    sc = result.scenario
    won = opp[opp["outcome"] == "won"]
    first_win = won.groupby("account_id")["closed_at"].min()
    end = pd.Timestamp(sc.end)
    years = ((end - first_win).dt.total_seconds() / 86400 / 365.25).sum()
    repeats = (opp["lead_source"] == sc.accounts.repeat_source).sum()
    return {"repeat_per_customer_year": repeats / years if years > 0 else np.nan}


def test_repeat_business_comes_from_customers_at_the_rate_set(base):
    runs = sim.replicate(base, n=12, seed=3, measure=repeat_rate, executor="serial", progress=False)
    mean, lo, hi = sim.core.stats.mean_ci(runs["repeat_per_customer_year"])
    assert lo <= base.accounts.repeat_per_year <= hi, (mean, lo, hi)
    res = sim.simulate(base, seed=3)
    opp = res.tables.opportunities
    repeat = opp[opp["lead_source"] == base.accounts.repeat_source]
    won_before = opp[opp["outcome"] == "won"].groupby("account_id")["closed_at"].min()
    assert len(repeat) > 20
    assert (repeat["created_at"].to_numpy() >= won_before.reindex(repeat["account_id"]).to_numpy()).all()


def test_without_repeat_business_every_account_is_new(base):
    res = sim.simulate(base.replace({"accounts.repeat_per_year": 0.0}), seed=3)
    opp = res.tables.opportunities
    assert (opp["lead_source"] != base.accounts.repeat_source).all()
    assert opp["account_id"].is_unique


def test_customers_refer_new_accounts_of_their_segment(base):
    referring = base.replace({"accounts": {"repeat_per_year": 0.0, "referrals_per_year": 1.0}})
    opp = sim.simulate(referring, seed=4).tables.opportunities
    plain = sim.simulate(base.replace({"accounts.repeat_per_year": 0.0}), seed=4).tables.opportunities
    extra = (opp["lead_source"] == "Referral").sum() - (plain["lead_source"] == "Referral").sum()
    assert extra > 20
    assert opp["account_id"].is_unique      # a referral is a new account, not the referrer again


def test_the_market_sends_the_same_new_logo_leads_whatever_customers_do(base):
    """Common random numbers: repeat business has its own streams, so the market's leads do not move."""
    cols = ["created_at", "lead_source", "segment", "first_estimate"]
    def new_logos(sc):
        opp = sim.simulate(sc, seed=5).tables.opportunities
        return opp.loc[opp["lead_source"] != sc.accounts.repeat_source, cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(new_logos(base), new_logos(base.replace({"accounts.repeat_per_year": 3.0})))


def test_a_resumed_stage_lasts_at_least_what_has_already_passed():
    z = np.linspace(-3, 3, 61)
    for elapsed in (1.0, 14.0, 60.0):
        full = [14.0 * np.exp(0.5 * _noise_beyond(x, elapsed, 14.0, 0.5)) for x in z]
        assert min(full) >= elapsed - 1e-9
        assert all(np.diff(full) >= -1e-9)    # the same rank: a slower deal stays slower


class OpenPipeline(sim.Policy):
    """Test policy: on day 0, 30 deals that were open before the run start in stage 2 (entered 100 days ago)."""

    key: ClassVar[str] = "open_pipeline_test"
    count: int = 30

    def start(self, model: sim.ModelView) -> OpenPipeline:
        for _ in range(self.count):
            account = model.leads.prospect(0, model.rng)
            model.resume(model.leads.lead_for(0.0, account, "Inbound", model.rng), stage=2, entered=-100.0)
        return self


def test_deals_open_before_the_run_resume_in_their_stage(base):
    sim.register(OpenPipeline)
    try:
        res = sim.simulate(base.replace({"policies.open_pipeline_test": {}, "accounts.repeat_per_year": 0.0}), seed=6)
    finally:
        sim.unregister("open_pipeline_test")
    hist = res.tables.stage_history
    early = hist[hist["entered_at"] < pd.Timestamp(base.start)]
    assert len(early) == 30 and set(early["stage"]) == {base.stages[2].name}
    ids = set(early["opportunity_id"])
    resumed = hist[hist["opportunity_id"].isin(ids)]
    assert set(resumed["stage"]) <= {s.name for s in base.stages[2:]}
    opp = res.tables.opportunities.set_index("opportunity_id").loc[sorted(ids)]
    assert (opp["outcome"] != "open").mean() > 0.8      # they finish their last stages within the year
