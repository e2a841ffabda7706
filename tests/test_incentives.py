"""IncentivePolicy: rules are validated, awards are decided as the rules say, effort follows its parts,
credibility drops after an award nobody won, standings feed chances, deals are timed to quarter ends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import incentives as inc
from sim.experiments import incentive_design as design
from sim.policies.incentives import PRIZE_CURVE, pull, top_chances


@pytest.fixture(scope="module")
def world() -> sim.Scenario:
    """A year of awards after a half-year warm-up, the baseline team with a quota of 1.2 million."""
    return design.incentive_world(sim.Scenario.preset("baseline"), years=1, quota=1_200_000)


@pytest.fixture(scope="module")
def many_rules(world) -> sim.SimResult:
    """Several rules at once, two hires (newcomers), weekly standings, three territories."""
    hired = world.replace({"reps.hires": [{"at": "2026-02-01", "count": 2}]})
    rules = [{"name": "Quarterly top two", "kind": "relative", "period": "quarter", "award": 5000, "winners": 2},
             {"name": "Territory trophy", "kind": "categories", "by": "territory", "award": 10000},
             {"name": "Segment", "kind": "categories", "by": "segment", "period": "quarter", "award": 3000},
             {"name": "Newcomer", "kind": "categories", "by": "newcomer", "award": 4000},
             {"name": "Most over quota", "kind": "relative", "metric": "attainment", "award": 6000},
             {"name": "Porsche", "kind": "absolute", "award": 80000, "over_quota": 0.5},
             {"name": "Club", "kind": "absolute", "award": 2000, "over_quota": 0.0, "winners": None}]
    return sim.simulate(design.programme(hired, rules, "weekly", territories=3), seed=4)


# ---- settings ----------------------------------------------------------------------------------------------
def test_rules_are_validated_with_the_field_named(world):
    bad = {
        "an absolute rule needs over_quota": {"name": "P", "kind": "absolute", "award": 1},
        "over_quota is for absolute rules only": {"name": "P", "kind": "relative", "award": 1, "over_quota": 0.2},
        "a categories rule needs by": {"name": "P", "kind": "categories", "award": 1},
        "there is no quota per segment": {"name": "P", "kind": "categories", "by": "segment", "award": 1, "metric": "attainment"},
        "winners may be null": {"name": "P", "kind": "relative", "award": 1, "winners": None},
    }
    for message, rule in bad.items():
        with pytest.raises(sim.ScenarioError, match=message):
            design.programme(world, [rule])
    with pytest.raises(sim.ScenarioError, match=r"policies.incentives.rules.0.award"):
        design.programme(world, [{"name": "P", "kind": "relative", "award": -5}])
    with pytest.raises(sim.ScenarioError, match="names must be unique"):
        design.programme(world, [{"name": "P", "kind": "relative", "award": 1}] * 2)
    with pytest.raises(sim.ScenarioError, match="territories >= 2"):
        design.programme(world, [{"name": "T", "kind": "categories", "by": "territory", "award": 1}])
    with pytest.raises(sim.ScenarioError, match="prize_curve needs"):
        world.replace({"policies.incentives": {"response": {"prize_curve": [[0.2, 0.5], [1.0, 1.0]]}}})
    with pytest.raises(sim.ScenarioError, match="reps.quota is needed"):
        world.replace({"reps.quota": None, "policies.incentives": {"rules": []}})
    with pytest.raises(sim.ScenarioError, match="no whole year between its start and end"):
        design.programme(world, [{"name": "Late", "kind": "relative", "award": 1, "start": "2026-06-01"}])


def test_programme_round_trips_through_yaml(world, tmp_path):
    scenario = design.programme(world, [{"name": "P", "kind": "absolute", "award": 9, "over_quota": 0.4}], "weekly",
                                timing={"pull_in_days": 10, "discount": 0.05})
    scenario.to_yaml(tmp_path / "s.yaml")
    assert sim.Scenario.from_yaml(tmp_path / "s.yaml") == scenario


# ---- chances and curves ------------------------------------------------------------------------------------
def test_top_chances_follow_the_standings():
    even = top_chances(np.zeros(8), np.ones(8), 1)
    assert np.allclose(even, 1 / 8, atol=1e-6)                        # nobody ahead: 1 in 8
    assert np.isclose(top_chances(np.zeros(5), np.ones(5), 2).sum(), 2.0, atol=1e-6)
    spread = top_chances(np.array([3.0, 1.0, 0.0, 0.0]), np.ones(4), 1)
    assert spread[0] > 0.85 and spread[0] > spread[1] > spread[2] and np.isclose(spread.sum(), 1.0, atol=1e-4)
    assert np.array_equal(top_chances(np.array([1.0, 2.0]), np.ones(2), 3), np.ones(2))


def test_the_prize_curve_is_low_for_the_hopeless_and_eases_for_the_sure_winner():
    assert pull(PRIZE_CURVE, 0.0) == 0.0 and pull(PRIZE_CURVE, 0.4) == 1.0
    assert pull(PRIZE_CURVE, 0.99) < 0.5 and pull(PRIZE_CURVE, 0.1) == pytest.approx(0.7)
    assert pull(PRIZE_CURVE, 1.5) == PRIZE_CURVE[-1][1]


# ---- awards ------------------------------------------------------------------------------------------------
def test_awards_follow_the_rules_on_the_run_s_own_bookings(many_rules):
    res = many_rules
    awards, opp = res.tables.incentives, res.tables.opportunities
    won = opp[opp["outcome"] == "won"]
    summary = inc.award_summary(awards)
    assert summary.loc["Quarterly top two", "decisions"] == 4 and summary.loc["Quarterly top two", "winners"] == 8
    assert summary.loc["Territory trophy", "decisions"] == 3 and summary.loc["Segment", "decisions"] == 12
    for rule in ("Quarterly top two", "Territory trophy", "Segment", "Newcomer", "Most over quota"):
        assert summary.loc[rule, "no_winner"] == 0                           # relative rules always pay
    # the quarterly top two are the two owners with the most won bookings closed in that quarter
    quarterly = won.groupby([won["closed_at"].dt.to_period("Q").astype(str).str.replace("Q", "-Q"), "owner"])["amount"].sum()
    for period, rows in awards[awards["rule"] == "Quarterly top two"].groupby("period"):
        assert set(rows["winner"]) == set(quarterly[period].nlargest(2).index)
    # newcomers: only the two reps hired during the run can win
    assert set(awards.loc[awards["rule"] == "Newcomer", "winner"]) <= {"Rep 09", "Rep 10"}
    # territory trophies go to one rep of each territory (Rep 01, 04, 07, 10 in territory 1, ...)
    territory = {f"Rep {i:02d}": f"Territory {(i - 1) % 3 + 1}" for i in range(1, 11)}
    rows = awards[awards["rule"] == "Territory trophy"]
    assert all(territory[w] == c for w, c in zip(rows["winner"], rows["category"]))
    # absolute rules: a winner cleared the bar on the attainment table, and nobody is paid otherwise
    att = res.tables.attainment
    yearly = att[att["period"].str.startswith("2026")].groupby("owner")[["bookings", "quota"]].sum()
    attainment = yearly["bookings"] / yearly["quota"]
    club = awards[awards["rule"] == "Club"]
    assert set(club["winner"].dropna()) == set(attainment[attainment >= 1.0 - 1e-9].index)
    porsche = awards[awards["rule"] == "Porsche"].iloc[0]
    top = yearly["bookings"].idxmax()
    assert (porsche["winner"] == top) == (attainment[top] >= 1.5)
    assert pd.isna(porsche["winner"]) or porsche["payout"] == 80000
    assert awards["payout"].sum() == res.metrics["incentive_payout"]


def test_an_award_nobody_wins_costs_credibility_which_comes_back_slowly(world):
    nobody = design.programme(world, [{"name": "Impossible", "kind": "absolute", "period": "quarter", "award": 10000,
                                       "over_quota": 9.0}])
    res = sim.simulate(nobody, seed=2)
    awards, effort = res.tables.incentives, res.tables.incentive_effort
    assert awards["winner"].isna().all() and (awards["payout"] == 0).all() and len(awards) == 4
    cred = effort.groupby("period")["credibility"].mean()
    assert cred["2026-03"] == 1.0 and cred["2026-04"] == pytest.approx(0.3, abs=0.01)   # drop 0.7 after Q1
    assert cred["2026-06"] > cred["2026-04"]                                           # slow recovery...
    assert cred["2026-06"] < 0.4                                                       # ...very slow
    assert cred["2026-12"] < cred["2026-06"]                                           # and each miss drops it again


def test_effort_is_one_plus_its_parts_and_stays_under_the_cap(many_rules):
    effort = many_rules.tables.incentive_effort
    parts = 1.0 + effort["from_quota"] + effort["from_prizes"]
    assert np.allclose(effort["effort"], parts)
    assert (effort["effort"] >= 1.0).all() and (effort["effort"] <= 1.6 + 1e-9).all()
    months = effort[effort["owner"] == "Rep 01"]["period"]
    assert list(months) == sorted(months) and len(months) == 18        # six warm-up months and a year
    assert effort.loc[effort["period"] == "2026-03", "rank"].notna().all()
    assert effort.loc[effort["period"] == "2026-01", "rank"].isna().all()


def test_without_standings_every_rep_sees_the_same_chance(world):
    rule = [{"name": "Top", "kind": "relative", "award": 20000}]
    never = sim.simulate(design.programme(world, rule, "never"), seed=5).tables.incentive_effort
    weekly = sim.simulate(design.programme(world, rule, "weekly"), seed=5).tables.incentive_effort
    awarded = never[never["period"] >= "2026-01"]
    assert np.allclose(awarded["chance"], 1 / 8)
    late = weekly[weekly["period"] >= "2026-06"]
    assert late["chance"].max() > 0.5 and late["chance"].min() < 0.02


def test_no_programme_writes_no_awards_and_keeps_the_quota_pull(world):
    res = sim.simulate(design.no_programme(world), seed=1)
    assert res.tables.incentives.empty and res.metrics["incentive_payout"] == 0
    effort = res.tables.incentive_effort
    assert (effort["from_prizes"] == 0).all() and effort["from_quota"].mean() > 0.03
    assert effort["chance"].isna().all()


def test_same_seed_same_tables(world):
    scenario = design.programme(world, [{"name": "Top", "kind": "relative", "award": 20000}], "weekly")
    a, b = sim.simulate(scenario, seed=9), sim.simulate(scenario, seed=9)
    pd.testing.assert_frame_equal(a.tables.incentives, b.tables.incentives)
    pd.testing.assert_frame_equal(a.tables.incentive_effort, b.tables.incentive_effort)
    pd.testing.assert_frame_equal(a.tables.opportunities, b.tables.opportunities)


def test_timing_pulls_closes_into_the_quarter_at_a_discount(world):
    base = design.no_programme(world)
    timed = base.replace({"policies.incentives.timing": {"pull_in_days": 14, "discount": 0.1}})
    plain, res = sim.simulate(base, seed=3), sim.simulate(timed, seed=3)
    opp = res.tables.opportunities
    won = opp[opp["outcome"] == "won"]
    pulled = ~np.isclose(won["amount"], won["truth_amount"])         # a pulled-in deal signs for less
    assert 5 < pulled.sum() <= res.metrics["pulled_in_deals"]          # (some pulled-in deals are still lost)
    assert np.allclose(won.loc[pulled, "amount"], (won.loc[pulled, "truth_amount"] * 0.9).round(2), atol=0.011)
    assert np.isclose(res.metrics["timing_discount"], (won.loc[pulled, "truth_amount"] * 0.1).sum(), rtol=1e-4)
    quarter_end = won.loc[pulled, "closed_at"].dt.to_period("Q").dt.end_time
    assert ((quarter_end - won.loc[pulled, "closed_at"]) < pd.Timedelta(days=1)).all()   # on the quarter's last day
    years = ["2026"]
    assert inc.period_end_share(opp, years) > inc.period_end_share(plain.tables.opportunities, years) + 0.03
