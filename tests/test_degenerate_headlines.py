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
