"""Sweeps: a grid of scenario changes x replications, streamed to Parquet as the results arrive.

    sw = sim.sweep(base, grid={"reps.count": [6, 8, 10], "market.leads_per_month": [30, 45, 60]}, n=100)
    sw.read()       # one row per cell and replication: the grid's values, the replication, the metrics
    sw.summary()    # per cell and metric: mean and its 95% confidence interval

Every cell of the grid (one combination of values, applied with `Scenario.replace`) runs the same
replication seeds as `replicate` would, so cells compare on common random numbers. The work is cut into
tasks (a cell's replications, in chunks) that run on a process pool, any `concurrent.futures.Executor`, or a
`dask.distributed` client. Each finished task is written at once to its own Parquet file in `path`, under a
temporary name renamed when complete, so a file is whole or absent; only a few tasks per worker are in flight
and nothing is kept once written, so memory stays flat however large the grid. Running the same sweep with the
same `path` again skips the tasks already written: an interrupted sweep resumes where it stopped.
`path/sweep.json` records what the sweep is; a different sweep pointed at the same folder is refused. Each
result file also carries the sweep's fingerprint (Parquet metadata): on resume a file of another sweep (its
`sweep.json` deleted, the folder reused) or a damaged one (truncated, empty) is run again, and said; `read()`
leaves such files out, with a warning, and never fails on them. Ctrl-C stops the pool at once (queued tasks
cancelled, our workers ended); the files written so far stay, so the sweep resumes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..core.stats import mean_ci
from ..scenario import Scenario, ScenarioError
from .replicate import Measure, default_measure, seeds, stop_pool, worker_start
from .simulate import simulate

FORMAT = 1          # the layout of a sweep folder (bumped if the files change meaning)
IN_FLIGHT = 4       # tasks queued per worker: enough to keep it busy, few enough to keep memory flat


@dataclass(frozen=True)
class Sweep:
    """A sweep's results on disk: `read()` them, or `summary()` them per cell."""

    path: Path
    keys: tuple[str, ...]       # the grid's fields, in order
    cells: pd.DataFrame         # one row per cell: its number and its values
    n: int                      # replications per cell
    fingerprint: str = ""       # what the sweep is (a hash of its definition); carried by each result file
    redone: tuple[str, ...] = ()   # result files found foreign or damaged on resume, and run again

    def files(self) -> list[Path]:
        return sorted(self.path.glob("cell*.parquet"))

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every run written so far: cell, the grid's values, replication and what the measure kept.

        A file of another sweep or a damaged one is left out with a warning naming it (run the sweep again
        to redo it); reading never fails on one."""
        wanted = list(dict.fromkeys(["cell", "replication", *columns])) if columns else None
        parts, bad = [], []
        for f in self.files():
            why = _foreign_or_damaged(f, self.fingerprint) if self.fingerprint else None
            if why is None:
                try:
                    parts.append(pd.read_parquet(f, columns=wanted))
                    continue
                except Exception as err:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
                    why = f"damaged ({type(err).__name__})"
            bad.append(f"{f.name}: {why}")
        if bad:
            warnings.warn(f"{self.path}: {len(bad)} result file(s) left out: " + "; ".join(bad[:5])
                          + ("..." if len(bad) > 5 else "") + ". Run the sweep again to redo them.", stacklevel=2)
        if not parts:
            return pd.DataFrame(columns=["cell", *self.keys, "replication"])
        runs = pd.concat(parts, ignore_index=True)
        return runs.sort_values(["cell", "replication"], ignore_index=True)

    def summary(self, metrics: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
        """Per cell and metric: runs, mean and its confidence interval."""
        runs = self.read()
        metrics = list(metrics or [c for c in runs.columns if c not in ("cell", "replication", *self.keys)])
        rows = []
        for cell, group in runs.groupby("cell", sort=True):
            values = {k: group[k].iloc[0] for k in self.keys}
            for m in metrics:
                mean, lo, hi = mean_ci(group[m], confidence)
                rows.append({"cell": cell, **values, "metric": m, "runs": len(group), "mean": mean, "ci_low": lo, "ci_high": hi})
        return pd.DataFrame(rows)


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any]],
    n: int = 100,
    seed: int = 0,
    *,
    path: str | Path | None = None,
    executor: Executor | str | Any | None = None,
    measure: Measure = default_measure,
    chunk: int = 25,
    progress: bool | None = None,
) -> Sweep:
    """Run every combination of `grid`'s values (field path -> values) on `scenario`, `n` replications each.

    `path`: the folder the Parquet files go to (default `runs/sweeps/<scenario>-<fingerprint>`, the same for
    the same sweep, so running it again resumes it). `executor`: None = a process pool on all cores,
    "serial", any `concurrent.futures.Executor`, or a `dask.distributed.Client`. `measure`: what to keep of
    each run (a picklable function of a `SimResult` returning numbers; default the headline metrics).
    `chunk`: replications per task (and per file). Returns a `Sweep` to read the results from.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"sweep() needs a sim.Scenario, got {type(scenario).__name__}")
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid: give at least one field path with its values, e.g. {'reps.count': [6, 8, 10]}")
    for field, name in ((n, "n"), (chunk, "chunk")):
        if not isinstance(field, (int, np.integer)) or isinstance(field, bool) or field < 1:
            raise ValueError(f"{name}: {field!r} is not allowed, must be a whole number >= 1")
    keys = tuple(grid)
    values = {}
    for key in keys:
        vals = grid[key]
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence) or not len(vals):
            raise ValueError(f"grid[{key!r}]: give a non-empty list of values, got {vals!r}")
        values[key] = list(vals)
    combos = list(itertools.product(*(values[k] for k in keys)))
    scenarios = [_cell_scenario(scenario, keys, combo, c) for c, combo in enumerate(combos)]
    cells = pd.DataFrame({"cell": range(len(combos)), **{k: _column([c[j] for c in combos]) for j, k in enumerate(keys)}})

    definition = {"format": FORMAT, "scenario": scenario.to_dict(), "grid": {k: values[k] for k in keys}, "n": int(n),
                  "seed": seed, "chunk": int(chunk), "measure": f"{measure.__module__}.{getattr(measure, '__qualname__', repr(measure))}"}
    text = json.dumps(definition, sort_keys=True, default=str)
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder = Path(path) if path is not None else Path("runs") / "sweeps" / f"{_slug(scenario.name)}-{fingerprint}"
    _claim(folder, definition, text)

    tasks = [(c, lo, min(lo + chunk, n)) for c in range(len(combos)) for lo in range(0, n, chunk)]
    redone = []
    for task in tasks:     # resume: a file of another sweep, or a damaged one, is run again
        existing = folder / _file(*task)
        if existing.exists() and (why := _foreign_or_damaged(existing, fingerprint)) is not None:
            existing.unlink()
            redone.append(f"{existing.name}: {why}")
    if redone:
        warnings.warn(f"{folder}: {len(redone)} result file(s) run again: " + "; ".join(redone[:5])
                      + ("..." if len(redone) > 5 else ""), stacklevel=2)
    todo = [t for t in tasks if not (folder / _file(*t)).exists()]
    children = seeds(seed, n)
    if progress is None:
        progress = os.environ.get("PLAYBOOK_PROGRESS", "1") != "0"
    bar = tqdm(total=len(combos) * n, initial=sum(hi - lo for _, lo, hi in tasks) - sum(hi - lo for _, lo, hi in todo),
               desc="sweep", unit="run", disable=not progress)

    def task_args(task: tuple[int, int, int]):
        c, lo, hi = task
        return scenarios[c], c, {k: cells.at[c, k] for k in keys}, list(range(lo, hi)), children[lo:hi], measure

    pool, owned, workers = _executor(executor)
    try:
        with bar:
            if pool is None:
                for task in todo:
                    _write(folder, task, _run_task(*task_args(task)), fingerprint)
                    bar.update(task[2] - task[1])
            else:
                _stream(pool, workers, todo, task_args, folder, bar, fingerprint)
    except BaseException:
        if owned:
            stop_pool(pool)     # Ctrl-C: stop now; what is written stays, and the sweep resumes from it
        raise
    if owned:
        pool.shutdown()
    return Sweep(folder, keys, cells, int(n), fingerprint, tuple(redone))


