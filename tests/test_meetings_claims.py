"""Principle 08's claim in the simulator, with paired replications (common random numbers) and 95% CIs.

The baseline team; every first meeting held over lunch at the prospect's office, or on video. The mechanism
the notebook names: the format changes the show rate and the number of attendees, and every attendee is a
chance of a champion. The ablation gives both formats the same show rate (80%) and attendees (2); then the
effect on the win rate of the same prospects shrinks by more than 90% (the lunch's extra rep hours, travel,
still slow its deals a little, so a few more of the cohort are still open at the end).
"""

import pandas as pd
import pytest

import sim
from sim.core.stats import mean_ci
from sim.experiments import first_meeting as fm
from sim.experiments.active_listening import column

N = 10
PAIR = ("lunch_at_their_office", "video")


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    base = sim.Scenario.preset("baseline")
    scenarios = fm.format_scenarios(base, PAIR)
    scenarios |= {f"{k} (same show rate and attendees)": s
                  for k, s in fm.format_scenarios(base, PAIR, equal=(0.8, 2.0)).items()}
    return sim.replicate_each(scenarios, n=N, seed=2026, measure=fm.meeting_measure, progress=False)


def gap(runs, metric: str, tag: str = ""):
    return column(runs, f"{PAIR[0]}{tag}", metric) - column(runs, f"{PAIR[1]}{tag}", metric)


def test_lunch_at_their_office_brings_more_people_more_champions_and_more_wins(runs):
    for metric, floor in (("show_rate", 0.05), ("first_meeting_attendees", 1.5), ("champion_share", 0.1),
                          ("cohort_win_rate", 0.015)):
        mean, lo, hi = mean_ci(gap(runs, metric))
        assert lo > floor, f"{metric}, lunch - video: {mean:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def test_ablation_equal_show_rate_and_attendees_removes_the_format_effect(runs):
    tag = " (same show rate and attendees)"
    effect = mean_ci(gap(runs, "cohort_win_rate"))[0]
    mean, lo, hi = mean_ci(gap(runs, "cohort_win_rate", tag))
    assert abs(mean) < 0.1 * effect and max(abs(lo), abs(hi)) < 0.15 * effect, \
        f"ablation {mean:+.4f} [{lo:+.4f}, {hi:+.4f}] against the effect {effect:+.4f}"
    champions = mean_ci(gap(runs, "champion_share", tag))
    assert champions[1] <= 0 <= champions[2], f"champion share, ablation: {champions}"


def test_the_lunch_costs_more_and_more_rep_time(runs):
    mean, lo, _ = mean_ci(gap(runs, "cost_per_held_meeting"))
    assert lo > 100, f"cost per held meeting, lunch - video: {mean:+.1f}"
    assert mean_ci(gap(runs, "first_meeting_hours"))[1] > 0
