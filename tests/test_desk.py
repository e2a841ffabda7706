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
