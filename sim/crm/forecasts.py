"""Forecast history files: a CRM's forecast snapshots read into the canonical `forecasts` table."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..core import schema
from ..core.forecast_categories import normalise_categories
from ..core.periods import period_bounds
from . import parse


HISTORY_COLUMNS = {   # canonical column -> headers that CRMs use for it (compared case-insensitively)
    "as_of": ("as_of", "as of", "snapshot date", "as of date", "date", "created date", "forecast date"),
    "period": ("period", "forecast period", "fiscal period", "quarter", "period name"),
    "owner": ("owner", "forecast owner", "opportunity owner", "user", "sales rep", "rep"),
    "category": ("category", "forecast category", "forecast type"),
    "amount": ("amount", "forecast amount", "total amount", "value"),
}

def read_forecasts(path, columns: Mapping[str, str] | None = None, categories: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A CRM's forecast history (one row per snapshot, owner, period and category) as the `forecasts` table.

    Headers are matched to `HISTORY_COLUMNS` (Salesforce's forecast history report uses 'Snapshot Date',
    'Period', 'Owner', 'Forecast Category', 'Amount'); `columns` maps canonical names to your own headers.
    A cell that cannot be read is an error naming the file, row and column; nothing is dropped silently.
    """
    raw = parse.read_table(path)
    frame, lower = raw.frame, {h.strip().lower(): h for h in raw.frame.columns}
    mapping = {k: (columns or {}).get(k) or next((lower[h] for h in names if h in lower), None)
               for k, names in HISTORY_COLUMNS.items()}
    missing = [k for k in ("as_of", "period", "amount") if mapping[k] is None or mapping[k] not in frame.columns]
    if missing:
        raise parse.ExportError(f"{raw.path.name}: no column for {', '.join(missing)} (headers: "
                                f"{', '.join(frame.columns)}); pass columns={{'as_of': 'your header', ...}}")
    rows = pd.Series(raw.row_numbers(), index=frame.index)
    as_of = parse.parse_dates(frame[mapping["as_of"]])
    amount = parse.parse_amount(frame[mapping["amount"]])
    problems = []
    for col, parsed in (("as_of", as_of), ("amount", amount)):
        bad = parsed.invalid | parsed.values.isna()
        if bad.any():
            shown = ", ".join(f"row {r}: {v!r}" for r, v in zip(rows[bad].head(5), frame.loc[bad, mapping[col]].head(5)))
            problems.append(f"column {mapping[col]!r} ({col}) unreadable or empty at {shown}")
    period = parse.parse_text(frame[mapping["period"]])
    for label in sorted(set(period.dropna())):
        try:
            period_bounds(label)
        except ValueError as err:
            problems.append(f"column {mapping['period']!r}: {err}")
    if problems:
        raise parse.ExportError(f"{raw.path.name}: " + "; ".join(problems))
    out = pd.DataFrame({"as_of": as_of.values, "period": period, "amount": amount.values})
    for col in ("owner", "category"):
        if mapping[col] is not None:
            out[col] = parse.parse_text(frame[mapping[col]])
    if "category" in out:
        out["category"] = normalise_categories(out["category"], categories)
    return schema.validate(schema.conform(out, "forecasts"), "forecasts", raw.path.name)
