"""Benchmark: `playbook report` on Salesforce-style exports of 1k, 10k and 100k opportunities.

Prints, per export size, the report's wall time and how it splits between loading the export (for the
summary and the data-quality page), running the notebooks (two at a time; each loads the export itself,
analyses it and is rendered to HTML) and writing the pages. Goal: 100k opportunities in under 2 minutes
on 2 cores, growing no worse than linearly with rows.

The exports are simulated baseline runs tiled to size (each copy with its own opportunity, account and
owner ids), written by `sim.crm.synth.write_export` with real Salesforce column names and formats and an
opportunity-history file, so loading and analysis do the real work on real-looking rows.

With `--export` it times the report of one export instead (e.g. `make demo`'s, the figure issue 28 sets a
goal for: the 13 notebooks in <= 180 s on 2 cores) and prints each notebook's seconds from papermill's cell
timings, beside those of an earlier report's notebooks (`--before DIR`), with the load average.

Usage: .venv/bin/python benchmarks/bench_report.py [--sizes 1000,10000,100000] [--notebooks DIR] [--reps N]
       .venv/bin/python benchmarks/bench_report.py --export runs/demo-export --crm salesforce --seed 7 [--before runs/demo-report]
"""

from __future__ import annotations

import argparse
import json
import os
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


def notebook_seconds(folder: Path) -> dict[str, float]:
    """Per executed notebook in `folder` (a report's `notebooks/`): the sum of papermill's cell durations."""
    out = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]-*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        out[path.stem] = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0 for c in cells)
    return out


def one_export(args: argparse.Namespace) -> None:
    """The report of `args.export`: wall time, and each notebook's seconds (against `args.before`'s)."""
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = build_report(args.export, Path(tmp) / "report", crm=args.crm, notebooks=args.notebooks, seed=args.seed,
                              reps=args.reps, progress=False)
        wall = time.perf_counter() - start
        now = notebook_seconds(Path(tmp) / "report" / "notebooks")
    before = notebook_seconds(Path(args.before) / "notebooks") if args.before else {}
    print(f"report of {args.export}: {wall:.0f} s wall (goal 180 s); notebooks {report.timings['notebooks']:.0f} s; "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"{'complete' if report.complete else 'NOT complete'}")
    print(f"{'notebook':<28} {'before s':>9} {'now s':>7}")
    for stem in sorted(set(now) | set(before)):
        b = f"{before[stem]:.0f}" if stem in before else "-"
        n = f"{now[stem]:.0f}" if stem in now else "-"
        print(f"{stem:<28} {b:>9} {n:>7}")
    print(f"{'sum':<28} {sum(before.values()):>9.0f} {sum(now.values()):>7.0f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="opportunity counts, comma-separated")
    p.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="notebooks to run (default: the project's)")
    p.add_argument("--reps", type=int, default=None, help="replications for the notebooks' what-ifs (default: their own)")
    p.add_argument("--export", type=Path, default=None, help="time the report of this export instead of tiled ones")
    p.add_argument("--crm", default=None, help="the export's CRM (with --export)")
    p.add_argument("--seed", type=int, default=None, help="the report's seed (with --export)")
    p.add_argument("--before", type=Path, default=None, help="an earlier report of the same export, to compare with")
    args = p.parse_args()
    if args.export is not None:
        return one_export(args)
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
