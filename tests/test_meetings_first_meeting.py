"""The first-meeting policy: bookings and no-shows written to `activities`, prospects who never come given up
with a reason, the cost counted, settings validated, and the champion chance checked against its closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core import schema
from sim.core.stats import mean_ci, wilson_ci
from sim.experiments import first_meeting as fm

P = 0.12


@pytest.fixture(scope="module")
def lunches(baseline):
    scenario = fm.first_meeting(baseline, format="lunch_at_their_office", champion_chance=P)
    return [sim.simulate(scenario, seed=s) for s in range(3)]


def test_bookings_are_canonical_activities(lunches):
    res = lunches[0]
    acts = res.tables.activities
    schema.validate(acts, "activities")
    assert set(acts["kind"]) == {"lunch"} and set(acts["outcome"]) == {"held", "no-show"}
    held = acts[acts["outcome"] == "held"]
    assert (held["attendees"] >= 1).all() and (held["duration_minutes"] == 60).all()
    assert (acts.loc[acts["outcome"] == "no-show", "attendees"] == 0).all()
    # show rate near the format's 90% (95% Wilson interval of the bookings)
    lo, hi = wilson_ci(len(held), len(acts))
    assert lo <= 0.9 <= hi
    assert res.metrics["first_meetings_held"] == len(held)


def test_a_prospect_who_never_shows_is_given_up_with_a_reason(lunches):
    given_up = 0
    for res in lunches:
        acts, opp = res.tables.activities, res.tables.opportunities
        opp = opp.reindex(columns=[*opp.columns.drop("loss_reason", errors="ignore"), "loss_reason"])  # absent when none was lost so
        no_shows = acts[acts["outcome"] == "no-show"].groupby("opportunity_id").size()
        never = no_shows[no_shows == 2].index          # two tries (the default), both missed
        gone = opp.set_index("opportunity_id").loc[never]
        gone = gone[gone["outcome"] != "open"]          # the run may end before the first stage does
        assert (gone["outcome"] == "lost").all() and (gone["loss_reason"] == "no first meeting").all()
        assert (opp["loss_reason"] == "no first meeting").sum() == len(gone)
        given_up += len(gone)
    assert given_up > 0


def test_cost_is_food_per_attendee_plus_rep_hours(lunches):
    res = lunches[0]
    held = res.tables.activities.query("outcome == 'held'")
    policy = res.scenario.policies.first_meeting
    fmt = policy.formats["lunch_at_their_office"]
    hours = len(held) * (policy.meeting_hours + fmt.travel_hours)
    assert res.metrics["first_meeting_hours"] == pytest.approx(hours)
    assert res.metrics["first_meeting_cost"] == pytest.approx(held["attendees"].sum() * fmt.food_per_attendee
                                                              + hours * policy.hourly_cost)


def test_bad_settings_are_named(baseline):
    with pytest.raises(sim.ScenarioError, match=r"format: 'picnic' is not one of the formats"):
        baseline.replace({"policies.first_meeting": {"format": "picnic"}})
    with pytest.raises(sim.ScenarioError, match=r"mix: 'picnic' not among the formats"):
        baseline.replace({"policies.first_meeting": {"mix": {"picnic": 1.0}}})
    with pytest.raises(sim.ScenarioError, match=r"policies\.first_meeting\.formats\.video\.show_rate"):
        baseline.replace({"policies.first_meeting": {"formats": {"video": {"kind": "video", "show_rate": 1.5, "attendees": 2}}}})


def test_a_mix_of_formats_draws_each_in_its_share(baseline):
    mix = {"video": 0.5, "our_office": 0.3, "lunch_at_their_office": 0.2}
    res = sim.simulate(fm.first_meeting(baseline, mix=mix), seed=4)
    first = res.tables.activities.drop_duplicates("opportunity_id")["kind"].value_counts(normalize=True)
    for fmt, share in mix.items():
        kind = res.scenario.policies.first_meeting.formats[fmt].kind
        assert abs(first[kind] - share) < 0.07


def test_champion_rate_matches_the_closed_form_within_its_ci(lunches):
    """Claim: with every attendee engaged, P(at least one champion) = 1 - (1 - p)^n. Each n with enough
    meetings has its 95% Wilson interval around the closed form, and pooled over all meetings the observed
    champions minus the closed form's expectation has a CI that includes zero."""
    check = fm.champion_check([r.tables for r in lunches], P)
    enough = check[check["meetings"] >= 30]
    assert len(enough) >= 5
    inside = (enough["ci_low"] <= enough["closed_form"]) & (enough["closed_form"] <= enough["ci_high"])
    assert inside.sum() >= len(enough) - 1, enough   # 95% intervals: one miss in five or more is chance
    acts = pd.concat([r.tables.activities for r in lunches])
    held = acts[acts["truth_champion"].notna()]
    mean, lo, hi = mean_ci(held["truth_champion"] - fm.at_least_one_champion(P, held["attendees"]))
    assert lo <= 0 <= hi, f"observed - closed form per meeting: {mean:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def test_with_listening_silent_attendees_lower_the_chance_as_the_closed_form_says(baseline):
    """With `listening` on, attendees who never spoke champion with p x silent_factor: the simulation matches
    1 - (1 - p)^spoke (1 - p s)^silent, and falls below the all-engaged closed form."""
    scenario = fm.first_meeting(baseline.replace({"policies.listening": {}}), format="lunch_at_their_office",
                                champion_chance=P)
    acts = pd.concat([sim.simulate(scenario, seed=s).tables.activities for s in range(6)])   # ~3,000 meetings
    held = acts[acts["truth_champion"].notna()]
    assert (held["attendees_spoke"] < held["attendees"]).mean() > 0.2
    mean, lo, hi = mean_ci(held["truth_champion"] - held["truth_champion_chance"])
    assert lo <= 0 <= hi, f"observed - per-meeting closed form: {mean:+.4f} [{lo:+.4f}, {hi:+.4f}]"
    assert held["truth_champion_chance"].mean() < fm.at_least_one_champion(P, held["attendees"]).mean() - 0.02


def test_closed_form():
    assert fm.at_least_one_champion(0.2, 1) == pytest.approx(0.2)
    assert fm.at_least_one_champion(0.2, [0, 2, 3]).tolist() == pytest.approx([0.0, 0.36, 0.488])
    assert np.all(np.diff(fm.at_least_one_champion(0.1, np.arange(10))) > 0)