def _run_task(scenario: Scenario, cell: int, values: dict[str, Any], replications: list[int],
              children: list[np.random.SeedSequence], measure: Measure) -> pd.DataFrame:
    """Worker: the task's replications of one cell, as rows."""
    rows = [{"cell": cell, **values, "replication": i, **dict(measure(simulate(scenario, seed=s)))}
            for i, s in zip(replications, children)]
    return pd.DataFrame(rows)


def _stream(pool: Executor, workers: int, todo: list, task_args, folder: Path, bar, fingerprint: str) -> None:
    """Submit tasks a few per worker at a time and write each result as soon as it comes back."""
    window = max(2, IN_FLIGHT * workers)
    pending = iter(todo)
    running: dict = {}
    for task in itertools.islice(pending, window):
        running[pool.submit(_run_task, *task_args(task))] = task
    try:
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                task = running.pop(fut)
                _write(folder, task, fut.result(), fingerprint)
                bar.update(task[2] - task[1])
                nxt = next(pending, None)
                if nxt is not None:
                    running[pool.submit(_run_task, *task_args(nxt))] = nxt
    except BaseException:
        stop_pool(pool, running, owned=False)    # tasks not started never start
        raise


FINGERPRINT_KEY = b"playbook.sweep"


def _write(folder: Path, task: tuple[int, int, int], rows: pd.DataFrame, fingerprint: str) -> None:
    """One task's rows to its Parquet file, carrying the sweep's fingerprint, whole or not at all (written
    aside, then renamed)."""
    import pyarrow as pa   # imported here: `import sim` stays light for everyone who never sweeps
    import pyarrow.parquet as pq

    final = folder / _file(*task)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    table = pa.Table.from_pandas(rows, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), FINGERPRINT_KEY: fingerprint.encode()})
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror or str(err), str(final)) from err


