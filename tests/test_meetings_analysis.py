"""Meeting analyses on small hand-made tables (exact counts), the columns they need, and a simulated run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import meetings as m
from sim.core.schema import MissingColumns
from sim.core.stats import wilson_ci

T0 = pd.Timestamp("2026-01-05 10:00")


def tables(rows: list[tuple], outcomes: dict[str, str]) -> sim.Tables:
    """rows: (deal, day, kind, outcome, attendees, spoke, customer talk share, questions)."""
    acts = pd.DataFrame(rows, columns=["opportunity_id", "day", "kind", "outcome", "attendees", "attendees_spoke",
                                       "customer_talk_share", "questions"])
    acts.insert(1, "at", T0 + pd.to_timedelta(acts.pop("day"), unit="D"))
    opp = pd.DataFrame({"opportunity_id": list(outcomes), "outcome": list(outcomes.values())})
    return sim.Tables(opportunities=opp, activities=acts.astype({"attendees": float, "attendees_spoke": float}))


@pytest.fixture
def small() -> sim.Tables:
    return tables([
        ("A", 0, "lunch", "no-show", 0, np.nan, np.nan, np.nan),
        ("A", 7, "lunch", "held", 5, 3, 0.70, 9),     # first conversation: rep talks 30%
        ("A", 30, "meeting", "held", 2, 2, 0.20, 2),   # later: rep talks 80% (must not count)
        ("B", 1, "video", "held", 1, 1, 0.40, 4),      # rep 60%
        ("C", 2, "video", "held", 3, 3, 0.45, 5),      # rep 55%
        ("D", 3, "meeting", "no-show", 0, np.nan, np.nan, np.nan),
        ("D", 9, "meeting", "no-show", 0, np.nan, np.nan, np.nan),
        ("E", 4, "video", "held", 8, 6, 0.30, 12),     # rep 70%
        ("F", 5, "video", "held", 2, 2, 0.50, 6),      # open deal: not counted
    ], {"A": "won", "B": "lost", "C": "won", "D": "lost", "E": "lost", "F": "open"})


def test_rep_talk_bins_use_each_deals_first_conversation(small):
    table = m.win_rate_by_rep_talk(small)
    counts = table["deals"].to_dict()
    assert counts["0%-35%"] == 1 and counts["55%-65%"] == 2 and counts["65%-75%"] == 1 and counts["75%-100%"] == 0
    assert table.loc["0%-35%", "win_rate"] == 1.0 and table.loc["55%-65%", "win_rate"] == 0.5
    lo, hi = wilson_ci(1, 2)
    assert table.loc["55%-65%", ["ci_low", "ci_high"]].tolist() == pytest.approx([lo, hi])
    assert np.isnan(table.loc["75%-100%", "win_rate"])


def test_questions_bins(small):
    table = m.win_rate_by_questions(small)
    assert table["deals"].sum() == 4                 # closed deals with a conversation
    assert table.loc["8-11", "won"] == 1 and table.loc["11+", "deals"] == 1


def test_silent_attendees_compare_first_conversations_with_two_or_more(small):
    table = m.silent_attendees(small)
    assert table.loc["someone never spoke", "deals"] == 2          # A (3 of 5 spoke) and E (6 of 8)
    assert table.loc["everyone spoke", "deals"] == 1               # C (B had one attendee)
    assert table.loc["someone never spoke", "mean_attendees"] == pytest.approx(6.5)
    assert table.attrs["silent_meeting_share"] == pytest.approx(2 / 5)


def test_first_meeting_attendees_and_formats(small):
    table = m.win_rate_by_first_meeting_attendees(small, cap=5)
    assert table.loc["5+", "deals"] == 2 and table.loc["5+", "won"] == 1     # A (5) and E (8, pooled)
    formats = m.first_meeting_formats(small)
    assert formats.loc["lunch", "bookings"] == 2 and formats.loc["lunch", "show_rate"] == 0.5
    assert formats.loc["meeting", "bookings"] == 2 and formats.loc["meeting", "show_rate"] == 0.0
    assert formats.loc["video", "deals"] == 3 and formats.loc["video", "show_rate"] == 1.0
    assert formats.loc["lunch", "attendees"] == 5


@pytest.mark.parametrize(("fn", "missing"), [
    (m.win_rate_by_rep_talk, "customer_talk_share"),
    (m.win_rate_by_questions, "questions"),
    (m.silent_attendees, "attendees_spoke"),
    (m.win_rate_by_first_meeting_attendees, "attendees"),
    (m.first_meeting_formats, "outcome"),
])
def test_each_analysis_names_the_columns_it_lacks(small, fn, missing):
    bare = sim.Tables(opportunities=small.opportunities, activities=small.activities.drop(columns=[missing]))
    with pytest.raises(MissingColumns, match=missing):
        fn(bare)


def test_an_export_without_activities_is_skipped_not_crashed():
    empty = sim.Tables(opportunities=pd.DataFrame({"opportunity_id": ["A"], "outcome": ["won"]}))
    with pytest.raises(MissingColumns):
        m.win_rate_by_rep_talk(empty)


def test_on_a_simulated_run_the_analyses_see_the_meetings():
    res = sim.simulate(sim.Scenario.preset("meetings"), seed=3)
    closed = (res.tables.opportunities["outcome"] != "open").sum()
    talk = m.win_rate_by_rep_talk(res.tables)
    assert talk["deals"].sum() == closed - res.tables.opportunities["loss_reason"].eq("no first meeting").sum()
    formats = m.first_meeting_formats(res.tables)
    assert set(formats.index) == {"lunch", "meeting", "video"}
    assert formats.loc["lunch", "show_rate"] > formats.loc["meeting", "show_rate"]
    assert formats.loc["lunch", "attendees"] > formats.loc["video", "attendees"]
    fig = m.win_rate_figure(talk, "rep talk share in the first conversation [%]", "title")
    ax = fig.axes[0]
    assert ax.get_title() == "title" and "win rate" in ax.get_ylabel() and "[%]" in ax.get_xlabel()
