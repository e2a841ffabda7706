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
    date_format: "%m/%d/%Y"   # optional; detected otherwise
    currency: USD             # optional
    keep: [product]           # optional: export columns carried along as they are

Only `opportunity_id` and `stage` (or `outcome`) are required. Every mistake is reported as one line
naming the field, so a user can fix the file without reading code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..core.schema import OPPORTUNITIES, STAGE_HISTORY
from .formats import EXTRA_COLUMNS, FileSpec, Format
from .parse import ExportError

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
    date_format: str | None = Field(None, description="strftime format of the dates, e.g. %d/%m/%Y")
    currency: str | None = Field(None, description="currency of the amounts, e.g. USD")
    keep: tuple[str, ...] = Field((), description="export columns to carry along unchanged")
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

    @model_validator(mode="after")
    def _required(self) -> Mapping:
        if "opportunity_id" not in self.columns:
            raise ValueError("columns: opportunity_id is required (the export column that identifies a deal)")
        if "stage" not in self.columns and "outcome" not in self.columns:
            raise ValueError("columns: stage or outcome is required (how to tell won, lost and open deals)")
        return self

    def to_format(self, name: str) -> Format:
        """The mapping as a loader `Format` (same structure as the CRM presets)."""
        files = [FileSpec("opportunities", {k: (v,) for k, v in self.columns.items()},
                          keys=("opportunity_id",))]
        if self.history is not None:
            files.append(FileSpec("history", {k: (v,) for k, v in self.history.columns.items()},
                                  keys=("opportunity_id", "stage", "entered_at")))
        stages = {label: (m.lower() if m.lower() in ("won", "lost") else m) for label, m in self.stages.items()}
        return Format(name, tuple(files), stages=stages, strict_stages=bool(stages),
                      date_format=self.date_format, currency=self.currency, keep=self.keep, mapped=True)


def read_mapping(path: str | Path) -> Format:
    """Load and check a mapping file; raises `ExportError` with one line per problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ExportError(f"mapping {path}: cannot read the file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ExportError(f"mapping {path}: not valid YAML ({err})") from None
    return mapping_from_dict(data, str(path))


def mapping_from_dict(data: Any, source: str = "mapping") -> Format:
    """Check plain mapping data (as read from YAML) and turn it into a `Format`."""
    if not isinstance(data, dict):
        raise ExportError(f"{source}: a mapping must be a YAML mapping with at least `columns:`")
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(top level)"
            lines.append(f"  {where}: {e['msg'].removeprefix('Value error, ')}")
        raise ExportError(f"{source}: invalid mapping:\n" + "\n".join(lines)) from None
    return mapping.to_format(Path(source).stem if source != "mapping" else "mapping")
