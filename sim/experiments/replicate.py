"""Many runs of one or more scenarios, and comparisons with confidence intervals.

Replication i of every scenario uses the i-th child of `SeedSequence(seed)`, so scenarios are compared on
common random numbers and differences are paired. Work goes to any `concurrent.futures.Executor` (a process
pool by default when there is enough of it, or a Dask `distributed` client's executor); results come back
in replication order, so serial and parallel runs give identical tables.

A replication keeps what its `measure` returns (the headline metrics by default). The canonical tables are
built only for a measure that reads `result.tables`, so the default costs no DataFrame at all.

`n="auto"` (or a `precision`) adds paired replications round by round until the confidence interval is as
narrow as asked: for one scenario, the interval of the mean of `metric`; for several, the interval of each
scenario's paired difference to the first. The target half-width is `precision` x |mean of the first
scenario| (0.05 = within 5% of the mean). Every round's size follows from the results so far only, so the
same seed gives the same runs and the same answer on any executor.

`remember_runs()` switches on the process's run cache (`RUNS`): a run is made once per process however many
cells, sweeps or evidence points ask for it again (same scenario, seed, replication and measure), and a run
whose headline metrics are kept answers any later request for those metrics. The notebooks switch it on in
their kernels (`sim.notebook`), where a what-if, its sweep and its evidence share runs. A caller that keeps
runs of its own passes its own `RunCache` (`known=`): the explorer's page and the plan's search do.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import math
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..core.metrics import METRICS
from ..core.stats import mean_ci, paired_diff_ci
from ..scenario import Scenario
from .simulate import SimResult, measured, simulate

Measure = Callable[[SimResult], Mapping[str, float]]

PARALLEL_FROM = 24   # below this many runs, a process pool costs more than it saves
AUTO_FIRST = 20      # replications of the first round with n="auto" (fewer make the interval itself unreliable)
AUTO_STEP = 10       # at least this many more replications a later round (a round's set-up is then paid rarely)
AUTO_MAX = 1000      # default cap on replications per scenario with n="auto"
AUTO_PRECISION = 0.05


def default_measure(result: SimResult) -> Mapping[str, float]:
    """The run's headline metrics (what `replicate` records unless told otherwise)."""
    return result.metrics


def measure_key(measure: Measure) -> str | None:
    """What identifies a measure across calls: its module and name (with a `functools.partial`'s arguments), or
    None for one that cannot be told apart from another of the same name (a lambda, a function defined inside
    another, an object without a name): its runs are not remembered."""
    if measure is default_measure:
        return "metrics"
    if isinstance(measure, functools.partial):
        inner = measure_key(measure.func)
        if inner is None:
            return None
        return f"{inner}(*{measure.args!r}, **{sorted(measure.keywords.items())!r})"
    name = getattr(measure, "__qualname__", None)
    if not isinstance(name, str) or "<" in name:
        return None
    return f"{measure.__module__}.{name}"


def scenario_key(scenario: Scenario) -> str:
    """A digest of every field of `scenario` but its name: equal for scenarios that run the same. The name only
    labels a scenario (no engine, policy or table reads it), and a what-if names the same starting team "spread"
    where its evidence calls it by the preset's name."""
    return hashlib.sha1(scenario.model_dump_json(exclude={"name"}).encode()).hexdigest()


