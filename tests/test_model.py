"""The simulator behaves like a sales team: reproducible, consistent tables, capacity that matters."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core.stats import paired_diff_ci
from sim.engine.hooks import REGISTRY, Policy, register
from sim.engine.team import Rep


def test_same_scenario_and_seed_give_identical_tables(short_baseline):
    a, b = sim.simulate(short_baseline, seed=11), sim.simulate(short_baseline, seed=11)
    for (name, left), (_, right) in zip(a.tables.items(), b.tables.items()):
        pd.testing.assert_frame_equal(left, right, obj=name)
    assert a.metrics == b.metrics
    c = sim.simulate(short_baseline, seed=12)
    assert not a.tables.opportunities.equals(c.tables.opportunities)


def test_tables_match_the_canonical_schema(baseline):
    res = sim.simulate(baseline, seed=3)
    res.tables.validate()
    opp = res.tables.opportunities
    assert len(opp) > 300 and set(opp["outcome"]) == {"won", "lost", "open"}
    assert opp["created_at"].min() >= pd.Timestamp(baseline.start)
    assert opp["closed_at"].max() <= pd.Timestamp(baseline.end)


def test_stage_history_is_consistent_with_opportunities(baseline):
    res = sim.simulate(baseline, seed=5)
    opp = res.tables.opportunities.set_index("opportunity_id")
    hist = res.tables.stage_history
    order = {name: i for i, name in enumerate(baseline.stage_names)}
    assert set(hist["opportunity_id"]) == set(opp.index)
    for oid, stays in hist.groupby("opportunity_id", sort=False):
        deal = opp.loc[oid]
        assert [order[s] for s in stays["stage"]] == list(range(len(stays))), "stages in order, none skipped"
        assert stays["entered_at"].iloc[0] == deal["created_at"]
        assert (stays["exited_at"].iloc[:-1].to_numpy() == stays["entered_at"].iloc[1:].to_numpy()).all(), "no gaps"
        assert (stays["exited_at"].dropna() >= stays["entered_at"][stays["exited_at"].notna()]).all()
        assert stays["stage"].iloc[-1] == deal["stage"]
        if deal["outcome"] == "open":
            assert pd.isna(stays["exited_at"].iloc[-1]) and pd.isna(deal["closed_at"])
        else:
            assert deal["outcome"] in ("won", "lost")
            assert stays["exited_at"].iloc[-1] == deal["closed_at"]
        if deal["outcome"] == "won":
            assert len(stays) == len(order)


def capacity_bound(baseline: sim.Scenario) -> sim.Scenario:
    """Five reps facing the baseline's leads: more work than time."""
    return baseline.replace(days=240, reps={"count": 5}, name="5 reps")


def test_more_reps_shorten_cycles_when_capacity_bound(baseline):
    tight = capacity_bound(baseline)
    cmp = sim.compare({"5 reps": tight, "8 reps": tight.replace(reps={"count": 8})}, n=12, seed=1,
                      executor="serial", progress=False)
    cycle = cmp.loc[("8 reps", "median_cycle_days")]
    assert cycle["diff_high"] < 0, cmp.loc[(slice(None), "median_cycle_days"), :]
    assert cmp.loc[("5 reps", "rep_utilisation"), "mean"] > 0.85


def test_more_leads_beyond_capacity_lengthen_cycles(baseline):
    base = baseline.replace(days=240)
    busy = base.replace({"market.leads_per_month": 80})
    cmp = sim.compare({"45 leads": base, "80 leads": busy}, n=12, seed=2, executor="serial", progress=False)
    assert cmp.loc[("80 leads", "median_cycle_days"), "diff_low"] > 0
    assert cmp.loc[("80 leads", "opportunities"), "diff_low"] > 0


def test_a_new_rep_ramps_up():
    rep = Rep(name="r", desk=None, joined=10.0, hours_per_week=35, ramp_days=100, ramp_start=0.3)
    assert rep.speed(10) == pytest.approx(0.3)
    assert rep.speed(60) == pytest.approx(0.65)
    assert rep.speed(500) == 1.0
    assert rep.days_for(5, now=200) == pytest.approx(1.0)      # 5 h at 35 h/week = one day
    assert rep.days_for(5, now=10) == pytest.approx(1.0 / 0.3)


