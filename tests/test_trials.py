"""Free trials (10): the trial policy's story, its records and rep time, the conversion analyses, and the claim
with its ablation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import trials as tr
from sim.core.schema import MissingColumns
from sim.experiments import free_trials as ft
from sim.policies.trials import TrialPolicy

EVAL = "Evaluation of Options"
ROOT = Path(__file__).resolve().parents[1]
RAVENSTACK = next((p / "data/ravenstack" for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
                   if (p / "data/ravenstack/subscriptions.csv").exists()), None)


@pytest.fixture(scope="module")
def trials_preset() -> sim.Scenario:
    return sim.Scenario.preset("free-trials")


@pytest.fixture(scope="module")
def pilot_run(trials_preset) -> sim.SimResult:
    return sim.simulate(ft.with_trials(trials_preset, offer="paid"), seed=3)


def test_paying_raises_engagement_only_with_the_investment_effect_and_support_raises_success():
    policy = TrialPolicy(engagement=0.35, investment_effect=0.9)
    assert policy.buyer_engagement(0.0, paid=False) == pytest.approx(0.35)
    assert policy.buyer_engagement(0.0, paid=True) > 0.5 > policy.buyer_engagement(-1.0, paid=False)
    flat = policy.model_copy(update={"investment_effect": 0.0})
    assert flat.buyer_engagement(0.7, paid=True) == flat.buyer_engagement(0.7, paid=False)
    chances = [policy.success_chance(0.6, h) for h in (0, 2, 6, 40)]
    assert chances[0] == pytest.approx(0.6 * policy.self_serve) and chances == sorted(chances) and chances[-1] < 0.6
    screened = policy.model_copy(update={"pilot_take_up": 0.5, "screening": 0.6})
    assert screened.take_up(True) == pytest.approx(0.8) and screened.take_up(False) == pytest.approx(0.2)


def test_pilots_are_recorded_as_activities_with_their_outcome_and_support(pilot_run):
    tables = pilot_run.tables
    tables.validate()
    act, opp = tables.activities, tables.opportunities.set_index("opportunity_id")
    pilots = act[act["kind"] == "pilot"]
    assert len(pilots) == pilot_run.metrics["trials"] > 100 and not (act["kind"] == "trial").any()
    fate = opp.loc[pilots["opportunity_id"], "outcome"].to_numpy()
    expected = np.select([fate == "won", fate == "lost"], ["converted", "not converted"], "")
    assert (pilots["outcome"].fillna("").to_numpy() == expected).all()           # open deals: no outcome yet
    assert pilots["duration_minutes"].between(0, 40 * 60).all()                   # the customer's hands-on time
    support = act[act["kind"] == "support"]
    assert (support["duration_minutes"] == 2 * 60).all()                          # 6 hours in 3 sessions
    assert set(support["opportunity_id"]) <= set(pilots["opportunity_id"])
    assert pilot_run.metrics["trial_fees"] == pytest.approx((0.05 * opp.loc[pilots["opportunity_id"], "first_estimate"]).round(2).sum())
    assert pilot_run.metrics["pilots_declined"] > 0.2 * pilot_run.metrics["trials_offered"]


def test_a_trial_holds_the_evaluation_open_for_its_length(trials_preset):
    res = sim.simulate(trials_preset, seed=4)
    hist = res.tables.stage_history
    tried = set(res.tables.activities.query("kind == 'trial'")["opportunity_id"])
    stays = hist[(hist["stage"] == EVAL) & hist["opportunity_id"].isin(tried)].dropna(subset=["exited_at"])
    days = (stays["exited_at"] - stays["entered_at"]).dt.total_seconds() / 86400
    assert len(days) > 100 and days.min() >= 30 - 1e-6


def test_support_comes_out_of_the_reps_time_unless_engineers_give_it(trials_preset):
    def rep_hours(sc: sim.Scenario) -> float:
        res = sim.simulate(sc, seed=5)
        return res.metrics["rep_utilisation"], res.metrics["trial_support_hours"]
    none, _ = rep_hours(ft.with_trials(trials_preset, offer="none"))
    reps, given = rep_hours(trials_preset)
    engineers, given_by_engineers = rep_hours(ft.with_trials(trials_preset, support_by="engineers"))
    assert given > 1000 and given_by_engineers > 1000
    assert reps > none + 0.05                     # about 1,900 more hours on a team of 8 working ~12,500
    assert engineers < reps - 0.05                # the engineers carry it instead


def test_no_trial_leaves_every_deal_as_it_was(trials_preset):
    plain = sim.simulate(trials_preset.replace({"policies.trials": None}), seed=6).tables.opportunities
    none = sim.simulate(ft.with_trials(trials_preset, offer="none"), seed=6)
    pd.testing.assert_frame_equal(plain, none.tables.opportunities)
    assert none.tables.activities.empty


def test_bugs_and_trials_write_one_activities_table(trials_preset):
    both = sim.simulate(trials_preset.replace({"policies.bugs": {}}), seed=7).tables.activities
    assert {"bug", "trial", "support"} <= set(both["kind"]) and both["at"].is_monotonic_increasing


def test_bad_trial_settings_are_named(trials_preset):
    with pytest.raises(sim.ScenarioError, match="policies.trials.offer"):
        ft.with_trials(trials_preset, offer="maybe")
    with pytest.raises(sim.ScenarioError, match="policies.trials.stage: 'POC' is not a stage"):
        ft.with_trials(trials_preset, stage="POC")


# ---- the export half: conversion by type, engagement and support ----------------------------------------
def test_trial_conversion_by_type_and_engagement_from_activities():
    act = pd.DataFrame({
        "opportunity_id": list("abcdefgh"),
        "kind": ["Trial", "trial", "Pilot", "pilot", "meeting", "Paid Pilot", "trial", "support"],
        "duration_minutes": [60, 600, 900, 1200, 30, 1500, 120, 90],
        "outcome": ["Converted", "not converted", "won", "converted", "held", "expired", None, None],
    })
    rows = tr.trials(act)
    assert len(rows) == 6 and set(rows["trial_type"]) == {"free trial", "paid pilot"}
    assert rows["converted"].tolist()[:4] == [1.0, 0.0, 1.0, 1.0] and np.isnan(rows["converted"].iloc[-1])
    by_type = tr.conversion(rows)
    assert by_type.loc["free trial", ["trials", "decided", "converted"]].tolist() == [3, 2, 1]
    assert by_type.loc["paid pilot", "conversion"] == pytest.approx(2 / 3)
    assert (by_type["conversion_low"] <= by_type["conversion"]).all()
    by_hours = tr.conversion(rows, "engagement_hours", edges=[0, 5, 30])
    assert by_hours["trials"].tolist() == [2, 4]                                   # 1 h and 2 h; 10 to 25 h
    assert tr.with_support(rows, act).set_index("opportunity_id")["support_hours"].sum() == 0   # support on 'h' only
    with pytest.raises(MissingColumns, match="kind 'trial'"):
        tr.trials(act[act["kind"] == "meeting"])
    with pytest.raises(MissingColumns, match="outcome"):
        tr.trials(act.drop(columns="outcome"))


def test_trials_from_a_subscription_table():
    subs = pd.DataFrame({
        "subscription_id": ["t1", "p1", "t2", "t3", "p3"],
        "account_id": ["A", "A", "B", "C", "C"],
        "start_date": ["2024-01-01", "2024-01-20", "2024-02-01", "2024-03-01", "2024-07-01"],
        "is_trial": ["TRUE", "FALSE", "true", "True", "False"],
        "plan_tier": ["Pro", "Pro", "Basic", "Pro", "Pro"],
    })
    usage = pd.DataFrame({"subscription_id": ["t1", "t1", "t3"], "usage_duration_secs": [3600, 1800, 7200]})
    rows = tr.from_subscriptions(subs, usage, within_days=60)
    assert rows.set_index("opportunity_id")["converted"].to_dict() == {"t1": 1.0, "t2": 0.0, "t3": 0.0}   # C paid too late
    assert rows.set_index("opportunity_id")["engagement_hours"].to_dict() == {"t1": 1.5, "t2": 0.0, "t3": 2.0}
    assert tr.conversion(rows, "plan_tier").loc["Pro", "conversion"] == 0.5
    with pytest.raises(ValueError, match="subscriptions: column 'is_trial' must be true or false, got row 2: 'maybe'"):
        tr.from_subscriptions(subs.assign(is_trial=["TRUE", "FALSE", "maybe", "TRUE", "FALSE"]))


@pytest.mark.skipif(RAVENSTACK is None, reason="the public RavenStack data set is not available here")
def test_the_public_ravenstack_trials_read_from_where_they_live():
    subs = pd.read_csv(RAVENSTACK / "subscriptions.csv")
    rows = tr.from_subscriptions(subs, pd.read_csv(RAVENSTACK / "feature_usage.csv"))
    assert len(rows) == int(subs["is_trial"].astype(str).str.lower().eq("true").sum()) > 500
    table = tr.conversion(rows, "engagement_hours")
    assert table["trials"].sum() == len(rows) and table["conversion"].between(0, 1).all()


# ---- the claim and its ablation ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def check_runs(trials_preset) -> pd.DataFrame:
    scenarios = ft.investment_check(trials_preset)
    scenarios.pop("no trial")
    return ft.run(scenarios, n=10, seed=11, progress=False)


def test_a_paid_pilot_converts_better_than_a_free_trial_when_paying_makes_buyers_invest(check_runs):
    diff, low, _ = ft.paired(check_runs, "paid pilot", "free trial", "trial_conversion")
    assert low > 0, f"conversion gain {diff:.3f} not shown"
    assert check_runs.groupby("scenario")["trial_engagement_hours"].mean()["paid pilot"] > \
        check_runs.groupby("scenario")["trial_engagement_hours"].mean()["free trial"]


def test_ablation_without_the_investment_effect_a_paid_pilot_converts_no_better(check_runs):
    claim, _, _ = ft.paired(check_runs, "paid pilot", "free trial", "trial_conversion")
    diff, low, high = ft.paired(check_runs, ft.PAID_NO_INVESTMENT, "free trial", "trial_conversion")
    assert low <= 0 <= high and abs(diff) < 0.5 * claim
