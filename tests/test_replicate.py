"""Replications: common seeds, identical results on any executor, and honest confidence intervals."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

import sim
from sim.core.stats import mean_ci, paired_diff_ci


@pytest.fixture(scope="module")
def quick(short_baseline) -> sim.Scenario:
    return short_baseline.replace(days=60)


def test_replicate_returns_one_row_per_replication(quick):
    runs = sim.replicate(quick, n=5, seed=7, progress=False)
    assert list(runs["replication"]) == [0, 1, 2, 3, 4]
    assert {"bookings", "win_rate", "median_cycle_days", "rep_utilisation"} <= set(runs.columns)
    assert runs["leads"].nunique() > 1, "replications differ"


def test_serial_process_pool_and_dask_agree(quick):
    serial = sim.replicate(quick, n=6, seed=7, executor="serial", progress=False)
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = sim.replicate(quick, n=6, seed=7, executor=pool, progress=False)
    pd.testing.assert_frame_equal(serial, pooled)

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        dasked = sim.replicate(quick, n=6, seed=7, executor=client.get_executor(), progress=False)
    pd.testing.assert_frame_equal(serial, dasked)


def test_replication_i_uses_the_same_seed_in_every_scenario(quick):
    runs = sim.replicate_each({"a": quick, "b": quick.replace(name="b")}, n=4, seed=3, progress=False)
    a, b = (runs[runs["scenario"] == s].drop(columns="scenario").reset_index(drop=True) for s in "ab")
    pd.testing.assert_frame_equal(a, b)


def known_difference() -> tuple[sim.Scenario, sim.Scenario, float]:
    """One stage, no capacity limit, fit and hidden truth that do not matter: win rate is exactly 1 - loss chance."""
    one = dict(name="Decide", median_days=5, rep_hours=0, stall_chance=0)
    base = sim.Scenario.build({
        "name": "loss 0.5", "days": 120, "market": {"leads_per_month": 60}, "accounts": {"repeat_per_year": 0},
        "stages": [{**one, "loss_chance": 0.5}], "fit_effects": {"on_loss": 0},
        "truth": {"on_budget": 0, "on_power": 0, "on_competitor": 0},
    })
    return base, base.replace(name="loss 0.3", stages=[{**one, "loss_chance": 0.3}]), 0.2


def test_compare_ci_covers_a_known_difference():
    base, better, truth = known_difference()
    cmp = sim.compare({"loss 0.5": base, "loss 0.3": better}, n=40, seed=21, metrics=["win_rate"], progress=False)
    row = cmp.loc[("loss 0.3", "win_rate")]
    assert row["diff_low"] < truth < row["diff_high"]
    assert cmp.loc[("loss 0.5", "win_rate"), "ci_low"] < 0.5 < cmp.loc[("loss 0.5", "win_rate"), "ci_high"]
    assert cmp.loc[("loss 0.5", "win_rate"), "diff"] == 0


def test_ci_coverage_is_near_nominal():
    """Over 100 small comparisons (4 paired replications each) with a known answer, about 95 of the 95%
    intervals cover it: at least 88 (not too narrow) and at most 99 (not too wide; a true 95% interval covers
    all 100 with chance 0.6%). The same runs with 80% or 99.9% intervals fall outside these bounds, so the
    test can tell an interval of the wrong width."""
    base, better, truth = known_difference()
    base, better = base.replace(days=40), better.replace(days=40)
    runs = sim.replicate_each({"a": base, "b": better}, n=400, seed=5, progress=False, executor="serial")
    a = runs[runs["scenario"] == "a"]["win_rate"].to_numpy()
    b = runs[runs["scenario"] == "b"]["win_rate"].to_numpy()

    def coverage(confidence: float) -> float:
        cis = [paired_diff_ci(b[k:k + 4], a[k:k + 4], confidence) for k in range(0, 400, 4)]
        return float(np.mean([lo < truth < hi for _, lo, hi in cis]))

    assert 0.88 <= coverage(0.95) <= 0.99
    assert coverage(0.80) < 0.88 and coverage(0.999) > 0.99


def test_mean_ci_matches_textbook_values():
    mean, lo, hi = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0 and hi - mean == pytest.approx(2.776445 * np.sqrt(2.5) / np.sqrt(5), rel=1e-6)
    assert np.isnan(mean_ci([np.nan])[0]) and np.isnan(mean_ci([1.0])[1])
    with pytest.raises(ValueError, match="equal numbers"):
        paired_diff_ci([1, 2], [1, 2, 3])


def test_bad_arguments_are_named(quick):
    with pytest.raises(ValueError, match="n: 0"):
        sim.replicate(quick, n=0)
    with pytest.raises(TypeError, match="not a sim.Scenario"):
        sim.compare({"x": "baseline"}, n=2)
    with pytest.raises(ValueError, match="executor"):
        sim.replicate(quick, n=2, executor="threads")


def test_the_verdict_helpers_read_an_interval_for_a_difference():
    from sim.core.stats import excludes_zero, verdict, with_interval
    assert verdict(-3.0, -1.0) == "lower" and verdict(1.0, 3.0) == "higher" and verdict(-1.0, 2.0) == "not shown"
    assert verdict(float("nan"), float("nan")) == "not shown"                 # unknown is not shown
    assert verdict(-3.0, -1.0, below="closer", above="further off") == "closer"
    assert excludes_zero(0.5, 2.0) and excludes_zero(-2.0, -0.5) and not excludes_zero(-0.5, 0.5)
    assert not excludes_zero(0.0, 1.0)                                        # touching zero is not excluding it
    assert with_interval(1200, 300, 2100) == "+1,200 (95% CI +300 to +2,100)"
