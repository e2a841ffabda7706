"""The process's run cache (`sim.experiments.replicate.remember_runs`): a run asked for again is not made again,
and the numbers are the same as without it."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

import sim
from sim.experiments import replicate as R
from sim.experiments.forecast_discipline import forecast_measure


@pytest.fixture()
def cache():
    runs = R.remember_runs()
    yield runs
    R.remember_runs(False)


@pytest.fixture(scope="module")
def short() -> sim.Scenario:
    return sim.Scenario.preset("baseline").replace(days=60)


def test_a_run_asked_for_again_is_served_with_the_same_numbers(cache, short):
    scs = {"8 reps": short, "6 reps": short.replace({"reps.count": 6})}
    measure = functools.partial(forecast_measure, horizons=(4,))
    R.remember_runs(False)
    without = sim.replicate_each(scs, n=3, seed=5, executor="serial", progress=False, measure=measure)
    R.remember_runs()
    first = sim.replicate_each(scs, n=3, seed=5, executor="serial", progress=False, measure=measure)
    assert (cache.made, cache.hits) == (6, 0)
    more = sim.replicate_each(scs, n=4, seed=5, executor="serial", progress=False, measure=measure)
    assert (cache.made, cache.hits) == (8, 6)                       # only the fourth replications are new
    pd.testing.assert_frame_equal(without, first)
    pd.testing.assert_frame_equal(without, more[more["replication"] < 3].reset_index(drop=True))
    metrics = sim.replicate_each({"8 reps": short}, n=3, seed=5, executor="serial", progress=False)
    assert cache.made == 8                                          # the headline metrics were kept with each run
    assert metrics["bookings"].tolist() == without.loc[without["scenario"] == "8 reps", "bookings"].tolist()


def test_equal_scenarios_under_two_names_run_once(cache, short):
    runs = sim.replicate_each({"a": short, "the same": short.replace({"name": "spread"})}, n=2, seed=1,
                              executor="serial", progress=False)
    assert cache.made == 2
    a, b = (runs[runs["scenario"] == s].drop(columns="scenario").reset_index(drop=True) for s in ("a", "the same"))
    pd.testing.assert_frame_equal(a, b)
    R.remember_runs(False)           # a name changes nothing in a run: the same numbers made apart
    apart = sim.replicate_each({"spread": short.replace({"name": "spread"})}, n=2, seed=1, executor="serial", progress=False)
    pd.testing.assert_frame_equal(a, apart.drop(columns="scenario"))


def test_a_measure_that_cannot_be_named_is_never_served_from_the_cache(cache, short):
    calls = []

    def counted(result):
        calls.append(1)
        return {"bookings": result.metrics["bookings"]}

    for _ in range(2):
        sim.replicate_each({"a": short}, n=2, seed=1, executor="serial", progress=False, measure=counted)
    assert len(calls) == 4 and cache.hits == 0
    assert R.measure_key(counted) is None and R.measure_key(lambda r: {}) is None


def test_with_metrics_adds_the_runs_headline_metrics(short):
    runs = sim.replicate_each({"a": short}, n=2, seed=1, executor="serial", progress=False,
                              measure=functools.partial(forecast_measure, horizons=(4,)), with_metrics=("rep_utilisation",))
    plain = sim.replicate_each({"a": short}, n=2, seed=1, executor="serial", progress=False)
    assert runs["rep_utilisation"].tolist() == plain["rep_utilisation"].tolist()


def test_the_cache_keeps_at_most_its_limit(short):
    cache = R.RunCache(limit=2)
    cache.on = True
    for i in range(3):
        cache.put(("s", 0, i), "m", {"x": float(i)}, {"bookings": 1.0})
    assert cache.get(("s", 0, 0), "m") is None and cache.get(("s", 0, 2), "m") == {"x": 2.0}
