"""Customer orbits (principle 02): accounts move both ways between orbits, stimuli move them, referrals and
expansions come from the inner orbits, rep contacts take desk time, and cost of sales comes from the tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import orbits as analysis
from sim.core.schema import MissingColumns
from sim.experiments import customer_orbits as co


@pytest.fixture(scope="module")
def orbits() -> sim.Scenario:
    return sim.Scenario.preset("customer-orbits")


@pytest.fixture(scope="module")
def year(orbits) -> sim.SimResult:
    return sim.simulate(orbits.replace(days=365), seed=2)


# ---- the model as scenario data -----------------------------------------------------------------------
def test_bad_orbit_settings_are_named(orbits):
    with pytest.raises(sim.ScenarioError, match="won_orbit: must be the orbit right after the deal orbit"):
        orbits.replace({"policies.orbits.model.won_orbit": "Belief"})
    with pytest.raises(sim.ScenarioError, match="referral_orbits: Fans not among the orbits"):
        orbits.replace({"policies.orbits.model.referral_orbits": ["Fans"]})
    with pytest.raises(sim.ScenarioError, match="marketing_shares: shares must add up to 1, they add up to 0.5"):
        orbits.replace({"policies.orbits": {"allocation": "custom", "marketing_shares": {"Awareness": 0.5}}})
    with pytest.raises(sim.ScenarioError, match="inward \\+ outward \\+ churn must be at most 1"):
        orbits.replace({"policies.orbits.model.bug.effect": {"outward": 0.8, "churn": 0.5}})
    with pytest.raises(sim.ScenarioError, match="set accounts.repeat_per_year: 0"):
        orbits.replace({"accounts.repeat_per_year": 0.8})
    with pytest.raises(sim.ScenarioError, match="'Referral' is also a market lead source"):
        orbits.replace({"policies.orbits.model.referral_source": "Referral"})
    with pytest.raises(sim.ScenarioError, match="orbits: names must be unique, repeated: Belief"):
        orbits.replace({"policies.orbits.model.orbits": ("Awareness", "Belief", "Belief", "Refer")})


def test_orbit_names_and_order_are_scenario_data(orbits):
    three = {"orbits": ["Heard of us", "Talking", "Customer", "Fan"], "deal_orbit": "Talking",
             "won_orbit": "Customer", "lost_orbit": "Heard of us", "expansion_orbits": ["Customer"],
             "referral_orbits": ["Fan"]}
    res = sim.simulate(orbits.replace({"days": 240, "policies.orbits.model": three}), seed=1)
    seen = set(res.tables.orbit_history["orbit"])
    assert seen <= {"Heard of us", "Talking", "Customer", "Fan", "Churned", "Unaware"}
    assert {"Talking", "Customer", "Fan"} <= seen


# ---- what the tables show -------------------------------------------------------------------------------
def test_orbit_history_is_one_stay_after_another(year):
    year.tables.validate()
    h = year.tables.orbit_history.sort_values(["account_id", "entered_at"], kind="stable")
    following = h.groupby("account_id")["entered_at"].shift(-1)
    assert ((h["exited_at"] == following) | (h["exited_at"].isna() & following.isna())).all()
    assert h.groupby("account_id")["exited_at"].apply(lambda s: s.isna().sum()).eq(1).all()   # one open stay each


def test_won_deals_move_accounts_to_installation_and_lost_ones_to_observation(year):
    h, opp = year.tables.orbit_history, year.tables.opportunities
    new_wins = opp[(opp["outcome"] == "won") & (opp["lead_source"] != year.scenario.accounts.repeat_source)]
    landed = h[h["stimulus"] == "won"].merge(new_wins[["account_id", "closed_at"]], left_on=["account_id", "entered_at"],
                                               right_on=["account_id", "closed_at"])
    assert set(h.loc[h["stimulus"] == "won", "orbit"]) == {"Installation"}
    assert len(landed) >= 0.95 * len(new_wins)
    assert set(h.loc[h["stimulus"].str.startswith("lost", na=False), "orbit"]) == {"Observation"}
    moved_out = h[h["stimulus"].isin(["neglected", "bug", "ticket left angry"])]
    assert len(moved_out) > 20                                               # accounts do move outward
    assert (h["stimulus"] == "rep contact").sum() > 20                       # and inward when contacted


def test_referrals_and_expansions_come_from_the_inner_orbits(year, orbits):
    opp, h = year.tables.opportunities, year.tables.orbit_history
    referred = opp[opp["lead_source"] == "Customer referral"]
    expansions = opp[opp["lead_source"] == orbits.accounts.repeat_source]
    assert len(referred) > 20 and len(expansions) > 10
    assert referred["account_id"].is_unique and not referred["account_id"].isin(h.loc[h["stimulus"] == "installed base", "account_id"]).any()
    # an expansion deal's account was a customer (in an orbit from Installation in) when the deal was created
    inner = {"Installation", "Adaptation", "Belief", "Expansion", "Refer", "Zealots"}
    stays = h.merge(expansions[["account_id", "created_at"]], on="account_id")
    at = stays[(stays["entered_at"] <= stays["created_at"]) & ((stays["exited_at"] > stays["created_at"]) | stays["exited_at"].isna())]
    assert set(at["orbit"]) <= inner | {"Acquisition"} and (at["orbit"].isin(inner)).mean() > 0.9
    none = sim.simulate(orbits.replace({"days": 365, "policies.orbits.model.referrals_per_year": 0.0}), seed=2)
    assert (none.tables.opportunities["lead_source"] == "Customer referral").sum() == 0


def test_referral_deals_win_more_and_faster_as_set(orbits):
    """The referral factors are scenario data: with a loss factor of 0.3 referral deals win far more often."""
    res = sim.simulate(orbits.replace({"policies.orbits.model.referral_loss_factor": 0.3,
                                       "policies.orbits.model.referrals_per_year": 2.0}), seed=3)
    perf = analysis.referral_performance(res.tables.opportunities, ["Customer referral"])
    assert perf.loc["referral", "win_rate_low"] > perf.loc["other", "win_rate_high"]
    assert perf.loc["referral", "median_days_to_win"] < perf.loc["other", "median_days_to_win"]


def test_churned_customers_stop(year):
    h = year.tables.orbit_history
    churned = h[h["orbit"] == "Churned"]
    assert len(churned) > 10 and churned["exited_at"].isna().all()        # nobody comes back by themselves here
    opp = year.tables.opportunities
    after = opp.merge(churned[["account_id", "entered_at"]], on="account_id")
    assert not ((after["lead_source"] == year.scenario.accounts.repeat_source) & (after["created_at"] > after["entered_at"])).any()


def test_rep_contacts_take_desk_time_and_show_in_the_costs(orbits):
    short = orbits.replace(days=365)
    acq, whole = (sim.simulate(co.orbiting(short, a), seed=4) for a in ("acquisition", "whole"))
    costs = whole.tables.costs
    contact = costs[costs["activity"] == "rep contact"]
    assert contact["rep_hours"].sum() == pytest.approx(whole.metrics["orbit_contacts"] * 1.5)
    assert not (acq.tables.costs["activity"] == "rep contact").any()
    assert whole.metrics["rep_utilisation"] > acq.metrics["rep_utilisation"] + 0.03
    payroll = costs.loc[costs["activity"] == "payroll", "paid_hours"].sum()
    assert payroll == pytest.approx(8 * 30 * 365 / 7, abs=0.5)
    spent = costs["spend"].sum()
    assert 0.8 * 12 * 8000 <= spent <= 12 * 8000 + 1e-6                    # the budget, less what found nobody
    assert acq.tables.costs["spend"].sum() == pytest.approx(12 * 8000, abs=1500)   # whole leads at 1,500


def test_fast_support_keeps_customers(orbits):
    """Support quality is scenario data: answering in an hour and solving nearly everything, instead of in two
    days and solving 60%, loses fewer customers."""
    support = "policies.orbits.model.support"
    runs = sim.replicate_each({"slow": orbits.replace({"days": 365, support: {"response_hours": 48.0, "solve_chance": 0.6}}),
                               "fast": orbits.replace({"days": 365, support: {"response_hours": 1.0, "solve_chance": 0.95}})},
                              n=4, seed=5, executor="serial", progress=False)
    slow, fast = (runs[runs["scenario"] == s].sort_values("replication")["customers_churned"].to_numpy() for s in ("slow", "fast"))
    _, _, hi = sim.core.stats.paired_diff_ci(fast, slow)
    assert hi < 0


def test_cost_of_sales_counts_every_hour_and_credits_expansion():
    months = pd.to_datetime(["2026-01-01", "2026-01-01", "2026-02-01"])
    costs = pd.DataFrame({"month": months, "orbit": ["Acquisition", None, None], "activity": ["paid leads", "payroll", "payroll"],
                          "owner": [None, "Rep 01", "Rep 01"], "spend": [1000.0, 0, 0], "rep_hours": [0.0, 0, 0],
                          "paid_hours": [0.0, 100.0, 100.0]})
    opp = pd.DataFrame({"account_id": ["A", "A", "B", "C"], "outcome": ["won", "won", "won", "lost"],
                        "closed_at": pd.to_datetime(["2026-01-10", "2026-02-10", "2026-02-11", "2026-02-12"]),
                        "amount": [10_000.0, 5_000.0, 5_000.0, 7_000.0],
                        "lead_source": ["Inbound", "Existing customer", "Customer referral", "Inbound"]})
    out = analysis.cost_of_sales(costs, opp, hourly_cost=50.0)
    assert out["cost"] == 1000 + 200 * 50 and out["new_customers"] == 2 and out["bookings"] == 20_000
    assert out["cost_per_new_customer"] == 5500 and out["cost_per_booked"] == pytest.approx(11_000 / 20_000)
    assert out["expansion_bookings"] == 5_000
    january = analysis.cost_of_sales(costs, opp, 50.0, end="2026-02-01")
    assert january["cost"] == 1000 + 100 * 50 and january["new_customers"] == 1
    with pytest.raises(MissingColumns):
        analysis.cost_of_sales(costs.drop(columns="spend"), opp, 50.0)


def test_occupancy_and_flows_read_the_stays():
    h = pd.DataFrame({"account_id": ["A", "A", "B", "A"], "orbit": ["Trial", "Customer", "Trial", "Churned"],
                      "entered_at": pd.to_datetime(["2026-01-05", "2026-02-10", "2026-02-20", "2026-03-15"]),
                      "stimulus": ["trial", "paid", "trial", "churn"]})
    occ = analysis.occupancy(h, "month", order=["Trial", "Customer", "Churned"], end="2026-04-01")
    assert occ.loc["2026-01"].tolist() == [1, 0, 0]
    assert occ.loc["2026-02"].tolist() == [1, 1, 0] and occ.loc["2026-03"].tolist() == [1, 0, 1]
    f = analysis.flows(h).set_index(["from", "to"])["moves"]
    assert f[("(new)", "Trial")] == 2 and f[("Trial", "Customer")] == 1 and f[("Customer", "Churned")] == 1
    took = analysis.time_between(h, "Trial", "Churned")
    assert took["accounts"] == 2 and took["reached"] == 1 and took["median_days"] == 69


def test_churn_after_slow_support_compares_like_with_like():
    h = pd.DataFrame({"account_id": ["A", "A", "B", "C", "D"], "orbit": ["Customer", "Churned", "Customer", "Customer", "Customer"],
                      "entered_at": pd.to_datetime(["2026-01-01", "2026-03-01", "2026-01-01", "2026-01-01", "2026-12-31"])})
    t = pd.DataFrame({"account_id": ["A", "B", "C"], "opened_at": pd.to_datetime(["2026-02-01", "2026-02-01", "2026-02-01"]),
                      "first_response_minutes": [600.0, 600.0, 10.0]})
    out = analysis.churn_after_support(t, h, "Churned", slow_minutes=60)
    assert out.loc["slow", "tickets"] == 2 and out.loc["slow", "churned_after"] == 1
    assert out.loc["fast", "tickets"] == 1 and out.loc["fast", "churned_after"] == 0


# ---- the claims ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def allocation_runs(orbits) -> pd.DataFrame:
    return co.run(co.allocations(orbits), n=6, seed=11, progress=False)


def test_whole_orbit_lowers_cost_per_new_customer(allocation_runs):
    c = co.compare(allocation_runs)
    assert c["diff_high"] < 0 and c["ratio"] < 0.95


def test_without_stimuli_that_move_accounts_whole_orbit_no_longer_pays(orbits):
    """Ablation: touches and contacts that move nobody (and no referrals to gain) leave only the cost."""
    runs = co.run(co.allocations(orbits, marketing_touch={"inward": 0.0}, rep_contact={"inward": 0.0}),
                  n=6, seed=11, progress=False)
    c = co.compare(runs)
    assert c["diff_low"] > 0           # whole-orbit now costs more per new customer, not less


def test_without_referrals_most_of_the_gain_goes(orbits, allocation_runs):
    """Ablation: the inner orbits' referrals are most of what whole-orbit allocation buys."""
    runs = co.run(co.allocations(orbits, referrals_per_year=0.0), n=6, seed=11, progress=False)
    with_referrals, without = co.compare(allocation_runs), co.compare(runs)
    assert with_referrals["ratio"] < 1, with_referrals            # there is a gain to lose (else the next line is vacuous)
    assert 1 - without["ratio"] < 0.5 * (1 - with_referrals["ratio"]), (with_referrals, without)


def test_the_cost_ratio_falls_with_referrals_and_rises_with_churn(orbits):
    runs = co.grid(orbits, referral_rates=[0.1, 0.8], churn_rates=[0.0, 1.5], n=6, seed=13, progress=False)
    moves = co.direction(runs)
    _, _, referral_high = moves["referral"]
    _, churn_low, _ = moves["churn"]
    assert referral_high < 0 and churn_low > 0
    table = co.ratio_table(runs)
    assert table.loc[0.0, 0.8] == table.to_numpy().min()     # most referrals, least churn: the cheapest corner
