"""The sales team: reps whose time is the constraint every deal competes for.

Each rep has one desk (a SimPy `PriorityResource` of capacity 1, see `Desk`): a deal that needs work waits for the
desk, holds it while the rep works, and lets go. Hours of work become calendar days through the rep's
selling hours per week, their ramp (new reps are slower) and any effort multiplier a policy sets.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from heapq import heappop, heappush
from operator import attrgetter

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import NORMAL, PENDING, Event, EventPriority
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

    def __init__(self, desk: Desk, request: DeskRequest | None, schedule: bool = True):
        self.env = desk._env
        self.callbacks = [desk._grant_next]
        self.resource, self.request = desk, request
        self._ok, self._value = True, None
        if schedule:
            self.env.schedule(self)


class Clock(simpy.Environment):
    """SimPy's environment, remembering the schedule entry (time, priority, id) of the event it is processing.

    A desk uses it to know whether a release it did not put on the schedule would still be to come at this
    moment (see `Desk.release`). `step` is SimPy's own, with that one line added.
    """

    def __init__(self, initial_time: float = 0):
        super().__init__(initial_time)
        self.turn: tuple | None = None

    def step(self) -> None:
        try:
            self.turn = entry = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        self._now, event = entry[0], entry[3]
        callbacks, event.callbacks = event.callbacks, None
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            event.callbacks = callbacks[callbacks.index(callback) + 1 :]
            self.schedule(event, EventPriority(-1))
            raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


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
        self._unscheduled: list[int] = []       # ids of releases left off the schedule at this moment ...
        self._unscheduled_at = -math.inf        # ... which is this
        self._done = Event(env)                 # what `release` returns for those: already processed
        self._done._ok, self._done._value, self._done.callbacks = True, None, None

    def request(self, priority=0, preempt: bool = True) -> DeskRequest:
        """Ask for the desk at `priority` (lower goes first); yield the request to wait for it."""
        return DeskRequest(self, priority, preempt)

    def release(self, request: DeskRequest) -> Event:
        """Let go of the desk (or of a place in line); the next in line gets it when the release is processed.

        With nobody in line, processing the release would find no one to hand the desk to, so on a `Clock` it
        is left off the schedule (most releases: this saves an event each). It keeps its place, though: should
        the desk be let go again with a line at this same moment while the skipped release would still be to
        come, it is scheduled in that place, so the desk changes hands exactly when SimPy's would.
        """
        if self.users and self.users[0] is request:
            self.users.pop()
        env = self._env
        turn = getattr(env, "turn", None)
        if turn is None:                     # not run by a Clock: SimPy's way, always on the schedule
            return DeskRelease(self, request)
        now = env._now
        if not self.put_queue:
            if self._unscheduled_at != now:
                self._unscheduled, self._unscheduled_at = [], now
            self._unscheduled.append(next(env._eid))   # its place in the schedule, as SimPy would have given it
            return self._done
        if not self.users and self._unscheduled_at == now:
            for eid in self._unscheduled:    # the first skipped release still to come hands the desk over first
                if (NORMAL, eid) > (turn[1], turn[2]):
                    self._unscheduled.remove(eid)
                    heappush(env._queue, (now, NORMAL, eid, DeskRelease(self, None, schedule=False)))
                    break
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

