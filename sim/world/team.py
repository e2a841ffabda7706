"""The sales team's settings: how many reps, their selling time, ramp-up, hires and quotas."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from ..core.data import Data

MAX_REPS = 10_000   # a team larger than this is a typo, and would take minutes and gigabytes to simulate


class Hire(Data):
    """New reps joining on a date; they ramp up before selling at full speed."""

    at: dt.date = Field(description="start date of the new reps")
    count: int = Field(ge=1, le=MAX_REPS, description="how many join")


class Reps(Data):
    """The sales team. Rep time is the constraint: every stage needs some of it."""

    count: int = Field(8, ge=1, le=MAX_REPS, description="reps at the start, fully ramped")
    selling_hours_per_week: float = Field(30.0, gt=0.0, le=80.0, description="hours a rep spends selling each week")
    ramp_days: int = Field(90, ge=0, le=730, description="days a new rep needs to reach full speed")
    ramp_start: float = Field(0.3, gt=0.0, le=1.0, description="speed of a new rep on day one, as a share of full speed")
    hires: tuple[Hire, ...] = Field((), max_length=1000, description="reps joining later")
    quota: float | None = Field(None, gt=0, le=1e12, description="yearly quota of each rep, in the scenario currency (null = no quotas)")
    quota_period: Literal["month", "quarter", "year"] = Field("quarter", description="period over which quotas are judged")
