"""Mapping files: how any CSV/Excel export that is not a known CRM preset becomes the canonical tables.

A mapping is a small YAML file (see `examples/mapping-example.yaml`)::

    columns:            # canonical column: export column
      opportunity_id: Deal ID
      stage: Deal Stage
      created_at: Engage Date
    stages:             # export label: canonical stage, or won / lost
      Engaging: Evaluation of Options
      Won: won
      Lost: lost
    date_format: "%m/%d/%Y"   # optional; detected per column otherwise. Or one per column:
                              #   date_format: {created_at: "%d-%m-%Y", closed_at: "%d-%m-%Y %H:%M"}
                              # or day-first / month-first to settle only the order
    currency: USD             # optional
    keep: [Region]            # optional: export columns carried along as they are
    sheets: [Deals]           # optional: the workbook sheets to read (default: every sheet with rows)

Only `opportunity_id` and `stage` (or `outcome`) are required. A `keep:` entry that names a canonical
column (`product`, `fit_score`...) is read as that column, parsed and checked like one under `columns:`
(and said so); naming one that `columns:` already fills is an error. Every mistake is reported as one
line naming the field (`date_format.created_at: ...`, `keep.1: ...`), so a user can fix the file without
reading code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..core.schema import OPPORTUNITIES, STAGE_HISTORY
from .dates import check_format
from .files import ExportError
from .formats import DATE_COLUMNS, EXTRA_COLUMNS, FileSpec, Format

OPPORTUNITY_FIELDS = set(OPPORTUNITIES.columns) | set(EXTRA_COLUMNS)
HISTORY_FIELDS = set(STAGE_HISTORY.columns) | {"amount"}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HistoryMapping(_Strict):
    """Where a second file holds the stage history: its columns (opportunity_id, stage, entered_at)."""

    columns: dict[str, str] = Field(description="canonical column: export column of the history file")

    @field_validator("columns")
    @classmethod
    def _known(cls, cols: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(cols) - HISTORY_FIELDS)
        if unknown:
            raise ValueError(f"unknown canonical column(s) {', '.join(unknown)}; allowed: {', '.join(sorted(HISTORY_FIELDS))}")
        missing = [c for c in ("opportunity_id", "stage", "entered_at") if c not in cols]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        return cols


class Mapping(_Strict):
    """A mapping file, validated."""

    columns: dict[str, str] = Field(description="canonical column: export column")
    stages: dict[str, str] = Field(default_factory=dict, description="export stage label: canonical stage, won or lost")
    date_format: str | dict[str, str] | None = Field(
        None, description="strftime format of the dates (e.g. %d/%m/%Y, or day-first / month-first), or one per date column")
    currency: str | None = Field(None, description="currency of the amounts, e.g. USD")
    rates: dict[str, float] = Field(default_factory=dict, description=(
        "exchange rates for an export with amounts in several currencies: currency code -> value of one unit in "
        "`currency`, e.g. {EUR: 1.08, JPY: 0.0067} with currency: USD"))
    keep: tuple[str, ...] = Field((), description="export columns to carry along unchanged")
    sheets: tuple[str, ...] = Field((), description="workbook sheets to read (default: every sheet with rows)")
    history: HistoryMapping | None = Field(None, description="columns of a stage-history file, if there is one")

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, cols: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(cols) - OPPORTUNITY_FIELDS)
        if unknown:
            raise ValueError(f"unknown canonical column(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join(sorted(OPPORTUNITY_FIELDS))} (use `keep` for other columns)")
        return {k: str(v) for k, v in cols.items()}

    @field_validator("stages")
    @classmethod
    def _stage_values(cls, stages: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in stages.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ValueError(f"label(s) {', '.join(map(str, bad))} need a canonical stage name, won or lost")
        return {str(k): v.strip() for k, v in stages.items()}

    @field_validator("date_format")
    @classmethod
    def _date_formats(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            if (problem := check_format(value)) is not None:
                raise ValueError(problem)
            return value
        lines = []
        for column, fmt in value.items():
            if column not in DATE_COLUMNS:
                lines.append(f"date_format.{column}: not a date column (date columns: {', '.join(sorted(DATE_COLUMNS))})")
            elif (problem := check_format(fmt)) is not None:
                lines.append(f"date_format.{column}: {problem}")
        if lines:
            raise ValueError("\n".join(lines))
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, rates: dict[str, float]) -> dict[str, float]:
        bad = [f"{k}: {v}" for k, v in rates.items() if not (isinstance(v, (int, float)) and 0 < v < 1e9)]
        if bad:
            raise ValueError(f"each rate must be a positive number below 1e9 (value of one unit in `currency`): {', '.join(bad)}")
        return {str(k).strip().upper(): float(v) for k, v in rates.items()}

    @model_validator(mode="after")
    def _required(self) -> Mapping:
        if self.rates and not self.currency:
            raise ValueError("rates: needs currency: (the currency the rates convert to, e.g. currency: USD)")
        if "opportunity_id" not in self.columns:
            raise ValueError("columns: opportunity_id is required (the export column that identifies a deal)")
        if "stage" not in self.columns and "outcome" not in self.columns:
            raise ValueError("columns: stage or outcome is required (how to tell won, lost and open deals)")
        return self

    def to_format(self, name: str) -> Format:
        """The mapping as a loader `Format` (same structure as the CRM presets).

        `keep:` entries that name a canonical column become that column (read from the export column of
        the same name), so a kept `fit_score` is parsed as a number and a kept `created_at` as a date.
        """
        promoted = [k for k in self.keep if canonical_name(k) in OPPORTUNITY_FIELDS and canonical_name(k) not in self.columns]
        columns = {**self.columns, **{canonical_name(k): k for k in promoted}}
        notes = tuple(f"keep: {k} is a canonical column; read and checked as columns: {{{k}: {k}}}" if canonical_name(k) == k
                      else f"keep: {k} names the canonical column {canonical_name(k)}; read and checked as columns: "
                           f"{{{canonical_name(k)}: {k}}} (write it there to say so)" for k in promoted)
        files = [FileSpec("opportunities", {k: (v,) for k, v in columns.items()},
                          keys=("opportunity_id",))]
        if self.history is not None:
            files.append(FileSpec("history", {k: (v,) for k, v in self.history.columns.items()},
                                  keys=("opportunity_id", "stage", "entered_at")))
        stages = {label: (m.lower() if m.lower() in ("won", "lost") else m) for label, m in self.stages.items()}
        keep = tuple(dict.fromkeys(k for k in self.keep if k not in promoted))
        return Format(name, tuple(files), stages=stages, strict_stages=bool(stages),
                      date_format=self.date_format, currency=self.currency, keep=keep, mapped=True,
                      sheets=self.sheets, notes=notes, rates=dict(self.rates))


def canonical_name(column: str) -> str:
    """An export column's name as a canonical column would be spelt: "Product" and "Lead Source" name
    `product` and `lead_source` (a `keep:` entry naming one is read as that column)."""
    return "_".join(str(column).strip().lower().replace("-", " ").split())


def read_yaml(path: Path, source: str) -> Any:
    """A mapping file's YAML; a file that cannot be read or parsed is an `ExportError` starting with `source`."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ExportError(f"{source}: cannot read the file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ExportError(f"{source}: not valid YAML ({err})") from None


