"""The canonical tables of a load checked against their schemas, on whole columns, at a fraction of pandera's cost.

`sim.core.schema.validate` (pandera) costs about as much as reading a million-row file: its null checks on text
columns, its uniqueness check and its row-level checks each make a pass with bookkeeping of their own. Every rule
of the schema is checked here with one vectorised pass per rule (the same rules: column present, dtype, not null,
unique, allowed values, bounds, row checks); only when one of them fails is the table handed to pandera, whose
`TableError` then names the table, column and rows exactly as before. Nothing is left unchecked: a rule this pass
cannot prove (a dtype it does not know how to compare, say) also goes to pandera.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import schema
from ..core.tables import Tables


def validate_tables(tables: Tables, source: str | None = None) -> Tables:
    """`tables.validate(source)`, answered by `passes` where every rule holds; raises `schema.TableError` otherwise."""
    for name, df in tables.items():
        if not passes(df, name):
            schema.validate(df, name, source)
    return tables


def passes(df: pd.DataFrame, table: str) -> bool:
    """Whether `df` keeps every rule of the canonical schema of `table`. True only when it surely does (then pandera
    would pass it too); False when a rule fails or cannot be settled here (pandera then decides and explains)."""
    spec = schema.TABLES[table]
    if not df.columns.is_unique:
        return False
    dtypes = schema.empty(table).dtypes
    for col in spec.cols:
        if col.name not in df.columns:
            if col.required:
                return False
            continue
        s = df[col.name]
        if col.kind != "str" and s.dtype != dtypes[col.name]:
            return False
        if not col.nullable and s.isna().any():
            return False
        if col.unique and not pd.Index(s).is_unique:
            return False
        if col.allowed is not None and not (s.isin(list(col.allowed)) | s.isna()).all():
            return False
        if col.lo is not None or col.hi is not None:
            if col.kind not in ("float", "int"):
                return False
            values = s.to_numpy(dtype="float64", na_value=np.nan)
            inside = np.ones(len(values), dtype=bool)
            if col.lo is not None:
                inside &= values >= col.lo
            if col.hi is not None:
                inside &= values <= col.hi
            if not (inside | np.isnan(values)).all():
                return False
    for _, check in spec.row_checks:
        try:
            held = check(df)
        except Exception:   # noqa: BLE001 - pandera runs it again and reports what went wrong
            return False
        if not (isinstance(held, pd.Series) and held.dtype == bool and bool(held.all())):
            return False
    return True
