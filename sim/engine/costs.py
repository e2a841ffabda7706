"""The cost ledger: what selling costs, in money and rep hours, by month, orbit and activity.

Cost of sales is computed from this table, never from model internals, so the same analysis
(`sim.analysis.orbits.cost_of_sales`) reads a simulated run or a finance export laid out the same way. A
policy that spends asks for the run's one ledger (``model.costs``), records what it spends there (`spend`,
`hours`) and lists `COSTS` in its `writes`; the engine writes the table once, so two spending policies in
one run share one complete table.

Besides what policies record, the table holds two kinds of rows the run already knows:

- ``selling``: the rep hours each deal's stages took (the stage table's hours for every stage a rep worked),
  under the orbit the deal was sold in (`CostLedger.sold_in`, said by the orbit policy; empty otherwise);
- ``payroll``: the hours each rep was paid for (selling hours per week while on the team), in ``paid_hours``.

``rep_hours`` is what the hours were used for; ``paid_hours`` is what was paid. Cost of sales counts the paid
hours (idle time is paid too) plus the money spent; the used hours show where the time went.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Protocol

import numpy as np
import pandas as pd

from ..core.schema import Col, Table
from ..world import World
from .entities import Deal
from .team import Team

COSTS = Table(
    "costs",
    (
        Col("month", "datetime", required=True, nullable=False, doc="first day of the month the cost fell in"),
        Col("orbit", "str", doc="the orbit the money or time was aimed at (empty when not aimed at one)"),
        Col("activity", "str", required=True, nullable=False,
            doc="paid leads, new accounts, marketing touch, rep contact, nurture, selling, payroll"),
        Col("owner", "str", doc="the rep whose hours these are (empty for money)"),
        Col("spend", "float", lo=0, doc="money spent [currency]"),
        Col("rep_hours", "float", lo=0, doc="rep hours used [hours]"),
        Col("paid_hours", "float", lo=0, doc="rep hours paid for (payroll rows) [hours]"),
    ),
    doc="what selling cost, by month, orbit and activity: money spent and rep hours used and paid",
)



class _Run(Protocol):
    """What the ledger needs of the model: the world, the time, the deals and the team."""

    world: World
    deals: list[Deal]
    team: Team

    @property
    def now(self) -> float: ...


class CostLedger:
    """One run's costs: money and rep hours by (month, orbit, activity, owner)."""

    def __init__(self, model: _Run):
        self.model = model
        self._rows: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self._orbit: dict[Deal, str] = {}
        world = model.world
        start = pd.Timestamp(world.start)
        bounds = pd.date_range(start.to_period("M").to_timestamp(), start + pd.Timedelta(days=world.days), freq="MS")
        self.month_starts: list[float] = sorted({max(0.0, float((b - start).days)) for b in bounds
                                                 if (b - start).days < world.days})
        """Simulated days on which the run's calendar months begin (the first is day 0, whatever the start date)."""

    def _month(self, day: float) -> int:
        """Index of the calendar month holding simulated day `day` (0 = the month the run starts in)."""
        return max(0, bisect.bisect_right(self.month_starts, day) - 1)

    def spend(self, orbit: str | None, activity: str, amount: float) -> None:
        """Record `amount` of money spent now on `activity` aimed at `orbit`."""
        if amount > 0:
            self._rows[(self._month(self.model.now), orbit, activity, None)][0] += amount

    def hours(self, orbit: str | None, activity: str, owner: str, used: float) -> None:
        """Record `used` rep hours that `owner` spent now on `activity` aimed at `orbit`."""
        if used > 0:
            self._rows[(self._month(self.model.now), orbit, activity, owner)][1] += used

    def sold_in(self, deal: Deal, orbit: str) -> None:
        """Say that `deal` is sold in `orbit`: its stages' selling hours are counted under that orbit."""
        self._orbit[deal] = orbit

    def table(self) -> pd.DataFrame:
        """The ledger as the `costs` table: recorded rows, then selling hours and payroll from the run."""
        model = self.model
        rows = [(m, orbit, activity, owner, money, used, 0.0)
                for (m, orbit, activity, owner), (money, used) in self._rows.items()]
        rows += self._selling() + self._payroll()
        frame = pd.DataFrame(rows, columns=["m", "orbit", "activity", "owner", "spend", "rep_hours", "paid_hours"])
        frame = frame.groupby(["m", "orbit", "activity", "owner"], dropna=False, sort=True, as_index=False).sum()
        start = pd.Timestamp(model.world.start).to_period("M")
        months = [(start + int(m)).to_timestamp() for m in frame["m"]]
        return pd.DataFrame({
            "month": pd.DatetimeIndex(months).astype("datetime64[ns]"),
            "orbit": _text(frame["orbit"]), "activity": _text(frame["activity"]), "owner": _text(frame["owner"]),
            "spend": frame["spend"].round(2), "rep_hours": frame["rep_hours"].round(3),
            "paid_hours": frame["paid_hours"].round(3),
        })

    def _selling(self) -> list[tuple]:
        """Rep hours each deal's worked stages took, by month the stage began, orbit and owner."""
        stages = self.model.world.stages
        out = []
        for deal in self.model.deals:
            orbit = self._orbit.get(deal)
            for i, (stage, entered, _) in enumerate(deal.history):
                if i == 0 and entered < 0:       # resumed from before the run: that work was done before
                    continue
                worked = stages[stage].rep_hours
                if worked > 0:
                    out.append((self._month(entered), orbit, "selling", deal.owner.name, 0.0, worked, 0.0))
        return out

    def _payroll(self) -> list[tuple]:
        """Hours each rep was paid for, per calendar month of the run (selling hours per week while on the team)."""
        days_in_run = float(self.model.world.days)
        edges = self.month_starts + [days_in_run]
        out = []
        for rep in self.model.team.reps:
            joined, left = max(0.0, rep.joined), rep.left if rep.left is not None else days_in_run
            for m, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
                days = min(b, left) - max(a, joined)
                if days > 0:
                    out.append((m, None, "payroll", rep.name, 0.0, 0.0, rep.hours_per_week * days / 7.0))
        return out


def _text(values: pd.Series) -> pd.Series:
    return pd.Series([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values],
                     dtype="object")
