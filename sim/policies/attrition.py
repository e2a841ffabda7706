"""Voluntary attrition: reps who leave on their own, the lag before they are replaced, and the replacement's ramp.

`AttritionPolicy(rate=0.25, backfill_days=90)`: every rep on the team (the starting reps, the scenario's
hires and every replacement) leaves on their own with a constant hazard of `rate` per rep-year, so `rate`
is the yearly turnover as HR measures it (voluntary leavers in a year / average headcount). A leaver's open
deals are handed over as the engine does for any rep who leaves (`ModelView.release`: each to the active
rep with the fewest). With `backfill=True` a replacement joins `backfill_days` later and ramps up like any
new rep (the scenario's `reps.ramp_days` and `reps.ramp_start`), and may leave in turn.

Default rate: ASSUMED, 25% a year, inside the 20-35% range of voluntary sales turnover the issue names (the
range teams plan for). We have not checked it against a published figure: the Bridge Group's SaaS AE
Metrics reports (with Matrix Partners, forentrepreneurs.com, 2015-2020) have a "Ramp and Retention"
section to compare with, and HR data beats both. Set it from your own HR data, or read it from an export's
owners (`sim.analysis.attrition.owner_turnover`); `Plan.assumption_ends` shows P(hit) at 20% and 35%.

Randomness: each rep's tenure comes from a stream of its own (`model.streams.stream("attrition", k)` for
the k-th rep ever on the team), drawn as one uniform number turned into an exponential time, so the same
rep leaves on the same day in every scenario run with that seed (common random numbers), and a higher
`rate` makes every rep leave earlier, never later. Nothing is drawn from the shared `model.rng`.

The policy keeps its run state on its run object (`AttritionRun`, made by `start`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import pandas as pd
from pydantic import Field

from ..core.schema import Col, Table
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.team import Rep

DAYS_PER_YEAR = 365.25
DEFAULT_RATE = 0.25          # assumed, within the 20-35% a year the issue names (see the module's docstring)

DEPARTURES = Table("departures", (
    Col("rep", "str", required=True, nullable=False),
    Col("joined_day", "float", required=True),
    Col("left_day", "float", required=True, lo=0),
    Col("replaced_day", "float"),
), doc="one row per rep who left on their own: when they joined and left (simulated days), and when their "
       "replacement joined (missing when there was none by the end)")


@register
class AttritionPolicy(Policy):
    """Reps who leave on their own at a yearly rate; replaced after a lag, the replacement ramps up."""

    key: ClassVar[str] = "attrition"
    summary: ClassVar[str] = "voluntary attrition: reps leave at a yearly rate and are backfilled after a lag (null = nobody leaves)"
    writes: ClassVar[tuple] = (DEPARTURES,)
    levers: ClassVar[tuple[str, ...]] = ("rate", "backfill_days")

    rate: float = Field(DEFAULT_RATE, ge=0, le=3, description="voluntary leavers per rep-year (0.25 = a quarter of "
                        "the team a year; assumed, within the 20-35% sales teams plan for)")
    backfill: bool = Field(True, description="replace each leaver (the replacement ramps up like any new rep)")
    backfill_days: float = Field(90.0, ge=0, le=730, description="days from a rep leaving to their replacement's start")

    def hazard(self) -> float:
        """Chance per rep per day of leaving."""
        return self.rate / DAYS_PER_YEAR

    def start(self, model: ModelView) -> AttritionRun:
        return AttritionRun(self, model)


class AttritionRun(PolicyRun):
    """One run's attrition: reps already given a tenure, and who left when (and when they were replaced)."""

    def __init__(self, policy: AttritionPolicy, model: ModelView):
        self.policy = policy
        self.model = model
        self.watched = 0                        # reps of `team.reps` already given a tenure
        self.left: list[list] = []              # [rep, joined, left, replaced or None]
        if policy.rate > 0:
            model.env.process(self.watch())

    def watch(self):
        """Process: once a day, give every rep who joined since a tenure of their own."""
        env, team = self.model.env, self.model.team
        while True:
            while self.watched < len(team.reps):
                rep = team.reps[self.watched]
                env.process(self.tenure(rep, self.watched))
                self.watched += 1
            yield env.timeout(1.0)

    def tenure(self, rep: Rep, k: int):
        """Process: the rep stays an exponential time (counted from today, or from their start), then leaves."""
        model, env = self.model, self.model.env
        u = model.streams.stream("attrition", k).random()
        start = max(env.now, rep.joined)
        days = -math.log1p(-u) / self.policy.hazard()
        yield env.timeout(start - env.now + days)
        if rep.left is not None:                  # gone already (a cut, say)
            return
        if len(model.team.active) <= 1:           # nobody to hand the deals to: the last rep stays
            return
        model.release(rep)
        record = [rep.name, rep.joined, env.now, None]
        self.left.append(record)
        if self.policy.backfill:
            env.process(self.replace(record))

    def replace(self, record: list):
        """Process: the replacement joins after the lag (and ramps up: `Team.hire`)."""
        env = self.model.env
        yield env.timeout(self.policy.backfill_days)
        self.model.team.hire(joined=env.now)
        record[3] = env.now

    def tables(self, model: ModelView) -> dict[str, pd.DataFrame]:
        rows = self.left
        return {"departures": pd.DataFrame({
            "rep": pd.Series([r[0] for r in rows], dtype=object),
            "joined_day": pd.Series([r[1] for r in rows], dtype=float),
            "left_day": pd.Series([r[2] for r in rows], dtype=float),
            "replaced_day": pd.Series([math.nan if r[3] is None else r[3] for r in rows], dtype=float)})}

    def metrics(self, model: ModelView) -> dict[str, float]:
        return {"reps_left_voluntarily": float(len(self.left)),
                "backfills": float(sum(r[3] is not None for r in self.left)),
                "productive_rep_years": productive_days(model.team.reps, model.world.days) / DAYS_PER_YEAR}


def productive_days(reps: list[Rep], until: float) -> float:
    """Full-speed rep-days on the team during [0, until): each rep's speed (their ramp) integrated over the
    days they were on it. A rep at 30% speed for ten days counts three."""
    total = 0.0
    for rep in reps:
        lo, hi = max(0.0, rep.joined), min(until, rep.left if rep.left is not None else until)
        if hi <= lo:
            continue
        if rep.ramp_days <= 0:
            total += hi - lo
            continue
        ramp_end = rep.joined + rep.ramp_days          # speed rises linearly to 1 by here, then stays
        a, b = lo, min(hi, max(lo, ramp_end))
        if b > a:
            total += (b - a) * (rep.speed(a) + rep.speed(b)) / 2   # exact: speed is linear on [a, b]
        total += max(0.0, hi - max(lo, ramp_end))
    return total
