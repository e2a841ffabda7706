"""What a comparison of two rates can detect: textbook sample sizes and the reader's sentence."""

import math

import numpy as np
import pytest

from sim.core.stats import cannot_tell, deals_needed, detectable, min_detectable_difference


def test_sample_size_matches_the_textbook_value():
    # 50% vs 60% at 80% power and a two-sided 5% level: 385 a side (Fleiss, uncorrected normal formula)
    assert deals_needed(0.5, 0.6) == 385
    assert deals_needed(0.6, 0.5) == 385
    # 20% vs 30%: 2.8016^2 * (0.16 + 0.21) / 0.01 = 290.4 -> 291
    assert deals_needed(0.2, 0.3) == 291
    with pytest.raises(ValueError, match="equal"):
        deals_needed(0.3, 0.3)


def test_minimum_detectable_difference_known_values_and_scaling():
    # 100 a side at 50%: 2.8016 * sqrt(0.25 * 0.02) = 0.198
    assert min_detectable_difference(100, 100, 0.5) == pytest.approx(0.1981, abs=1e-3)
    # four times the deals halve it
    assert min_detectable_difference(400, 400, 0.5) == pytest.approx(min_detectable_difference(100, 100, 0.5) / 2)
    assert math.isnan(min_detectable_difference(0, 10, 0.5))


def test_power_is_what_it_says_by_simulation():
    """Groups sized by deals_needed detect the difference about 80% of the time (z test at 5%)."""
    rng = np.random.default_rng(1)
    n = deals_needed(0.25, 0.35)
    a, b = rng.binomial(n, 0.35, 4000) / n, rng.binomial(n, 0.25, 4000) / n
    pooled = (a + b) / 2
    z = (a - b) / np.sqrt(pooled * (1 - pooled) * 2 / n)
    assert 0.77 < float(np.mean(np.abs(z) > 1.96)) < 0.83


def test_small_groups_say_what_they_cannot_tell_apart():
    # the demo card's case: about a quarter won on each side of 24 deals
    d = detectable(6, 24, 7, 27, "talking under 45%", "65% or more", target=0.033)
    assert not d.shown
    assert d.mdd > 0.3
    assert d.deals_needed is not None and d.deals_needed > 2500
    s = d.sentence()
    assert "your data cannot tell apart a difference smaller than" in s and f"{d.deals_needed:,} deals" in s
    assert d.to_dict()["mdd"] == d.mdd


def test_a_large_clear_difference_is_shown():
    d = detectable(300, 600, 150, 600, "lunch", "video")
    assert d.shown and d.low > 0
    assert "which your data can show" in d.sentence()
    assert d.difference == pytest.approx(0.25)


def test_cannot_tell_wording_and_bad_input():
    assert cannot_tell(0.123, 1500) == ("your data cannot tell apart a difference smaller than 12 points "
                                        "(you would need about 1,500 deals).")
    with pytest.raises(ValueError, match="both groups"):
        detectable(0, 0, 1, 2)


def test_group_comparisons_pick_the_best_and_worst_groups_with_enough_deals():
    import pandas as pd

    from sim.analysis.effects import best_and_worst

    table = pd.DataFrame({"closed": [200, 150, 5], "won": [100, 30, 5]}, index=["high", "low", "tiny"])
    d = best_and_worst(table, "fit band")
    assert (d.label_a, d.label_b) == ("fit band high", "fit band low")        # 'tiny' has too few closed deals
    assert d.difference == pytest.approx(0.5 - 0.2) and d.shown
    assert best_and_worst(table.iloc[:1], "fit band") is None


def test_data_half_comparisons_on_a_simulated_export_say_what_they_can_detect():
    import sim
    from sim.analysis import effects

    tables = sim.simulate(sim.Scenario.preset("demo").replace(days=365), seed=2).tables
    talk = effects.talk_comparison(tables, target=0.03)
    many = effects.attendee_comparison(tables, target=0.03)
    bug = effects.bug_comparison(tables)
    source = effects.source_comparison(tables.opportunities)
    for d in (talk, many, bug, source):
        assert d is not None and d.mdd > 0 and 0 <= d.rate_a <= 1
    # a 3-point what-if effect needs thousands of deals; a year of the demo team has hundreds
    assert talk.deals_needed > 5 * (talk.n_a + talk.n_b)
    assert "cannot tell apart" in talk.sentence() or talk.shown


def test_two_groups_that_all_won_are_not_said_to_resolve_a_zero_point_difference():
    """A funnel that never marks a deal lost: 100% against 100% once read "your data cannot tell apart a difference
    smaller than 0 points", as if it could tell any difference at all."""
    both_won = detectable(80, 80, 24, 24, "Organic search", "Email")
    assert both_won.sentence() == ("Organic search: 100% of 80 deals; Email: 100% of 24: every one of these deals "
                                   "won, so this data cannot compare the two groups at all.")
    assert "every one of these deals was lost" in detectable(0, 30, 0, 40).sentence()
    assert "smaller than" in detectable(29, 30, 40, 40).sentence()       # some spread: the usual reading


def test_a_headlines_days_to_win_never_reads_a_median_of_0_days(orders):
    """Order lines are won the day they are created: card 01 once read "phone wins 95% of its closed deals ... in a
    median 0 days to win"."""
    from sim.analysis import model_cards
    from sim.core.stats import days_to_win_words

    assert days_to_win_words(0.0) == " in under a day (median)" and days_to_win_words(float("nan")) == ""
    assert days_to_win_words(141.2) == " in a median 141 days to win"
    headline = model_cards.data_headline(orders.opportunities)
    assert "median 0 days" not in headline and "in under a day (median)" in headline, headline