def read_mapping(path: str | Path) -> Format:
    """Load and check a mapping file; raises `ExportError` with one line per problem."""
    path = Path(path)
    return mapping_from_dict(read_yaml(path, f"mapping {path}"), str(path))


def mapping_from_dict(data: Any, source: str = "mapping") -> Format:
    """Check plain mapping data (as read from YAML) and turn it into a `Format`."""
    if not isinstance(data, dict):
        raise ExportError(f"{source}: a mapping must be a YAML mapping with at least `columns:`")
    try:
        mapping = Mapping.model_validate(data)
        if clashes := _keep_clashes(data):
            raise ExportError(f"{source}: invalid mapping:\n" + "\n".join(f"  {c}" for c in clashes))
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"])
            for line in e["msg"].removeprefix("Value error, ").split("\n"):
                if line.startswith("date_format.") or (not where and line.startswith("columns:")):
                    lines.append(f"  {line}")
                else:
                    lines.append(f"  {where or '(top level)'}: {line}")
        lines += [f"  {line}" for line in _keep_clashes(data)]
        raise ExportError(f"{source}: invalid mapping:\n" + "\n".join(lines)) from None
    return mapping.to_format(Path(source).stem if source != "mapping" else "mapping")


def _keep_clashes(data: dict) -> list[str]:
    """`keep:` entries naming a canonical column that `columns:` already fills (which value would win?)."""
    columns, keep = data.get("columns"), data.get("keep")
    if not isinstance(columns, dict) or not isinstance(keep, (list, tuple)):
        return []
    return [f"keep.{i}: {name!r} is " + ("a canonical column" if canonical_name(name) == name else
                                          f"the canonical column {canonical_name(name)}")
            + f" that columns: already fills (from {columns[canonical_name(name)]!r}); drop it from keep"
            for i, name in enumerate(keep) if isinstance(name, str) and canonical_name(name) in columns]
