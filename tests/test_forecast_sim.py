"""The simulator half of principle 05: hidden truth, learning through contact, forecast reviews."""

import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.engine import truth
from sim.policies.forecast import ForecastPolicy, review_days
from sim.engine.model import SalesModel
from sim.experiments.simulate import make_rng
from sim.engine.deal import pass_chances

BASE = sim.Scenario.preset("baseline")


def with_forecast(scenario=BASE, **policy):
    return scenario.replace({"policies.forecast": policy})


# ---- hidden truth -----------------------------------------------------------------------------
def test_calibration_keeps_the_average_win_chance_of_the_stage_table():
    settings = BASE.truth
    losses = [1.0 - p for p in pass_chances(BASE, 0.5, 1.0)]
    scale = truth.calibrate(settings, losses)
    rng = np.random.default_rng(1)
    n = 200_000
    budget = rng.random(n) < settings.budget_share
    competitor = rng.random(n) < settings.competitor_share
    raw = np.array([truth.raw_multiplier(settings, b, p, c) for b, p, c in
                    zip(budget[:2000], rng.random(2000), competitor[:2000])])
    win = np.prod(1 - np.minimum(scale * raw[:, None] * np.asarray(losses), 0.99), axis=1)
    assert win.mean() == pytest.approx(np.prod(1 - np.asarray(losses)), abs=0.02)


def test_truth_decides_who_wins():
    opp = sim.simulate(BASE, seed=3).tables.opportunities
    closed = opp[opp["outcome"] != "open"]
    won = closed["outcome"] == "won"
    with_budget = won[closed["truth_budget"]].mean()
    without = won[~closed["truth_budget"].astype(bool)].mean()
    assert with_budget > without + 0.15
    behind = won[closed["truth_competitor_ahead"].astype(bool)].mean()
    assert behind < won[~closed["truth_competitor_ahead"].astype(bool)].mean()


def test_baseline_behaviour_stays_roughly_where_it_was():
    runs = sim.replicate(BASE, n=8, seed=5, executor="serial", progress=False)
    assert 0.28 < runs["win_rate"].mean() < 0.38
    assert 75 < runs["median_cycle_days"].mean() < 95


def test_contacts_needed_is_geometric():
    u = np.random.default_rng(0).random(20_000)
    counts = np.array([truth.contacts_needed(x, 0.3) for x in u])
    assert counts.min() == 1
    assert counts.mean() == pytest.approx(1 / 0.3, rel=0.05)
    assert truth.contacts_needed(0.5, 1.0) == 1


def make_knowledge(**facts):
    hidden = truth.HiddenTruth(**{"budget": True, "champion_power": 0.8, "competitor_ahead": False,
                                  "contacts_to_learn": (2, 1, 3), "budget_cut_at": math.inf,
                                  "contacts_to_notice_cut": 1, **facts})
    return truth.Knowledge(hidden)


def test_reps_learn_each_fact_only_after_enough_contacts():
    k = make_knowledge()
    assert (k.budget(), k.champion_power(), k.competitor_ahead()) == (None, None, None)
    k.contact(1.0)
    assert (k.budget(), k.champion_power(), k.competitor_ahead()) == (None, 0.8, None)
    k.contact(2.0)
    k.contact(3.0)
    assert (k.budget(), k.champion_power(), k.competitor_ahead()) == (True, 0.8, False)
    assert k.last_contact == 3.0


def test_a_budget_cut_is_only_noticed_at_a_contact_after_it():
    k = make_knowledge(budget_cut_at=10.0, contacts_to_notice_cut=2)
    for day in (1.0, 2.0, 11.0):
        k.contact(day)
    assert k.budget() is True          # known before the cut, one contact since: still believed
    k.contact(12.0)
    assert k.budget() is False
    assert k.truth.budget_now(9.0) and not k.truth.budget_now(10.0)


def test_budget_cuts_happen_only_in_a_volatile_market():
    calm = sim.simulate(BASE, seed=1).tables.opportunities
    volatile = sim.simulate(BASE.replace({"market.volatility": 0.5}), seed=1).tables.opportunities
    assert calm["truth_budget_cut_at"].isna().all()
    assert volatile["truth_budget_cut_at"].notna().sum() > 10


# ---- forecast policy ----------------------------------------------------------------------------
def test_review_days_follow_the_calendar():
    assert review_days(BASE, "quarterly") == [0.0, 90.0, 181.0, 273.0]
    assert review_days(BASE, "yearly") == [0.0]
    assert len(review_days(BASE, "weekly")) == 53
    assert review_days(BASE, "monthly")[:3] == [0.0, 31.0, 59.0]


