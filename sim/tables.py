"""`Tables`: the canonical tables together, whether they came from a simulation or an export."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from . import schema


@dataclass
class Tables:
    """The canonical tables (see `sim.schema`); a table nobody filled is empty but has its columns."""

    opportunities: pd.DataFrame = field(default_factory=lambda: schema.empty("opportunities"))
    stage_history: pd.DataFrame = field(default_factory=lambda: schema.empty("stage_history"))
    forecasts: pd.DataFrame = field(default_factory=lambda: schema.empty("forecasts"))
    activities: pd.DataFrame = field(default_factory=lambda: schema.empty("activities"))
    accounts: pd.DataFrame = field(default_factory=lambda: schema.empty("accounts"))
    attainment: pd.DataFrame = field(default_factory=lambda: schema.empty("attainment"))

    @staticmethod
    def names() -> list[str]:
        return [f.name for f in fields(Tables)]

    def items(self):
        return [(name, getattr(self, name)) for name in self.names()]

    def validate(self, source: str | None = None) -> Tables:
        """Check every table against its schema; raises `schema.TableError` naming table, column and rows."""
        for name, df in self.items():
            schema.validate(df, name, source)
        return self

    def save(self, folder: str | Path) -> list[Path]:
        """Write each table as `<name>.csv` (ISO dates) into `folder`; returns the paths written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, df in self.items():
            path = folder / f"{name}.csv"
            df.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S")
            paths.append(path)
        return paths

    @classmethod
    def read(cls, folder: str | Path) -> Tables:
        """Read tables written by `save` (missing files give empty tables)."""
        folder = Path(folder)
        out = {}
        for name in cls.names():
            path = folder / f"{name}.csv"
            if path.exists():
                out[name] = schema.conform(pd.read_csv(path), name)
        return cls(**out)
