"""Benchmark: load a 1,000,000-row Salesforce-style export vs a bare `pandas.read_csv` of the same file.

Prints both wall and CPU times, their ratios (goal: <= 3) and the peak memory of each (goal: < 2 GB).
Each side runs in its own process so the peaks do not mix, after a warm-up on a 1,000-row copy so that
imports and one-time set-up (pandera registers its backends on first use) are not counted as load time.
`--profile` also prints where `sim.crm.load` spends its time (cProfile, the functions with the most time
of their own, and the load's own steps), to show what dominates.
Usage: `.venv/bin/python benchmarks/bench_load.py [ROWS] [--profile]`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CHILD = """
import json, resource, sys, time
import pandas as pd
path, what, warm = sys.argv[1], sys.argv[2], sys.argv[3]
from sim.crm import load   # imports and one-time set-up (first validation) are not part of either timing
pd.read_csv(warm)
load(warm, crm="salesforce")
t, cpu = time.perf_counter(), time.process_time()
if what == "read_csv":
    n = len(pd.read_csv(path))
elif what == "load":
    n = len(load(path, crm="salesforce").tables.opportunities)
else:
    import cProfile, io, pstats
    prof = cProfile.Profile()
    prof.enable()
    n = len(load(path, crm="salesforce").tables.opportunities)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(12)
    stats.sort_stats("cumulative").print_stats("sim/crm", 25)
    print(out.getvalue(), file=sys.stderr)
secs, cpu = time.perf_counter() - t, time.process_time() - cpu
print(json.dumps({"seconds": secs, "cpu": cpu, "rows": n, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


STAGES = ["Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review"]


def make_export(rows: int, folder: Path) -> Path:
    """A Salesforce-style export of `rows` deals, built column-wise: the opportunity report ($ amounts, M/D/YYYY
    dates) and its stage history (one row per stage entered, then the close; `M/D/YYYY H:MM AM` times), about
    two history rows per deal."""
    rng = np.random.default_rng(0)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    closed = created + pd.to_timedelta(rng.integers(1, 200, rows), unit="D")
    outcome = rng.choice(np.array(["open", "Closed Won", "Closed Lost"]), rows, p=[0.4, 0.25, 0.35])
    reached = rng.integers(0, len(STAGES), rows)           # the last open stage each deal entered
    stage = np.where(outcome == "open", np.array(STAGES)[reached], outcome)
    amount = np.round(rng.lognormal(10, 1, rows), 2)
    ids = pd.Series(np.arange(rows)).astype(str).str.zfill(12).radd("006").add("AAA")

    def us(ts):
        ts = pd.DatetimeIndex(ts)
        return pd.Series(ts.month.astype(str)) + "/" + pd.Series(ts.day.astype(str)) + "/" + pd.Series(ts.year.astype(str))

    def us_time(ts):
        ts = pd.DatetimeIndex(ts)
        h12 = pd.Series(((ts.hour + 11) % 12 + 1).astype(str))
        return us(ts) + " " + h12 + ":" + pd.Series(ts.strftime("%M")) + pd.Series(np.where(ts.hour < 12, " AM", " PM"))

    def dollars(x):
        return pd.Series(x).map("${:,.2f}".format)

    frame = pd.DataFrame({
        "Opportunity ID": ids,
        "Account Name": "Account " + pd.Series(rng.integers(0, 50_000, rows)).astype(str),
        "Opportunity Owner": "Rep " + pd.Series(rng.integers(0, 300, rows)).astype(str),
        "Stage": stage,
        "Amount": dollars(amount),
        "Created Date": us(created),
        "Close Date": us(closed),
        "Lead Source": rng.choice(["Web", "Partner", "Referral", "Trade Show"], rows),
    })
    path = folder / "opportunities.csv"
    frame.to_csv(path, index=False)
    # history: stages 0..reached entered between creation and close (at most two per deal), then the close
    first = np.maximum(reached - rng.integers(0, 2, rows), 0)
    deal = np.concatenate([np.arange(rows), np.flatnonzero(reached > first), np.flatnonzero(outcome != "open")])
    step = np.concatenate([np.zeros(rows, int), np.ones(int((reached > first).sum()), int),
                           np.full(int((outcome != "open").sum()), 2)])
    label = np.where(step == 0, np.array(STAGES)[first[deal]],
                     np.where(step == 1, np.array(STAGES)[reached[deal]], outcome[deal]))
    span = (closed - created).to_numpy()[deal]
    when = created.to_numpy()[deal] + span * (step / 3) + pd.to_timedelta(rng.integers(8 * 60, 18 * 60, len(deal)), unit="min").to_numpy()
    when = np.where(step == 2, closed.to_numpy()[deal], when)
    order = np.lexsort((step, deal))
    history = pd.DataFrame({
        "Opportunity ID": ids.to_numpy()[deal][order],
        "Stage Name": label[order],
        "Amount": dollars(amount[deal][order]),
        "Created Date": us_time(when[order]),
    })
    history.to_csv(folder / "opportunity_history.csv", index=False)
    return path


def run(path: Path, what: str) -> dict:
    warm = path.with_name("warm-up.csv")
    if not warm.exists():
        pd.read_csv(path, nrows=1000, dtype=str).to_csv(warm, index=False)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), what, str(warm)], capture_output=True, text=True, check=True)
    if what == "profile":
        print(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(rows: int = 1_000_000, profile: bool = False) -> None:
    load_avg = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        # made in a child process too: Linux carries a parent's peak memory into its children
        subprocess.run([sys.executable, __file__, "--make", str(rows), tmp], check=True)
        path = Path(tmp) / "opportunities.csv"
        print(f"wrote {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        bare, ours = run(path, "read_csv"), run(path, "load")
        if profile:
            run(path, "profile")
    for name, r in (("pandas.read_csv", bare), ("sim.crm.load", ours)):
        print(f"{name:16}: {r['seconds']:6.2f} s wall, {r['cpu']:6.2f} s CPU, peak {r['peak_mb']:5.0f} MB, {r['rows']:,} rows")
    wall, cpu = ours["seconds"] / bare["seconds"], ours["cpu"] / bare["cpu"]
    print(f"ratio load / read_csv: {wall:.2f} wall, {cpu:.2f} CPU; target <= 3: {'met' if wall <= 3 else 'MISSED'} (wall), "
          f"{'met' if cpu <= 3 else 'MISSED'} (CPU); peak {ours['peak_mb']:.0f} MB, target < 2048 MB: "
          f"{'met' if ours['peak_mb'] < 2048 else 'MISSED'}; load average {load_avg:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--make":
        make_export(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        numbers = [a for a in sys.argv[1:] if a.isdigit()]
        main(int(numbers[0]) if numbers else 1_000_000, profile="--profile" in sys.argv)
