"""What-if headlines whose inputs are degenerate say why instead of a number (issue 23): on a calibrated
pipeline with one segment, card 01 read "0 days sooner (95% CI 0 to 0)"; with a quota out of the pipeline's
reach, card 07 read "an award goes to nobody 100% of the time"."""

from __future__ import annotations

import numpy as np
import pandas as pd

import sim
from sim.experiments import force_concentration as fc
from sim.experiments import incentive_design as design
from sim.views import incentive_design as view


def _one_segment(baseline: sim.Scenario) -> sim.Scenario:
    """The baseline as a calibration of an export without a segment column sees it: one segment, 'All deals'."""
    seg = baseline.segments[0].model_dump() | {"name": "All deals", "share": 1.0}
    return baseline.replace({"segments": [seg]})


def test_focus_on_the_only_segment_says_there_is_nothing_to_put_first(baseline):
    one = _one_segment(baseline)
    runs = fc.run(fc.variants(one, ["All deals"], "All deals", roomy_reps=4), n_customers=3, replications=2, seed=1)
    gains = fc.gains(runs, "days_to_3_customers")
    assert (gains[["diff", "diff_low", "diff_high"]].to_numpy() == 0).all()      # the degenerate input is real
    headline = fc.gain_headline(gains, "All deals", 3)
    assert "one segment (All deals)" in headline and "Map a segment column" in headline
    assert "0 days sooner" not in headline
    fit = fc.fit_part(runs, "All deals", "All deals", "days_to_3_customers")
    assert fc.cause_sentence(gains, fit, "All deals", "All deals", "4 reps, time to spare") == headline


def test_focus_headlines_keep_their_numbers_when_segments_differ():
    idx = pd.MultiIndex.from_tuples([(fc.AS_MODELLED, "focus on A"), (fc.AS_MODELLED, "focus on B")], names=["variant", "policy"])
    gains = pd.DataFrame({"mean": [40.0, 60.0], "spread": [60.0, 60.0], "diff": [-20.0, 0.0],
                          "diff_low": [-30.0, -5.0], "diff_high": [-10.0, 5.0]}, index=idx)
    assert fc.nothing_to_focus(gains) is None
    assert "20 days sooner (95% CI from 10 days sooner to 30 days sooner)" in fc.gain_headline(gains, "A", 5)
    flat = gains.assign(diff=0.0, diff_low=0.0, diff_high=0.0)        # two segments, yet no run moved
    assert fc.gain_headline(flat, "A", 5) == fc.NO_CHANGE
    summary = pd.DataFrame({"diff": [0.0], "diff_low": [0.0], "diff_high": [0.0]},
                           index=pd.MultiIndex.from_tuples([("focus on A", "days_to_5_customers")]))
    assert fc.focus_headline(summary, "A", 5) == fc.NO_CHANGE


def test_rules_that_never_pay_say_the_bar_is_out_of_the_pipelines_reach(baseline):
    small = baseline.replace({"reps.count": 2, "market.leads_per_month": 20})
    world = design.incentive_world(small, years=1, quota=40_000_000, warmup_days=30)
    rules = [{"name": "Porsche", "kind": "absolute", "award": 80000, "over_quota": 0.5}]
    summary = design.design_summary(design.design(world, rules, "monthly", n=2, seed=7, progress=False), seed=7)
    yours = summary.loc["your rules"]
    assert yours["no_winner"] == 1.0 and yours["decided"] == 2 and yours["payout"] == 0      # nobody ever won
    assert yours["bar"] == 1.5 and yours["quota"] == 40_000_000 and yours["reps"] == 2
    headline = view.design_headline(summary, "EUR")
    assert "100%" not in headline and headline.startswith("Your rules never paid in this simulation")
    pace = summary.loc["no programme", "bookings"] / 2
    assert f"the bar asks for {1.5 * 40e6 / pace:,.1f} times that pace" in headline
    assert "quota of 40.00 million" in headline and "sim_quota" in headline and "EUR" in headline
    assert "The relative version (someone always wins)" in headline


def test_rules_that_sometimes_pay_keep_the_number():
    rows = {"no programme": {"no_winner": np.nan, "decided": 0.0, "bookings": 5e6, "uplift": 0.0, "uplift_low": 0.0,
                             "uplift_high": 0.0, "payout": 0.0},
            "your rules": {"no_winner": 0.5, "no_winner_low": 0.3, "no_winner_high": 0.7, "decided": 18.0, "bar": 1.5,
                           "quota": 1.2e6, "reps": 6.0, "bookings": 5.2e6, "uplift": 2e5, "uplift_low": -1e4,
                           "uplift_high": 4e5, "payout": 4e4}}
    summary = pd.DataFrame(rows).T
    assert view.never_paid(summary) is None
    assert view.design_headline(summary).startswith("Your rules: an award goes to nobody 50% of the time")


