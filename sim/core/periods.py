"""Calendar periods: the one home for "which month, quarter or year is this" and for review dates.

Labels are text a person reads and a CSV keeps: ``2026-01`` for a month, ``2026-Q1`` for a quarter,
``2026`` for a year. `label` names one date's period, `labels` a whole column, `period_bounds` reads a label
back (also the spellings CRMs use: ``2026Q1``, ``Q1 2026``, ``FY2026-Q1``). `Calendar` holds the periods of a
simulated run in simulated days, and `review_dates` the dates of a review cadence.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

Period = Literal["month", "quarter", "year"]
Cadence = Literal["weekly", "monthly", "quarterly", "yearly"]
PER_YEAR = {"month": 12, "quarter": 4, "year": 1}
_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}
_STARTS = {"monthly": "MS", "quarterly": "QS", "yearly": "YS"}


def label(when: dt.date | pd.Timestamp, period: Period = "quarter") -> str:
    """The period holding `when`, as text: 2026-03, 2026-Q1 or 2026."""
    if period == "quarter":
        return f"{when.year}-Q{(when.month - 1) // 3 + 1}"
    if period == "month":
        return f"{when.year}-{when.month:02d}"
    if period == "year":
        return f"{when.year}"
    raise ValueError(f"period: {period!r} is not allowed, must be one of {', '.join(PER_YEAR)}")


def labels(when: pd.Series, period: Period) -> pd.Series:
    """`label` for a whole column of timestamps at once."""
    p = pd.to_datetime(when).dt.to_period(_FREQ[period])
    text = p.astype(str)
    return text.str.replace("Q", "-Q", regex=False) if period == "quarter" else text


_QUARTER = re.compile(r"^\s*(?:FY)?(\d{4})\s*-?\s*Q([1-4])\s*$", re.I)
_QUARTER_FIRST = re.compile(r"^\s*Q([1-4])\s*[- ]?\s*(?:FY)?(\d{4})\s*$", re.I)
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_YEAR = re.compile(r"^\s*(?:FY)?(\d{4})\s*$", re.I)


def period_bounds(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day and the day after the last of a period label: '2026-Q1', '2026Q1', 'Q1 2026', '2026-01', '2026'."""
    text = str(text)
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
    elif m := _QUARTER_FIRST.match(text):
        year, q = int(m[2]), int(m[1])
    elif m := _MONTH.match(text):
        start = pd.Timestamp(int(m[1]), int(m[2]), 1)
        return start, start + pd.DateOffset(months=1)
    elif m := _YEAR.match(text):
        start = pd.Timestamp(int(m[1]), 1, 1)
        return start, start + pd.DateOffset(years=1)
    else:
        raise ValueError(f"period {text!r} is not a period label this lab reads; "
                         "use quarters like '2026-Q1', months like '2026-01' or years like '2026'")
    start = pd.Timestamp(year, 3 * q - 2, 1)
    return start, start + pd.DateOffset(months=3)


def bounds(start: pd.Timestamp, end: pd.Timestamp, period: Period) -> pd.DataFrame:
    """Every period touching [start, end): label, period_start, period_end (exclusive)."""
    if period not in PER_YEAR:
        raise ValueError(f"period: {period!r} is not allowed, must be one of {', '.join(PER_YEAR)}")
    spans = pd.period_range(pd.Timestamp(start), pd.Timestamp(end) - pd.Timedelta(seconds=1), freq=_FREQ[period])
    first = pd.Series(spans.start_time.normalize())
    return pd.DataFrame({
        "period": labels(first, period),
        "period_start": first,
        "period_end": pd.Series((spans.end_time + pd.Timedelta(seconds=1)).normalize()),
    })


@dataclass(frozen=True)
class Calendar:
    """The periods of a run in simulated days: which period a day is in, and where it starts and ends."""

    starts: np.ndarray   # first simulated day of each period
    ends: np.ndarray     # first simulated day after each period
    labels: tuple[str, ...]

    def index(self, day: float) -> int:
        """Index of the period holding simulated day `day`."""
        return int(np.searchsorted(self.starts, day, side="right")) - 1


@lru_cache(maxsize=64)
def calendar(start: dt.date, days: int, period: Period) -> Calendar:
    """The periods of a run starting on `start` and lasting `days` days."""
    t0 = pd.Timestamp(start)
    spans = bounds(t0, t0 + pd.Timedelta(days=days), period)
    to_day = lambda s: ((s - t0).dt.days).to_numpy(dtype=float)  # noqa: E731 - tiny local conversion
    return Calendar(to_day(spans["period_start"]), to_day(spans["period_end"]), tuple(spans["period"]))


def review_dates(start: pd.Timestamp, end: pd.Timestamp, cadence: Cadence = "weekly",
                 first_day: bool = False) -> pd.DatetimeIndex:
    """Review dates from `start` to `end` (both included): every 7 days from `start`, or every month /
    quarter / year start; with `first_day`, `start` itself is a review date too."""
    start = pd.Timestamp(start).normalize()
    if cadence == "weekly":
        return pd.date_range(start, end, freq="7D")
    if cadence not in _STARTS:
        raise ValueError(f"cadence: {cadence!r} is not allowed, must be weekly, monthly, quarterly or yearly")
    dates = pd.date_range(start, end, freq=_STARTS[cadence])
    if first_day and (len(dates) == 0 or dates[0] != start):
        dates = dates.insert(0, start)
    return dates
