"""The data headlines of notebooks 02, 03, 06, 07, 08, 09 and 10: the sentence on the report's card says what the
notebook measured on the data (an export, or its simulated stand-in), with the counts and intervals of the
analysis it summarises, and still says something true when the data has less to show."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim.analysis import evaluation, incentives, meetings, orbits, second_place, trials
from sim.core.stats import wilson_ci

T0 = pd.Timestamp("2026-01-01")


def _ci(k: int, n: int) -> str:
    lo, hi = wilson_ci(k, n)
    return f"95% CI {float(lo):.0%}-{float(hi):.0%}"


def _deals(outcomes: list[str]) -> pd.DataFrame:
    n = len(outcomes)
    return pd.DataFrame({"opportunity_id": [f"O{i}" for i in range(n)], "account_id": [f"A{i}" for i in range(n)],
                         "outcome": outcomes, "created_at": [T0] * n,
                         "closed_at": [T0 + pd.Timedelta(days=30)] * n})


def test_talk_headline_splits_first_conversations_by_the_reps_talk_share():
    # 10 deals: 4 where the rep talked 30% (3 won), 4 where the rep talked 70% (1 won), 2 in between
    outcomes = ["won"] * 3 + ["lost"] + ["won"] + ["lost"] * 3 + ["won", "lost"]
    opp = _deals(outcomes)
    rep_talk = [0.3] * 4 + [0.7] * 4 + [0.5] * 2
    acts = pd.DataFrame({"opportunity_id": opp["opportunity_id"], "at": T0,
                         "customer_talk_share": [1 - r for r in rep_talk]})
    # a later, louder conversation of the first deal does not count: only the first one is read
    acts = pd.concat([acts, pd.DataFrame({"opportunity_id": ["O0"], "at": [T0 + pd.Timedelta(days=5)],
                                          "customer_talk_share": [0.1]})])
    text = meetings.talk_headline(SimpleNamespace(opportunities=opp, activities=acts), 0.45, 0.65)
    assert text == (f"Deals whose first conversation had the rep talking under 45% of it won 75% ({_ci(3, 4)}, "
                    f"4 closed deals); those at 65% or more won 25% ({_ci(1, 4)}, 4 closed deals).")


def test_talk_headline_says_when_no_deal_falls_on_one_side():
    opp = _deals(["won", "lost"])
    acts = pd.DataFrame({"opportunity_id": opp["opportunity_id"], "at": T0, "customer_talk_share": [0.7, 0.6]})
    text = meetings.talk_headline(SimpleNamespace(opportunities=opp, activities=acts))
    assert text.endswith("those at 65% or more were none.")


def test_attendees_headline_pools_single_and_several_attendee_meetings():
    table = pd.DataFrame({"deals": [10, 6, 4], "won": [2, 3, 2]}, index=pd.Index(["1", "2", "3+"]))
    text = meetings.attendees_headline(table)
    assert text == (f"Deals whose first meeting had one customer attendee won 20% ({_ci(2, 10)}, 10 closed deals); "
                    f"those with 2 or more customer attendees won 50% ({_ci(5, 10)}, 10 closed deals).")
    assert "fewer than 3 customer attendees won 31%" in meetings.attendees_headline(table, several=3)


def test_referral_headline_reads_the_referral_table():
    opp = pd.DataFrame({"lead_source": ["Referral"] * 4 + ["Inbound"] * 6,
                        "outcome": ["won", "won", "won", "lost"] + ["won", "lost", "lost", "lost", "lost", "open"],
                        "created_at": T0, "closed_at": T0 + pd.Timedelta(days=40)})
    text = orbits.referral_headline(orbits.referral_performance(opp))
    assert text == (f"Referral deals win 75% of their closed deals ({_ci(3, 4)}, 4 closed) in a median 40 days to "
                    f"win; the other deals win 20% of their closed deals ({_ci(1, 5)}, 5 closed) in a median 40 days to win.")
    none = orbits.referral_headline(orbits.referral_performance(opp[opp["lead_source"] == "Inbound"]))
    assert none.startswith("No closed deal in this data came from a referral source; the other deals win 20%")


def test_bug_headline_prefers_the_deals_that_met_a_bug_and_falls_back_to_loss_reasons():
    impact = pd.DataFrame({"deals": [100, 50], "won": [60, 20], "win_rate": [0.6, 0.4], "win_rate_low": [0.5, 0.27],
                           "win_rate_high": [0.69, 0.54], "median_days_to_win": [80.0, 90.0],
                           "median_price_ratio": [0.9, 0.8]}, index=["no bug", "met a bug"])
    text = evaluation.data_headline("Evaluation", impact=impact)
    assert text == ("Of the closed deals that reached Evaluation, those whose customer met a bug won 40% (95% CI "
                    "27%-54%, 50 deals) against 60% (50%-69%, 100 deals) for those that met none, and signed a median "
                    "80% of their first estimate against 90%.")
    opp = pd.DataFrame({"outcome": ["lost"] * 5, "stage": ["Evaluation"] * 3 + ["Intro"] * 2,
                        "loss_reason": ["bug in demo", "price", "price", "timing", "crash"]})
    losses = evaluation.stage_of_loss(opp, ["Intro", "Evaluation"])
    text = evaluation.data_headline("Evaluation", losses=losses)
    assert text == f"2 of 5 lost deals name a bug as the reason; in Evaluation, bugs are 33% of the losses ({_ci(1, 3)}, 3 deals lost there)."
    with pytest.raises(ValueError, match="needs bug_impact or stage_of_loss"):
        evaluation.data_headline("Evaluation")


def test_attainment_headline_names_the_spread_and_the_bars_chance():
    att = pd.DataFrame({"owner": ["a", "b"] * 4, "period": np.repeat(["Q1", "Q2", "Q3", "Q4"], 2),
                        "quota": 100.0, "bookings": [200, 50, 160, 40, 100, 90, 90, 60]})
    att["attainment"] = att["bookings"] / att["quota"]
    spread = incentives.attainment_spread(att)
    clears = incentives.chance_anyone_clears(att, 1.5, seed=1, n_boot=50)
    assert clears["chance"] == 0.5                                  # a cleared 150% in Q1 and Q2 only
    text = incentives.attainment_headline(spread, clears, 1.5, "quarter")
    assert text.startswith("Over the whole span, attainment runs from 60% (b) to 138% (a) of quota across 2 owners; "
                           "someone cleared 150% of quota in 50% of quarters (95% interval ")
    assert text.endswith(", 4 quarters of data).")


def test_win_back_headline_counts_accounts_lost_first_and_won_later():
    opp = pd.DataFrame({
        "opportunity_id": ["L1", "W1", "L2", "L3", "W3"],
        "account_id": ["A", "A", "B", "C", "C"],
        "outcome": ["lost", "won", "lost", "lost", "won"],
        "created_at": [T0, T0 + pd.Timedelta(days=50), T0, T0, T0 + pd.Timedelta(days=20)],
        "closed_at": [T0 + pd.Timedelta(days=10), T0 + pd.Timedelta(days=110), T0 + pd.Timedelta(days=10),
                      T0 + pd.Timedelta(days=10), T0 + pd.Timedelta(days=210)],
        "competitor": ["Rival A", None, "Rival A", "Rival B", None]})
    text = second_place.win_back_headline(second_place.win_backs(opp))
    assert text == (f"Of 3 accounts whose first closed deal was lost, 2 were won back so far (67%, {_ci(2, 3)}), a "
                    "median 150 days after the loss; most often from accounts lost to Rival B (1 of 1, 100%).")
    none = second_place.win_back_headline(second_place.win_backs(opp[opp["outcome"] == "won"]))
    assert none.startswith("No account in this data lost its first closed deal")


def test_trial_headline_reads_conversion_and_engagement_halves():
    rows = pd.DataFrame({"engagement_hours": [1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 5.0],
                         "converted": [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, np.nan]})
    text = trials.data_headline(rows)
    assert text == (f"Of the decided trials, 67% ({_ci(4, 6)}, 6 trials) converted; buyers above the median 6.5 "
                    f"hands-on hours converted 100% ({_ci(3, 3)}, 3 trials), those at or below it 33% ({_ci(1, 3)}, 3 trials).")
    no_hours = rows.assign(engagement_hours=np.nan)
    assert trials.data_headline(no_hours) == f"Of the decided trials, 67% ({_ci(4, 6)}, 6 trials) converted."
    with pytest.raises(ValueError, match="no trial in the data is decided yet"):
        trials.data_headline(rows.assign(converted=np.nan))
