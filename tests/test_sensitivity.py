"""Sensitivity: the tornado ranks an assumption that dominates by construction first, its swing's interval
excludes zero, and common random numbers are what make the small swings readable."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import sim


@pytest.fixture(scope="module")
def half_year():
    return sim.Scenario.preset("baseline").replace(days=183)


RANGES = {
    "market.leads_per_month": (30.0, 60.0),            # wide: the dominant assumption
    "deal_value.realisation_median": (0.83, 0.87),     # narrow
    "stages.3.rep_hours": (5.5, 6.5),                  # narrow, and not something an export shows
}


@pytest.fixture(scope="module")
def tornado(half_year):
    return sim.sensitivity(half_year, n=8, ranges=RANGES, days=183, seed=4, executor="serial", progress=False)


def test_the_dominant_assumption_ranks_first(tornado):
    t = tornado.table
    assert tornado.ranking()[0] == "market.leads_per_month"
    first = t.loc["market.leads_per_month"]
    assert first["swing_ci_low"] > 0                       # more leads, more bookings: the interval excludes zero
    assert first["swing"] > 5 * abs(t.loc["deal_value.realisation_median", "swing"])
    assert set(t["range"]) == {"given"} and list(t["rank"]) == [1, 2, 3]
    fig = tornado.figure()
    assert fig.axes[0].get_xlabel().startswith("bookings in 183 days [USD]")


def test_narrowing_the_dominant_range_takes_it_off_the_top(half_year):
    """Ablation: the ranking follows the ranges: the same assumption over a sliver of its range drops."""
    narrow = {**RANGES, "market.leads_per_month": (44.8, 45.2)}
    t = sim.sensitivity(half_year, n=8, ranges=narrow, days=183, seed=4, executor="serial", progress=False)
    assert t.ranking()[0] != "market.leads_per_month"


def test_common_random_numbers_make_small_swings_readable(tornado):
    """The realisation swing is small; paired on common seeds its interval is far narrower than comparing
    the two ends' runs as if they were independent (which is what the bars would show without them)."""
    t = tornado.table.loc["deal_value.realisation_median"]
    assert t["swing_ci_low"] > 0                           # a better realisation books more, shown with 8 runs
    runs = tornado.runs
    lo = runs.loc[runs["scenario"] == "deal_value.realisation_median=low", "bookings"].to_numpy()
    hi = runs.loc[runs["scenario"] == "deal_value.realisation_median=high", "bookings"].to_numpy()
    unpaired_half = stats.t.ppf(0.975, 2 * len(lo) - 2) * np.sqrt(lo.var(ddof=1) / len(lo) + hi.var(ddof=1) / len(hi))
    paired_half = (t["swing_ci_high"] - t["swing_ci_low"]) / 2
    assert paired_half < unpaired_half / 5
    assert unpaired_half > t["swing"]                      # unpaired, the swing would not even be shown


def test_calibrated_assumptions_use_their_intervals(half_year):
    export = sim.simulate(sim.Scenario.preset("baseline"), seed=11).tables
    sc = sim.calibrate(export, refine=False)
    t = sim.sensitivity(sc, n=4, paths=["market.leads_per_month", "segments.2.deal_size"], days=90, seed=1,
                        executor="serial", progress=False)
    e = sc.calibration.evidence["market.leads_per_month"]
    assert (t.table.loc["market.leads_per_month", ["low", "high"]].tolist() == [e.low, e.high])
    assert set(t.table["range"]) == {"95% CI"}


def test_bad_paths_and_ranges_are_named(half_year):
    with pytest.raises(ValueError, match="market.nope: there is no such field"):
        sim.sensitivity(half_year, n=2, ranges={"market.nope": (1, 2)})
    with pytest.raises(ValueError, match="reps.count: no range"):
        sim.sensitivity(half_year, n=2, paths=["reps.count"])
    with pytest.raises(ValueError, match="the range 0.5 to 0.4 is empty"):
        sim.sensitivity(half_year, n=2, ranges={"stages.0.loss_chance": (0.5, 0.4)})
    with pytest.raises(ValueError, match="the high end 2.0 is not allowed"):
        sim.sensitivity(half_year, n=2, ranges={"stages.0.loss_chance": (0.3, 2.0)})
    with pytest.raises(ValueError, match="give paths and ranges, or a calibrated scenario"):
        sim.sensitivity(half_year, n=2)
