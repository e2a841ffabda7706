"""A rep's desk: SimPy's `PriorityResource` of capacity 1, made lighter. The only module that touches SimPy's
private names (`Environment._queue`, `_eid`, `_now`, `_active_proc`; `Event._ok`, `_value`).

Why: a run makes hundreds of thousands of desk requests and releases, and SimPy's own resource pays for
generality a desk never uses (a get queue re-checked on every release, a full re-sort of the put queue on
every request, a release event on the schedule even when nobody waits). Profiling put that at about a third
of a run's time.

What it reproduces, exactly (same grants, same events at the same moments, hence the same event order and
the same results as SimPy's resource; `tests/test_desk.py` checks it event for event against
`simpy.PriorityResource`, including ties, priorities, zero-length work and requests interrupted while waiting):

- `DeskRequest` is SimPy's `PriorityRequest`: granted at once when the desk is free, else queued by
  ``(priority, time, not preempt)``, first come first served among equals; leaving the ``with`` block of an
  ungranted request takes it out of the line;
- `DeskRelease` is SimPy's `Release`: triggered at once, and when processed the first in line gets the desk;
- `Clock` is SimPy's `Environment` with `step` copied from SimPy 4.1 and one line added (it remembers the
  schedule entry it is processing), so a desk can leave a release nobody waits for off the schedule and
  still hand the desk over in the place SimPy would have (see `Desk.release`); likewise the end of a process
  nobody waits for is not put on the schedule (`Clock.schedule`).

Because it copies SimPy internals, `pyproject.toml` bounds SimPy below 5; a new SimPy release must pass
`tests/test_desk.py` before that bound moves.
"""

from __future__ import annotations

import bisect
import math
from heapq import heappop, heappush
from types import MethodType

import simpy
from simpy.core import BoundClass, EmptySchedule, StopSimulation
from simpy.events import NORMAL, PENDING, URGENT, Event, EventPriority, Process, Timeout
from simpy.resources.resource import PriorityRequest


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


def _timeouts(env: simpy.Environment):
    """`env.timeout`: SimPy's `Timeout(env, delay, value)` made without its two calls (`__init__`, `schedule`),
    the same event on the schedule at the same place (a run makes about a hundred thousand; `tests/test_desk.py`
    checks them against SimPy's)."""
    queue, eid, new = env._queue, env._eid, Timeout.__new__

    def timeout(delay: float, value=None) -> Timeout:
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        event = new(Timeout)
        event.env, event.callbacks, event._value, event._delay, event._ok = env, [], value, delay, True
        heappush(queue, (env._now + delay, NORMAL, next(eid), event))
        return event

    return timeout


class Clock(simpy.Environment):
    """SimPy's environment, remembering the schedule entry (time, priority, id) of the event it is processing.

    A desk uses it to know whether a release it did not put on the schedule would still be to come at this
    moment (see `Desk.release`). `step` is SimPy's own, with that one line added.
    """

    def __init__(self, initial_time: float = 0):
        super().__init__(initial_time)
        self.turn: tuple | None = None
        # SimPy binds `timeout`, `process`, ... to the environment once (`BoundClass.bind_early`), but only those
        # of the instance's own class: a subclass would make a bound method at every `env.timeout`. Bound here.
        for name, attr in vars(simpy.Environment).items():
            if type(attr) is BoundClass:
                setattr(self, name, MethodType(attr.cls, self))
        self.timeout = _timeouts(self)

    def schedule(self, event: Event, priority: EventPriority = NORMAL, delay: float = 0) -> None:
        """SimPy's `schedule`, except for a process that has just ended with nobody waiting for it (every deal's
        process, and most policies' processes: nothing in the model waits for a process).

        Processing that event would call no one, so it is marked processed at once and left off the schedule (one
        event fewer per process: a deal's ten or so). It still takes its id, so every later event gets the id SimPy
        would give it and the order of events is unchanged. A process that failed is scheduled as usual (processing
        it raises its error), and so is one that something waits for.
        """
        if type(event) is Process and event._ok and not event.callbacks and not delay:
            next(self._eid)
            event.callbacks = None
            return
        heappush(self._queue, (self._now + delay, priority, next(self._eid), event))

    def run(self, until: float | Event | None = None):
        """SimPy's `run` until a time, with `step` written into its loop (no call per event); other `until`s: SimPy's."""
        if until is None or isinstance(until, Event):
            return super().run(until)
        at = until if isinstance(until, int) else float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = Event(self)
        stop._ok, stop._value = True, None
        self.schedule(stop, URGENT, at - self._now)
        stop.callbacks.append(StopSimulation.callback)
        queue = self._queue
        try:
            while True:                                   # `step`, as below
                try:
                    self.turn = entry = heappop(queue)
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
        except StopSimulation as exc:
            return exc.args[0]
        except EmptySchedule:
            raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {stop}') from None

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
