"""Bugs in evaluation (06): the bug policy's story, its records, the loss analyses, and the claim with its ablation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import evaluation
from sim.core.schema import MissingColumns
from sim.experiments import bugs_in_evaluation as be
from sim.policies.bugs import DISCLOSED, LOSS_REASON, OUTCOMES, BugPolicy

EVAL = "Evaluation of Options"


@pytest.fixture(scope="module")
def buggy() -> sim.Scenario:
    return sim.Scenario.preset("bugs-in-evaluation")


@pytest.fixture(scope="module")
def run(buggy) -> sim.SimResult:
    return sim.simulate(buggy, seed=4)


def test_testing_and_a_beta_lower_the_chance_and_waiting_raises_the_walk_chance():
    assert BugPolicy().chance == pytest.approx(0.3)
    assert BugPolicy(testing_hours=60).chance == pytest.approx(0.3 * math.exp(-1))
    assert BugPolicy(testing_hours=60, beta=True, beta_catch=0.4).chance == pytest.approx(0.3 * math.exp(-1) * 0.6)
    assert BugPolicy(response_hours=0).walk_chance == 0
    assert BugPolicy(response_hours=48, walk_per_day=0.15).walk_chance == pytest.approx(1 - 0.85**2)


def test_how_the_buyer_reacts():
    policy = BugPolicy(known_share=0.5, fatal_share=0.2, response_hours=24, walk_per_day=0.5, retest_days=7)
    assert policy.react(0.9, 0.1, 0.9)[1] == "lost"                        # fatal: trust gone
    assert policy.react(0.9, 0.5, 0.2)[1] == "lost"                        # walked while waiting a day
    known, reaction, stall, _ = policy.react(0.9, 0.5, 0.9)
    assert (known, reaction, stall) == (False, "stalled", 1 + 7)           # stayed: the wait plus the re-test
    assert policy.react(0.1, 0.1, 0.1)[1] == "lost"                        # a known bug, not disclosed, is just a bug
    disclosed = policy.model_copy(update={"disclose": True})
    assert disclosed.react(0.1, 0.1, 0.1)[1:3] == ("expected", 7)         # the buyer expected it
    assert policy.model_copy(update={"buyer_reacts": False}).react(0.9, 0.0, 0.0)[1] == "no effect"


def test_bugs_are_recorded_as_activities_and_losses(run, buggy):
    opp, act = run.tables.opportunities, run.tables.activities
    run.tables.validate()
    bugs = act[act["kind"] == "bug"]
    assert len(bugs) > 40 and set(bugs["outcome"]) <= set(OUTCOMES)
    assert (bugs["duration_minutes"] == 4 * 60).all()                      # the rep's firefight, in minutes
    lost = opp[opp["loss_reason"] == LOSS_REASON]
    assert len(lost) == run.metrics["bug_losses"] > 0
    assert (lost["outcome"] == "lost").all() and (lost["stage"] == EVAL).all()
    assert set(lost["opportunity_id"]) == set(bugs.loc[bugs["outcome"] == "lost", "opportunity_id"]) & set(opp["opportunity_id"][opp["outcome"] == "lost"])
    stalled = opp[opp["opportunity_id"].isin(bugs.loc[bugs["outcome"] == "stalled", "opportunity_id"]) & (opp["outcome"] == "won")]
    assert len(stalled) > 5
    np.testing.assert_allclose(stalled["amount"], stalled["truth_amount"] * 0.9, atol=0.02)   # the discount


def test_a_lower_chance_removes_bugs_from_the_same_deals_and_moves_none(buggy):
    def bugged(chance: float) -> set:
        res = sim.simulate(be.with_bugs(buggy, bug_chance=chance), seed=5)
        act, opp = res.tables.activities, res.tables.opportunities.set_index("opportunity_id")
        ids = act.loc[act["kind"] == "bug", "opportunity_id"]
        early = opp.loc[ids][opp.loc[ids, "created_at"] < pd.Timestamp("2026-07-01")]   # long before the run ends
        return set(zip(early["account_id"], early["created_at"]))
    few, many = bugged(0.1), bugged(0.3)
    assert 0 < len(few) < len(many) and few <= many


def test_bugs_that_change_nothing_leave_every_deal_as_it_was(buggy):
    plain = sim.simulate(buggy.replace({"policies.bugs": None}), seed=6).tables.opportunities
    idle = sim.simulate(be.with_bugs(buggy, buyer_reacts=False, rep_hours=0.0), seed=6).tables.opportunities
    pd.testing.assert_frame_equal(plain, idle)


def test_disclosure_turns_known_bugs_into_expected_ones_and_can_put_buyers_off(buggy):
    res = sim.simulate(be.with_bugs(buggy, known_share=1.0, disclose=True), seed=7)
    bugs = res.tables.activities.query("kind == 'bug'")
    assert len(bugs) > 20 and set(bugs["outcome"]) == {"expected"} and res.metrics["bug_losses"] == 0
    scared = sim.simulate(be.with_bugs(buggy, disclose=True, disclosure_loss=0.1), seed=7)
    opp = scared.tables.opportunities
    assert (opp["loss_reason"] == DISCLOSED).sum() == scared.metrics["disclosure_losses"] > 5


def test_bad_bug_settings_are_named(buggy):
    with pytest.raises(sim.ScenarioError, match="policies.bugs.stage: 'Demo' is not a stage"):
        be.with_bugs(buggy, stage="Demo")
    with pytest.raises(sim.ScenarioError, match="policies.bugs.bug_chance"):
        be.with_bugs(buggy, bug_chance=1.5)


# ---- the export half: loss reasons, stage of loss, what a bug did --------------------------------------
def test_loss_reasons_and_stage_of_loss_on_a_small_export():
    opp = pd.DataFrame({
        "opportunity_id": list("abcdefg"),
        "outcome": ["lost", "lost", "lost", "lost", "won", "lost", "open"],
        "stage": ["Demo", "Trial", "Trial", "Demo", "Contract", None, "Demo"],
        "loss_reason": ["Product issue - crashed in POC", "Price", "Bug found", None, None, "Technical fit", None],
    })
    reasons = evaluation.loss_reasons(opp)
    assert reasons["lost"].sum() == 5 and reasons.loc[evaluation.NO_REASON, "lost"] == 1
    assert set(reasons.index[reasons["bug"]]) == {"Product issue - crashed in POC", "Bug found", "Technical fit"}
    assert reasons["share_low"].le(reasons["share"]).all() and reasons["share_high"].ge(reasons["share"]).all()
    stages = evaluation.stage_of_loss(opp, stages=["Demo", "Trial", "Contract"])
    assert list(stages.index) == ["Demo", "Trial", "(stage unknown)"]
    assert stages.loc["Trial", "lost"] == 2 and stages.loc["Trial", "lost_to_bugs"] == 1
    assert stages["share_of_bug_losses"].sum() == pytest.approx(1.0)
    with pytest.raises(MissingColumns, match="loss_reason"):
        evaluation.loss_reasons(opp.drop(columns="loss_reason"))
    with pytest.raises(MissingColumns, match="loss_reason"):
        evaluation.stage_of_loss(opp.assign(loss_reason=None))


def test_bug_impact_compares_deals_that_reached_evaluation(run):
    impact = evaluation.bug_impact(run.tables, EVAL)
    assert list(impact.index) == ["no bug", "met a bug"]
    assert impact.loc["met a bug", "win_rate"] < impact.loc["no bug", "win_rate"]
    assert impact.loc["met a bug", "median_price_ratio"] < impact.loc["no bug", "median_price_ratio"]
    outcomes = evaluation.bug_outcomes(run.tables.activities)
    assert outcomes["bugs"].sum() == (run.tables.activities["kind"] == "bug").sum()
    without = sim.simulate(sim.Scenario.preset("baseline"), seed=1).tables     # no activities at all
    with pytest.raises(MissingColumns, match="opportunity_id, kind"):
        evaluation.bug_impact(without)
    without.activities = run.tables.activities.head(3).assign(kind="meeting")   # activities, but no bug among them
    with pytest.raises(MissingColumns, match="kind 'bug'"):
        evaluation.bug_impact(without)


# ---- the claim and its ablation ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def claim_runs(buggy) -> pd.DataFrame:
    choices = be.release_choices(buggy, testing_hours=40)
    scenarios = {be.NO_TESTING: choices[be.NO_TESTING], be.BETA: choices[be.BETA]}
    scenarios.update({name + be.SHRUG: be.with_bugs(sc, buyer_reacts=False) for name, sc in list(scenarios.items())})
    return be.run(scenarios, n=8, seed=21, progress=False)


def test_cutting_the_bug_rate_in_evaluation_raises_bookings_and_shortens_cycles(claim_runs):
    bookings, low, _ = be.paired(claim_runs, be.BETA, be.NO_TESTING, "bookings")
    cycle, _, high = be.paired(claim_runs, be.BETA, be.NO_TESTING, "mean_cycle_days")
    assert low > 0, f"bookings gain {bookings:,.0f} not shown"
    assert high < 0, f"cycle change {cycle:.2f} days not shown"


def test_ablation_bugs_with_no_effect_on_the_buyer_make_no_difference_to_bookings(claim_runs):
    claim, _, _ = be.paired(claim_runs, be.BETA, be.NO_TESTING, "bookings")
    shrug, low, high = be.paired(claim_runs, be.BETA + be.SHRUG, be.NO_TESTING + be.SHRUG, "bookings")
    assert low <= 0 <= high and abs(shrug) < 0.05 * claim
    win, wlow, whigh = be.paired(claim_runs, be.BETA + be.SHRUG, be.NO_TESTING + be.SHRUG, "win_rate")
    assert wlow <= 0 <= whigh