def _foreign_or_damaged(path: Path, fingerprint: str) -> str | None:
    """Why a result file cannot be used for this sweep (None: it can): unreadable, or another sweep's."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as err:  # noqa: BLE001 - truncated, empty or not Parquet at all
        return f"damaged ({type(err).__name__})"
    found = meta.get(FINGERPRINT_KEY, b"").decode(errors="replace")
    if found != fingerprint:
        return f"written by another sweep ({found or 'no fingerprint'}, this one is {fingerprint})"
    return None


def _file(cell: int, lo: int, hi: int) -> str:
    return f"cell{cell:06d}-rep{lo:07d}-{hi:07d}.parquet"


def _claim(folder: Path, definition: dict, text: str) -> None:
    """Make `folder` this sweep's (or check that it already is)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "sweep.json"
    if manifest.exists():
        try:
            known = json.loads(manifest.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{manifest}: not a sweep description ({err}); use another path") from None
        if json.dumps(known, sort_keys=True, default=str) != text:
            changed = sorted(k for k in set(known) | set(definition)
                             if json.dumps(known.get(k), sort_keys=True, default=str)
                             != json.dumps(definition.get(k), sort_keys=True, default=str))
            raise ValueError(f"{folder} holds another sweep (it differs in: {', '.join(changed)}); "
                             "give another path, or delete the folder to start over")
        for leftover in folder.glob(".*.tmp"):    # a task cut short by an interruption: it runs again
            leftover.unlink()
    else:
        manifest.write_text(json.dumps(definition, indent=1, sort_keys=True, default=str) + "\n")


def _cell_scenario(scenario: Scenario, keys: tuple[str, ...], combo: tuple, cell: int) -> Scenario:
    changes = dict(zip(keys, combo))
    try:
        return scenario.replace(changes)
    except ScenarioError as err:
        said = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        raise ScenarioError([f"grid cell {cell} ({said}): {p}" for p in err.problems]) from None


def _column(vals: list[Any]) -> list[Any]:
    """A grid column as Parquet can hold it: numbers and text as they are, anything else as JSON text."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
        return [int(v) for v in vals]
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in vals):
        return [float(v) for v in vals]
    if all(isinstance(v, (str, bool)) for v in vals) and len({type(v) for v in vals}) == 1:
        return list(vals)
    return [json.dumps(v, sort_keys=True, default=str) for v in vals]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "sweep"


def _executor(executor) -> tuple[Executor | None, bool, int]:
    """(the executor to use, whether this sweep owns it and shuts it down, how many tasks it runs at once)."""
    cores = os.cpu_count() or 1
    if executor == "serial":
        return None, False, 1
    if executor is None:
        if cores < 2:
            return None, False, 1
        return ProcessPoolExecutor(max_workers=cores, initializer=worker_start), True, cores
    if hasattr(executor, "get_executor") and hasattr(executor, "nthreads"):    # a dask.distributed Client
        return executor.get_executor(), False, max(1, sum(executor.nthreads().values()))
    if isinstance(executor, Executor):
        return executor, False, getattr(executor, "_max_workers", None) or cores
    raise ValueError(f"executor: {executor!r} is not allowed, must be None, 'serial', a concurrent.futures.Executor "
                     "or a dask.distributed Client")

