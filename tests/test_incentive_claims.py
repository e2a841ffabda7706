"""Claims 2 and 3 of principle 07, each with its ablation (reps who respond to a prize whatever their chance):
several relative categories lift more reps than one top award of the same total size; standings shown weekly
raise effort near the lead and lower it far behind, in a team of 16 (in a team of 8 the near-lead gain is not
there: see the notebook)."""

from __future__ import annotations

import pandas as pd
import pytest

import sim
from sim.experiments import incentive_design as design


@pytest.fixture(scope="module")
def world() -> sim.Scenario:
    return design.incentive_world(sim.Scenario.preset("baseline"), years=1, quota=1_200_000)


@pytest.fixture(scope="module")
def categories(world):
    runs = design.categories_vs_one(world, total=60_000, territories=3, n=10, seed=11, progress=False)
    return design.categories_table(runs)


@pytest.fixture(scope="module")
def standings(world):
    team = design.team_world(world, 16)
    runs = pd.concat([design.standings_split(team, award=50_000, cadences=("never", "weekly"), n=12, seed=12, progress=False),
                      design.standings_split(team, award=50_000, cadences=("never", "weekly"), n=6, seed=12, flat=True,
                                             progress=False)], ignore_index=True)
    return runs, design.split_table(runs).set_index(["response", "where"])


def test_several_categories_lift_more_reps_than_one_award_of_the_same_total(categories):
    lifted = categories.loc[("reps respond to their chance", "reps_lifted")]
    assert lifted["diff_low"] > 0.3, f"reps lifted a month: {lifted['diff']:+.2f} ({lifted['diff_low']:+.2f} to {lifted['diff_high']:+.2f})"


def test_ablation_with_a_flat_response_categories_lift_no_more_reps(categories):
    claimed = categories.loc[("reps respond to their chance", "reps_lifted"), "diff"]
    flat = categories.loc[("flat response (ablation)", "reps_lifted")]
    assert flat["diff_low"] <= 0 <= flat["diff_high"] and abs(flat["diff"]) < claimed / 3


def test_weekly_standings_raise_effort_near_the_lead_and_lower_it_far_behind(standings):
    _, table = standings
    near, far = table.loc[("by chance", "near")], table.loc[("by chance", "far")]
    assert near["diff_low"] > 0, f"near the lead: {near['diff']:+.3f} ({near['diff_low']:+.3f} to {near['diff_high']:+.3f})"
    assert far["diff_high"] < 0, f"far behind: {far['diff']:+.3f} ({far['diff_low']:+.3f} to {far['diff_high']:+.3f})"


def test_ablation_without_a_response_to_chances_standings_change_nothing(standings):
    runs, table = standings
    for where in ("near", "far"):
        flat, claimed = table.loc[("flat (ablation)", where)], table.loc[("by chance", where)]
        assert flat["diff_low"] <= 0 <= flat["diff_high"] and abs(flat["diff"]) < abs(claimed["diff"]) / 3
    # and with no standings shown, the awards pull every rep alike: the near/far split in prize effort is gone
    never = runs[runs["scenario"] == "standings never"]
    assert (never["from_prizes near"] - never["from_prizes far"]).abs().max() < 1e-9
    weekly = runs[runs["scenario"] == "standings weekly"]
    gap = weekly["from_prizes near"] - weekly["from_prizes far"]
    assert gap.min() > 0 and gap.mean() > 0.05


def test_weekly_standings_lower_the_whole_teams_effort_and_the_flat_response_does_not(standings):
    """Notebook 07 prints the whole team's effort beside near and far: in a team of 16 the back's loss outweighs
    the front's gain; with a flat response standings change nothing for the team either."""
    _, table = standings
    team, flat = table.loc[("by chance", "team")], table.loc[("flat (ablation)", "team")]
    assert team["diff_high"] < 0, f"whole team: {team['diff']:+.3f} ({team['diff_low']:+.3f} to {team['diff_high']:+.3f})"
    assert flat["diff_low"] <= 0 <= flat["diff_high"] and abs(flat["diff"]) < abs(team["diff"]) / 3