class RunCache:
    """Runs made, by (scenario digest, seed, replication): each run's headline metrics and what each measure made
    of it; at most `limit` runs are kept (the oldest asked for go first). `RUNS` is the process's, off until
    `remember_runs()`; a caller may keep one of its own (`RunCache(on=True)`: the explorer, one per page)."""

    def __init__(self, limit: int = 20_000, on: bool = False):
        self.limit = limit
        self.on = on
        self.hits = 0      # measured numbers served without a run
        self.made = 0      # runs made while on
        self._runs: OrderedDict[tuple[str, int, int], dict[str, dict]] = OrderedDict()

    def get(self, key: tuple[str, int, int], measure: str | None, metrics: Sequence[str] = ()) -> dict | None:
        """The numbers `measure` gave on run `key` (with the run's `metrics` added), or None if not known."""
        if not self.on or measure is None or key not in self._runs:
            return None
        run = self._runs[key]
        got = run.get(measure)
        if got is None:
            return None
        if any(m not in got and m not in run["metrics"] for m in metrics):
            return None
        self._runs.move_to_end(key)
        self.hits += 1
        return _with_metrics(got, run["metrics"], metrics)

    def put(self, key: tuple[str, int, int], measure: str | None, measured: dict, metrics: dict) -> None:
        if not self.on:
            return
        self.made += 1
        run = self._runs.setdefault(key, {"metrics": metrics})
        if measure is not None:
            run[measure] = measured
        self._runs.move_to_end(key)
        while len(self._runs) > self.limit:
            self._runs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._runs)

    def keys(self) -> list[tuple[str, int, int]]:
        """The (scenario digest, seed, replication) of each run kept (`scenario_key` makes the digest)."""
        return list(self._runs)

    def clear(self) -> None:
        self._runs.clear()
        self.hits = self.made = 0


RUNS = RunCache()


def remember_runs(on: bool = True) -> RunCache:
    """Switch the process's run cache on (or off, which also empties it); returns it (`hits`, `made`)."""
    RUNS.on = on
    if not on:
        RUNS.clear()
    return RUNS


def _with_metrics(measured: Mapping[str, float], metrics: Mapping[str, float], keep: Sequence[str]) -> dict:
    """`measured` with each of `keep` taken from the run's headline `metrics` where the measure did not give it."""
    out = dict(measured)
    for m in keep:
        if m not in out:
            out[m] = float(metrics.get(m, math.nan))
    return out


def seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """The n replication seeds: children of `SeedSequence(seed)`, the same for every scenario (and the first k
    of them the same whatever n is, so adding replications never changes the earlier ones)."""
    return np.random.SeedSequence(seed).spawn(n)


@dataclass(frozen=True)
class Precision:
    """How an `n="auto"` run ended: replications per scenario, the target and the widest half-width reached."""

    n: int
    metric: str
    target: float           # the half-width asked for, in the metric's units
    half_width: float       # the widest 95% (or `confidence`) half-width among the intervals watched
    reached: bool           # False: stopped at the cap with the interval still wider than asked
    rounds: int


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child process (Linux): get `sig` when the parent dies, even by SIGKILL or a timeout's kill, so no
    worker or server is left running on its own. Elsewhere, nothing."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_start() -> None:
    """Set up a worker process of our own pool: what it imported is moved out of the garbage collector's sight
    (`gc.freeze`), since those objects live as long as the worker; the collector then scans only the runs'
    own objects. Safe here because the worker exists only to run simulations.

    Ctrl-C is the parent's to handle (it stops the pool, `stop_pool`): a worker ignores it rather than
    dying mid-task or going on to the next queued one. A worker whose parent is gone (killed, even by SIGKILL
    or a timeout) ends: at once on Linux (`die_with_parent`), elsewhere within a second (the watch thread).
    """
    die_with_parent()
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def stop_pool(pool: Executor, futures=(), owned: bool = True) -> None:
    """Stop at once (Ctrl-C, an error): cancel the queued work and, for a pool of our own, end its workers
    rather than waiting for the tasks they run. A pool the caller gave only has our queued work cancelled."""
    for fut in futures:
        fut.cancel()
    if not owned:
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)   # shutdown() forgets it: keep it to join
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)
    if manager is not None:
        # The manager thread sees the workers gone and closes its wakeup pipe. Wait for it: at interpreter
        # exit Python wakes every live manager through that pipe, and one closing it meanwhile printed
        # "Exception ignored ... Bad file descriptor" after "interrupted" (a second shutdown() joins nothing).
        manager.join(timeout=10)


