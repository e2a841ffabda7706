"""The pipeline a run starts with: deals already open on its first day, and the customers already won.

A backtest (`sim.backtest`) simulates forward from the pipeline an export shows at a date. On the run's
first day this policy puts each open deal back where it was — in its stage, for as long as it has been
there, with its first estimate, segment, lead source and fit score where the export knows them — through
the engine's `resume`, which draws the rest of the stay given the time already spent in it. Accounts that
were customers before the run start living on as customers do (repeat business, referrals).

What the export does not know about a deal (its fit, its hidden truth, how its remaining stages will go) is
drawn from the policies' random stream, as for any new deal.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from ..core.data import Data
from ..engine.accounts import customer_life
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..world import World


class OpenDeal(Data):
    """One deal open when the run starts."""

    stage: str = Field(min_length=1, description="the stage it is in")
    days_in_stage: float = Field(0.0, ge=0, le=36500, description="days it has already spent in that stage")
    age_days: float = Field(0.0, ge=0, le=36500, description="days since it was created")
    first_estimate: float | None = Field(None, gt=0, le=1e12, description="its first estimate (null = drawn for its segment)")
    segment: str | None = Field(None, description="its segment (null = drawn by the segments' shares)")
    lead_source: str | None = Field(None, description="its lead source (null = drawn by the sources' shares)")
    fit: float | None = Field(None, ge=0, le=1, description="its account's fit score (null = drawn for its segment)")


class Customer(Data):
    """An account that had already signed when the run starts."""

    segment: str | None = Field(None, description="its segment (null = drawn by the segments' shares)")
    revenue: float = Field(gt=0, le=1e15, description="what it has bought so far")


@register
class OpenPipeline(Policy):
    """Deals open and customers won before the run, carried into it."""

    key: ClassVar[str] = "open_pipeline"
    summary: ClassVar[str] = "deals already open and customers already won when the run starts (e.g. an export at a date)"
    levers: ClassVar[tuple[str, ...]] = ()  # what-if explorer: the open pipeline is data from an export, not a decision: only its switch is a lever

    deals: tuple[OpenDeal, ...] = Field((), max_length=1_000_000, description="the deals open on the first day")
    customers: tuple[Customer, ...] = Field((), max_length=1_000_000, description="accounts that were customers on the first day")

    def check(self, world: World) -> list[str]:
        stages, segments, sources = set(world.stage_names), {s.name for s in world.segments}, {s.name for s in world.lead_sources}
        problems = []
        for i, d in enumerate(self.deals):
            if d.stage not in stages:
                problems.append(f"deals.{i}.stage: {d.stage!r} is not a stage ({', '.join(world.stage_names)})")
            if d.segment is not None and d.segment not in segments:
                problems.append(f"deals.{i}.segment: {d.segment!r} is not a segment")
            if d.lead_source is not None and d.lead_source not in sources:
                problems.append(f"deals.{i}.lead_source: {d.lead_source!r} is not a lead source")
            if d.days_in_stage > d.age_days:
                problems.append(f"deals.{i}.days_in_stage: {d.days_in_stage:g} is more than its age_days {d.age_days:g}")
            if len(problems) >= 10:
                break
        for i, c in enumerate(self.customers):
            if c.segment is not None and c.segment not in segments:
                problems.append(f"customers.{i}.segment: {c.segment!r} is not a segment")
                break
        return problems

    def start(self, model: ModelView) -> Resumed:
        world, rng, factory = model.world, model.rng, model.leads
        stage_of = {name: i for i, name in enumerate(world.stage_names)}
        segment_of = {s.name: i for i, s in enumerate(world.segments)}
        shares = np.array([s.share for s in world.segments], dtype=float)
        sources = [s.name for s in world.lead_sources]
        source_p = np.array([s.share for s in world.lead_sources], dtype=float)
        resumed = 0
        for d in self.deals:
            seg = segment_of[d.segment] if d.segment is not None else int(rng.choice(len(shares), p=shares / shares.sum()))
            account = factory.prospect(seg, rng)
            if account is None:      # the segment's market is used up: the deal cannot be placed
                continue
            if d.fit is not None:
                account.fit = d.fit
            source = d.lead_source if d.lead_source is not None else sources[int(rng.choice(len(sources), p=source_p / source_p.sum()))]
            lead = factory.lead_for(-d.age_days, account, source, rng)
            if d.first_estimate is not None:
                lead.first_estimate = d.first_estimate
            model.resume(lead, stage=stage_of[d.stage], entered=-d.days_in_stage)
            resumed += 1
        key = int(rng.integers(2**63))
        for c in self.customers:
            seg = segment_of[c.segment] if c.segment is not None else int(rng.choice(len(shares), p=shares / shares.sum()))
            account = factory.prospect(seg, rng)
            if account is None:
                continue
            account.revenue = c.revenue
            model.env.process(customer_life(model.env, account, world.accounts, factory,
                                            np.random.default_rng([key, account.number]), model.receive))
        return Resumed(resumed)


class Resumed(PolicyRun):
    """One run of `OpenPipeline`: how many of its deals were put back (a used-up segment cannot place one)."""

    def __init__(self, count: int):
        self.count = count

    def metrics(self, model: ModelView) -> dict[str, float]:
        return {"open_deals_resumed": float(self.count)}
