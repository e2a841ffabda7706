"""Benchmark: a 1 MB cell in a date and an amount column (a shifted row, a pasted notes field).

Goal: loading a two-row export holding such cells takes under 1 second (the date-layout patterns were once
quadratic in a cell's length: 16 KB 3.5 s, 32 KB 13.5 s, 200 KB about 9 minutes).
Usage: `.venv/bin/python benchmarks/bench_long_cells.py [MEGABYTES]`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sim.crm import load


def main(megabytes: float = 1.0) -> float:
    size = int(megabytes * 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "o.csv"
        cells = {"date": "2026-01-05 " + "x" * size, "amount": "1 " + "7 " * (size // 2), "words": "jan 2026 " * (size // 9)}
        path.write_text("Opportunity ID,Stage,Amount,Created Date,Close Date\n"
                        f"A0,Closed Won,10,2026-01-02,2026-01-09\n"
                        f"A1,Closed Won,\"{cells['amount']}\",\"{cells['date']}\",\"{cells['words']}\"\n")
        load(Path(tmp) / "o.csv", crm="salesforce")     # warm-up: imports, first validation
        start = time.perf_counter()
        res = load(path, crm="salesforce")
        seconds = time.perf_counter() - start
    print(f"{megabytes:g} MB cells: loaded in {seconds:.2f} s (goal < 1 s); {len(res.repaired)} values repaired")
    return seconds


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
