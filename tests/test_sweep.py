"""sim.sweep: a grid x replications, streamed to Parquet, resumable, on a pool or a dask cluster."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest

import sim

GRID = {"reps.count": [3, 6], "market.leads_per_month": [30.0, 50.0]}
CALLS: list[int] = []
FAIL_AFTER: list[int] = []      # when set: the measure fails after this many runs (an interruption)


@pytest.fixture(scope="module")
def tiny(short_baseline) -> sim.Scenario:
    return short_baseline.replace(days=45)


def counting(result: sim.SimResult) -> dict[str, float]:
    """The headline metrics, counting the runs, failing on request (module level so pools can pickle it)."""
    CALLS.append(1)
    if FAIL_AFTER and len(CALLS) > FAIL_AFTER[0]:
        raise KeyboardInterrupt("stopped by the test")
    return result.metrics


def test_every_cell_runs_the_same_replications_as_replicate(tiny, tmp_path):
    sw = sim.sweep(tiny, GRID, n=6, seed=9, path=tmp_path, executor="serial", progress=False, chunk=4)
    runs = sw.read()
    assert len(runs) == 4 * 6 and list(sw.cells.columns) == ["cell", "reps.count", "market.leads_per_month"]
    one = runs[(runs["reps.count"] == 6) & (runs["market.leads_per_month"] == 50.0)].reset_index(drop=True)
    alone = sim.replicate(tiny.replace({"reps.count": 6, "market.leads_per_month": 50.0}), n=6, seed=9, progress=False,
                          executor="serial")
    pd.testing.assert_frame_equal(one[alone.columns].reset_index(drop=True), alone, check_dtype=False)
    assert len(sw.files()) == 4 * 2                       # cells x chunks of 4: one Parquet file per task
    summary = sw.summary(["bookings"])
    assert len(summary) == 4 and (summary["runs"] == 6).all() and (summary["ci_low"] <= summary["mean"]).all()


def test_an_interrupted_sweep_resumes_without_redoing_finished_work(tiny, tmp_path):
    CALLS.clear()
    FAIL_AFTER[:] = [9]
    with pytest.raises(KeyboardInterrupt):
        sim.sweep(tiny, GRID, n=6, seed=2, path=tmp_path / "s", executor="serial", progress=False, chunk=3,
                  measure=counting)
    written = len(list((tmp_path / "s").glob("cell*.parquet")))
    assert written == 3 and not list((tmp_path / "s").glob(".*.tmp"))   # three whole tasks, nothing half-written
    FAIL_AFTER.clear()
    CALLS.clear()
    resumed = sim.sweep(tiny, GRID, n=6, seed=2, path=tmp_path / "s", executor="serial", progress=False, chunk=3,
                        measure=counting)
    assert len(CALLS) == 4 * 6 - 3 * 3                     # only what was missing ran
    fresh = sim.sweep(tiny, GRID, n=6, seed=2, path=tmp_path / "fresh", executor="serial", progress=False, chunk=3,
                      measure=counting)
    pd.testing.assert_frame_equal(resumed.read(), fresh.read())


def test_a_pool_gives_the_same_results_as_serial(tiny, tmp_path):
    serial = sim.sweep(tiny, GRID, n=4, seed=5, path=tmp_path / "a", executor="serial", progress=False, chunk=2)
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = sim.sweep(tiny, GRID, n=4, seed=5, path=tmp_path / "b", executor=pool, progress=False, chunk=2)
    pd.testing.assert_frame_equal(serial.read(), pooled.read())


def test_runs_on_a_dask_cluster(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    serial = sim.sweep(tiny, GRID, n=3, seed=4, path=tmp_path / "a", executor="serial", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        dasked = sim.sweep(tiny, GRID, n=3, seed=4, path=tmp_path / "b", executor=client, progress=False)
    pd.testing.assert_frame_equal(serial.read(), dasked.read())


def test_the_same_folder_refuses_another_sweep(tiny, tmp_path):
    sim.sweep(tiny, {"reps.count": [3]}, n=2, path=tmp_path, executor="serial", progress=False)
    with pytest.raises(ValueError, match="holds another sweep .*grid"):
        sim.sweep(tiny, {"reps.count": [4]}, n=2, path=tmp_path, executor="serial", progress=False)
    assert json.loads((tmp_path / "sweep.json").read_text())["grid"] == {"reps.count": [3]}


def test_bad_grids_are_named(tiny, tmp_path):
    with pytest.raises(sim.ScenarioError, match=r"grid cell 1 \(reps.count=-2\)"):
        sim.sweep(tiny, {"reps.count": [3, -2]}, n=2, path=tmp_path, executor="serial")
    with pytest.raises(ValueError, match="grid\\['reps.count'\\]: give a non-empty list"):
        sim.sweep(tiny, {"reps.count": []}, n=2, path=tmp_path, executor="serial")
    with pytest.raises(ValueError, match="n: 0"):
        sim.sweep(tiny, GRID, n=0, path=tmp_path)
    with pytest.raises(ValueError, match="executor"):
        sim.sweep(tiny, GRID, n=1, path=tmp_path / "x", executor="threads")


def test_policy_settings_and_odd_values_can_be_swept(tiny, tmp_path):
    grid = {"policies.qualification": [None, {"threshold": 0.4}], "market.patience_days": [None, 30.0]}
    sw = sim.sweep(tiny, grid, n=2, path=tmp_path, executor="serial", progress=False)
    runs = sw.read()
    assert len(runs) == 8 and set(runs["policies.qualification"]) == {"null", '{"threshold": 0.4}'}
    declined = runs.groupby("policies.qualification")["declined"].sum()
    assert declined["null"] == 0 and declined['{"threshold": 0.4}'] > 0
