"""The sales team: reps whose time is the constraint every deal competes for.

Each rep has one desk (a SimPy `PriorityResource` of capacity 1, see `Desk`): a deal that needs work waits for the
desk, holds it while the rep works, and lets go. Hours of work become calendar days through the rep's
selling hours per week, their ramp (new reps are slower) and any effort multiplier a policy sets.
"""

from __future__ import annotations

import bisect
from operator import attrgetter
from dataclasses import dataclass, field

import simpy
from simpy.events import PENDING, Event
from simpy.resources.resource import PriorityRequest

from ..world import World


class _InsortQueue(list):
    """A request queue kept in key order by binary insertion (SimPy's own re-sorts the whole queue per request)."""

    def __init__(self, maxlen: int | None = None):
        super().__init__()
        self.maxlen = maxlen

    def append(self, item) -> None:
        bisect.insort_right(self, item, key=_request_key)   # after equal keys: first come, first served


def _request_key(request):
    return request.key


class DeskRequest(PriorityRequest):
    """A request for a rep's desk: granted at once when the desk is free, else queued by its key.

    Behaves exactly like SimPy's `PriorityRequest` on a `PriorityResource` of capacity 1 (same grants, same
    events at the same moments, hence the same event order and results), with less bookkeeping: a desk has
    no get queue to re-check, so the request carries no callback for it.
    """

    def __init__(self, desk: Desk, priority=0, preempt: bool = True):
        env = desk._env
        self.env = env
        self.callbacks = []
        self.resource = desk
        self.proc = env._active_proc
        self.priority = priority
        self.preempt = preempt
        self.time = env._now
        self.key = (priority, self.time, not preempt)
        queue = desk.put_queue
        if desk.users:              # busy: wait in line
            queue.append(self)
        elif not queue:             # free, nobody waiting: granted now
            desk._grant(self)
        else:                       # free while the line waits for a release to be processed: first in line gets it
            queue.append(self)
            desk._grant(queue.pop(0))

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if self._value is PENDING:  # never granted (e.g. interrupted while waiting): leave the line
            self.resource.put_queue.remove(self)
        if exc_type is not GeneratorExit:   # as SimPy: no release when the generator is being discarded
            self.resource.release(self)


class DeskRelease(Event):
    """A desk let go: triggered at once; when processed, the first deal in line gets the desk (as SimPy's `Release`)."""

    def __init__(self, desk: Desk, request: DeskRequest):
        self.env = desk._env
        self.callbacks = [desk._grant_next]
        self.resource, self.request = desk, request
        self._ok, self._value = True, None
        self.env.schedule(self)


class Desk(simpy.PriorityResource):
    """A rep's attention: one deal at a time, waiting deals served by priority, then arrival order.

    A SimPy `PriorityResource` of capacity 1 (`request(priority)` in a ``with`` block, `users`, `queue`,
    `count`) whose requests and releases are lighter (`DeskRequest`, `DeskRelease`); tested against
    SimPy's own resource for identical grant order and timing.
    """

    PutQueue = _InsortQueue

    def __init__(self, env: simpy.Environment, capacity: int = 1):
        if capacity != 1:
            raise ValueError(f"a desk serves one deal at a time, got capacity {capacity}")
        super().__init__(env, capacity)

    def request(self, priority=0, preempt: bool = True) -> DeskRequest:
        """Ask for the desk at `priority` (lower goes first); yield the request to wait for it."""
        return DeskRequest(self, priority, preempt)

    def release(self, request: DeskRequest) -> DeskRelease:
        """Let go of the desk (or of a place in line); the next in line gets it when the release is processed."""
        if self.users and self.users[0] is request:
            self.users.pop()
        return DeskRelease(self, request)

    def _grant(self, request: DeskRequest) -> None:
        self.users.append(request)
        request.usage_since = self._env._now
        request._ok, request._value = True, None
        self._env.schedule(request)

    def _grant_next(self, _release: Event) -> None:
        if not self.users and self.put_queue:
            self._grant(self.put_queue.pop(0))


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
    extra: dict = field(default_factory=dict)   # room for policies' per-rep bookkeeping

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

