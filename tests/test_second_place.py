"""The strong second place (principle 09): losses get their competitor, first implementations fail, nurtured
accounts call back, and nurturing pays above a failure rate and not below it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import second_place as analysis
from sim.experiments import second_place as nurture


@pytest.fixture(scope="module")
def second() -> sim.Scenario:
    return sim.Scenario.preset("second-place")


@pytest.fixture(scope="module")
def failing(second) -> sim.SimResult:
    return sim.simulate(nurture.nurturing(second, failure_rate=0.8), seed=3)


def test_bad_settings_are_named(second):
    with pytest.raises(sim.ScenarioError, match="failure_months: \\(12, 3\\) must be two months"):
        nurture.nurturing(second, failure_months=[12, 3])
    with pytest.raises(sim.ScenarioError, match="policies.nurture.min_stage: 7 is not a stage index"):
        nurture.nurturing(second, min_stage=7)
    with pytest.raises(sim.ScenarioError, match="'Referral' is also a market lead source"):
        nurture.nurturing(second, winback_source="Referral")
    with pytest.raises(sim.ScenarioError, match="competitors: names must be unique, repeated: X"):
        nurture.nurturing(second, competitors=[{"name": "X"}, {"name": "X"}])


def test_losses_record_the_competitor_and_the_reason(failing, second):
    opp = failing.tables.opportunities
    lost = opp[opp["outcome"] == "lost"]
    assert lost["loss_reason"].notna().all() and set(lost["loss_reason"]) == {"competitor", "no budget", "no decision"}
    assert (lost["competitor"].notna() == (lost["loss_reason"] == "competitor")).all()
    assert lost.loc[lost["truth_competitor_ahead"], "competitor"].notna().all()     # a competitor ahead wins the loss
    shares = lost["competitor"].value_counts(normalize=True)
    assert shares["Rival A"] > shares["Rival B"] > shares["Rival C"]
    assert opp.loc[opp["outcome"] != "lost", "competitor"].isna().all()
    rivals = analysis.losses_by_competitor(opp)
    assert rivals["lost_deals"].sum() == len(lost) and rivals["share_of_losses"].sum() == pytest.approx(1.0)


def test_won_back_deals_are_accounts_lost_to_a_competitor_first(failing):
    opp = failing.tables.opportunities
    wb = opp[opp["lead_source"] == "Win-back"]
    assert len(wb) > 20
    first = opp.sort_values("created_at").groupby("account_id").head(1).set_index("account_id")
    assert (first.loc[wb["account_id"], "competitor"].notna()).all()
    back = analysis.win_backs(opp)
    won_wb = set(wb.loc[wb["outcome"] == "won", "account_id"])
    assert won_wb <= set(back["accounts"].index)          # every won win-back deal is found from the table alone
    assert back["summary"]["won_back"].iloc[0] >= len(won_wb)
    assert set(back["by_competitor"].index) <= {"Rival A", "Rival B", "Rival C", analysis.NOT_RECORDED}


def test_nurture_hours_are_desk_time_in_the_costs(second):
    res = sim.simulate(nurture.nurturing(second, failure_rate=0.0), seed=4)
    cost = res.tables.costs
    assert cost.loc[cost["activity"] == "nurture", "rep_hours"].sum() == pytest.approx(res.metrics["nurture_touches"] * 0.5)
    none = sim.simulate(nurture.nurturing(second, "none", failure_rate=0.0), seed=4)
    assert none.metrics["nurture_touches"] == 0 and res.metrics["rep_utilisation"] > none.metrics["rep_utilisation"]


def test_both_arms_see_the_same_losses_and_failures(second):
    """Common random numbers: where an account loses in both arms, it loses to the same competitor."""
    a, b = (sim.simulate(nurture.nurturing(second, mode, failure_rate=0.5), seed=5) for mode in ("none", "competitor_losses"))
    la, lb = (r.tables.opportunities.query("outcome == 'lost'").groupby("account_id")["competitor"].first() for r in (a, b))
    common = la.index.intersection(lb.index)
    assert len(common) > 300
    assert (la[common].fillna("-") == lb[common].fillna("-")).mean() > 0.97


def test_experienced_buyers_and_long_tenure_come_back_less(second):
    base = nurture.nurturing(second, failure_rate=1.0)
    runs = sim.replicate_each({"new to the category": nurture.nurturing(base, experienced_share=0.0),
                               "experienced": nurture.nurturing(base, experienced_share=1.0),
                               "short memory": nurture.nurturing(base, experienced_share=0.0, tenure_halflife_months=3.0)},
                              n=2, seed=6, executor="serial", progress=False)
    wb = runs.groupby("scenario")["winback_deals"].mean()
    assert wb["experienced"] < 0.7 * wb["new to the category"]
    assert wb["short memory"] < 0.7 * wb["new to the category"]


def test_win_backs_read_from_a_table():
    opp = pd.DataFrame({
        "opportunity_id": ["1", "2", "3", "4", "5", "6"],
        "account_id": ["A", "A", "B", "C", "C", "D"],
        "outcome": ["lost", "won", "lost", "won", "won", "lost"],
        "created_at": pd.to_datetime(["2026-01-01", "2026-05-01", "2026-01-01", "2026-01-01", "2026-06-01", "2026-02-01"]),
        "closed_at": pd.to_datetime(["2026-02-01", "2026-06-01", "2026-03-01", "2026-02-01", "2026-07-01", "2026-03-01"]),
        "competitor": ["Rival A", None, "Rival A", None, None, "Rival B"]})
    out = analysis.win_backs(opp)
    s = out["summary"].iloc[0]
    assert (s["lost_accounts"], s["won_back"]) == (3, 1) and s["rate"] == pytest.approx(1 / 3)
    assert s["median_lag_days"] == 120                      # 2026-02-01 to 2026-06-01
    by = out["by_competitor"]
    assert by.loc["Rival A", "lost_accounts"] == 2 and by.loc["Rival A", "won_back"] == 1
    assert by.loc["Rival B", "won_back"] == 0
    assert analysis.win_backs(opp.drop(columns="competitor"))["by_competitor"] is None


def test_returns_by_reason_on_a_lifecycle_table():
    h = pd.DataFrame({"account_id": ["A", "A", "A", "B", "B", "C", "C"],
                      "orbit": ["Customer", "Churned", "Reactivated", "Customer", "Churned", "Customer", "Churned"],
                      "entered_at": pd.to_datetime(["2026-01-01", "2026-03-01", "2026-04-01", "2026-01-01", "2026-02-01",
                                                    "2026-01-01", "2026-05-01"]),
                      "stimulus": [None, "churn: competitor", "paid", None, "churn: competitor", None, "churn: pricing"]})
    out = analysis.returns_by_reason(h, "Churned", ["Reactivated"])
    assert out.loc["churn: competitor", "left"] == 2 and out.loc["churn: competitor", "came_back"] == 1
    assert out.loc["churn: competitor", "median_days_back"] == 31 and out.loc["churn: pricing", "came_back"] == 0


# ---- the claim and its ablation -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep(second) -> pd.DataFrame:
    return nurture.gains(nurture.sweep(second, [0.0, 1.0], n=12, seed=21, progress=False))


def test_nurturing_pays_above_a_failure_rate_and_not_below(sweep):
    assert sweep.loc[1.0, "gain_low"] > 0                      # every winner fails: nurture raises two-year bookings
    assert sweep.loc[0.0, "gain_low"] < 0                      # none fails: not shown to raise them (it only costs time)
    assert sweep.loc[1.0, "gain"] - sweep.loc[0.0, "gain"] > 300_000


def test_break_even_reads_where_the_gain_crosses_zero():
    table = pd.DataFrame({"gain": [-100.0, 100.0, 300.0], "gain_low": [-300.0, -100.0, 100.0],
                          "gain_high": [-50.0, 300.0, 500.0]}, index=pd.Index([0.0, 0.2, 0.4], name="failure_rate"))
    even = nurture.break_even(table)
    assert even["break_even"] == pytest.approx(0.1) and even["sure_above"] == pytest.approx(0.3)
    assert even["sure_below"] == pytest.approx(0.2 * 50 / 350)
    assert np.isnan(nurture.break_even(table.assign(gain=[1.0, 2.0, 3.0]))["break_even"])


def test_without_being_the_clear_alternative_the_gain_goes(second, sweep):
    """Ablation: if a nurtured account calls back no more often than a neglected one, the hours buy nothing."""
    flat = nurture.gains(nurture.sweep(nurture.nurturing(second, winback_nurtured=0.2), [1.0], n=12, seed=21, progress=False))
    assert flat.loc[1.0, "gain_low"] < 0 < sweep.loc[1.0, "gain_low"]
    assert flat.loc[1.0, "gain"] < sweep.loc[1.0, "gain"] - 300_000
