"""`Tables`: the canonical tables together, whether they came from a simulation or an export."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from . import schema
from .outputs import write_csv


class Tables:
    """The canonical tables by name (see `sim.core.schema`), read as attributes: ``tables.opportunities``.

    The core tables are always there (empty, with their columns, when nobody filled them); tables that a
    policy registered (`schema.register`) are there when the run wrote them. Setting an attribute sets a
    table: ``tables.forecasts = read_forecasts(path)``.
    """

    def __init__(self, **tables: pd.DataFrame):
        unknown = [name for name in tables if name not in schema.TABLES]
        if unknown:
            raise ValueError(f"not a canonical table: {', '.join(unknown)} (known: {', '.join(schema.TABLES)})")
        data = {name: schema.empty(name) for name in schema.CANONICAL}
        data.update(tables)
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> pd.DataFrame:
        data = object.__getattribute__(self, "_data")
        if name in data:
            return data[name]
        if name in schema.TABLES:   # declared by a policy that did not run: empty, with its columns
            return schema.empty(name)
        raise AttributeError(f"no table named {name!r}; the tables here are {', '.join(data)}")

    def __setattr__(self, name: str, df: pd.DataFrame) -> None:
        if name not in schema.TABLES:
            raise AttributeError(f"not a canonical table: {name!r} (known: {', '.join(schema.TABLES)})")
        self._data[name] = df

    def __getstate__(self) -> dict:
        return {"_data": self._data}

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "_data", state["_data"])

    def __repr__(self) -> str:
        return "Tables(" + ", ".join(f"{n}: {len(df):,} rows" for n, df in self.items()) + ")"

    def names(self) -> list[str]:
        """The tables held here: the core ones first, then any a policy wrote."""
        return list(self._data)

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        return list(self._data.items())

    def validate(self, source: str | None = None) -> Tables:
        """Check every table against its schema; raises `schema.TableError` naming table, column and rows."""
        for name, df in self.items():
            schema.validate(df, name, source)
        return self

    def save(self, folder: str | Path) -> list[Path]:
        """Write each table as `<name>.csv` (ISO dates; `sim.core.outputs.write_csv`) into `folder`; returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, df in self.items():   # formula-like text neutralised, each file written whole
            paths.append(write_csv(df, folder / f"{name}.csv", date_format="%Y-%m-%dT%H:%M:%S"))
        return paths

    @classmethod
    def read(cls, folder: str | Path) -> Tables:
        """Read tables written by `save`: every declared table with a file (missing files give empty tables)."""
        folder = Path(folder)
        out = {}
        for name in schema.TABLES:
            path = folder / f"{name}.csv"
            if path.exists():
                out[name] = schema.conform(pd.read_csv(path), name)
        return cls(**out)


def with_every_column(tables: Tables) -> Tables:
    """The tables with every canonical column of the opportunities present, empty where the export lacks it:
    a notebook that counts owners reads 0 on an export without an owner column, and the analyses needing
    owners skip with a reason (an absent column and an empty one mean the same: not in the export)."""
    opp = tables.opportunities
    absent = [c for c in schema.OPPORTUNITIES.columns if c not in opp.columns]
    if not absent:
        return tables
    blank = schema.empty("opportunities")
    extra = pd.DataFrame({c: pd.Series(pd.NA if blank[c].dtype == object else None, index=opp.index, dtype=blank[c].dtype)
                          for c in absent})
    return Tables(**{**dict(tables.items()), "opportunities": pd.concat([opp, extra], axis=1)})


def tables_fingerprint(tables: Tables) -> str:
    """A short hash of every table's values and columns: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for name, df in sorted(tables.items()):
        digest.update(f"{name}:{','.join(map(str, df.columns))}:{len(df)}".encode())
        if len(df):
            try:
                digest.update(pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).to_numpy().tobytes())
            except TypeError:   # a column of lists or dicts: hash its text instead
                digest.update(df.to_csv(index=False).encode())
    return digest.hexdigest()[:16]
