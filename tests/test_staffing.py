"""Staffing in a downturn: cuts hand deals over, re-hires ramp, refocus hunts the sweet spot; the 04 claims."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import downturn as history
from sim.experiments import remain_aggressive as downturn
from sim.engine.model import SalesModel
from sim.experiments.simulate import make_rng
from sim.core.stats import paired_diff_ci

SHOCK = dt.date(2026, 7, 1)
DECISION = dt.date(2026, 9, 1)


@pytest.fixture(scope="module")
def aggressive() -> sim.Scenario:
    return sim.Scenario.preset("remain-aggressive")


def run_model(scenario: sim.Scenario, seed: int) -> SalesModel:
    model = SalesModel(scenario, scenario.policies.active(), make_rng(seed))
    model.result = model.run()
    return model


def test_hold_changes_nothing(aggressive):
    short = aggressive.replace(days=400)
    held = sim.simulate(short.replace({"policies.staffing": {"action": "hold", "at": DECISION}}), seed=2)
    assert held.metrics == sim.simulate(short, seed=2).metrics


def test_a_cut_hands_every_open_deal_to_a_remaining_rep(aggressive):
    scenario = aggressive.replace(days=500, policies={"staffing": {"action": "cut", "at": DECISION, "cut_share": 0.5}})
    model = run_model(scenario, seed=3)
    gone = [r for r in model.team.reps if r.left is not None]
    assert len(gone) == 4 and len(model.team.active) == 4
    assert {r.left for r in gone} == {float((DECISION - scenario.start).days)}
    for rep in gone:
        assert not model.open_deals(rep)
        assert not rep.desk.queue                                     # nothing left waiting at an empty desk
    opp = model.result.tables.opportunities
    cut_day = pd.Timestamp(DECISION)
    assert not opp.loc[opp["closed_at"] > cut_day + pd.Timedelta(days=5), "owner"].isin([r.name for r in gone]).any()
    assert model.result.metrics["reps_left"] == 4 and model.result.metrics["rep_years"] < 8 * 500 / 365.25


def test_cut_reps_are_rehired_and_ramp_up(aggressive):
    rehire = dt.date(2027, 3, 1)
    scenario = aggressive.replace(days=500, policies={"staffing": {"action": "cut", "at": DECISION, "cut_share": 0.25,
                                                                   "rehire_at": rehire}})
    model = run_model(scenario, seed=4)
    new = [r for r in model.team.reps if r.joined >= 0]
    day = float((rehire - scenario.start).days)
    assert len(new) == 2 and all(r.joined == day for r in new)
    assert new[0].speed(day) == scenario.reps.ramp_start and new[0].speed(day + scenario.reps.ramp_days) == 1.0
    assert model.result.metrics["reps_hired"] == 2 and model.result.metrics["reps_at_end"] == 8


def test_refocus_declines_poor_fit_and_hunts_the_sweet_spot(aggressive):
    scenario = aggressive.replace(days=500, policies={"staffing": {"action": "refocus", "at": DECISION,
                                                                   "focus_threshold": 0.55, "prospects_per_week": 1}})
    res = sim.simulate(scenario, seed=5)
    opp = res.tables.opportunities
    after = opp[opp["created_at"] >= pd.Timestamp(DECISION)]
    assert (after["fit_score"] >= 0.55).all()
    assert (opp.loc[opp["created_at"] < pd.Timestamp(DECISION), "fit_score"] < 0.55).any()
    hunted = opp[opp["lead_source"] == "Prospecting"]
    assert len(hunted) > 50 and (hunted["created_at"] >= pd.Timestamp(DECISION)).all()
    assert res.metrics["declined"] > 0


def test_staffing_dates_are_validated(aggressive):
    with pytest.raises(sim.ScenarioError, match="rehire_at 2026-08-01 must be after at 2026-09-01"):
        aggressive.replace(policies={"staffing": {"action": "cut", "at": DECISION, "rehire_at": "2026-08-01"}})
    with pytest.raises(sim.ScenarioError, match="policies.staffing.at: 2030-01-01 is outside the scenario"):
        aggressive.replace(policies={"staffing": {"action": "hold", "at": "2030-01-01"}})
    with pytest.raises(sim.ScenarioError, match="policies.staffing.action"):
        aggressive.replace(policies={"staffing": {"action": "panic", "at": DECISION}})


def test_costs_and_recovery_arithmetic():
    costs = downturn.Costs(rep_per_year=100.0, hire=10.0, severance_months=6.0)
    assert costs.of({"rep_years": 7.5, "reps_hired": 2, "reps_left": 3}) == 750 + 20 + 150
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    reference = pd.Series(100.0, index=months)
    curve = pd.Series([100, 100, 95, 60, 40, 30, 50, 80, 85, 92, 95, 99.0], index=months)
    # shock in March: the slide to the June bottom does not count; back at 90% in October, 7 months on
    assert downturn.months_to_recover(curve, reference, dt.date(2026, 3, 1), level=0.9) == 7
    assert np.isnan(downturn.months_to_recover(curve * 0.5, reference, dt.date(2026, 3, 1)))


def test_monthly_bookings_add_up(aggressive):
    res = sim.simulate(aggressive.replace(days=300), seed=6)
    monthly = downturn.monthly_bookings(res)
    assert list(monthly.index) == [f"2026-{m:02d}" for m in range(1, 11)]    # 300 days: January to October
    assert monthly.sum() == pytest.approx(res.metrics["bookings"])


@pytest.fixture(scope="module")
def downturn_runs(aggressive) -> pd.DataFrame:
    choices = downturn.staffing_choices(aggressive, at=DECISION, cut_share=0.5, rehire_at=dt.date(2027, 10, 1))
    return downturn.run(choices, n=24, seed=9, progress=False)


@pytest.fixture(scope="module")
def ablation_runs(aggressive) -> pd.DataFrame:
    """Each mechanism off, on the first 12 replications of `downturn_runs` (same seeds: they pair)."""
    return downturn.run(downturn.ablations(aggressive, at=DECISION, cut_share=0.5), n=12, seed=9, progress=False)


def test_a_deep_cut_recovers_bookings_later_than_holding(downturn_runs):
    diff, lo, _ = downturn.recovery_difference(downturn_runs, "cut 50%", "hold", SHOCK, boot=200, seed=1)
    assert diff >= 3 and lo > 0          # months, back to 80% of what the market would have given


def test_ablation_a_cut_without_short_handed_months_recovers_like_holding(downturn_runs, ablation_runs):
    """The cause is being short-handed when demand returns: re-hire at the trough's end with reps at full
    speed, and the delay (months) goes, and more than half of the lost bookings (the months short-handed in the
    trough still cost some)."""
    both = downturn.with_reference(downturn_runs, ablation_runs)
    diff, lo, hi = downturn.recovery_difference(both, downturn.EARLY_CUT, "hold", SHOCK, boot=200, seed=1)
    assert lo <= 0 <= hi and abs(diff) <= 2
    late, early, hold = (both[both["scenario"] == k].sort_values("replication")["bookings"].to_numpy()
                         for k in ("cut 50%", downturn.EARLY_CUT, "hold"))
    assert paired_diff_ci(early, late)[1] > 1_500_000               # 1.5 million or more of the cut's loss goes
    assert paired_diff_ci(hold - early, 0.5 * (hold - late))[2] < 0  # less than half of the cut's loss is left


def per_cost(runs: pd.DataFrame) -> dict[str, np.ndarray]:
    runs = runs.assign(cost=[downturn.Costs().of(r) for r in runs.to_dict("records")])
    return {name: (g.sort_values("replication")["bookings"] / g.sort_values("replication")["cost"]).to_numpy()
            for name, g in runs.groupby("scenario")}


def test_holding_and_refocusing_does_best_on_bookings_per_cost(downturn_runs):
    ratio = per_cost(downturn_runs)
    for other in ("hold", "cut 50%"):
        _, lo, _ = paired_diff_ci(ratio["hold and refocus"], ratio[other])
        assert lo > 0, f"refocus should beat {other} on bookings per cost"


def test_ablation_refocus_without_the_hunting_is_the_worst_choice(downturn_runs, ablation_runs):
    """The refocus gain is the prospecting: without it, declining poor fit in a market short of leads only
    loses bookings, and refocus falls below holding by more than it was above it."""
    ratio = per_cost(downturn.with_reference(downturn_runs, ablation_runs))
    assert paired_diff_ci(ratio[downturn.NO_HUNT], ratio["hold"])[2] < -0.5
    assert paired_diff_ci(ratio[downturn.NO_DECLINE], ratio["hold"])[1] > 0     # hunting alone still pays


def test_prospects_respond_as_the_market_does(aggressive):
    """Hunting cannot find demand the downturn took away: at the trough a fitting account is ready to buy
    35% less often, so the refocused team finds fewer leads than with the old, downturn-blind hunting."""
    refocus = aggressive.replace(days=500, policies={"staffing": {"action": "refocus", "at": DECISION}})
    market, blind = (sim.simulate(refocus.replace({"policies.staffing.prospect_demand": d}), seed=5).tables.opportunities
                     for d in ("market", "constant"))
    trough = lambda o: ((o["lead_source"] == "Prospecting")                                 # noqa: E731
                        & o["created_at"].between(pd.Timestamp(DECISION), pd.Timestamp("2026-12-28"))).sum()
    assert trough(market) < 0.8 * trough(blind)
    policy = refocus.policies.staffing
    ready = policy.readiness(SimpleNamespace(world=refocus))
    assert ready[0] == 1.0 and ready[(DECISION - refocus.start).days] == pytest.approx(0.65)


def test_history_reads_the_deepest_fall_and_the_way_back():
    months = pd.period_range("2025-01", "2026-12", freq="M")
    amounts = [100.0] * 12 + [40.0] * 6 + [100.0] * 6
    opp = pd.DataFrame({"outcome": "won", "amount": amounts, "closed_at": months.to_timestamp() + pd.Timedelta(days=14)})
    past = history.history(opp, level=0.8, window=1)
    assert past["deepest_fall"] == pytest.approx(0.6) and past["bottom"] == "2026-01"
    assert past["peak_before"] == 100 and past["months_back"] == 6
    assert np.isnan(history.history(opp.iloc[:15], window=1)["months_back"])   # still down at the end
    with pytest.raises(ValueError, match="no won deal"):
        history.history(opp.assign(outcome="lost"))
