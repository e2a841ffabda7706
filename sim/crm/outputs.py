"""CSV files written from export values, safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return) is a formula to Excel,
LibreOffice and Google Sheets, so a rejected row quoting `=HYPERLINK("http://...")` from an export would
run when someone opens `rejected.csv` (CSV injection). Such cells are written with a leading apostrophe,
the usual neutralisation (OWASP): the value stays readable, and spreadsheets show it as text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot be read as formulas (a leading ' where they could)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS))
            if risky.any():
                out.loc[risky, col] = "'" + text[risky]
    out.columns = [("'" + c) if isinstance(c, str) and c.startswith(FORMULA_STARTS) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as UTF-8 CSV with every formula-like cell neutralised; returns the path."""
    path = Path(path)
    neutralise(frame).to_csv(path, index=False, encoding="utf-8")
    return path
