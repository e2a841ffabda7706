"""Benchmark: what forecast snapshots cost in simulation throughput (goal: under 20% slower than no forecast policy).

Runs the baseline year serially with no forecast policy and with each cadence (stage-weighted and
evidence-gated), best of several rounds, and prints CPU time per run and the slowdown. Also prints the
time to score a run (`forecast_accuracy`) and to rebuild weekly snapshots from a run's stage history.

    .venv/bin/python benchmarks/bench_forecast.py [--rounds 5] [--runs 10]
"""

from __future__ import annotations

import argparse
import time

import sim
from sim.analysis import forecast as fa
from sim.analysis import snapshots


def seconds_per_run(scenario: sim.Scenario, runs: int, rounds: int) -> float:
    """Best-of-`rounds` mean CPU time of one `simulate` call over `runs` seeds.

    CPU time of this process, not wall time, so other work on the machine does not blur the comparison.
    """
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for seed in range(runs):
            sim.simulate(scenario, seed=seed)
        best = min(best, (time.process_time() - start) / runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    base = sim.Scenario.preset("baseline")
    sim.simulate(base, seed=0)   # warm imports and caches
    plain = seconds_per_run(base, args.runs, args.rounds)
    print(f"baseline year, no forecast policy: {plain * 1000:7.1f} ms CPU/run")
    for cadence in ("yearly", "quarterly", "monthly", "weekly"):
        for inclusion in ("stage_weighted", "evidence_gated"):
            sc = base.replace({"policies.forecast": {"cadence": cadence, "inclusion": inclusion}})
            t = seconds_per_run(sc, args.runs, args.rounds)
            print(f"{cadence:>9} {inclusion:<15}: {t * 1000:7.1f} ms CPU/run  slowdown {t / plain - 1:+6.1%}")

    res = sim.simulate(base.replace({"days": 730, "policies.forecast": {"cadence": "weekly"}}), seed=1)
    start = time.process_time()
    fa.forecast_accuracy(res.tables, horizons=range(14))
    print(f"forecast_accuracy, 2 years of weekly snapshots ({len(res.tables.forecasts):,} rows): "
          f"{(time.process_time() - start) * 1000:.0f} ms")
    start = time.process_time()
    snapshots.rebuild_snapshots(res.tables)
    print(f"rebuild_snapshots, weekly over 2 years ({len(res.tables.opportunities):,} deals): "
          f"{(time.process_time() - start) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
