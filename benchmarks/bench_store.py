"""Benchmark: how big the store of exports grows per snapshot, and how long an ingest and a `changes` take.

Writes weekly `as_of` exports of the demo history (Salesforce layout), loads each, ingests it into a fresh store
and prints the store's size after every snapshot (after a checkpoint), the export's size, and the CPU seconds of
the ingest and of `sim.changes` between the last two snapshots (the README's "How big it grows").

    .venv/bin/python benchmarks/bench_store.py [--weeks 6] [--out runs/bench-store]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import pandas as pd

import sim
from sim.crm import load
from sim.crm.as_of import as_of
from sim.crm.store import Store
from sim.crm.synth import write_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench-store")
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    run = sim.simulate(sim.Scenario.preset("demo"), seed=7).tables
    dates = pd.date_range(end="2027-12-31", periods=args.weeks, freq="7D")
    store = args.out / "history.duckdb"
    for i, d in enumerate(dates):
        folder = args.out / f"export-{d:%Y-%m-%d}"
        write_export(as_of(run, d), "salesforce", folder, seed=7)
        res = load(folder)
        start = time.process_time()
        with Store.open(store) as s:
            s.ingest(res.tables, res.summary(), source=str(folder), as_of=d)
            size = s.size()
        ingest = time.process_time() - start
        csv = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{d:%Y-%m-%d}: {len(res.tables.opportunities):,} deals, {res.summary()['rows_read']:,} rows, "
              f"export {csv / 1e6:.2f} MB; store {size / 1e6:.2f} MB after {i + 1} snapshot(s); ingest {ingest:.2f} s CPU")
    with Store.open(store, read_only=True) as s:
        snaps = s.snapshots()
        old, new = s.tables(snaps[-2].id), s.tables(snaps[-1].id)
    start = time.process_time()
    sim.changes(old, new, snaps[-2].as_of, snaps[-1].as_of)
    print(f"changes between the last two snapshots: {time.process_time() - start:.3f} s CPU")


if __name__ == "__main__":
    main()
