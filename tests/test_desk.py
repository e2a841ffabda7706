"""The lighter desk (`sim.engine.desk`) behaves exactly like SimPy's `PriorityResource` it replaces: event for
event, including ties, priorities, zero-length work and requests interrupted while they wait, on the engine's
`Clock` (which leaves releases nobody waits for off the schedule) and on a plain SimPy environment. This is
the test a new SimPy release must pass before `pyproject.toml`'s upper bound on SimPy moves."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.engine import desk as desk_module


# ---- the desk -------------------------------------------------------------------------------------
class SimPyDesk(simpy.PriorityResource):
    """The desk as it was: SimPy's own resource with the same insertion-ordered queue."""

    PutQueue = desk_module._InsortQueue


def desk_story(desk_class, seed: int, env_class=simpy.Environment) -> list[tuple]:
    """Workers asking for two desks at whole-day times (many ties), with priorities that tie, work of zero or
    more days, and a boss who interrupts some of those waiting; everything that happens, in order."""
    rng = np.random.default_rng(seed)
    env = env_class()
    desks = [desk_class(env, capacity=1) for _ in range(2)]
    log: list[tuple] = []
    waiting: dict[int, simpy.Process] = {}

    def worker(k: int):
        for _ in range(int(rng.integers(1, 4))):
            yield env.timeout(float(rng.integers(0, 3)))
            desk = desks[int(rng.integers(0, 2))]
            with desk.request(priority=(int(rng.integers(0, 2)), float(rng.integers(0, 2)))) as turn:
                waiting[k] = env.active_process
                try:
                    yield turn
                except simpy.Interrupt:
                    log.append((env.now, k, "interrupted", len(desk.queue)))
                    continue
                finally:
                    waiting.pop(k, None)
                log.append((env.now, k, "granted", len(desk.queue), desk.count))
                yield env.timeout(float(rng.integers(0, 2)))
            log.append((env.now, k, "released", len(desk.queue)))

    def boss():
        for _ in range(6):
            yield env.timeout(float(rng.integers(1, 3)))
            for k in sorted(waiting)[:1]:
                waiting[k].interrupt("handed over")

    for k in range(12):
        env.process(worker(k))
    env.process(boss())
    env.run(until=40)
    log.append(("events scheduled", next(env._eid)))
    return log


@pytest.mark.parametrize("seed", range(40))
def test_the_desk_behaves_event_for_event_like_simpys_priority_resource(seed):
    simpys = desk_story(SimPyDesk, seed)
    assert desk_story(desk_module.Desk, seed, desk_module.Clock) == simpys      # releases left off the schedule
    assert desk_story(desk_module.Desk, seed) == simpys                          # on a plain SimPy environment


def test_a_clock_still_stops_on_a_failing_process():
    env = desk_module.Clock()

    def broken():
        yield env.timeout(1)
        raise RuntimeError("a policy's bug")

    env.process(broken())
    with pytest.raises(RuntimeError, match="a policy's bug"):
        env.run(until=5)
    stopper = desk_module.Clock()
    done = stopper.timeout(2, value="fine")
    assert stopper.run(until=done) == "fine" and stopper.now == 2


def test_a_desk_serves_one_at_a_time():
    with pytest.raises(ValueError, match="one deal at a time"):
        desk_module.Desk(simpy.Environment(), capacity=2)


def test_simpy_is_bounded_below_the_next_major_release_the_desk_was_not_checked_against():
    """The desk copies SimPy 4's internals, so `pyproject.toml` must keep SimPy below 5 (the lock saves
    `make install`, not a user who pip-installs the package), and the installed SimPy must satisfy it."""
    import re
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    from packaging.requirements import Requirement

    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    (simpy_req,) = [Requirement(d) for d in deps if re.match(r"simpy\b", d, re.I)]
    assert any(s.operator in ("<", "<=", "~=", "==") for s in simpy_req.specifier), f"{simpy_req} has no upper bound"
    assert not simpy_req.specifier.contains("5.0"), f"{simpy_req} lets SimPy 5 in"
    assert simpy_req.specifier.contains(version("simpy")), f"installed SimPy {version('simpy')} is outside {simpy_req}"


def test_a_clocks_timeout_is_simpys_timeout_on_the_same_place_in_the_schedule():
    clock, plain = desk_module.Clock(), simpy.Environment()
    for env in (clock, plain):
        env.timeout(0)
        env.timeout(2.5, value="late")
        env.timeout(1)
    assert [(t, p, i) for t, p, i, _ in clock._queue] == [(t, p, i) for t, p, i, _ in plain._queue]
    for (*_, mine), (*_, simpys) in zip(clock._queue, plain._queue):
        assert type(mine) is simpy.events.Timeout and mine.env is clock
        assert (mine._delay, mine._value, mine._ok, mine.callbacks, mine._desc()) == \
               (simpys._delay, simpys._value, simpys._ok, simpys.callbacks, simpys._desc())
    assert clock.run(until=clock.timeout(3, value="done")) == "done"
    with pytest.raises(ValueError, match="Negative delay -1"):
        clock.timeout(-1)


def test_a_clock_runs_its_own_loop_which_leaves_a_release_nobody_waits_for_off_the_schedule():
    assert {"run", "step"} <= set(vars(desk_module.Clock))     # not SimPy's (which would never set `turn`)
    env = desk_module.Clock()
    desk = desk_module.Desk(env)
    scheduled = []

    def work():
        with desk.request() as turn:
            yield turn
            yield env.timeout(1)
        scheduled.append(len(env._queue))      # the release left nothing behind on the schedule

    env.process(work())
    env.run(until=5)
    assert scheduled == [1]                    # only the run's stop event is still to come



def process_story(env_class) -> tuple[list[tuple], list[int]]:
    """Processes ending at tied times, some awaited by others (directly or through `AllOf`), some by nobody: what
    happens, in order; and the ended processes still on the schedule, seen at the end of each day."""
    env = env_class()
    log: list[tuple] = []

    def job(k: int, days: float):
        yield env.timeout(days)
        log.append((env.now, "done", k))
        return k

    def alone(k: int):
        yield env.timeout(1)
        log.append((env.now, "alone", k))

    def waiter():
        first = env.process(job(0, 1))
        env.process(alone(1))
        log.append((env.now, "waited", (yield first)))
        both = yield env.all_of([env.process(job(2, 1)), env.process(job(3, 0))])
        log.append((env.now, "both", sorted(both.values())))
        env.process(alone(4))

    ended: list[int] = []

    def watcher():      # started last: at each day, after the others' steps that day
        for _ in range(3):
            yield env.timeout(1)
            ended.append(sum(type(e) is simpy.Process and not e.is_alive for *_, e in env._queue))

    env.process(waiter())
    env.process(alone(5))
    env.process(watcher())
    env.run(until=10)
    log.append(("events scheduled", next(env._eid)))
    return log, ended


def test_a_clock_leaves_the_end_of_a_process_nobody_waits_for_off_the_schedule_in_simpys_order():
    """`Clock.schedule`: a process that ends with nobody waiting is not put on the schedule, yet every event keeps
    the id and the order SimPy gives it, and a process something waits for still wakes it as in SimPy."""
    mine, mine_ended = process_story(desk_module.Clock)
    simpys, simpys_ended = process_story(simpy.Environment)
    assert mine == simpys
    assert sum(simpys_ended) > 0 and sum(mine_ended) == 0
