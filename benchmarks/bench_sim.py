"""Simulator throughput: deals and SimPy events per second, against a bare SimPy model, and parallel speed-up.

Prints figures; targets (README): throughput ratio to the bare model >= 0.5, `replicate` speed-up >= 1.7x on
2 cores over serial, one baseline replication (one simulated year) well under a second.
Run: `.venv/bin/python benchmarks/bench_sim.py` (or `make bench`).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import simpy

import sim
from sim.engine.conditions import Conditions
from sim.engine.model import SalesModel
from sim.experiments.simulate import make_rng


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self):
        super().__init__()
        self.processed = 0

    def step(self):
        self.processed += 1
        super().step()


def bare_model(scenario: sim.Scenario, seed: int) -> tuple[int, int]:
    """The reference: same arrivals, reps and stages, but no policies, no fit, no recording, FIFO desks."""
    rng = np.random.default_rng(seed)
    env = CountingEnvironment()
    rate = Conditions.build(scenario, rng).lead_rate
    peak = float(rate.max())
    desks = [simpy.Resource(env, capacity=1) for _ in range(scenario.reps.count)]
    per_day = scenario.reps.selling_hours_per_week / 7
    stages = scenario.stages
    deals = [0]

    def deal(desk):
        for st in stages:
            with desk.request() as turn:
                yield turn
                yield env.timeout(st.rep_hours / per_day)
            yield env.timeout(st.median_days * math.exp(st.spread * rng.standard_normal()))
            if rng.random() < st.loss_chance:
                return

    def arrivals():
        while True:
            yield env.timeout(rng.exponential(1 / peak))
            if env.now < scenario.days and rng.random() * peak < rate[min(int(env.now), len(rate) - 1)]:
                deals[0] += 1
                env.process(deal(desks[deals[0] % len(desks)]))

    env.process(arrivals())
    env.run(until=scenario.days)
    return deals[0], env.processed


def timed(fn, repeat: int):
    start = time.perf_counter()
    out = [fn(i) for i in range(repeat)]
    return (time.perf_counter() - start) / repeat, out


def main() -> None:
    base = sim.Scenario.preset("baseline")
    runs = 30

    def ours(i):
        env = CountingEnvironment()
        result = SalesModel(base, base.policies.active(), make_rng(i), env=env).run()
        return result.metrics["opportunities"], env.processed

    ours_s, ours_out = timed(ours, runs)
    bare_s, bare_out = timed(lambda i: bare_model(base, i), runs)
    deals = np.mean([d for d, _ in ours_out])
    events = np.mean([e for _, e in ours_out])
    bare_deals = np.mean([d for d, _ in bare_out])
    bare_events = np.mean([e for _, e in bare_out])
    ours_rate, bare_rate = deals / ours_s, bare_deals / bare_s

    print(f"baseline, one simulated year, mean of {runs} runs")
    print(f"  one replication (simulate + tables + metrics): {ours_s * 1000:.0f} ms")
    print(f"  deals simulated per second:  {ours_rate:,.0f}  ({deals:.0f} deals, {events:,.0f} SimPy events per run)")
    print(f"  SimPy events per second:     {events / ours_s:,.0f}")
    print(f"  bare SimPy reference:        {bare_rate:,.0f} deals/s, {bare_events / bare_s:,.0f} events/s")
    print(f"  throughput ratio ours / bare: {ours_rate / bare_rate:.2f}  (goal >= 0.5)")

    n = 200
    t = time.perf_counter()
    serial = sim.replicate(base, n=n, seed=1, executor="serial", progress=False)
    serial_s = time.perf_counter() - t
    cores = os.cpu_count() or 1
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=cores) as pool:
        parallel = sim.replicate(base, n=n, seed=1, executor=pool, progress=False)
    parallel_s = time.perf_counter() - t
    assert serial.equals(parallel), "parallel results must equal serial results"
    print(f"replicate(baseline, n={n}): serial {serial_s:.1f} s, process pool on {cores} cores {parallel_s:.1f} s, "
          f"speed-up {serial_s / parallel_s:.2f}x (goal >= 1.7x on 2 cores); identical results: yes")


if __name__ == "__main__":
    main()
