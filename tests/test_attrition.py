"""Voluntary attrition (`sim.policies.attrition`): reps leave at a yearly rate, are backfilled after a lag, and
the replacement ramps up. The capacity it costs is checked against the expectation worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.engine.model import SalesModel
from sim.experiments.simulate import make_rng
from sim.policies.attrition import DAYS_PER_YEAR, productive_days

SEATS, YEARS = 150, 4
RATE, LAG, RAMP, START = 0.30, 91.0, 152, 0.3     # 30% a year, three months to backfill, five months' ramp


def team_scenario(rate: float = RATE, days: int = int(YEARS * 365)) -> sim.Scenario:
    """Many reps and few leads: the team's own comings and goings are what is measured, quickly."""
    return sim.Scenario.preset("baseline").replace({
        "days": days, "reps.count": SEATS, "reps.ramp_days": RAMP, "reps.ramp_start": START,
        "market.leads_per_month": 3, "policies.attrition": {"rate": rate, "backfill_days": LAG}})


def steady_share(rate: float, lag: float, ramp: float, start: float) -> float:
    """Closed form: the long-run productive share of a seat. A seat cycles through a vacancy (`lag` days) and a
    rep whose tenure is exponential (hazard h per day) and whose speed rises linearly from `start` to 1 over
    `ramp` days; by renewal-reward the share is  h * int_0^inf e^(-h t) speed(t) dt / (1 + h * lag)."""
    h = rate / DAYS_PER_YEAR
    hr = h * ramp
    kept = 1.0 - (1.0 - start) * (1.0 - (1.0 - math.exp(-hr)) / hr)
    return kept / (1.0 + h * lag)


def expected_share(rate: float, lag: float, ramp: float, start: float, days: int, step: float = 0.25) -> float:
    """The expected productive share of a seat averaged over [0, days), starting with a fully ramped rep: the
    renewal equations of the seat solved on a fine grid (departure density D(t) = f(t) + int D(s) f(t-s-lag) ds;
    capacity m(t) = e^(-h t) + int D(s) e^(-h (t-s-lag)) speed(t-s-lag) ds). Tends to `steady_share`."""
    h = rate / DAYS_PER_YEAR
    t = np.arange(0.0, days, step)
    f = h * np.exp(-h * t)
    shift = int(round(lag / step))
    dep = np.zeros_like(t)
    for i in range(len(t)):
        j = i - shift
        dep[i] = f[i] + (np.dot(dep[: j + 1][::-1], f[: j + 1]) * step if j >= 0 else 0.0)
    speed = start + (1.0 - start) * np.minimum(1.0, t / ramp)
    after = np.exp(-h * t) * speed                    # a new rep's expected speed u days after joining
    m = np.exp(-h * t)
    for i in range(len(t)):
        j = i - shift
        if j >= 0:
            m[i] += np.dot(dep[: j + 1], after[: j + 1][::-1]) * step
    return float(m.mean())


def test_the_worked_expectation_tends_to_the_closed_form():
    long = expected_share(RATE, LAG, RAMP, START, days=int(40 * 365), step=2.0)
    assert long == pytest.approx(steady_share(RATE, LAG, RAMP, START), abs=0.01)
    assert 0.85 < steady_share(RATE, LAG, RAMP, START) < 0.92        # about 11% of capacity lost for good


def run_team(scenario: sim.Scenario, seed: int) -> SalesModel:
    model = SalesModel(scenario, scenario.policies.active(), make_rng(seed))
    model.run()
    return model


def test_thirty_percent_attrition_costs_the_expected_share_of_capacity():
    """150 seats over four years, six seeds: the productive rep-years the run had (ramp-weighted, vacancies
    empty) against the expectation, within a tolerance well above the run-to-run spread of ~0.5%."""
    sc = team_scenario()
    shares, left = [], []
    for seed in range(6):
        model = run_team(sc, seed)
        shares.append(productive_days(model.team.reps, sc.days) / (SEATS * sc.days))
        left.append(sum(r.left is not None for r in model.team.reps) / (model.team.rep_days(sc.days) / DAYS_PER_YEAR))
    expected = expected_share(RATE, LAG, RAMP, START, sc.days)
    assert np.mean(shares) == pytest.approx(expected, abs=0.012)
    assert 1 - expected > 0.06                               # the loss the test checks is a real one
    assert np.mean(left) == pytest.approx(RATE, rel=0.1)   # leavers per rep-year on the team: the rate


