"""The activity log: the meetings, calls, trials and support sessions of one run, shared by every policy.

A touch is one row of the canonical `activities` table (a meeting, a call, a lunch, a trial, a support
session, a bug firefight). Each takes someone's desk time (`touch` and `desk` wait for the rep's desk, so it
competes with every deal for the same hours) and is written to the run's one log, so the `activities` table
holds every policy's touches. A policy asks for the log as ``model.activities`` and lists `ACTIVITIES` in its
``writes``; the engine writes the table once, at the end of the run.

A touch is a mutable record until the run ends: one policy can book a meeting (who came) and another fill
in what was said (talk share, questions), a trial's outcome is known only when its deal closes; the table is
built from the log when the run's tables are. Random numbers for touches come from `sim.engine.streams`.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from ..core import schema
from .entities import Deal
from .priority import NORMAL, Priority
from .rounding import rounded
from .team import Rep

ACTIVITIES = schema.ACTIVITIES   # what a policy that writes touches lists in its `writes`


class _Desks(Protocol):
    """What the log needs of the model: the time, the reps' desks and the calendar."""

    @property
    def now(self) -> float: ...
    def desk_time(self, rep: Rep, hours: float, priority: Priority, effort: float | None = None) -> Generator: ...
    def timestamps(self, days: Any) -> pd.DatetimeIndex: ...


@dataclass(eq=False, slots=True)
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


class Activities:
    """The run's log of touches, and the meetings booked per deal (which stage's meeting a policy already held)."""

    def __init__(self, model: _Desks):
        self.model = model
        self.log: list[Touch] = []
        self._booked: dict[Deal, tuple[int, Touch | None]] = {}

    def record(self, deal: Deal | None, kind: str, at: float | None = None, **fields: Any) -> Touch:
        """Log a touch with `deal`'s customer (now, unless `at` is given) and return it, to fill in later."""
        touch = Touch(
            opportunity_id=deal.id if deal is not None else None,
            account_id=deal.account.id if deal is not None else fields.pop("account_id", None),
            at=self.model.now if at is None else at,
            kind=kind,
            **fields,
        )
        self.log.append(touch)
        return touch

    def book(self, deal: Deal, stage: int, touch: Touch | None) -> None:
        """Say that stage `stage`'s meeting with the customer is `touch` (None: it was booked and never held),
        so a policy consulted later at the same stage (the conversation) uses this meeting, not a new one."""
        self._booked[deal] = (stage, touch)

    def booked(self, deal: Deal, stage: int) -> tuple[bool, Touch | None]:
        """Whether another policy booked stage `stage`'s meeting, and the meeting (None if never held)."""
        entry = self._booked.get(deal)
        if entry is None or entry[0] != stage:
            return False, None
        return True, entry[1]

    def desk(self, rep: Rep, hours: float, priority: Priority = NORMAL) -> Generator:
        """Process step: the rep spends `hours` of desk time on a touch (travel, a lunch, trial support)."""
        if hours > 0:
            yield from self.model.desk_time(rep, hours, priority)

    def touch(self, who: Rep, deal: Deal, kind: str, hours: float, priority: Priority,
              effort: float | None = None, **fields: Any) -> Generator:
        """Process step: `who` works `hours` with the customer of `deal` (waiting for their desk at `priority`),
        then the touch is written down, dated when the work was done. Returns the touch."""
        yield from self.model.desk_time(who, hours, priority, effort)
        return self.record(deal, kind, duration_minutes=rounded(hours * 60.0, 1), **fields)

    def table(self) -> pd.DataFrame:
        """Every touch logged in the run, as the canonical `activities` table plus its `truth_*` columns."""
        touches = self.log
        if not touches:
            return schema.empty("activities")
        columns = list(schema.ACTIVITIES.columns)
        data: dict[str, Any] = {c: [getattr(t, c) for t in touches] for c in columns}
        data["at"] = self.model.timestamps([t.at for t in touches])
        for c in ("opportunity_id", "account_id", "kind", "outcome"):
            data[c] = pd.Series(data[c], dtype="object")
        truths = sorted({k for t in touches for k in t.truth})
        for k in truths:
            data[k] = [float(t.truth.get(k, math.nan)) for t in touches]
        df = pd.DataFrame(data)
        return schema.conform(df.sort_values("at", kind="stable").reset_index(drop=True), "activities")
