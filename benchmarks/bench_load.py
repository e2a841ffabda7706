"""Benchmark: load a 1,000,000-row Salesforce-style export vs a bare `pandas.read_csv` of the same file.

Prints both wall times, their ratio (goal: <= 3) and the peak memory of each (goal: < 2 GB). Each side
runs in its own process so the peaks do not mix. Usage: `.venv/bin/python benchmarks/bench_load.py [ROWS]`.
"""

from __future__ import annotations

import json
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
path, what = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if what == "read_csv":
    n = len(pd.read_csv(path))
else:
    from sim.crm import load
    n = len(load(path, crm="salesforce").tables.opportunities)
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "rows": n, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_export(rows: int, folder: Path) -> Path:
    """A Salesforce-style opportunity report of `rows` deals ($ amounts, M/D/YYYY dates), built column-wise."""
    rng = np.random.default_rng(0)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    closed = created + pd.to_timedelta(rng.integers(1, 200, rows), unit="D")
    stage = rng.choice(["Qualification", "Needs Analysis", "Proposal/Price Quote", "Closed Won", "Closed Lost"], rows)
    amount = np.round(rng.lognormal(10, 1, rows), 2)

    def us(ts):
        return pd.Series(ts.month.astype(str)) + "/" + pd.Series(ts.day.astype(str)) + "/" + pd.Series(ts.year.astype(str))

    frame = pd.DataFrame({
        "Opportunity ID": pd.Series(np.arange(rows)).astype(str).str.zfill(12).radd("006").add("AAA"),
        "Account Name": "Account " + pd.Series(rng.integers(0, 50_000, rows)).astype(str),
        "Opportunity Owner": "Rep " + pd.Series(rng.integers(0, 300, rows)).astype(str),
        "Stage": stage,
        "Amount": pd.Series(amount).map("${:,.2f}".format),
        "Created Date": us(created),
        "Close Date": us(closed),
        "Lead Source": rng.choice(["Web", "Partner", "Referral", "Trade Show"], rows),
    })
    path = folder / "opportunities.csv"
    frame.to_csv(path, index=False)
    return path


def run(path: Path, what: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), what], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(rows: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = make_export(rows, Path(tmp))
        print(f"wrote {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        bare, ours = run(path, "read_csv"), run(path, "load")
    print(f"pandas.read_csv : {bare['seconds']:6.2f} s, peak {bare['peak_mb']:6.0f} MB")
    print(f"sim.crm.load    : {ours['seconds']:6.2f} s, peak {ours['peak_mb']:6.0f} MB, {ours['rows']:,} deals loaded")
    print(f"ratio load / read_csv: {ours['seconds'] / bare['seconds']:.2f} (goal <= 3); peak memory goal < 2048 MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
