"""Benchmark: `playbook report` on Salesforce-style exports of 1k, 10k and 100k opportunities.

Prints, per export size, the report's wall time and how it splits between loading the export (for the
summary and the data-quality page), running the notebooks (two at a time; each loads the export itself,
analyses it and is rendered to HTML) and writing the pages. Goal: 100k opportunities in under 2 minutes
on 2 cores, growing no worse than linearly with rows.

The exports are simulated baseline runs tiled to size (each copy with its own opportunity, account and
owner ids), written by `sim.crm.synth.write_export` with real Salesforce column names and formats and an
opportunity-history file, so loading and analysis do the real work on real-looking rows.

Usage: .venv/bin/python benchmarks/bench_report.py [--sizes 1000,10000,100000] [--notebooks DIR] [--reps N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

import sim
from sim.crm.synth import write_export
from sim.report import build_report
from sim.report.build import NOTEBOOKS


def tiled(tables: sim.Tables, rows: int) -> sim.Tables:
    """`tables` repeated until the opportunities number `rows`, each copy with ids of its own."""
    opp, hist = tables.opportunities, tables.stage_history
    copies = -(-rows // len(opp))
    opps, hists = [], []
    for k in range(copies):
        o = opp.copy()
        o["opportunity_id"] = o["opportunity_id"] + f"-{k}"
        o["account_id"] = o["account_id"] + f"-{k}"
        o["owner"] = o["owner"] + f" / team {k // 10}"   # ten copies per team of owners, as a growing company
        h = hist.copy()
        h["opportunity_id"] = h["opportunity_id"] + f"-{k}"
        opps.append(o)
        hists.append(h)
    opp_all = pd.concat(opps, ignore_index=True).iloc[:rows]
    hist_all = pd.concat(hists, ignore_index=True)
    return sim.Tables(opportunities=opp_all, stage_history=hist_all[hist_all["opportunity_id"].isin(opp_all["opportunity_id"])])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="opportunity counts, comma-separated")
    p.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="notebooks to run (default: the project's)")
    p.add_argument("--reps", type=int, default=None, help="replications for the notebooks' what-ifs (default: their own)")
    args = p.parse_args()
    base = sim.simulate(sim.Scenario.preset("baseline"), seed=1).tables
    n_nb = len(sim.report.principle_notebooks(args.notebooks))
    print(f"{n_nb} notebooks from {args.notebooks}, 2 workers, reps={args.reps or 'notebook default'}")
    print(f"{'opportunities':>13} {'history rows':>12} {'total s':>8} {'loading s':>9} {'notebooks s':>11} {'HTML s (summed)':>15} {'pages s':>7}  status")
    for rows in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            tables = tiled(base, rows)
            write_export(tables, "salesforce", Path(tmp) / "export", seed=1, broken=rows // 1000)
            start = time.perf_counter()
            report = build_report(Path(tmp) / "export", Path(tmp) / "report", crm="salesforce", notebooks=args.notebooks,
                                  reps=args.reps, progress=False)
            wall = time.perf_counter() - start
            t = report.timings
            status = "complete" if report.complete else ", ".join(f"{c.slug}: {c.status}" for c in report.cards if not c.ran)
            print(f"{rows:>13,} {len(tables.stage_history):>12,} {wall:>8.1f} {t['loading']:>9.1f} {t['notebooks']:>11.1f} "
                  f"{t['notebook_html']:>15.1f} {t['pages']:>7.1f}  {status}")


if __name__ == "__main__":
    main()
