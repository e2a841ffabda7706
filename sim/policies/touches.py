"""Customer touches: time our people spend with a customer, written down as rows of `activities`.

Meetings, trial support, a bug firefight: each takes someone's desk time (`model.desk_time`, so it competes
with every deal for the same hours) and leaves a row in the canonical `activities` table, as a CRM's
activity log would. Several policies write touches in one run, so the rows go to one log per run
(`model.extra["activities"]`) and every policy that writes activities returns the same table from it
(`tables`): whichever policy the model asks last, the table holds every touch.

Rows keep the simulated day; `table` turns days into timestamps and conforms the columns to the schema.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pandas as pd

from ..core import schema
from ..engine.entities import Deal
from ..engine.hooks import ModelView
from ..engine.priority import Priority
from ..engine.team import Rep

LOG = "activities"   # the run's one activity log in `model.extra`
FIELDS = ("duration_minutes", "attendees", "attendees_spoke", "customer_talk_share", "questions", "outcome")


def log(model: ModelView) -> list[dict[str, Any]]:
    """The run's activity rows so far (created empty on first use)."""
    return model.extra.setdefault(LOG, [])


def record(model: ModelView, deal: Deal, kind: str, day: float | None = None, **fields: Any) -> dict[str, Any]:
    """Write one activity row for `deal` at simulated `day` (default now) and return it.

    `fields` are the schema's optional activity columns (`FIELDS`); the row is a dict the caller may still
    update until the run ends (e.g. a trial's outcome, known only when the deal closes).
    """
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"activity fields {', '.join(sorted(unknown))} are not columns of activities ({', '.join(FIELDS)})")
    row = {"opportunity_id": deal.id, "account_id": deal.account.id, "day": model.now if day is None else day,
           "kind": kind, **{f: fields.get(f) for f in FIELDS}}
    log(model).append(row)
    return row


def touch(model: ModelView, who: Rep, deal: Deal, kind: str, hours: float, priority: Priority,
          effort: float | None = None, **fields: Any) -> Generator:
    """Process step: `who` works `hours` with the customer of `deal` (waiting for their desk at `priority`),
    then the touch is written down, dated when the work was done. Returns the row."""
    yield from model.desk_time(who, hours, priority, effort)
    return record(model, deal, kind, duration_minutes=round(hours * 60.0, 1), **fields)


def table(model: ModelView) -> pd.DataFrame:
    """The canonical `activities` table of every touch written so far, in the order they happened."""
    rows = sorted(log(model), key=lambda r: r["day"])
    if not rows:
        return schema.empty("activities")
    frame = pd.DataFrame(rows)
    frame.insert(2, "at", model.timestamps(frame.pop("day").to_numpy()))
    for column in ("opportunity_id", "account_id", "kind", "outcome"):
        frame[column] = pd.Series(frame[column].tolist(), dtype="object", index=frame.index)
    return schema.conform(frame, "activities")


def tables(model: ModelView) -> dict[str, pd.DataFrame]:
    """What a policy that writes touches returns from its `tables` hook."""
    return {"activities": table(model)}