def test_a_recovery_the_same_in_every_resample_is_said_without_a_zero_width_interval():
    from sim.experiments import remain_aggressive as downturn

    cut = "cut 50%"
    table = pd.DataFrame({"bookings_per_cost": [0.07, 0.02, 0.02], "months_to_recover": [3.0, 3.0, 3.0]},
                         index=["hold and refocus", "hold", cut])
    same = downturn.headline(table, cut, (0.0, 0.0, 0.0))
    assert "(95% CI 0 to 0)" not in same and "in the same month as the held one in every resample" in same
    assert "does not change when bookings recover" in same
    never = downturn.headline(table.assign(months_to_recover=np.nan), cut, (0.0, 0.0, 0.0))
    assert "neither the cut team nor the held one gets back to 80%" in never and "not measured" in never
    later = downturn.headline(table, cut, (2.0, 2.0, 2.0))
    assert "2 months later than the held one in every resample" in later and "does not change" not in later
    shown = downturn.headline(table, cut, (5.0, 1.0, 9.0))
    assert shown.endswith("takes 5 months longer to get back to 80% of normal bookings (95% CI 1 to 9).")


def test_when_taking_every_lead_books_the_most_the_headline_says_so_in_the_pipelines_units():
    from sim.experiments import sweet_spot

    summary = pd.DataFrame({"bookings": [21_000.0, 20_500.0, 18_000.0], "win_rate": [0.93, 0.93, 0.94]},
                           index=pd.Index([0.0, 0.2, 0.4], name="threshold"))
    text = sweet_spot.sweep_headline(summary, "USD")
    assert "below fit 0.00" not in text and "+0% against taking every lead" not in text
    assert text.startswith("Taking every lead books the most, 21 thousand USD a year: no fit bar from 0.20 to 0.40")
    assert "fit 0.20, books 20 thousand, -2%" in text
    best = summary.assign(bookings=[2.89e6, 3.88e6, 3.5e6], win_rate=[0.23, 0.33, 0.35])
    assert sweet_spot.sweep_headline(best, "USD") == ("Qualifying out leads below fit 0.20 books 3.88 million USD a year, "
                                                      "+34% against taking every lead (2.89 million), with a win rate of "
                                                      "33% instead of 23%.")


def test_largest_first_on_a_team_with_time_for_every_deal_says_the_order_changes_nothing():
    from sim.experiments import pareto_fractal

    idx = pd.MultiIndex.from_product([[5, 12], ["bookings", "small_deals_won"]], names=["reps", "metric"])
    zero = pd.DataFrame({"even": [21_400.0, 30.0] * 2, "top first": [21_400.0, 30.0] * 2, "diff": 0.0, "diff_low": 0.0,
                         "diff_high": 0.0}, index=idx)
    text = pareto_fractal.gain_headline(zero, 5, 12, "USD")
    assert "+0.00 million" not in text and "(95% CI +0.0 to +0.0)" not in text
    assert "a 5-rep team has time for every deal it gets here" in text and "21 thousand USD over the run" in text
    moved = zero.copy()
    moved.loc[(5, "bookings"), ["diff", "diff_low", "diff_high"]] = [1.4e6, 1.21e6, 1.58e6]
    text = pareto_fractal.gain_headline(moved, 5, 12, "USD")
    assert text.startswith("A 5-rep team that works the largest deals first books +1.40 million USD "
                           "(95% CI +1.21 million to +1.58 million)")
    assert text.endswith("with 12 reps (time for every deal) the order changes nothing: the same bookings in every run.")
    moved.loc[(12, "bookings"), ["diff", "diff_low", "diff_high"]] = [6e4, 0.0, 1.1e5]     # the stored notebook's case
    assert pareto_fractal.gain_headline(moved, 5, 12, "USD").endswith(
        "with 12 reps the bookings gain is +60 thousand (95% CI +0 to +110 thousand).")   # in words, not "+0.06 million"


def test_a_nurture_gain_of_small_orders_is_said_in_units_not_as_0_thousand():
    from sim.experiments import second_place

    even = {"break_even": 0.38, "sure_below": 0.38, "sure_above": np.nan}
    small = pd.DataFrame({"gain": [-50.0, 120.0], "gain_low": [-300.0, -340.0], "gain_high": [200.0, 420.0]},
                         index=[0.2, 0.8])
    assert "adds 120 USD of two-year bookings (95% CI -340 to 420)" in second_place.headline(small, even)
    big = small * 1000
    assert "adds 120 thousand USD of two-year bookings (95% CI -340 to 420)" in second_place.headline(big, even)
