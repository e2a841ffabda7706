"""Touches: what several policies share when they meet, call or support a customer.

A touch is one row of the canonical `activities` table (a meeting, a call, a lunch, a trial, a support
session, a bug firefight). Each takes someone's desk time (`model.desk_time`, so it competes with every deal
for the same hours) and is written to one log per run, so the `activities` table holds every policy's
touches; each such policy returns `tables(model)` from its `tables` hook (the same whole table, so it does
not matter which policy's copy the model keeps).

A touch is a mutable record until the run ends: one policy can book a meeting (who came) and another fill
in what was said (talk share, questions), a trial's outcome is known only when its deal closes; the table is
written once, at the end. Random numbers for touches come from `sim.policies.streams`.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..core import schema
from ..engine.entities import Deal
from ..engine.hooks import ModelView
from ..engine.priority import NORMAL, Priority
from ..engine.team import Rep

LOG = "activities"   # key of the shared log in `model.extra`
TABLE = "touches.table"   # key in `model.extra`: the table built at the end of the run
BOOKED = "touches.booked"   # key in `deal.extra`: (stage, meeting) booked by a policy for that stage


@dataclass(eq=False)
class Touch:
    """One activity with a customer, as the `activities` table records it (numbers NaN when unknown)."""

    opportunity_id: str | None
    account_id: str | None
    at: float                                   # simulated day
    kind: str                                   # meeting, lunch, video, call, trial...
    duration_minutes: float = math.nan
    attendees: float = math.nan
    attendees_spoke: float = math.nan
    customer_talk_share: float = math.nan
    questions: float = math.nan
    outcome: str | None = None                  # held, no-show, ...
    truth: dict[str, float] = field(default_factory=dict)   # simulated-only facts: truth_* columns


def record(model: ModelView, deal: Deal | None, kind: str, at: float | None = None, **fields: Any) -> Touch:
    """Log a touch with `deal`'s customer (now, unless `at` is given) and return it, to fill in later."""
    touch = Touch(
        opportunity_id=deal.id if deal is not None else None,
        account_id=deal.account.id if deal is not None else fields.pop("account_id", None),
        at=model.now if at is None else at,
        kind=kind,
        **fields,
    )
    model.extra.setdefault(LOG, []).append(touch)
    return touch


def book(deal: Deal, stage: int, touch: Touch | None) -> None:
    """Say that stage `stage`'s meeting with the customer is `touch` (None: it was booked and never held),
    so a policy consulted later at the same stage (the conversation) uses this meeting, not a new one."""
    deal.extra[BOOKED] = (stage, touch)


def booked(deal: Deal, stage: int) -> tuple[bool, Touch | None]:
    """Whether another policy booked stage `stage`'s meeting, and the meeting (None if never held)."""
    entry = deal.extra.get(BOOKED)
    if entry is None or entry[0] != stage:
        return False, None
    return True, entry[1]


def table(model: ModelView) -> pd.DataFrame:
    """Every touch logged in the run, as the canonical `activities` table plus its `truth_*` columns
    (built once per run: every policy that writes touches asks for it)."""
    touches: list[Touch] = model.extra.get(LOG, [])
    if not touches:
        return schema.empty("activities")
    built = model.extra.get(TABLE)
    if built is None or built[0] != len(touches):
        built = model.extra[TABLE] = (len(touches), _build(model, touches))
    return built[1]


def _build(model: ModelView, touches: list[Touch]) -> pd.DataFrame:
    columns = [c for c in schema.ACTIVITIES.columns]
    data: dict[str, Any] = {c: [getattr(t, c) for t in touches] for c in columns}
    data["at"] = model.timestamps([t.at for t in touches])
    for c in ("opportunity_id", "account_id", "kind", "outcome"):
        data[c] = pd.Series(data[c], dtype="object")
    truths = sorted({k for t in touches for k in t.truth})
    for k in truths:
        data[k] = [float(t.truth.get(k, math.nan)) for t in touches]
    df = pd.DataFrame(data)
    return schema.conform(df.sort_values("at", kind="stable").reset_index(drop=True), "activities")


def desk(model: ModelView, rep: Rep, hours: float, priority: Priority = NORMAL) -> Generator:
    """Process step: the rep spends `hours` of desk time on a touch (travel, a lunch, trial support)."""
    if hours > 0:
        yield from model.desk_time(rep, hours, priority)


def touch(model: ModelView, who: Rep, deal: Deal, kind: str, hours: float, priority: Priority,
          effort: float | None = None, **fields: Any) -> Generator:
    """Process step: `who` works `hours` with the customer of `deal` (waiting for their desk at `priority`),
    then the touch is written down, dated when the work was done. Returns the touch."""
    yield from model.desk_time(who, hours, priority, effort)
    return record(model, deal, kind, duration_minutes=round(hours * 60.0, 1), **fields)


def tables(model: ModelView) -> dict[str, pd.DataFrame]:
    """What a policy that writes touches returns from its `tables` hook."""
    return {"activities": table(model)}
