"""The canonical tables: one definition shared by the simulator and the CRM loaders.

Every analysis in the lab reads these tables and nothing else, so a CRM export and a simulated run are
interchangeable. Each table is declared once here as a list of `Col` specs; `conform` brings a DataFrame
to the declared column order and dtypes, and `validate` checks it with a pandera schema built from the
same specs, raising `TableError` with the column and the first offending rows named.

Columns whose names start with ``truth_`` are hidden truth that only the simulator knows (a deal's real
chance of closing, say). They are allowed in any table, and no analysis may rely on them.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

import pandas as pd

if TYPE_CHECKING:
    import pandera.pandas as pa   # imported when a table is first validated: a simulation never needs it

Kind = Literal["str", "datetime", "float", "int"]

OUTCOMES = ("won", "lost", "open")
DEFAULT_STAGES = ("Needs Analysis", "Evaluation of Options", "Resolution of Concerns", "Implementation")
ORBITS = (
    "Awareness", "Potential", "Benefit", "Observation", "Acquisition", "Installation",
    "Adaptation", "Belief", "Expansion", "Refer", "Zealots",
)


@dataclass(frozen=True)
class Col:
    """One column of a canonical table: its name, kind, and what values are allowed."""

    name: str
    kind: Kind
    required: bool = False          # must be present in every export / run
    nullable: bool = True
    unique: bool = False
    allowed: tuple[str, ...] | None = None
    lo: float | None = None         # inclusive bounds for numbers
    hi: float | None = None
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns plus row-level checks that span several columns."""

    name: str
    cols: tuple[Col, ...]
    doc: str = ""
    row_checks: tuple[tuple[str, Callable[[pd.DataFrame], pd.Series]], ...] = field(default=())

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.cols]


def _closed_after_created(df: pd.DataFrame) -> pd.Series:
    if "closed_at" not in df or "created_at" not in df:
        return pd.Series(True, index=df.index)
    both = df["closed_at"].notna() & df["created_at"].notna()
    return ~both | (df["closed_at"] >= df["created_at"])


def _exited_after_entered(df: pd.DataFrame) -> pd.Series:
    both = df["exited_at"].notna() & df["entered_at"].notna()
    return ~both | (df["exited_at"] >= df["entered_at"])


OPPORTUNITIES = Table(
    "opportunities",
    (
        Col("opportunity_id", "str", required=True, nullable=False, unique=True, doc="unique deal id"),
        Col("account_id", "str", doc="the buying account"),
        Col("owner", "str", doc="the rep who owns the deal"),
        Col("created_at", "datetime", doc="when the deal was created / engaged"),
        Col("closed_at", "datetime", doc="when it was won or lost; empty while open"),
        Col("stage", "str", doc="current stage; for a closed deal, the last stage it was in"),
        Col("outcome", "str", required=True, nullable=False, allowed=OUTCOMES, doc="won, lost or open"),
        Col("amount", "float", lo=0, doc="contract value at close (or current value while open)"),
        Col("first_estimate", "float", lo=0, doc="value estimated when the deal was created"),
        Col("lead_source", "str", doc="how the lead was found"),
        Col("segment", "str", doc="market segment of the account"),
        Col("fit_score", "float", lo=0, hi=1, doc="how well the account fits the sweet spot, 0..1"),
        Col("competitor", "str"),
        Col("loss_reason", "str"),
        Col("forecast_category", "str"),
    ),
    doc="one row per deal",
    row_checks=(("closed_at is on or after created_at", _closed_after_created),),
)

STAGE_HISTORY = Table(
    "stage_history",
    (
        Col("opportunity_id", "str", required=True, nullable=False),
        Col("stage", "str", required=True, nullable=False),
        Col("entered_at", "datetime", required=True, nullable=False),
        Col("exited_at", "datetime", doc="empty while the deal is still in the stage"),
        Col("amount", "float", lo=0, doc="the deal's amount when the stay began, where the history dates it"),
        Col("expected_close_at", "datetime", doc="the expected close when the stay began, where the history dates it"),
    ),
    doc="one row per stay of a deal in a stage",
    row_checks=(("exited_at is on or after entered_at", _exited_after_entered),),
)

FORECASTS = Table(
    "forecasts",
    (
        Col("as_of", "datetime", required=True, nullable=False, doc="when the snapshot was taken"),
        Col("period", "str", required=True, nullable=False, doc="the period forecast, e.g. 2026-Q1"),
        Col("owner", "str"),
        Col("amount", "float", required=True, lo=0),
        Col("category", "str", doc="e.g. commit, best case, pipeline"),
    ),
    doc="forecast snapshots",
)

ACTIVITIES = Table(
    "activities",
    (
        Col("opportunity_id", "str", doc="the deal the activity belongs to; empty for an account-level touch"),
        Col("account_id", "str", doc="the account"),
        Col("at", "datetime", required=True, nullable=False, doc="when it happened (or was scheduled)"),
        Col("kind", "str", required=True, doc="meeting, call, lunch, trial, demo, email, bug, support..."),
        Col("duration_minutes", "float", lo=0, doc="how long it took"),
        Col("attendees", "float", lo=0, doc="customer people present"),
        Col("attendees_spoke", "float", lo=0, doc="customer people who said something"),
        Col("customer_talk_share", "float", lo=0, hi=1, doc="share of the talking done by the customer"),
        Col("questions", "float", lo=0, doc="questions the rep asked"),
        Col("outcome", "str", doc="what came of it: held, no-show, converted, ..."),
    ),
    doc="meetings, calls, trials and other touches, one row each",
)

