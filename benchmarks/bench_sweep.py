"""Sweep benchmark: 20 qualification thresholds x 100 replications with `sim.sweep`, wall time and peak memory.

Runs the `sweet-spot` preset at 20 thresholds from 0 to 0.8 (2,000 one-year runs on common random numbers) on a
process pool on all cores, streaming each finished task to Parquet in a temporary folder, then interrupts a
second sweep half-way and resumes it, to show that resuming skips the finished work. Prints wall and CPU time
(all processes), runs per second, peak memory of the main process and of the largest worker, the best
threshold found, and the load average. The previous sweep benchmark's goal was 2 minutes on 2 cores.
Run: `.venv/bin/python benchmarks/bench_sweep.py [--n 100]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

import sim

THRESHOLDS = [float(t) for t in np.round(np.linspace(0.0, 0.8, 20), 4)]
TARGET_SECONDS = 120.0


def cpu_all() -> float:
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="replications per threshold")
    args = parser.parse_args()
    scenario = sim.Scenario.preset("sweet-spot")
    grid = {"policies.qualification.threshold": THRESHOLDS}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), cpu_all()
        sw = sim.sweep(scenario, grid, n=args.n, seed=11, path=Path(tmp) / "thresholds", progress=False)
        wall, cpu = time.perf_counter() - wall, cpu_all() - cpu
        runs = len(sw.read(columns=["cell"]))
        files = len(sw.files())
        size = sum(f.stat().st_size for f in sw.files())
        summary = sw.summary(["bookings"]).set_index("policies.qualification.threshold")
        resumed = resume_demo(scenario, grid, Path(tmp) / "resume")
    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    best = summary["mean"].idxmax()
    print(f"sweep: {len(THRESHOLDS)} thresholds x {args.n} replications = {runs:,} runs of the sweet-spot preset "
          f"on {os.cpu_count()} cores, load average {load:.1f} before")
    print(f"  wall time {wall:.1f} s ({runs / wall:.1f} runs/s); target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if wall < TARGET_SECONDS else 'MISSED'}; CPU {cpu:.1f} s in all processes "
          f"({1000 * cpu / runs:.0f} ms a run, so about {cpu / (os.cpu_count() or 1):.0f} s of wall time on an idle machine)")
    print(f"  peak memory: main process {main_peak:.0f} MB, largest worker {worker_peak:.0f} MB; "
          f"{files} Parquet files, {size / 1e6:.1f} MB")
    print(f"  best threshold {best:.2f}: bookings {summary.loc[best, 'mean']:,.0f} "
          f"(95% CI {summary.loc[best, 'ci_low']:,.0f} to {summary.loc[best, 'ci_high']:,.0f}); "
          f"at 0: {summary['mean'].iloc[0]:,.0f}; at {THRESHOLDS[-1]:.2f}: {summary['mean'].iloc[-1]:,.0f}")
    print(f"  resume: {resumed}")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


class Stop(Exception):
    """Raised by the measure to cut a sweep short, as Ctrl-C would."""


RUNS: list[int] = []
STOP_AFTER: list[int] = []     # when set, the measure stops the sweep after this many runs


def stopping(result: sim.SimResult) -> dict[str, float]:
    """The headline metrics; stops the sweep after STOP_AFTER runs (module level: picklable)."""
    RUNS.append(1)
    if STOP_AFTER and len(RUNS) > STOP_AFTER[0]:
        raise Stop("interrupted")
    return result.metrics


def resume_demo(scenario: sim.Scenario, grid: dict, path: Path) -> str:
    """A 4 x 20 sweep interrupted after 30 runs, then run again: how much the second run had left to do."""
    small = {k: v[:4] for k, v in grid.items()}
    RUNS.clear()
    STOP_AFTER[:] = [30]
    try:
        sim.sweep(scenario, small, n=20, seed=3, path=path, executor="serial", progress=False, measure=stopping, chunk=5)
    except Stop:
        pass
    written = len(list(path.glob("cell*.parquet")))
    STOP_AFTER.clear()
    start = time.perf_counter()
    sw = sim.sweep(scenario, small, n=20, seed=3, path=path, executor="serial", progress=False, measure=stopping, chunk=5)
    return (f"a 4 x 20 sweep interrupted after 30 runs had {written} of 16 task files written; run again, it did the "
            f"other {16 - written} in {time.perf_counter() - start:.1f} s and holds {len(sw.read(columns=['cell']))} runs")


if __name__ == "__main__":
    main()