def _run_chunk(scenario: Scenario, jobs: list[tuple[int, np.random.SeedSequence]], measure: Measure):
    """Worker: simulate each (replication, seed) and keep only the measured numbers."""
    return [(i, measured(scenario, s, measure)[0]) for i, s in jobs]


def _run_chunk_with_metrics(scenario: Scenario, jobs: list[tuple[int, np.random.SeedSequence]], measure: Measure):
    """Worker: as `_run_chunk`, with each run's headline metrics beside the measured numbers (for `RUNS`)."""
    return [(i, *measured(scenario, s, measure)) for i, s in jobs]


def replicate_each(
    scenarios: Mapping[str, Scenario],
    n: int | str = 100,
    seed: int = 0,
    *,
    executor: Executor | str | None = None,
    progress: bool | None = None,
    measure: Measure = default_measure,
    precision: float | None = None,
    metric: str = "bookings",
    max_n: int = AUTO_MAX,
    confidence: float = 0.95,
    known: RunCache | None = None,
    first: int = AUTO_FIRST,
    step: int = AUTO_STEP,
    with_metrics: Sequence[str] = (),
) -> pd.DataFrame:
    """Run every scenario `n` times on common seeds; one row per (scenario, replication).

    `executor`: None picks a process pool on all cores for large jobs and runs serially otherwise;
    "serial" forces serial; or pass any `concurrent.futures.Executor` (e.g. `client.get_executor()`).
    `progress`: a tqdm bar (None = on unless PLAYBOOK_PROGRESS=0). `measure`: what to keep of each run
    (a picklable function of a `SimResult` returning a dict of numbers; tables are built only if it reads
    `result.tables`).

    `n="auto"` or `precision=...`: replicate until the `confidence` interval of `metric` (one scenario: its
    mean; several: each paired difference to the first) has a half-width of at most `precision` x |mean of
    the first scenario| (default 0.05), with at most `max_n` replications (or `n`, when `n` is a number).
    How it ended is in `runs.attrs["precision"]` (a `Precision`, as a dict). `first`: replications of the first
    round (20 by default; the explorer, which must answer in a second or two, starts with 10). A later round adds
    as many as the interval needs if its spread stays as it is, and at least `step` (10; the explorer, 4).

    `known`: a `RunCache` the caller keeps between calls (the what-if explorer does), used instead of the
    process's (`remember_runs`): runs found in it are not made again, and the runs made are added to it. A run is
    the same run when its scenario (every field but the name), measure, seed and replication are, so a starting
    scenario compared again and again is simulated once.

    `with_metrics`: headline metrics of each run (e.g. ``("rep_utilisation",)``) kept beside what `measure`
    gives, where it does not give them itself.
    """
    if not scenarios:
        raise ValueError("replicate_each needs at least one scenario")
    for name, sc in scenarios.items():
        if not isinstance(sc, Scenario):
            raise TypeError(f"scenario {name!r} is a {type(sc).__name__}, not a sim.Scenario")
    auto = n == "auto" or precision is not None
    if auto:
        cap = max_n if n == "auto" else n
        _check_count("n" if n != "auto" else "max_n", cap)
        precision = AUTO_PRECISION if precision is None else precision
        if not (isinstance(precision, (int, float)) and math.isfinite(precision) and precision > 0):
            raise ValueError(f"precision: {precision!r} is not allowed, must be a number > 0 (0.05 = within 5% of the mean)")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence: {confidence!r} is not allowed, must be between 0 and 1")
        _check_count("first", first)
        if first < 2:
            raise ValueError(f"first: {first!r} is not allowed, must be >= 2 (an interval needs two replications)")
        _check_count("step", step)
    else:
        _check_count("n", n)
    names = list(scenarios)
    if progress is None:
        progress = os.environ.get("PLAYBOOK_PROGRESS", "1") != "0"

    first = min(first, cap) if auto else n
    pool = _choose_executor(executor, first * len(names), auto)
    results: dict[str, dict[int, dict]] = {name: {} for name in names}
    bar = tqdm(total=first * len(names), desc="simulating", unit="run", disable=not progress, leave=False)
    owned = executor is None and pool is not None
    try:
        with bar:
            _run_range(scenarios, seed, 0, first, measure, pool, results, bar, known, with_metrics)
            done, status = first, None
            rounds = 1
            while auto:
                status = _precision(results, names, done, metric, precision, confidence, rounds)
                if status.reached or done >= cap:
                    break
                more = min(cap, _next_count(done, status, step)) - done
                bar.total += more * len(names)
                bar.refresh()
                _run_range(scenarios, seed, done, done + more, measure, pool, results, bar, known, with_metrics)
                done += more
                rounds += 1
    except BaseException:
        if owned:
            stop_pool(pool)     # Ctrl-C: the workers stop now, not after every queued chunk
        raise
    if owned:
        pool.shutdown()

    rows = [{"scenario": name, "replication": i, **results[name][i]} for name in names for i in range(done)]
    runs = pd.DataFrame(rows)
    if auto:
        runs.attrs["precision"] = asdict(status)
    return runs