ACCOUNTS = Table(
    "accounts",
    (
        Col("account_id", "str", required=True, nullable=False, unique=True),
        Col("segment", "str"),
        Col("orbit", "str"),
        Col("revenue", "float", lo=0, doc="won amount from this account"),
        Col("complaints", "float", lo=0),
    ),
    doc="one row per account",
)

ATTAINMENT = Table(
    "attainment",
    (
        Col("owner", "str", required=True, nullable=False, doc="the rep"),
        Col("period", "str", required=True, nullable=False, doc="quota period, e.g. 2026-Q1"),
        Col("period_start", "datetime", doc="first day of the period"),
        Col("period_end", "datetime", doc="first day after the period"),
        Col("quota", "float", required=True, lo=0, doc="the rep's quota for the period (prorated for partial tenure)"),
        Col("bookings", "float", required=True, lo=0, doc="won amount closed in the period"),
        Col("attainment", "float", lo=0, doc="bookings / quota"),
    ),
    doc="one row per rep and quota period",
)

ORBIT_HISTORY = Table(
    "orbit_history",
    (
        Col("account_id", "str", required=True, nullable=False, doc="the account"),
        Col("orbit", "str", required=True, nullable=False,
            doc="where the account sat: an orbit (Awareness ... Zealots, or a lifecycle state such as customer, "
                "churned) for the length of the stay"),
        Col("entered_at", "datetime", required=True, nullable=False, doc="when the account moved into the orbit"),
        Col("exited_at", "datetime", doc="when it moved on; empty while it is still there"),
        Col("stimulus", "str", doc="what moved it there: a won deal, a marketing touch, a rep contact, a slow ticket, "
                                   "a competitor's move, a churn, a reactivation..."),
    ),
    doc="one row per stay of an account in an orbit (like stage_history, for accounts before and after the sale)",
    row_checks=(("exited_at is on or after entered_at", _exited_after_entered),),
)

TICKETS = Table(
    "tickets",
    (
        Col("ticket_id", "str", required=True, nullable=False, unique=True, doc="unique ticket id"),
        Col("account_id", "str", required=True, doc="the customer who asked for help"),
        Col("opened_at", "datetime", required=True, nullable=False, doc="when the ticket was submitted"),
        Col("first_response_minutes", "float", lo=0, doc="minutes until the first answer from support"),
        Col("closed_at", "datetime", doc="when the ticket was closed; empty while open"),
        Col("resolution_hours", "float", lo=0, doc="hours from submission to resolution"),
        Col("solved", "float", lo=0, hi=1, doc="1 when the problem was solved, 0 when the ticket closed unsolved"),
        Col("priority", "str", doc="low, medium, high, urgent..."),
        Col("satisfaction", "float", lo=0, doc="the customer's rating of the answer, as the export gives it"),
    ),
    doc="support tickets, one row each: how fast and how well customers' problems were answered",
)

TABLES: dict[str, Table] = {t.name: t for t in (OPPORTUNITIES, STAGE_HISTORY, FORECASTS, ACTIVITIES, ACCOUNTS, ATTAINMENT)}
CANONICAL = tuple(TABLES)   # the tables every `Tables` has, even when empty
# account-lifecycle tables: declared here (an export and the simulator both produce them), present when a
# run or an export has them, empty with their columns otherwise
TABLES.update({t.name: t for t in (ORBIT_HISTORY, TICKETS)})


class TableError(ValueError):
    """A canonical table broke its schema; the message names the table, column and rows."""


def register(table: Table) -> Table:
    """Add a table to the canonical ones (a policy declares the tables it writes this way).

    Registering the same declaration again is harmless; a different table under a taken name is an error,
    so two policies cannot silently disagree about what a table holds.
    """
    known = TABLES.get(table.name)
    if known is not None and known != table:
        raise ValueError(f"table {table.name!r} is already declared with other columns")
    if known is None:
        TABLES[table.name] = table
        _SCHEMAS.pop(table.name, None)
    return table


def empty(table: str) -> pd.DataFrame:
    """An empty DataFrame with the table's columns and dtypes."""
    if table not in _EMPTY:
        _EMPTY[table] = conform(pd.DataFrame({c: [] for c in TABLES[table].columns}), table)
    return _EMPTY[table].copy()


_EMPTY: dict[str, pd.DataFrame] = {}


