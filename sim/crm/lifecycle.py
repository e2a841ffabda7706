"""Account-lifecycle exports: a SaaS company's accounts, subscriptions, churn events and support tickets, read
into the canonical `orbit_history`, `tickets` and `accounts` tables.

Why a reader of its own and not a mapping file: a mapping (`sim.crm.mapping`) renames the columns of one
opportunity file (and a stage history) into `opportunities`. A lifecycle export has no opportunities: it is
four linked tables, and the orbits an account passes through are not a column anywhere — they follow from
events spread over the tables by a rule. So this module holds the rule, and the file and column names it
expects are data (`LifecycleFiles`; `RAVENSTACK` is the layout of the public RavenStack sample, the
default), so another export with the same shape and other headers needs only another `LifecycleFiles`.

The observable orbits, outermost first, and what moves an account between them:

- ``Trial``: a trial subscription starts (before any paid one)
- ``Customer``: the first paid subscription starts; a downgrade brings an expanded customer back here
- ``Expanded``: a paid subscription with the upgrade flag starts
- ``Churned``: a churn event (its reason code is the stimulus)
- ``Reactivated``: a paid subscription starts after a churn

A subscription ending is not an account churning (an account holds several subscriptions at once): churn
is what the churn events say. The churn events' `is_reactivation` flag is not used: it is set on first churns
too, so what it marks is unclear; a reactivation is read from the subscriptions instead.

Nothing is dropped silently: a row whose date, flag or number cannot be read is listed in `rejected` with
its file, row, column, value and reason; a missing file or column is an `ExportError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import schema
from ..core.tables import Tables
from .parse import ExportError, parse_amount, parse_dates, read_table

TRIAL, CUSTOMER, EXPANDED, CHURNED, REACTIVATED = "Trial", "Customer", "Expanded", "Churned", "Reactivated"
ORBITS = (TRIAL, CUSTOMER, EXPANDED, CHURNED, REACTIVATED)
TRUE, FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class LifecycleFiles:
    """File names and the columns the reader uses in each (canonical meaning: the export's header)."""

    accounts: str = "accounts.csv"
    subscriptions: str = "subscriptions.csv"
    churn_events: str = "churn_events.csv"
    tickets: str = "support_tickets.csv"
    account_columns: dict = field(default_factory=lambda: {"account_id": "account_id", "segment": "industry",
                                                           "signup": "signup_date", "source": "referral_source"})
    subscription_columns: dict = field(default_factory=lambda: {
        "account_id": "account_id", "start": "start_date", "trial": "is_trial", "upgrade": "upgrade_flag",
        "downgrade": "downgrade_flag", "amount": "arr_amount"})
    churn_columns: dict = field(default_factory=lambda: {"account_id": "account_id", "at": "churn_date",
                                                         "reason": "reason_code"})
    ticket_columns: dict = field(default_factory=lambda: {
        "ticket_id": "ticket_id", "account_id": "account_id", "opened_at": "submitted_at", "closed_at": "closed_at",
        "resolution_hours": "resolution_time_hours", "first_response_minutes": "first_response_time_minutes",
        "priority": "priority", "satisfaction": "satisfaction_score"})


RAVENSTACK = LifecycleFiles()


@dataclass
class LifecycleResult:
    """What a lifecycle export gave: the canonical tables, the rows that could not be read, and the counts."""

    tables: Tables
    rejected: pd.DataFrame        # file, row, column, value, reason
    counts: dict

    def summary(self) -> str:
        c = self.counts
        return (f"{c['accounts']:,} accounts, {c['subscriptions']:,} subscriptions, {c['churn_events']:,} churn events, "
                f"{c['tickets']:,} tickets read; {len(self.rejected):,} row(s) rejected; "
                f"{c['stays']:,} orbit stays built")


def public_data(name: str) -> Path | None:
    """The public data set `name` (e.g. 'ravenstack') kept next to the repository in `shared/data/`, if it is
    there (the repository's parent folder, or one level up for a worktree); None otherwise."""
    root = Path(__file__).resolve().parents[2]
    for base in (root.parent, root.parent.parent):
        candidate = base / "shared" / "data" / name
        if candidate.is_dir():
            return candidate
    return None


def read_lifecycle(folder: str | Path, files: LifecycleFiles = RAVENSTACK) -> LifecycleResult:
    """Read an account-lifecycle export folder into `orbit_history`, `tickets` and `accounts`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder}: not a folder (a lifecycle export is a folder of {files.accounts}, "
                          f"{files.subscriptions}, {files.churn_events} and {files.tickets})")
    rejected: list[dict] = []
    acc = _read(folder / files.accounts, files.account_columns)
    subs = _read(folder / files.subscriptions, files.subscription_columns)
    churn = _read(folder / files.churn_events, files.churn_columns)
    tick = _read(folder / files.tickets, files.ticket_columns)

    for f in (acc, subs, churn, tick):
        _reject(f, f.frame["account_id"].str.strip() == "", "account_id", "empty account id", rejected)
    sub_start = _dates(subs, "start", rejected)
    trial, upgrade, downgrade = (_flags(subs, c, rejected) for c in ("trial", "upgrade", "downgrade"))
    churn_at = _dates(churn, "at", rejected)

    events = pd.concat([
        pd.DataFrame({"account_id": subs.frame["account_id"], "at": sub_start,
                      "kind": np.where(trial.fillna(False), "trial", np.where(upgrade.fillna(False), "upgrade",
                                       np.where(downgrade.fillna(False), "downgrade", "paid"))),
                      "detail": "", "ok": sub_start.notna() & trial.notna() & upgrade.notna() & downgrade.notna()}),
        pd.DataFrame({"account_id": churn.frame["account_id"], "at": churn_at, "kind": "churn",
                      "detail": churn.frame["reason"].str.strip(), "ok": churn_at.notna()}),
    ], ignore_index=True)
    events = events[events["ok"] & (events["account_id"].str.strip() != "")]
    history = _walk(events)

    tickets = _tickets(tick, rejected)
    current = history[history["exited_at"].isna()].set_index("account_id")["orbit"]
    accounts = pd.DataFrame({"account_id": acc.frame["account_id"].str.strip(),
                             "segment": acc.frame["segment"].str.strip().replace("", None)})
    accounts["orbit"] = accounts["account_id"].map(current)
    tables = Tables(accounts=schema.conform(accounts, "accounts"),
                    orbit_history=schema.conform(history, "orbit_history"),
                    tickets=schema.conform(tickets, "tickets"))
    tables.validate(str(folder))
    counts = {"accounts": len(acc.frame), "subscriptions": len(subs.frame), "churn_events": len(churn.frame),
              "tickets": len(tick.frame), "stays": len(history)}
    return LifecycleResult(tables, pd.DataFrame(rejected, columns=["file", "row", "column", "value", "reason"]), counts)


@dataclass
class _File:
    path: Path
    frame: pd.DataFrame            # canonical name -> text cells
    rows: np.ndarray               # spreadsheet row numbers
    header: dict                   # canonical name -> the export's header


def _read(path: Path, columns: dict) -> _File:
    if not path.exists():
        raise ExportError(f"{path}: file not found (a lifecycle export needs it)")
    raw = read_table(path)
    missing = [h for h in columns.values() if h not in raw.frame.columns]
    if missing:
        raise ExportError(f"{path.name}: column(s) {', '.join(missing)} not found; the header has "
                          f"{', '.join(map(str, raw.frame.columns))}")
    frame = pd.DataFrame({canon: raw.frame[header].astype(str) for canon, header in columns.items()})
    return _File(path, frame, raw.row_numbers(), dict(columns))


def _reject(f: _File, mask: pd.Series, column: str, reason: str, rejected: list[dict]) -> None:
    for i in np.flatnonzero(mask.to_numpy()):
        rejected.append({"file": f.path.name, "row": int(f.rows[i]), "column": f.header[column],
                         "value": f.frame[column].iloc[i], "reason": reason})


def _dates(f: _File, column: str, rejected: list[dict], required: bool = True) -> pd.Series:
    """The column's dates; cells that are not dates (and, if `required`, empty cells) are rejected."""
    parsed = parse_dates(f.frame[column])
    _reject(f, parsed.invalid, column, "not a date", rejected)
    bad = parsed.invalid.copy()
    if required:
        empty = f.frame[column].str.strip() == ""
        _reject(f, empty & ~parsed.invalid, column, "empty date", rejected)
        bad |= empty
    return parsed.values.where(~bad)


def _flags(f: _File, column: str, rejected: list[dict]) -> pd.Series:
    text = f.frame[column].str.strip().str.lower()
    out = pd.Series(pd.NA, index=text.index, dtype="boolean")
    out[text.isin(TRUE)] = True
    out[text.isin(FALSE)] = False
    _reject(f, out.isna(), column, "not true/false", rejected)
    return out


def _walk(events: pd.DataFrame) -> pd.DataFrame:
    """Each account's events in date order through the lifecycle rule; one row per stay."""
    order = {"trial": 0, "paid": 1, "upgrade": 2, "downgrade": 3, "churn": 4}
    ev = events.assign(rank=events["kind"].map(order)).sort_values(["account_id", "at", "rank"], kind="stable")
    rows = []
    for account, group in ev.groupby("account_id", sort=True):
        state, stay = None, None
        for at, kind, detail in zip(group["at"], group["kind"], group["detail"]):
            nxt, why = _next(state, kind, detail)
            if nxt is None or nxt == state:
                continue
            if stay is not None:
                stay[3] = at
            stay = [account, nxt, at, pd.NaT, why]
            rows.append(stay)
            state = nxt
    return pd.DataFrame(rows, columns=["account_id", "orbit", "entered_at", "exited_at", "stimulus"]).astype(
        {"entered_at": "datetime64[ns]", "exited_at": "datetime64[ns]"})


def _next(state: str | None, kind: str, detail: str) -> tuple[str | None, str]:
    """The lifecycle rule: where an account in `state` goes on an event of `kind`."""
    if kind == "churn":
        return (CHURNED, f"churn: {detail or 'no reason given'}") if state != CHURNED else (None, "")
    if state == CHURNED:
        return (REACTIVATED, "paid subscription after churn") if kind != "trial" else (TRIAL, "trial after churn")
    if kind == "trial":
        return (TRIAL, "trial started") if state is None else (None, "")
    if kind == "upgrade":
        return EXPANDED, "upgrade"
    if kind == "downgrade":
        return (CUSTOMER, "downgrade") if state == EXPANDED else ((CUSTOMER, "first paid subscription") if state in (None, TRIAL) else (None, ""))
    if state in (None, TRIAL):
        return CUSTOMER, "first paid subscription"
    return None, ""


def _tickets(f: _File, rejected: list[dict]) -> pd.DataFrame:
    opened = _dates(f, "opened_at", rejected)
    closed = parse_dates(f.frame["closed_at"])
    _reject(f, closed.invalid, "closed_at", "not a date", rejected)
    numbers = {}
    for col in ("resolution_hours", "first_response_minutes", "satisfaction"):
        p = parse_amount(f.frame[col])
        _reject(f, p.invalid, col, "not a number", rejected)
        numbers[col] = p.values
    keep = opened.notna() & (f.frame["account_id"].str.strip() != "")
    return pd.DataFrame({
        "ticket_id": f.frame["ticket_id"].str.strip(), "account_id": f.frame["account_id"].str.strip(),
        "opened_at": opened, "first_response_minutes": numbers["first_response_minutes"],
        "closed_at": closed.values, "resolution_hours": numbers["resolution_hours"],
        "priority": f.frame["priority"].str.strip().replace("", None), "satisfaction": numbers["satisfaction"],
    })[keep].reset_index(drop=True)