def _check_count(field: str, n) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{field}: {n!r} is not allowed, must be a whole number >= 1 (or n='auto')")


def _run_range(scenarios: Mapping[str, Scenario], seed: int, lo: int, hi: int, measure: Measure,
               pool: Executor | None, results: dict[str, dict[int, dict]], bar, known: RunCache | None = None,
               with_metrics: Sequence[str] = ()) -> None:
    """Replications lo..hi-1 of every scenario, on `pool` (or here), into `results` (and the run cache: `known`,
    else the process's `RUNS`).

    With the run cache on, a run it holds is not made again, and scenarios equal in every field (under
    different names) are run once."""
    jobs = list(enumerate(seeds(seed, hi)))[lo:]
    mkey = measure_key(measure)
    runs = known if known is not None else RUNS
    cached = runs.on and mkey is not None
    digests = {name: scenario_key(sc) for name, sc in scenarios.items()} if cached else {}
    first_of: dict[str, str] = {}                      # digest -> the name that runs it
    todo: dict[str, list] = {}
    for name in scenarios:
        todo[name] = []
        if cached and first_of.setdefault(digests[name], name) != name:
            continue                                   # an equal scenario under another name runs it
        for i, s in jobs:
            if cached and (got := runs.get((digests[name], seed, i), mkey, with_metrics)) is not None:
                results[name][i] = got
                bar.update(1)
            else:
                todo[name].append((i, s))
    count = max((len(t) for t in todo.values()), default=0)
    workers = getattr(pool, "_max_workers", None) or os.cpu_count() or 1
    size = max(1, min(50, count // (4 * workers) if pool is not None else count))
    chunks = [(name, todo[name][k : k + size]) for name in scenarios for k in range(0, len(todo[name]), size)]
    run = _run_chunk_with_metrics if (cached or with_metrics) else _run_chunk

    def keep(name: str, measured: list[tuple]) -> None:
        for i, numbers, *metrics in measured:
            numbers = _with_metrics(numbers, metrics[0] if metrics else {}, with_metrics)
            results[name][i] = numbers
            if cached:
                runs.put((digests[name], seed, i), mkey, numbers, metrics[0])

    if pool is None:
        for name, chunk in chunks:
            keep(name, run(scenarios[name], chunk, measure))
            bar.update(len(chunk))
    else:
        futures = {pool.submit(run, scenarios[name], chunk, measure): (name, len(chunk)) for name, chunk in chunks}
        try:
            for fut in as_completed(futures):
                name, count = futures[fut]
                keep(name, fut.result())
                bar.update(count)
        except BaseException:
            stop_pool(pool, futures, owned=False)   # our queued chunks never start (the owner ends the workers)
            raise
    for name in scenarios:                             # the equal scenarios take the runs of the one that ran
        if cached and (runner := first_of[digests[name]]) != name:
            for i, _ in jobs:
                results[name][i] = dict(results[runner][i])
                bar.update(1)


def _precision(results: dict[str, dict[int, dict]], names: list[str], n: int, metric: str, precision: float,
               confidence: float, rounds: int) -> Precision:
    """Where the intervals stand after `n` replications of every scenario."""
    def values(name: str) -> np.ndarray:
        rows = results[name]
        if metric not in rows[0]:
            raise ValueError(f"metric: {metric!r} is not measured; the measure gives {', '.join(rows[0])}")
        return np.array([rows[i][metric] for i in range(n)], dtype=float)

    base = values(names[0])
    mean, lo, hi = mean_ci(base, confidence)
    if len(names) == 1:
        widths = [(hi - lo) / 2]
    else:
        widths = []
        for name in names[1:]:
            _, dlo, dhi = paired_diff_ci(values(name), base, confidence)
            widths.append((dhi - dlo) / 2)
    target = precision * abs(mean) if np.isfinite(mean) else np.nan
    widest = max(widths)
    reached = bool(np.isfinite(widest) and np.isfinite(target) and widest <= target)
    return Precision(n=n, metric=metric, target=float(target), half_width=float(widest), reached=reached, rounds=rounds)


def _next_count(n: int, status: Precision, step: int = AUTO_STEP) -> int:
    """Replications to have after the next round: enough for the target if the spread stays as it is (the
    half-width shrinks as 1/sqrt(n)), with 10% to spare, at least `step` more and at most 4x as many."""
    if not (np.isfinite(status.half_width) and np.isfinite(status.target) and status.target > 0):
        return 2 * n
    needed = n * (status.half_width / status.target) ** 2 * 1.1
    return int(min(4 * n, max(n + step, math.ceil(needed))))


def _choose_executor(executor: Executor | str | None, total: int, auto: bool = False) -> Executor | None:
    if executor == "serial":
        return None
    if executor is None:
        cores = os.cpu_count() or 1
        if cores > 1 and (auto or total >= PARALLEL_FROM):
            return ProcessPoolExecutor(max_workers=cores, initializer=worker_start)
        return None
    if isinstance(executor, str):
        raise ValueError(f"executor: {executor!r} is not allowed, must be None, 'serial' or a concurrent.futures.Executor")
    return executor


def replicate(scenario: Scenario, n: int | str = 100, seed: int = 0, **kwargs) -> pd.DataFrame:
    """`n` runs of one scenario: one row of metrics per replication (see `replicate_each` for options, and
    `n="auto"` / `precision=` to stop once the mean of `metric` is known well enough)."""
    runs = replicate_each({scenario.name: scenario}, n, seed, **kwargs)
    out = runs.drop(columns="scenario")
    out.attrs = runs.attrs
    return out


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
    out = pd.DataFrame(rows).set_index(["scenario", "metric"])
    out.attrs = dict(runs.attrs)
    return out


def compare(
    scenarios: Mapping[str, Scenario],
    n: int | str = 100,
    seed: int = 0,
    metrics: list[str] | None = None,
    confidence: float = 0.95,
    **kwargs,
) -> pd.DataFrame:
    """Replicate each scenario on common seeds and summarise: mean, CI, difference to the first, its CI.

    >>> compare({"8 reps": base, "12 reps": base.replace(reps={"count": 12})}, n=200, seed=7)
    >>> compare({"8 reps": base, "12 reps": ...}, n="auto", precision=0.05)   # bookings difference to +-5%
    """
    runs = replicate_each(scenarios, n, seed, confidence=confidence, **kwargs)
    return summarise(runs, metrics or [m for m in ("leads", "rep_utilisation", *METRICS) if m in runs], confidence)
