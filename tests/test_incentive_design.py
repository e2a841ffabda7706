"""The rule designer's plumbing: the incentive world, programmes, the designer's summary, view and figures."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import sim
from sim.experiments import incentive_design as design
from sim.views import incentive_design as views

PORSCHE = {"name": "Porsche", "kind": "absolute", "award": 80000, "over_quota": 0.5}


@pytest.fixture(scope="module")
def world() -> sim.Scenario:
    return design.incentive_world(sim.Scenario.preset("baseline"), years=1, quota=1_200_000)


def test_the_incentive_world_warms_up_then_runs_whole_award_years():
    base = sim.Scenario.preset("baseline")
    three = design.incentive_world(base, years=3, quota=1_000_000)
    assert three.start == dt.date(2025, 7, 1) and three.end == dt.date(2029, 1, 1)
    assert design.award_years(three) == ["2026", "2027", "2028"]
    assert three.reps.quota == 1_000_000 and three.market.patience_days == 60 and three.policies.incentives is None
    with pytest.raises(ValueError, match="needs a quota"):
        design.incentive_world(base, years=1)
    with pytest.raises(ValueError, match="years: 0"):
        design.incentive_world(base, years=0, quota=1.0)


def test_rules_start_with_the_first_award_year_and_the_relative_version_drops_the_bar(world):
    scenario = design.programme(world, [PORSCHE], "weekly")
    rule = scenario.policies.incentives.rules[0]
    assert rule.start == dt.date(2026, 1, 1) and scenario.policies.incentives.standings == "weekly"
    relative = design.relative_version(PORSCHE)
    assert relative["kind"] == "relative" and relative["over_quota"] is None and relative["award"] == 80000
    assert design.relative_version({"name": "T", "kind": "relative", "award": 1}) == {"name": "T", "kind": "relative", "award": 1}
    assert design.no_programme(world).policies.incentives.rules == ()


def test_the_designer_compares_your_rules_with_no_programme_and_their_relative_version(world):
    runs = design.design(world, [PORSCHE], "monthly", n=3, seed=1, progress=False)
    assert list(dict.fromkeys(runs["scenario"])) == ["no programme", "your rules", "relative version"]
    summary = design.design_summary(runs)
    assert summary.loc["relative version", "no_winner"] == 0 and summary.loc["relative version", "payout"] == 80000
    assert summary.loc["no programme", "payout"] == 0 and np.isnan(summary.loc["no programme", "cost_per_extra"])
    assert summary.loc["your rules", "payout_low"] >= 0
    view = views.design_view(summary)
    assert view.loc["relative version", "award goes to nobody"].startswith("0%")
    assert "bookings" in views.design_headline(summary)
    fig = views.design_figure(runs, summary)
    assert all(ax.get_title() and ax.get_xlabel() for ax in fig.axes)
    spread = design.spread_summary(runs)
    assert set(spread["third"]) == {"top", "middle", "bottom"}
    assert (spread.loc[spread["programme"] == "no programme", "diff"] == 0).all()
