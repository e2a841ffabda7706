"""The second worked example of `sim/README.md`: a policy with run state, written only with the public API
(`sim.Policy`, `sim.PolicyRun`, `sim.register`, `sim.ModelView`), with no edit under `sim/engine`.

A rep's discount authority: at the negotiation stage the rep may offer up to `authority` off the price. The
offer raises the chance the deal passes that stage (`pass_factor`), a deal won with it signs for less
(`signed_amount`), and the run counts the discounts it granted and the money given up (`metrics`) and keeps
one row per discount (`tables`). The counting lives on the run object the policy's `start` returns, so two
runs never share a counter."""

from __future__ import annotations

import math
from typing import ClassVar

import pandas as pd
import pytest
from pydantic import Field

import sim

DISCOUNTS = sim.Table("discounts", (
    sim.Col("opportunity_id", "str", required=True, nullable=False),
    sim.Col("owner", "str", required=True),
    sim.Col("list_amount", "float", lo=0, doc="what the deal would have signed for [currency]"),
    sim.Col("given_up", "float", lo=0, doc="the discount granted [currency]"),
), doc="one row per discount granted on a won deal")


class DiscountAuthority(sim.Policy):
    """Reps may discount at the negotiation stage: a better chance to pass it, a smaller signed amount."""

    key: ClassVar[str] = "discount_authority"
    summary: ClassVar[str] = "how much off the price a rep may offer at the negotiation stage (test policy)"
    writes: ClassVar[tuple] = (DISCOUNTS,)

    authority: float = Field(0.1, ge=0, lt=1, description="share of the price a rep may give up")
    lift: float = Field(1.15, gt=0, le=3, description="multiplier on the stage's pass chance when a discount is on the table")
    stage: str | None = Field(None, description="the negotiation stage (null = the last stage)")

    def check(self, world) -> list[str]:
        if self.stage is not None and self.stage not in world.stage_names:
            return [f"stage: {self.stage!r} is not a stage ({', '.join(world.stage_names)})"]
        return []

    def start(self, model: sim.ModelView) -> DiscountRun:
        names = model.world.stage_names
        return DiscountRun(self, names.index(self.stage) if self.stage is not None else len(names) - 1)


class DiscountRun(sim.PolicyRun):
    """One run of `DiscountAuthority`: which deals were offered a discount, and what was granted."""

    def __init__(self, policy: DiscountAuthority, stage: int):
        self.policy, self.stage = policy, stage
        self.offered: set = set()                          # deals that reached the stage with an offer
        self.granted: list[tuple[str, str, float, float]] = []

    def pass_factor(self, model: sim.ModelView, deal, i: int) -> float:
        if i != self.stage or self.policy.authority == 0:
            return 1.0
        self.offered.add(deal)
        return self.policy.lift

    def signed_amount(self, model: sim.ModelView, deal, amount: float) -> float:
        if deal not in self.offered:
            return amount
        given_up = amount * self.policy.authority
        self.granted.append((deal.id, deal.owner.name, amount, given_up))
        return amount - given_up

    def tables(self, model: sim.ModelView) -> dict[str, pd.DataFrame]:
        return {"discounts": pd.DataFrame(self.granted, columns=["opportunity_id", "owner", "list_amount", "given_up"])}

    def metrics(self, model: sim.ModelView) -> dict[str, float]:
        return {"discounts_granted": float(len(self.granted)),
                "discount_given_up": float(sum(row[3] for row in self.granted))}


@pytest.fixture(scope="module")
def base():
    sim.register(DiscountAuthority)
    yield sim.Scenario.preset("baseline").replace({"accounts.repeat_per_year": 0.0})
    sim.unregister("discount_authority")


def test_it_counts_every_discount_it_granted_and_the_signed_amounts_carry_them(base):
    res = sim.simulate(base.replace({"policies.discount_authority": {"authority": 0.1}}), seed=2)
    opp, granted = res.tables.opportunities, res.tables.discounts
    won = opp[opp["outcome"] == "won"]
    assert res.metrics["discounts_granted"] == len(granted) == len(won) > 0     # every win passed the last stage
    signed = won.set_index("opportunity_id")["amount"]
    listed = granted.set_index("opportunity_id")
    assert set(listed.index) == set(signed.index)
    assert ((signed - 0.9 * listed["list_amount"]).abs() <= 0.006).all()       # 10% off, to the cent
    assert res.metrics["discount_given_up"] == pytest.approx(listed["given_up"].sum())
    res.tables.validate()
    again = sim.simulate(base.replace({"policies.discount_authority": {"authority": 0.1}}), seed=2)
    assert again.metrics["discounts_granted"] == res.metrics["discounts_granted"]   # a fresh run, a fresh count


def test_it_raises_the_win_rate_and_lowers_the_deal_size(base):
    with_authority = base.replace({"policies.discount_authority": {"authority": 0.15, "lift": 1.3}})
    runs = sim.replicate_each({"list price": base, "discounts": with_authority}, n=10, seed=3,
                              executor="serial", progress=False)
    diff = sim.summarise(runs)
    assert diff.loc[("discounts", "win_rate"), "diff_low"] > 0                  # paired 95% CI above zero
    assert diff.loc[("discounts", "mean_deal_size"), "diff_high"] < 0


def test_no_authority_changes_nothing(base):
    plain = sim.simulate(base, seed=5)
    none = sim.simulate(base.replace({"policies.discount_authority": {"authority": 0.0}}), seed=5)
    pd.testing.assert_frame_equal(plain.tables.opportunities, none.tables.opportunities)
    assert none.metrics["discounts_granted"] == 0 and math.isclose(none.metrics["discount_given_up"], 0.0)


def test_its_settings_and_stage_are_checked_with_field_paths(base):
    with pytest.raises(sim.ScenarioError, match=r"policies\.discount_authority\.authority: 1\.5 is not allowed"):
        base.replace({"policies.discount_authority": {"authority": 1.5}})
    with pytest.raises(sim.ScenarioError, match=r"policies\.discount_authority\.stage: 'Haggling' is not a stage"):
        base.replace({"policies.discount_authority": {"stage": "Haggling"}})
