"""Many runs of one or more scenarios, and comparisons with confidence intervals.

Replication i of every scenario uses the i-th child of `SeedSequence(seed)`, so scenarios are compared on
common random numbers and differences are paired. Work goes to any `concurrent.futures.Executor` (a process
pool by default when there is enough of it, or a Dask `distributed` client's executor); results come back
in replication order, so serial and parallel runs give identical tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import nullcontext

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..core.metrics import METRICS
from ..core.stats import mean_ci, paired_diff_ci
from ..scenario import Scenario
from .simulate import SimResult, simulate

Measure = Callable[[SimResult], Mapping[str, float]]

PARALLEL_FROM = 24   # below this many runs, a process pool costs more than it saves


def default_measure(result: SimResult) -> Mapping[str, float]:
    """The run's headline metrics (what `replicate` records unless told otherwise)."""
    return result.metrics


def seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """The n replication seeds: children of `SeedSequence(seed)`, the same for every scenario."""
    return np.random.SeedSequence(seed).spawn(n)


def _run_chunk(scenario: Scenario, jobs: list[tuple[int, np.random.SeedSequence]], measure: Measure):
    """Worker: simulate each (replication, seed) and keep only the measured numbers."""
    return [(i, dict(measure(simulate(scenario, seed=s)))) for i, s in jobs]


def replicate_each(
    scenarios: Mapping[str, Scenario],
    n: int = 100,
    seed: int = 0,
    *,
    executor: Executor | str | None = None,
    progress: bool | None = None,
    measure: Measure = default_measure,
) -> pd.DataFrame:
    """Run every scenario `n` times on common seeds; one row per (scenario, replication).

    `executor`: None picks a process pool on all cores for large jobs and runs serially otherwise;
    "serial" forces serial; or pass any `concurrent.futures.Executor` (e.g. `client.get_executor()`).
    `progress`: a tqdm bar (None = on unless PLAYBOOK_PROGRESS=0). `measure`: what to keep of each run
    (a picklable function of a `SimResult` returning a dict of numbers).
    """
    if not scenarios:
        raise ValueError("replicate_each needs at least one scenario")
    for name, sc in scenarios.items():
        if not isinstance(sc, Scenario):
            raise TypeError(f"scenario {name!r} is a {type(sc).__name__}, not a sim.Scenario")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: {n!r} is not allowed, must be a whole number >= 1")
    names = list(scenarios)
    jobs = list(enumerate(seeds(seed, n)))
    total = n * len(names)
    if progress is None:
        progress = os.environ.get("PLAYBOOK_PROGRESS", "1") != "0"

    pool = _choose_executor(executor, total)
    workers = getattr(pool, "_max_workers", None) or os.cpu_count() or 1
    size = max(1, min(50, n // (4 * workers) if pool is not None else n))
    chunks = [(name, jobs[k : k + size]) for name in names for k in range(0, n, size)]

    results: dict[str, dict[int, dict]] = {name: {} for name in names}
    bar = tqdm(total=total, desc="simulating", unit="run", disable=not progress, leave=False)
    with bar:
        if pool is None:
            for name, chunk in chunks:
                results[name].update(_run_chunk(scenarios[name], chunk, measure))
                bar.update(len(chunk))
        else:
            with (pool if executor is None else nullcontext(pool)):
                futures = {pool.submit(_run_chunk, scenarios[name], chunk, measure): (name, len(chunk))
                           for name, chunk in chunks}
                for fut in as_completed(futures):
                    name, count = futures[fut]
                    results[name].update(fut.result())
                    bar.update(count)

    rows = [{"scenario": name, "replication": i, **results[name][i]} for name in names for i in range(n)]
    return pd.DataFrame(rows)


def _choose_executor(executor: Executor | str | None, total: int) -> Executor | None:
    if executor == "serial":
        return None
    if executor is None:
        cores = os.cpu_count() or 1
        return ProcessPoolExecutor(max_workers=cores) if cores > 1 and total >= PARALLEL_FROM else None
    if isinstance(executor, str):
        raise ValueError(f"executor: {executor!r} is not allowed, must be None, 'serial' or a concurrent.futures.Executor")
    return executor


def replicate(scenario: Scenario, n: int = 100, seed: int = 0, **kwargs) -> pd.DataFrame:
    """`n` runs of one scenario: one row of metrics per replication (see `replicate_each` for options)."""
    runs = replicate_each({scenario.name: scenario}, n, seed, **kwargs)
    return runs.drop(columns="scenario")


def summarise(runs: pd.DataFrame, metrics: list[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Per scenario and metric: mean with its CI, and the paired difference to the first scenario with its CI."""
    names = list(dict.fromkeys(runs["scenario"]))
    metrics = metrics or [c for c in runs.columns if c not in ("scenario", "replication")]
    by = {name: runs[runs["scenario"] == name].sort_values("replication") for name in names}
    base = by[names[0]]
    rows = []
    for name in names:
        for m in metrics:
            mean, lo, hi = mean_ci(by[name][m], confidence)
            d, dlo, dhi = paired_diff_ci(by[name][m].to_numpy(), base[m].to_numpy(), confidence)
            rows.append({"scenario": name, "metric": m, "mean": mean, "ci_low": lo, "ci_high": hi,
                         "diff": d, "diff_low": dlo, "diff_high": dhi})
    return pd.DataFrame(rows).set_index(["scenario", "metric"])


def compare(
    scenarios: Mapping[str, Scenario],
    n: int = 100,
    seed: int = 0,
    metrics: list[str] | None = None,
    confidence: float = 0.95,
    **kwargs,
) -> pd.DataFrame:
    """Replicate each scenario on common seeds and summarise: mean, CI, difference to the first, its CI.

    >>> compare({"8 reps": base, "12 reps": base.replace(reps={"count": 12})}, n=200, seed=7)
    """
    runs = replicate_each(scenarios, n, seed, **kwargs)
    return summarise(runs, metrics or [m for m in ("leads", "rep_utilisation", *METRICS) if m in runs], confidence)
