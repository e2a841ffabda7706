"""Benchmark: a qualification-threshold sweep of 20 thresholds x 100 replications (target: under 2 minutes).

Runs the `sweet-spot` preset at 20 thresholds from 0 to 0.8 on common random numbers, on all cores, and
prints the wall time, the runs per second and the best threshold found, so the figure in the README can be
checked on any machine:  .venv/bin/python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np

import sim
from sim.experiments import sweet_spot as strictness

THRESHOLDS = np.round(np.linspace(0.0, 0.8, 20), 4)
REPLICATIONS = 100
TARGET_SECONDS = 120.0


def main() -> None:
    scenario = sim.Scenario.preset("sweet-spot")
    start = time.perf_counter()
    runs = strictness.threshold_sweep(scenario, THRESHOLDS, n=REPLICATIONS, seed=11, progress=False)
    seconds = time.perf_counter() - start
    cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    summary = strictness.by_threshold(runs)
    best = strictness.best_threshold(summary)
    print(f"threshold sweep: {len(THRESHOLDS)} thresholds x {REPLICATIONS} replications = {len(runs)} runs "
          f"on {os.cpu_count()} cores")
    print(f"  wall time {seconds:.1f} s ({len(runs) / seconds:.1f} runs/s); target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if seconds < TARGET_SECONDS else 'MISSED'}")
    print(f"  CPU time {cpu:.1f} s in all processes ({1000 * cpu / len(runs):.0f} ms per run); a wall time well above "
          f"CPU time / cores means other work shared the machine")
    row = summary.loc[best]
    print(f"  best threshold {best:.2f}: bookings {row['bookings']:,.0f} "
          f"(95% CI {row['bookings_low']:,.0f} to {row['bookings_high']:,.0f}); "
          f"at 0: {summary['bookings'].iloc[0]:,.0f}; at {THRESHOLDS[-1]:.2f}: {summary['bookings'].iloc[-1]:,.0f}")


if __name__ == "__main__":
    main()
