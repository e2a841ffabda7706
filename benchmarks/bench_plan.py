"""Benchmark: what a plan costs and whether its P(hit) can be trusted (`sim.plan`).

Targets: a one-lever plan in <= 30 s, a three-lever frontier in <= 5 min (2 cores). Also checks the plan
against brute force and its calibration:

    .venv/bin/python benchmarks/bench_plan.py              # timings on the demo pipeline (one and three levers)
    .venv/bin/python benchmarks/bench_plan.py --calibration  # plans given P(hit) ~ 0.8: how often do they hit?
    .venv/bin/python benchmarks/bench_plan.py --calibration --grid   # the same for two-lever (grid) plans
    .venv/bin/python benchmarks/bench_plan.py --bruteforce   # (re)write tests/fixtures/plan_bruteforce.json

The brute force: on a small team (`small_scenario`), every value of reps.count from 1 to 10 with many
replications on seeds the plan never uses; `tests/test_plan.py` checks the search's answer against it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import sim
from sim.core.stats import wilson_ci
from sim.experiments.plan import PeriodHit
from sim.experiments.replicate import replicate_each

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "plan_bruteforce.json"
SMALL_TARGET = 280_000.0
SMALL_PERIOD = "2026-Q1"
FRESH_SEED = 10_007        # the brute force's seeds: never the plan's (its default seed is 0)


def small_scenario() -> sim.Scenario:
    """A quarter of a one-segment team with short stages, where reps are what limits bookings: P(hit) of 280k
    rises from 0 at one rep to near 1 at eight, and one run takes a few milliseconds."""
    return sim.Scenario.preset("baseline").replace({
        "name": "plan-small", "days": 90, "reps.count": 1, "market.leads_per_month": 40, "accounts.repeat_per_year": 0.0,
        "segments": [{"name": "Mid-market", "share": 1.0, "fit_mean": 0.6, "fit_sd": 0.15, "deal_size": 20000,
                      "size_spread": 0.3}],
        "stages.0.median_days": 6, "stages.1.median_days": 10, "stages.2.median_days": 8, "stages.3.median_days": 5})


def bruteforce(n: int) -> dict:
    """P(hit) at every reps.count from 1 to 10, `n` runs each on fresh seeds."""
    sc = small_scenario()
    measure = PeriodHit(0.0, 90.0, SMALL_TARGET, True)
    scenarios = {str(r): sc.replace({"reps.count": r}) for r in range(1, 11)}
    runs = replicate_each(scenarios, n=n, seed=FRESH_SEED, measure=measure)
    hits = runs.groupby("scenario")["hit"].agg(["sum", "size"])
    return {"scenario": sc.to_dict(), "target": SMALL_TARGET, "period": SMALL_PERIOD, "seed": FRESH_SEED,
            "lever": "reps.count", "values": {r: {"hits": int(hits.at[r, "sum"]), "n": int(hits.at[r, "size"])}
                                               for r in scenarios}}


def calibration(plans: int, fresh: int, grid: bool = False) -> None:
    """Plans whose answer is given P(hit) ~ 0.8 (a grid of targets on the small team): the share of fresh
    simulated quarters at the answer that hit, against the P(hit) the plans stated. `grid`: two-lever plans
    (reps 1-10 x leads 30-50 a month, 4 x 3 cells of 40 runs, the cheapest measured again), else one lever."""
    sc = small_scenario()
    levers = ["reps.count=1:10", "market.leads_per_month=30:50"] if grid else ["reps.count=1:12"]
    stated, hit_rates, searched = [], [], []
    for k, target in enumerate(np.linspace(150_000, 350_000, plans)):
        extra = {"grid": 4, "frontier_n": 40} if grid else {}
        p = sim.plan(sc, target=float(target), period=SMALL_PERIOD, confidence=0.8, levers=levers, seed=100 + k,
                     progress=False, **extra)
        best = p.options(1)
        if best.empty:
            continue
        answer = sc
        for lv in p.levers:
            answer = lv.apply(answer, best.at[0, lv.path])
        measure = PeriodHit(0.0, 90.0, float(target), True)
        runs = replicate_each({"x": answer}, n=fresh, seed=FRESH_SEED + k, measure=measure, progress=False)
        stated.append(float(best.at[0, "p_hit"]))
        searched.append(float(best.at[0, "p_search"]))
        hit_rates.append(float(runs["hit"].mean()))
        said = ", ".join(f"{lv.path}={best.at[0, lv.path]:g}" for lv in p.levers)
        print(f"  target {target:>9,.0f}: {said}, stated P(hit) {stated[-1]:.2f} (search's estimate "
              f"{searched[-1]:.2f}), hit on fresh seeds {hit_rates[-1]:.2f}")
    total = len(hit_rates) * fresh
    hits = sum(h * fresh for h in hit_rates)
    lo, hi = wilson_ci(hits, total)
    print(f"calibration ({'two-lever grid' if grid else 'one lever'}): stated P(hit) {np.mean(stated):.3f} on average "
          f"(the search's own estimates {np.nanmean(searched):.3f}); fresh quarters hit {hits / total:.3f} "
          f"(95% CI {float(lo):.3f}-{float(hi):.3f}) over {len(hit_rates)} plans x {fresh} runs")


def demo_pipeline(cache: Path | None = None) -> sim.Scenario:
    """The calibrated demo pipeline: the demo export (simulated, as `playbook report` makes it without one)
    calibrated on the baseline, over the base's one-year horizon (`calendar="base"`). `cache`: a YAML written
    the first time and read after (the calibration is not what is timed)."""
    if cache is not None and cache.exists():
        return sim.Scenario.from_yaml(cache)
    from sim.report.data import simulated
    sc = sim.calibrate(simulated(0).tables, "baseline", calendar="base", name="demo pipeline")
    if cache is not None:
        sc.to_yaml(cache)
    return sc


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the process pool's workers once shut down)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def timed(what: str, target: float | None = None):
    """Print wall and CPU seconds of the block, with the load average before and after: on a shared machine the
    wall time is not the machine's; CPU / cores is what two idle cores would take."""
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), _cpu()
    yield
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    cores = os.cpu_count() or 1
    aim = f" (target <= {target:g} s)" if target else ""
    print(f"{what}: {wall:.1f} s wall{aim}; {cpu:.1f} CPU s, / {cores} cores = {cpu / cores:.1f} s on idle cores; "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")


def timings(three: bool, hires: bool, cache: Path | None, one: bool = True) -> None:
    sc = demo_pipeline(cache)
    print(f"demo pipeline: {sc.reps.count} reps, {sc.market.leads_per_month:.1f} leads a month, {sc.start} + {sc.days} days")
    year = str(sc.start.year)
    base = float(sim.replicate(sc, n=40, seed=99, progress=False)["bookings"].mean())
    # half as many leads again: the 8 reps cannot work them all, so reps (and hires) are what a plan needs
    busy = sc.replace({"market.leads_per_month": round(1.5 * sc.market.leads_per_month, 1)})
    target = round(1.25 * base, -5)
    if one:
        with timed(f"one-lever plan (demo pipeline with 1.5x leads, {target:,.0f} in {year}, reps.count)", 30):
            p = sim.plan(busy, target=target, period=year, confidence=0.8, levers=["reps.count"], progress=False)
        print(f"  {int(p.tried['n'].sum())} runs in {len(p.tried)} values; P(hit) now {p.now['p_hit']:.2f}; tried:\n"
              f"{p.tried.drop(columns='mean_bookings').to_string(index=False)}\n  {p.summary().splitlines()[2]}")
    if hires:
        for when in ("01-01", "09-01"):
            with timed(f"the same with hires on {year}-{when}"):
                p = sim.plan(busy, target=target, period=year, confidence=0.8, levers=[f"hires@{year}-{when}=0:16"],
                             progress=False)
            print(f"  {p.summary().splitlines()[2]}")
    if three:
        folder = Path(tempfile.mkdtemp(prefix="plan-frontier-"))
        levers = ["reps.count=8:14", "market.leads_per_month=45:75", "policies.qualification.threshold=0:0.6"]
        try:
            with timed("three-lever frontier (4x4x4 cells x 40 runs, then the cheapest cell measured again)", 300):
                p = sim.plan(busy, target=target, period=year, confidence=0.8, levers=levers, grid=4, frontier_n=40,
                             path=folder, progress=False)
            print(f"  {p.summary().splitlines()[2]}\n{p.options(3).to_string(index=False)}")
            with timed("the same frontier again on its folder (resumed: the grid's runs are read, not made)"):
                sim.plan(busy, target=target, period=year, confidence=0.8, levers=levers, grid=4, frontier_n=40,
                         path=folder, progress=False)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bruteforce", action="store_true", help="rewrite the brute-force fixture")
    parser.add_argument("--n", type=int, default=800, help="brute force: runs per value")
    parser.add_argument("--calibration", action="store_true", help="check the calibration of P(hit)")
    parser.add_argument("--grid", action="store_true", help="calibration of two-lever (grid) plans")
    parser.add_argument("--plans", type=int, default=12)
    parser.add_argument("--fresh", type=int, default=400)
    parser.add_argument("--no-three", action="store_true", help="skip the three-lever frontier")
    parser.add_argument("--no-hires", action="store_true", help="skip the two hire-date plans")
    parser.add_argument("--no-one", action="store_true", help="skip the one-lever plan")
    parser.add_argument("--cache", type=Path, help="a YAML to keep the calibrated demo pipeline in between runs")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    if args.bruteforce:
        start = time.perf_counter()
        FIXTURE.write_text(json.dumps(bruteforce(args.n), indent=1, default=str) + "\n")
        print(f"wrote {FIXTURE} in {time.perf_counter() - start:.0f} s")
    elif args.calibration:
        calibration(args.plans, args.fresh, args.grid)
    else:
        timings(not args.no_three, not args.no_hires, args.cache, not args.no_one)


if __name__ == "__main__":
    main()
