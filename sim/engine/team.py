"""The sales team: reps whose time is the constraint every deal competes for.

Each rep has one desk (a SimPy `PriorityResource` of capacity 1, see `sim.engine.desk`): a deal that needs work
waits for the desk, holds it while the rep works, and lets go. Hours of work become calendar days through the rep's
selling hours per week, their ramp (new reps are slower) and any effort multiplier a policy sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import simpy

from ..world import World
from .desk import Desk


@dataclass(eq=False, slots=True)
class Rep:
    """One rep: a name, a desk to queue for, when they joined, and what they have done."""

    name: str
    desk: Desk
    joined: float                 # simulated day the rep started (negative = long before the run)
    hours_per_week: float
    ramp_days: int
    ramp_start: float
    left: float | None = None     # simulated day the rep left, if they did
    open_deals: int = 0
    busy_days: float = 0.0
    bookings: float = 0.0

    def speed(self, now: float) -> float:
        """Share of full speed at day `now`: ramps linearly from `ramp_start` to 1 over `ramp_days`."""
        if self.ramp_days <= 0:
            return 1.0
        done = min(1.0, max(0.0, (now - self.joined) / self.ramp_days))
        return self.ramp_start + (1.0 - self.ramp_start) * done

    def days_for(self, hours: float, now: float, effort: float = 1.0) -> float:
        """Calendar days of this rep's time that `hours` of work take at day `now`."""
        return hours / (self.hours_per_week / 7.0) / (self.speed(now) * effort)

    def work(self, env: simpy.Environment, hours: float, effort: float = 1.0):
        """Process step, called while holding the desk: the rep spends `hours` of work, counted as busy time."""
        days = self.days_for(hours, env.now, effort)
        yield env.timeout(days)
        self.busy_days += days


_open_deals = attrgetter("open_deals")


class Team:
    """All reps, and the rule that gives each new deal an owner (the rep with the fewest open deals)."""

    def __init__(self, env: simpy.Environment, world: World):
        self.env, self.world = env, world
        self.reps: list[Rep] = []
        for _ in range(world.reps.count):
            self.hire(joined=-float(world.reps.ramp_days) - 1.0)

    def hire(self, joined: float) -> Rep:
        cfg = self.world.reps
        rep = Rep(
            name=f"Rep {len(self.reps) + 1:02d}",
            desk=Desk(self.env, capacity=1),
            joined=joined,
            hours_per_week=cfg.selling_hours_per_week,
            ramp_days=cfg.ramp_days,
            ramp_start=cfg.ramp_start,
        )
        self.reps.append(rep)
        return rep

    @property
    def active(self) -> list[Rep]:
        return [r for r in self.reps if r.left is None]

    def pick(self) -> Rep:
        """The rep the next deal would go to: the active rep with the fewest open deals (earliest hired on a tie)."""
        return min(self.active, key=_open_deals)

    def assign(self) -> Rep:
        """Give the next deal to `pick()`'s rep."""
        rep = self.pick()
        rep.open_deals += 1
        return rep

    def hiring(self, env: simpy.Environment):
        """Process: new reps join on the world's hire dates."""
        for hire in sorted(self.world.reps.hires, key=lambda h: h.at):
            day = self.world.day_of(hire.at)
            if day > env.now:
                yield env.timeout(day - env.now)
            for _ in range(hire.count):
                self.hire(joined=env.now)

    def rep_days(self, until: float) -> float:
        """Days on the team during [0, until), summed over every rep who was on it."""
        return sum(max(0.0, min(until, r.left if r.left is not None else until) - max(0.0, r.joined)) for r in self.reps)

    def headcount(self, until: float) -> dict[str, float]:
        """Rep-years on the payroll during [0, until), reps hired during the run and reps who left."""
        return {"rep_years": self.rep_days(until) / 365.25,
                "reps_hired": float(sum(r.joined >= 0 for r in self.reps)),
                "reps_left": float(sum(r.left is not None for r in self.reps))}

    def utilisation(self, until: float) -> float:
        """Share of the reps' available time spent working deals."""
        available = self.rep_days(until)
        return sum(r.busy_days for r in self.reps) / available if available > 0 else 0.0