def test_no_attrition_keeps_every_rep_and_the_metric_says_so():
    res = sim.simulate(team_scenario(rate=0.0, days=365), seed=1)
    assert res.metrics["reps_left_voluntarily"] == 0 and res.metrics["reps_at_end"] == SEATS
    assert res.metrics["productive_rep_years"] == pytest.approx(SEATS * 365 / DAYS_PER_YEAR)


def test_leavers_are_backfilled_after_the_lag_and_their_deals_handed_over():
    sc = sim.Scenario.preset("baseline").replace({"policies.attrition": {"rate": 0.6, "backfill_days": 60}})
    res = sim.simulate(sc, seed=3)
    dep = res.tables.departures
    assert len(dep) == res.metrics["reps_left_voluntarily"] > 0
    replaced = dep.dropna(subset=["replaced_day"])
    assert np.allclose(replaced["replaced_day"] - replaced["left_day"], 60.0)
    assert dep["replaced_day"].isna().sum() == (dep["left_day"] > sc.days - 60).sum()
    opp = res.tables.opportunities
    for _, row in dep.iterrows():      # nothing still open sits with a rep who left
        assert not ((opp["owner"] == row["rep"]) & (opp["outcome"] == "open")).any()


def test_same_seed_same_leavers_and_a_higher_rate_makes_nobody_stay_longer():
    low, high = (sim.Scenario.preset("baseline").replace({"policies.attrition": {"rate": r, "backfill": False}})
                 for r in (0.2, 0.5))
    a, b = sim.simulate(low, seed=5).tables.departures, sim.simulate(low, seed=5).tables.departures
    assert a.equals(b)
    c = sim.simulate(high, seed=5).tables.departures
    first_low = dict(zip(a["rep"], a["left_day"]))
    first_high = dict(zip(c["rep"], c["left_day"]))
    assert set(first_low) <= set(first_high)
    assert all(first_high[r] <= first_low[r] + 1e-9 for r in first_low)


def test_a_bad_rate_names_the_field():
    with pytest.raises(sim.ScenarioError, match=r"policies\.attrition\.rate"):
        sim.Scenario.preset("baseline").replace({"policies.attrition": {"rate": -0.1}})


def test_turnover_read_from_an_export_s_owners_finds_the_simulated_rate():
    """Four simulated three-year exports of a team losing 40% a year (backfilled in 60 days): the owners who
    stop opening deals, over the rep-years in which a departure could be seen, give the rate back."""
    from sim.analysis.attrition import owner_turnover
    sc = sim.Scenario.preset("baseline").replace({"days": 1095, "reps.count": 12, "market.leads_per_month": 60,
                                                  "policies.attrition": {"rate": 0.4, "backfill_days": 60}})
    leavers = years = 0.0
    lags = []
    for seed in range(4):
        t = owner_turnover(sim.simulate(sc, seed=seed).tables.opportunities)
        leavers, years = leavers + t.leavers, years + t.rep_years
        lags.append(t.backfill_days)
        assert t.low <= t.rate <= t.high and t.joiners <= t.leavers + 1
    pooled = leavers / years
    assert 0.4 * 0.7 < pooled < 0.4 * 1.3          # ~45 leavers: +-30% is about two standard errors
    assert 55 <= np.median(lags) <= 100           # the lag is seen from deals: the true 60 days, or a little more


def test_turnover_needs_owners_and_a_long_enough_export():
    import pandas as pd
    from sim.analysis.attrition import owner_turnover
    with pytest.raises(ValueError, match="owner"):
        owner_turnover(pd.DataFrame({"created_at": pd.to_datetime(["2026-01-01"])}))
    short = pd.DataFrame({"owner": ["a", "b"], "created_at": pd.to_datetime(["2026-01-01", "2026-03-01"])})
    with pytest.raises(ValueError, match="too short"):
        owner_turnover(short)
