"""The listening policy: every meeting is written to `activities` as an export would show it, its settings are
validated like any scenario field, and the same deal meets the same chance in every scenario."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core import schema
from sim.policies.listening import ListeningPolicy


@pytest.fixture(scope="module")
def listened(short_baseline):
    return sim.simulate(short_baseline.replace({"policies.listening": {}}), seed=11)


def test_every_meeting_is_a_canonical_activity_row(listened):
    acts = listened.tables.activities
    schema.validate(acts, "activities")
    assert len(acts) > 100 and set(acts["kind"]) == {"meeting"} and set(acts["outcome"]) == {"held"}
    assert acts["customer_talk_share"].between(0.05, 0.95).all()
    assert (acts["attendees_spoke"] >= 1).all() and (acts["attendees_spoke"] <= acts["attendees"]).all()
    assert (acts["questions"] >= 0).all() and (acts["questions"] % 1 == 0).all()
    # one meeting per stage a deal entered (every baseline stage needs rep time), tied to the deal's account
    stays = listened.tables.stage_history
    assert len(acts) == len(stays)
    opp = listened.tables.opportunities.set_index("opportunity_id")["account_id"]
    assert (acts["account_id"] == acts["opportunity_id"].map(opp)).all()


def test_same_seed_same_meetings(short_baseline, listened):
    again = sim.simulate(short_baseline.replace({"policies.listening": {}}), seed=11)
    pd.testing.assert_frame_equal(again.tables.activities, listened.tables.activities)


def test_bad_settings_are_named(baseline):
    with pytest.raises(sim.ScenarioError, match=r"policies\.listening\.rep_talk_share"):
        baseline.replace({"policies.listening": {"rep_talk_share": 1.5}})
    with pytest.raises(sim.ScenarioError, match=r"policies\.listening\.question_hlaf"):
        baseline.replace({"policies.listening": {"question_hlaf": 3}})


def test_discovery_rises_with_customer_talk_and_needs_questions():
    policy = ListeningPolicy()
    shares = np.linspace(0.1, 0.9, 9)
    asked = [policy.discovery_chance(c, 6) for c in shares]
    assert np.all(np.diff(asked) > 0)
    # a customer who talks all the time but is never asked reveals the need only at the unprompted rate
    assert policy.discovery_chance(0.9, 0) < 0.25 * policy.discovery_chance(0.9, 6)
    flat = ListeningPolicy(talk_drives_discovery=False)
    assert len({round(flat.discovery_chance(c, 6), 12) for c in shares}) == 1
    # attendees speak more when the customer side talks more and is asked more
    assert policy.speak_chance(0.6, 6) > policy.speak_chance(0.3, 6) > policy.speak_chance(0.3, 0)


def test_a_deal_meets_the_same_numbers_whatever_the_team_does(short_baseline):
    """Common random numbers: a deal's first meeting draws the same numbers in every scenario, so with the
    same rep it asks the same questions whatever the team's talk share, and its customer talks more when
    the team talks less."""
    runs = [sim.simulate(short_baseline.replace({"policies.listening": {"rep_talk_share": s}}), seed=5).tables
            for s in (0.45, 0.7)]
    firsts = []
    for t in runs:
        acts = t.activities.merge(t.opportunities[["opportunity_id", "owner", "created_at"]], on="opportunity_id")
        first = acts.sort_values("at").drop_duplicates("account_id").set_index("account_id")
        firsts.append(first[first["created_at"] < first["created_at"].min() + pd.Timedelta(days=60)])
    common = firsts[0].index.intersection(firsts[1].index)
    same_rep = common[(firsts[0].loc[common, "owner"] == firsts[1].loc[common, "owner"]).to_numpy()]
    assert len(same_rep) > 50
    assert (firsts[0].loc[same_rep, "questions"] == firsts[1].loc[same_rep, "questions"]).all()
    assert (firsts[0].loc[same_rep, "customer_talk_share"] > firsts[1].loc[same_rep, "customer_talk_share"]).all()
