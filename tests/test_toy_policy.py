"""A new policy is a settings class and, when it keeps state, a run class: defined here, in the test file,
through the public API only, with no edit under `sim/`. It changes how deals pass their stages, validates its
own settings (errors name the field), checks itself against the world, and writes a table of its own from
what its run recorded (the worked example of `sim/README.md`)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

import sim

TOY = sim.Table("toy", (
    sim.Col("opportunity_id", "str", required=True, nullable=False),
    sim.Col("source", "str", required=True),
    sim.Col("won", "float", lo=0, hi=1),
), doc="one row per deal the toy policy saw close")


class SourceBoost(sim.Policy):
    """Deals from one lead source pass every stage `boost` times as often (a better-prepared team for them)."""

    key: ClassVar[str] = "toy"
    summary: ClassVar[str] = "a better chance at every stage for one lead source (test policy)"
    writes: ClassVar[tuple] = (TOY,)

    source: str = Field(min_length=1, description="the lead source that gets the boost")
    boost: float = Field(1.1, gt=0, le=2, description="multiplier on each stage's pass chance")

    def check(self, world) -> list[str]:
        names = [s.name for s in world.lead_sources]
        return [] if self.source in names else [f"source: {self.source!r} is not a lead source ({', '.join(names)})"]

    def start(self, model: sim.ModelView) -> BoostRun:
        return BoostRun(self)


class BoostRun(sim.PolicyRun):
    """One run of `SourceBoost`: the boost at every stage, and the deals it saw close."""

    def __init__(self, policy: SourceBoost):
        self.policy = policy
        self.closed: list[tuple[str, str, float]] = []

    def pass_factor(self, model: sim.ModelView, deal, i: int) -> float:
        return self.policy.boost if deal.lead.source == self.policy.source else 1.0

    def on_close(self, model: sim.ModelView, deal) -> None:
        self.closed.append((deal.id, deal.lead.source, float(deal.won)))

    def tables(self, model: sim.ModelView) -> dict[str, pd.DataFrame]:
        return {"toy": pd.DataFrame(self.closed, columns=["opportunity_id", "source", "won"])}


@pytest.fixture(scope="module")
def toy():
    sim.register(SourceBoost)
    yield SourceBoost
    sim.unregister("toy")


@pytest.fixture(scope="module")
def base(toy) -> sim.Scenario:
    return sim.Scenario.preset("baseline").replace({"accounts.repeat_per_year": 0.0})


def inbound_win_rate(result: sim.SimResult) -> dict[str, float]:
    opp = result.tables.opportunities
    closed = opp[opp["outcome"].isin(["won", "lost"]) & (opp["lead_source"] == "Inbound")]
    return {"inbound_win_rate": float((closed["outcome"] == "won").mean())}


def test_a_toy_policy_runs_writes_its_table_and_raises_the_win_rate_of_its_source(base):
    boosted = base.replace({"policies.toy": {"source": "Inbound", "boost": 1.1}})
    assert boosted.policies.toy == SourceBoost(source="Inbound", boost=1.1)
    res = sim.simulate(boosted, seed=3)
    table = res.tables.toy
    closed = res.tables.opportunities["outcome"].isin(["won", "lost"]).sum()
    assert len(table) == closed > 0 and set(table["source"]) <= {s.name for s in base.lead_sources}
    res.tables.validate()

    runs = sim.replicate_each({"plain": base, "boosted": boosted}, n=12, seed=5, measure=inbound_win_rate,
                              executor="serial", progress=False)
    diff = sim.summarise(runs).loc[("boosted", "inbound_win_rate")]
    assert diff["diff_low"] > 0, diff        # paired CI of the lift excludes zero


def test_the_ablation_no_boost_changes_nothing(base):
    plain = sim.simulate(base, seed=3)
    neutral = sim.simulate(base.replace({"policies.toy": {"source": "Inbound", "boost": 1.0}}), seed=3)
    pd.testing.assert_frame_equal(plain.tables.opportunities, neutral.tables.opportunities)


def test_its_settings_are_validated_with_field_paths(base):
    with pytest.raises(sim.ScenarioError, match=r"policies\.toy\.boost: 3\.0 is not allowed, must be a number <= 2"):
        base.replace({"policies.toy": {"source": "Inbound", "boost": 3.0}})
    with pytest.raises(sim.ScenarioError, match=r"policies\.toy\.source: missing"):
        base.replace({"policies.toy": {"boost": 1.2}})
    with pytest.raises(sim.ScenarioError, match=r"policies\.toy\.source: 'Cold calls' is not a lead source"):
        base.replace({"policies.toy": {"source": "Cold calls"}})
    with pytest.raises(sim.ScenarioError, match=r"policies\.toys: unknown policy \(known: .*toy"):
        base.replace({"policies.toys": {"source": "Inbound"}})


def test_it_round_trips_through_yaml_with_its_summary_as_comment(base, tmp_path):
    boosted = base.replace({"policies.toy": {"source": "Referral"}})
    text = boosted.to_yaml(tmp_path / "toy.yaml")
    assert "# a better chance at every stage for one lead source (test policy)" in text
    assert sim.Scenario.from_yaml(tmp_path / "toy.yaml") == boosted
    assert np.isclose(sim.Scenario.from_yaml(tmp_path / "toy.yaml").policies.toy.boost, 1.1)