def test_hires_add_reps_who_take_deals(baseline):
    hired = baseline.replace(reps={"count": 3, "hires": [{"at": "2026-04-01", "count": 3}]})
    res = sim.simulate(hired, seed=4)
    opp = res.tables.opportunities
    assert res.metrics["reps_at_end"] == 6
    new_owners = {"Rep 04", "Rep 05", "Rep 06"}
    assert opp.loc[opp["owner"].isin(new_owners), "created_at"].min() >= pd.Timestamp("2026-04-01")


def test_shock_cuts_leads_in_the_trough_and_they_recover(baseline):
    shock = {"start": "2026-03-01", "lead_drop": 0.6, "trough_days": 120, "recovery_days": 60}
    down = baseline.replace(days=365, market={"shock": shock, "seasonality": None})
    runs = [sim.simulate(down, seed=s).tables.opportunities for s in range(3)]
    created = pd.concat(runs)["created_at"]
    before = created.between("2026-01-01", "2026-03-01", inclusive="left").sum() / 59
    trough = created.between("2026-03-01", "2026-06-29", inclusive="left").sum() / 120
    after = created.between("2026-09-01", "2027-01-01", inclusive="left").sum() / 122
    assert trough < 0.6 * before and after > 0.8 * before


def test_finite_market_caps_new_logos(baseline):
    small = baseline.replace(segments=[{"name": "Niche", "share": 1, "accounts": 40}],
                             accounts={"repeat_per_year": 0.0})
    res = sim.simulate(small, seed=1)
    assert res.tables.opportunities["account_id"].nunique() == 40
    assert res.metrics["leads"] == 40


def test_signed_amount_differs_from_first_estimate(baseline):
    wide = baseline.replace(days=1500, reps={"count": 40})
    won = sim.simulate(wide, seed=9).tables.opportunities.query("outcome == 'won'")
    ratio = won["amount"] / won["first_estimate"]
    assert ratio.median() == pytest.approx(baseline.deal_value.realisation_median, rel=0.05)
    assert (ratio < 0.6).any() and (ratio > 1.2).any()


def test_good_fit_wins_more(baseline):
    opp = sim.simulate(baseline.replace(days=1000, reps={"count": 30}), seed=2).tables.opportunities
    closed = opp[opp["outcome"] != "open"]
    high = closed[closed["fit_score"] > 0.6]["outcome"].eq("won").mean()
    low = closed[closed["fit_score"] < 0.4]["outcome"].eq("won").mean()
    assert high > low + 0.1


def test_focus_segment_gets_rep_time_first(baseline):
    tight = capacity_bound(baseline)
    focused = tight.replace(policies={"allocation": {"focus_segments": ["Enterprise"]}})
    runs = sim.replicate_each({"spread": tight, "focused": focused}, n=10, seed=3, executor="serial",
                              progress=False, measure=enterprise_cycle)
    cycle = {k: g.sort_values("replication")["enterprise_cycle"].to_numpy() for k, g in runs.groupby("scenario")}
    mean, lo, hi = paired_diff_ci(cycle["focused"], cycle["spread"])
    assert hi < -5, f"Enterprise cycle, focused minus spread: {mean:.1f} days [{lo:.1f}, {hi:.1f}]"


def enterprise_cycle(result: sim.SimResult) -> dict[str, float]:
    opp = result.tables.opportunities
    won = opp[(opp["outcome"] == "won") & (opp["segment"] == "Enterprise")]
    return {"enterprise_cycle": float((won["closed_at"] - won["created_at"]).dt.days.median())}


def test_policies_are_consulted_through_their_hooks(short_baseline):
    @register
    class DeclineAll(Policy):
        key: ClassVar[str] = "decline_all"

        def admit(self, model, lead) -> bool:
            return False

    try:
        res = sim.simulate(short_baseline.replace({"policies.decline_all": {}}), seed=1)
    finally:
        REGISTRY.pop("decline_all")
    assert res.metrics["opportunities"] == 0 and res.metrics["declined"] == res.metrics["leads"] > 0
    assert np.isnan(res.metrics["win_rate"])


def test_simulate_rejects_a_non_scenario():
    with pytest.raises(TypeError, match="Scenario.preset"):
        sim.simulate({"reps": 3})