_DTYPES = {"str": "object", "datetime": "datetime64[ns]", "float": "float64", "int": "Int64"}


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return `df` with the table's declared columns first, in order, in canonical dtypes.

    Optional columns that are missing stay missing (an analysis checks with `require`); extra columns
    (export-specific fields, ``truth_*``) follow the declared ones untouched.
    """
    spec = TABLES[table]
    out = {}
    for c in spec.cols:
        if c.name not in df.columns:
            continue
        s = df[c.name]
        if c.kind == "datetime" and s.dtype != "datetime64[ns]":
            s = pd.to_datetime(s).astype("datetime64[ns]")
        elif c.kind == "float" and s.dtype != "float64":
            s = pd.to_numeric(s).astype("float64")
        elif c.kind == "str":
            s = _as_text(s)
        out[c.name] = s
    rest = [c for c in df.columns if c not in out]
    return pd.DataFrame({**out, **{c: df[c] for c in rest}}, index=df.index)


def _as_text(s: pd.Series) -> pd.Series:
    """Text columns are `object` holding `str`, with None for missing (the same whatever pandas infers)."""
    if s.dtype == "object":
        return s   # already Python objects: producers put None (or NaN) for missing, both read as missing
    missing = s.isna()
    if not pd.api.types.is_string_dtype(s):
        s = s.astype(str)
    return s.astype("object").where(~missing, None)


def _pandera_schema(spec: Table) -> pa.DataFrameSchema:
    import pandera.pandas as pa

    cols = {}
    for c in spec.cols:
        checks = []
        if c.allowed is not None:
            checks.append(pa.Check.isin(list(c.allowed)))
        if c.lo is not None:
            checks.append(pa.Check.ge(c.lo))
        if c.hi is not None:
            checks.append(pa.Check.le(c.hi))
        dtype = None if c.kind == "str" else _DTYPES[c.kind]
        cols[c.name] = pa.Column(
            dtype, checks=checks, nullable=c.nullable, unique=c.unique, required=c.required, name=c.name
        )
    row_checks = [pa.Check(fn, error=desc) for desc, fn in spec.row_checks]
    return pa.DataFrameSchema(cols, checks=row_checks, strict=False, coerce=False)


_SCHEMAS: dict[str, pa.DataFrameSchema] = {}   # built on first use: importing pandera costs a second, and the
                                               # explorer's and sweeps' worker processes never validate a table


def validate(df: pd.DataFrame, table: str, source: str | None = None) -> pd.DataFrame:
    """Check `df` against the canonical schema of `table`; return it unchanged or raise `TableError`.

    The message lists each broken rule with the column and up to five offending row labels and values,
    so a user can find the problem in their file.
    """
    import pandera.errors

    schema = _SCHEMAS.get(table)
    if schema is None:
        schema = _SCHEMAS[table] = _pandera_schema(TABLES[table])
    try:
        return schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as err:
        raise TableError(_describe(err.failure_cases, table, source)) from None


def _describe(cases: pd.DataFrame, table: str, source: str | None) -> str:
    where = f"{source}: " if source else ""
    lines = [f"{where}table {table!r} does not match the canonical schema:"]
    row_level = cases["schema_context"] == "DataFrameSchema"
    for check, group in cases[row_level].groupby("check", sort=False):
        if check == "column_in_dataframe":
            lines.append("  - required column(s) missing: " + ", ".join(map(str, group["failure_case"])))
            continue
        rows = list(dict.fromkeys(group["index"]))
        more = f" (+{len(rows) - 5} more)" if len(rows) > 5 else ""
        lines.append(f"  - {check} fails at row(s) " + ", ".join(map(str, rows[:5])) + more)
    for (column, check), group in cases[~row_level].groupby(["column", "check"], sort=False):
        shown = [
            f"row {idx}: {val!r}" if pd.notna(idx) else repr(val)
            for idx, val in zip(group["index"].head(5), group["failure_case"].head(5))
        ]
        more = f" (+{len(group) - 5} more)" if len(group) > 5 else ""
        lines.append(f"  - column {column!r} fails {check}: " + ", ".join(shown) + more)
    return "\n".join(lines)


class MissingColumns(LookupError):
    """An analysis needs columns the data does not have; `missing` names them for the reader."""

    def __init__(self, analysis: str, missing: list[str]):
        self.analysis, self.missing = analysis, list(missing)
        super().__init__(f"{analysis} needs column(s) {', '.join(self.missing)}, which this data lacks or leaves empty")

    def __reduce__(self):  # so the error survives the trip back from a worker process
        return (type(self), (self.analysis, self.missing))

    @classmethod
    def from_message(cls, text: str) -> MissingColumns | None:
        """The error back from its one-line form "MissingColumns: <message>" (as a notebook run reports it)."""
        m = re.fullmatch(r"MissingColumns: (.+) needs column\(s\) (.+), which this data lacks or leaves empty", text.strip())
        return cls(m.group(1), m.group(2).split(", ")) if m else None


def missing_columns(df: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns among `columns` that are absent from `df` or entirely empty."""
    return [c for c in columns if c not in df.columns or df[c].isna().all()]


def require(df: pd.DataFrame, columns: list[str], analysis: str) -> None:
    """Raise `MissingColumns` when `df` lacks any of `columns`, so an analysis can be skipped with a reason."""
    missing = missing_columns(df, columns)
    if missing:
        raise MissingColumns(analysis, missing)
