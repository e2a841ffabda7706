"""n="auto": replications are added until the interval is as narrow as asked, deterministically, with a cap."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core.stats import mean_ci, paired_diff_ci


@pytest.fixture(scope="module")
def quick(short_baseline) -> sim.Scenario:
    return short_baseline.replace(days=90)


def half_width(values, baseline=None) -> float:
    _, lo, hi = mean_ci(values) if baseline is None else paired_diff_ci(values, baseline)
    return (hi - lo) / 2


def test_stops_once_the_mean_is_known_to_the_precision_asked(quick):
    runs = sim.replicate(quick, n="auto", precision=0.1, seed=3, progress=False, executor="serial")
    status = runs.attrs["precision"]
    assert status["reached"] and status["n"] == len(runs) >= 20
    # what it reports is what the returned runs give
    assert status["half_width"] == pytest.approx(half_width(runs["bookings"]))
    assert status["target"] == pytest.approx(0.1 * runs["bookings"].mean())
    assert status["half_width"] <= status["target"]


def test_a_tighter_precision_takes_more_replications(quick):
    loose = sim.replicate(quick, n="auto", precision=0.2, seed=3, progress=False, executor="serial")
    tight = sim.replicate(quick, n="auto", precision=0.06, seed=3, progress=False, executor="serial")
    assert len(tight) > len(loose)
    assert tight.attrs["precision"]["half_width"] < loose.attrs["precision"]["half_width"]


def test_added_replications_never_change_the_earlier_ones(quick):
    auto = sim.replicate(quick, n="auto", precision=0.06, seed=3, progress=False, executor="serial")
    fixed = sim.replicate(quick, n=len(auto), seed=3, progress=False, executor="serial")
    pd.testing.assert_frame_equal(auto, fixed)


def test_same_seed_same_answer_serial_or_parallel(quick):
    serial = sim.replicate(quick, n="auto", precision=0.07, seed=5, progress=False, executor="serial")
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = sim.replicate(quick, n="auto", precision=0.07, seed=5, progress=False, executor=pool)
    pd.testing.assert_frame_equal(serial, pooled)
    assert serial.attrs == pooled.attrs


def test_the_cap_is_honoured_and_says_the_target_was_missed(quick):
    runs = sim.replicate(quick, n=25, precision=1e-6, seed=3, progress=False, executor="serial")
    status = runs.attrs["precision"]
    assert len(runs) == 25 and status["n"] == 25 and not status["reached"]
    assert status["half_width"] > status["target"]
    capped = sim.replicate(quick, n="auto", max_n=22, precision=1e-6, seed=3, progress=False, executor="serial")
    assert len(capped) == 22


def test_compare_watches_the_paired_difference(quick):
    more = quick.replace({"reps.count": 10})
    table = sim.compare({"8 reps": quick, "10 reps": more}, n="auto", precision=0.05, seed=4, progress=False,
                        executor="serial")
    status = table.attrs["precision"]
    row = table.loc[("10 reps", "bookings")]
    assert status["reached"]
    assert (row["diff_high"] - row["diff_low"]) / 2 == pytest.approx(status["half_width"])
    assert status["half_width"] <= 0.05 * table.loc[("8 reps", "bookings"), "mean"]
    # common random numbers: the difference is known much better than either mean, so few runs suffice
    assert (row["ci_high"] - row["ci_low"]) / 2 > 2 * status["half_width"]


def test_another_metric_can_be_watched(quick):
    runs = sim.replicate_each({"a": quick}, n="auto", metric="win_rate", precision=0.05, seed=2, progress=False,
                              executor="serial")
    assert runs.attrs["precision"]["metric"] == "win_rate"
    assert half_width(runs["win_rate"]) <= 0.05 * runs["win_rate"].mean()


def test_bad_settings_are_named(quick):
    with pytest.raises(ValueError, match="precision: -1"):
        sim.replicate(quick, n="auto", precision=-1)
    with pytest.raises(ValueError, match="n: 'lots'"):
        sim.replicate(quick, n="lots")
    with pytest.raises(ValueError, match="metric: 'revenue' is not measured"):
        sim.replicate(quick, n="auto", metric="revenue", progress=False, executor="serial", max_n=20)
    with pytest.raises(ValueError, match="max_n: 0"):
        sim.replicate(quick, n="auto", max_n=0)
    assert np.isfinite(sim.replicate(quick, n=3, progress=False)["bookings"]).all()



def test_a_move_that_just_misses_at_its_first_round_takes_a_few_more_runs_not_ten(quick):
    """The explorer adds at least 4 replications a round (`step`), not 10: when its first round of 10 just misses
    the precision, it answers after the few runs the interval needs, and they are the runs a larger step makes."""
    pair = {"8 reps": quick, "10 reps": quick.replace({"reps.count": 10})}
    ten = sim.replicate_each(pair, 10, seed=3, progress=False, executor="serial")
    base, more = (ten[ten["scenario"] == s]["bookings"].to_numpy() for s in pair)
    _, lo, hi = paired_diff_ci(more, base)
    just_missed = 0.97 * (hi - lo) / 2 / base.mean()          # a precision 10 runs miss by 3%
    ask = dict(n="auto", seed=3, precision=just_missed, first=10, progress=False, executor="serial")
    coarse = sim.replicate_each(pair, **ask)
    fine = sim.replicate_each(pair, step=4, **ask)
    assert coarse.attrs["precision"]["reached"] and fine.attrs["precision"]["reached"]
    assert coarse.attrs["precision"]["n"] == 20 and fine.attrs["precision"]["n"] == 14
    at_14 = coarse[coarse["replication"] < 14].reset_index(drop=True)
    pd.testing.assert_frame_equal(fine.sort_values(["scenario", "replication"]).reset_index(drop=True),
                                  at_14.sort_values(["scenario", "replication"]).reset_index(drop=True))
    with pytest.raises(ValueError, match="step: 0"):
        sim.replicate_each(pair, n="auto", step=0)