def test_forecast_policy_leaves_the_leads_alone():
    """Common random numbers: forecasting changes what reps do, never which new-logo leads the market sends
    (repeat business depends on who became a customer, so it may differ)."""
    def market_leads(sc: sim.Scenario) -> pd.DataFrame:
        opp = sim.simulate(sc, seed=4).tables.opportunities
        cols = ["created_at", "lead_source", "segment", "first_estimate", "truth_budget", "truth_champion_power",
                "truth_competitor_ahead"]
        return opp.loc[opp["lead_source"] != BASE.accounts.repeat_source, cols].reset_index(drop=True)

    plain, weekly = market_leads(BASE), market_leads(with_forecast(cadence="weekly"))
    assert len(plain) > 400
    pd.testing.assert_frame_equal(plain, weekly)


def test_snapshots_are_deterministic_and_valid():
    sc = with_forecast(cadence="monthly", inclusion="evidence_gated")
    a, b = sim.simulate(sc, seed=9), sim.simulate(sc, seed=9)
    pd.testing.assert_frame_equal(a.tables.forecasts, b.tables.forecasts)
    a.tables.validate()
    fc = a.tables.forecasts
    assert set(fc["category"]) == {"closed", "commit", "pipeline"}
    assert fc["as_of"].nunique() == 12
    assert set(fc["owner"]) == {f"Rep {i:02d}" for i in range(1, 9)}


def test_closed_category_is_what_was_won_by_the_snapshot():
    res = sim.simulate(with_forecast(cadence="weekly"), seed=2)
    fc, opp = res.tables.forecasts, res.tables.opportunities
    won = opp[opp["outcome"] == "won"]
    closed = fc[fc["category"] == "closed"].groupby(["as_of", "period"])["amount"].sum()
    for (as_of, period), amount in closed.iloc[::7].items():
        start = pd.Period(period.replace("-", ""), "Q").start_time
        booked = won[(won["closed_at"] >= start) & (won["closed_at"] <= as_of)]["amount"].sum()
        assert amount == pytest.approx(booked, abs=0.05)


def test_evidence_gated_commits_only_what_the_rep_has_seen():
    committed = ForecastPolicy(inclusion="evidence_gated", evidence=("budget", "champion", "recent_contact")).commit_test()

    class FakeDeal:
        def __init__(self, knows):
            self.knows = knows

    k = make_knowledge()
    deal = FakeDeal(k)
    assert not committed(deal, 0.0)
    for day in (1.0, 2.0):
        k.contact(day)
    assert committed(deal, 3.0)
    assert not committed(deal, 30.0)                 # last contact no longer recent
    weak = FakeDeal(make_knowledge(champion_power=0.2, contacts_to_learn=(1, 1, 1)))
    weak.knows.contact(0.0)
    assert not committed(weak, 1.0)
    judgement = ForecastPolicy(inclusion="rep_judgement").commit_test()
    assert judgement(weak, 1.0)                      # the optimist commits a weak champion
    behind = FakeDeal(make_knowledge(competitor_ahead=True, contacts_to_learn=(1, 1, 1)))
    behind.knows.contact(0.0)
    assert not judgement(behind, 1.0)                # ... but not a deal a competitor leads
    broke = FakeDeal(make_knowledge(budget=False, contacts_to_learn=(1, 1, 1)))
    assert judgement(broke, 0.0)                     # ... and what they have not checked
    broke.knows.contact(0.0)
    assert not judgement(broke, 1.0)


def test_reviews_cost_rep_time():
    sc = with_forecast(cadence="weekly", review_hours=3.0)
    model = SalesModel(sc, sc.policies.active(), make_rng(1))
    res = model.run()
    assert res.metrics["forecast_reviews"] == 53
    assert res.metrics["forecast_review_hours"] == pytest.approx(3.0 * 8 * 53, rel=0.02)
    plain = sim.simulate(BASE, seed=1).metrics
    assert res.metrics["rep_utilisation"] > plain["rep_utilisation"]


def test_rep_judgement_takes_the_quote_and_the_optimistic_date():
    fair = sim.simulate(with_forecast(cadence="monthly", inclusion="stage_weighted"), seed=6).tables.forecasts
    hopeful = sim.simulate(with_forecast(cadence="monthly", inclusion="rep_judgement"), seed=6).tables.forecasts
    total = lambda fc: fc[fc["category"] != "closed"]["amount"].sum()  # noqa: E731
    assert total(hopeful) > total(fair)


def test_bad_forecast_settings_name_the_field():
    with pytest.raises(sim.ScenarioError, match="policies.forecast.cadence"):
        with_forecast(cadence="daily")
    with pytest.raises(sim.ScenarioError, match="stage_probabilities: 2 values for 4 stages"):
        with_forecast(stage_probabilities=[0.5, 0.6])
    with pytest.raises(sim.ScenarioError, match="policies.forecast.evidence.0"):
        with_forecast(evidence=["gut feel"])
