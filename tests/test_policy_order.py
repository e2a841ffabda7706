"""Policies say which others they depend on (`after`), and the engine orders them by it: no order numbers.

A dependency cycle is refused when the policy closing it registers, with the cycle in the message; a policy
whose hooks would be silently ignored (it returns a separate run but overrides hooks itself) is refused when
the run starts."""

from __future__ import annotations

from typing import ClassVar

import pytest

import sim
from sim.engine.hooks import REGISTRY, ordered, registered


def _policy(key: str, after: tuple[str, ...] = ()) -> type[sim.Policy]:
    return type(f"P_{key}", (sim.Policy,), {"__module__": __name__, "key": key, "after": after,
                                              "__annotations__": {"key": ClassVar[str], "after": ClassVar[tuple]}})


def test_built_in_policies_are_consulted_in_registration_order_moved_only_by_their_declarations():
    keys = [p.key for p in registered()]
    assert keys.index("listening") > keys.index("first_meeting")      # it holds the conversation of that meeting
    assert keys[:3] == ["allocation", "open_pipeline", "qualification"]
    assert not any("order" in vars(p) for p in registered())           # no magic numbers left on any policy
    scenario = sim.Scenario.preset("meetings")
    active = [p.key for p in scenario.policies.active()]
    assert active == [k for k in keys if k in active] and active.index("listening") > active.index("first_meeting")


def test_a_declared_dependency_moves_a_policy_after_the_one_it_reads_and_nothing_else():
    a, b, c = _policy("dep_a", after=("dep_c",)), _policy("dep_b"), _policy("dep_c")
    assert [p.key for p in ordered([a, b, c])] == ["dep_b", "dep_c", "dep_a"]
    assert [p.key for p in ordered([b, c, a])] == ["dep_b", "dep_c", "dep_a"]     # already fine: unchanged
    assert [p.key for p in ordered([a, b])] == ["dep_a", "dep_b"]                 # dep_c is off: no constraint


def test_a_dependency_cycle_is_refused_with_the_cycle_named():
    first = _policy("cyc_one", after=("cyc_three",))
    second = _policy("cyc_two", after=("cyc_one",))
    third = _policy("cyc_three", after=("cyc_two",))
    sim.register(first)
    sim.register(second)
    try:
        with pytest.raises(ValueError, match=r"cycle: cyc_\w+ after cyc_\w+ after cyc_\w+ after cyc_\w+; remove one"):
            sim.register(third)
        assert "cyc_three" not in REGISTRY                                  # refused: nothing half-registered
        with pytest.raises(ValueError, match="cycle"):
            ordered([first, second, third])
    finally:
        sim.unregister("cyc_one")
        sim.unregister("cyc_two")
    typo = _policy("typo", after=("first_meting",))
    sim.register(typo)                                       # it may name a policy registered later ...
    try:
        with pytest.raises(ValueError, match=r"P_typo\.after names 'first_meting': no policy is registered"):
            sim.Scenario.preset("baseline")                  # ... but never one that does not exist
    finally:
        sim.unregister("typo")
    with pytest.raises(ValueError, match=r"after names the policy itself"):
        sim.register(_policy("selfish", after=("selfish",)))
    with pytest.raises(ValueError, match=r"after must be a tuple of policy keys"):
        sim.register(_policy("stringy", after="first_meeting"))


class _Counter(sim.PolicyRun):
    def __init__(self):
        self.closed = 0

    def on_close(self, model, deal) -> None:
        self.closed += 1


class _Confused(sim.Policy):
    """Returns a run but also overrides a hook on its settings: that hook would never be called."""

    key: ClassVar[str] = "confused"

    def start(self, model):
        return _Counter()

    def pass_factor(self, model, deal, i: int) -> float:
        return 2.0


def test_a_hook_left_on_the_settings_of_a_policy_with_a_run_is_refused_not_ignored():
    sim.register(_Confused)
    try:
        scenario = sim.Scenario.preset("baseline").replace({"days": 60, "policies.confused": {}})
        with pytest.raises(TypeError, match=r"_Confused overrides pass_factor but its start returns a _Counter"):
            sim.simulate(scenario, seed=1)
    finally:
        sim.unregister("confused")
