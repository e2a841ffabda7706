"""CSV files written from export values, safe to open in a spreadsheet: the one writer lives in `sim.core.outputs`.

A rejected row quoting `=HYPERLINK("http://...")` from an export would run when someone opens
`rejected.csv` (CSV injection); `write_csv` neutralises such cells and writes the file whole.
"""

from __future__ import annotations

from ..core.outputs import FORMULA_STARTS, neutralise, write_csv

__all__ = ["FORMULA_STARTS", "neutralise", "write_csv"]
