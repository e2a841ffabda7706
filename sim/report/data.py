"""The data a report is about: a CRM export loaded once for its summary and rejected rows, or a simulation.

The notebooks load the export themselves (through `sim.notebook.load_tables`); the report loads it once
more here only to show what went in: rows loaded and rejected, date range, owners, stages, and every
rejected row with its reason for the data-quality page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.sufficiency import Sufficiency, currency_unstated, open_as_lost, sufficiency
from ..experiments.simulate import simulate
from ..scenario import Scenario
from ..core.tables import Tables
from .errors import ReportError

REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]


@dataclass
class ReportData:
    """What the report says about its input; `details` is the loader's own summary, shown as it is."""

    label: str
    tables: Tables
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECTED_COLUMNS))
    repaired: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECTED_COLUMNS))
    details: dict[str, Any] = field(default_factory=dict)
    gate: Sufficiency | None = None     # what the export cannot show (None for simulated data)

    @property
    def currency(self) -> str | None:
        return self.gate.currency if self.gate is not None else None

    @cached_property
    def currency_unstated(self) -> bool:
        """An export of plain numbers (`sufficiency.currency_unstated`): every page's header says so, read once."""
        return self.gate is not None and currency_unstated(self.gate, self.tables.opportunities)

    @property
    def warnings(self) -> list[str]:
        """What the reader must see before any number: a mapped column none of whose values could be read
        (its analyses are silently empty otherwise). From the loader's summary."""
        return [str(w) for w in self.details.get("warnings", [])]

    @property
    def not_read(self) -> list[str]:
        """Files of an export folder left out (a lock file, a README beside the export) and workbook sheets that
        fit no export, each with why: from the loader's summary, so the reader sees nothing went missing unsaid."""
        return [str(x) for key in ("files_not_read", "sheets_not_read") for x in self.details.get(key, [])]

    def overview(self) -> dict[str, str]:
        """The few facts a reader checks first, computed from the canonical tables."""
        opp = self.tables.opportunities
        out = {}
        if "rows_read" in self.details:
            out["rows read (all files)"] = f"{self.details['rows_read']:,}"
        out["opportunities loaded"] = f"{len(opp):,}"
        out["rows rejected"] = f"{len(self.rejected):,}"
        if len(self.repaired):
            out["values repaired"] = f"{len(self.repaired):,}"
        if len(opp):
            counts = opp["outcome"].value_counts()
            out["won / lost / open"] = " / ".join(f"{counts.get(k, 0):,}" for k in ("won", "lost", "open"))
        dates = pd.concat([opp[c] for c in ("created_at", "closed_at") if c in opp]).dropna() if len(opp) else pd.Series(dtype="datetime64[ns]")
        if len(dates):
            out["date range"] = f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}"
        if "owner" in opp and opp["owner"].notna().any():
            out["owners"] = f"{opp['owner'].nunique():,}"
        if "stage" in opp and opp["stage"].notna().any():
            out["stages deals are in"] = ", ".join(map(str, opp["stage"].dropna().unique()))
        if self.details.get("missing_columns"):
            mapped = {c for f in self.details.get("files", {}).values() for c in (f.get("columns") or {})}
            absent = [str(c) for c in self.details["missing_columns"] if c not in mapped]
            empty = [str(c) for c in self.details["missing_columns"] if c in mapped]
            if absent:
                out["columns not in the export"] = ", ".join(absent)
            if empty:
                out["columns mapped but empty (or only won/lost labels)"] = ", ".join(empty)
        if self.currency:
            out["currency"] = self.currency
        elif self.currency_unstated:
            out["currency"] = ("not stated in the export (plain numbers): the forecast and what-ifs show them in their "
                               "preset's currency; set `currency:` in a mapping to have every page say yours")
        if self.not_read:
            out["files or sheets not read"] = f"{len(self.not_read):,} (listed on the data-quality page)"
        return out

    def with_open_as_lost(self, days: int | None) -> ReportData:
        """The data with the open-as-lost rule applied (asked for with --open-as-lost): every deal it turns lost
        is listed with the repaired values, and the gate is read again."""
        tables, repairs, n = open_as_lost(self.tables, days)
        rows = pd.DataFrame({"file": f"(rule: open more than {n} days with no activity = lost)", "row": None,
                             "column": "outcome", "value": repairs["opportunity_id"].astype(str) + ": open",
                             "reason": repairs["reason"]}) if len(repairs) else pd.DataFrame(columns=REJECTED_COLUMNS)
        repaired = pd.concat([self.repaired, rows], ignore_index=True) if len(rows) else self.repaired
        return ReportData(self.label, tables, self.rejected, repaired, self.details, sufficiency(tables, len(repairs)))


def load_export(path: str | Path, crm: str | None = None, mapping: str | Path | None = None,
                pipeline: str | None = None) -> ReportData:
    """Load a CRM export with the project's loader (`sim.crm.load`), keeping its summary and rejections;
    `pipeline` keeps one pipeline's deals (the notebooks get these tables: `sim.report.shared`)."""
    from ..crm import load

    try:
        res = load(path, crm=crm, mapping=mapping, pipeline=pipeline)
    except (ValueError, OSError) as err:   # the loader's errors name the file, row and column
        raise ReportError(f"could not load the export {path}: {err}") from None
    return ReportData(
        label=str(path), tables=res.tables,
        rejected=_rows(res.rejected), repaired=_rows(getattr(res, "repaired", None)),
        details=res.summary(), gate=sufficiency(res.tables),
    )


def simulated(seed: int = 0, scenario: str = "baseline") -> ReportData:
    """The data the notebooks use when given no export: one simulated run of `scenario` with `seed`."""
    tables = simulate(Scenario.load(scenario), seed=seed).tables
    return ReportData(label=f"simulated data: scenario {scenario!r}, seed {seed}", tables=tables)


def _rows(df: pd.DataFrame | None) -> pd.DataFrame:
    """The loader's rejected/repaired rows in the report's column order (empty when there are none)."""
    if df is None or df.empty:
        return pd.DataFrame(columns=REJECTED_COLUMNS)
    cols = [c for c in REJECTED_COLUMNS if c in df.columns] + [c for c in df.columns if c not in REJECTED_COLUMNS]
    return df[cols].reset_index(drop=True)
