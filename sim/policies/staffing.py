"""Staffing in a downturn: hold the team, cut it, or hold it and refocus it on the sweet spot.

`StaffingPolicy(action=..., at=...)` acts once, on the day `at`:

- ``hold``: nothing changes; the reps ride the downturn out.
- ``cut``: a share of the reps leaves (those with the lowest bookings so far: cutting "with data"); their
  open deals go to the remaining reps. On `rehire_at` as many new reps join, and they need the scenario's
  ramp time to reach full speed.
- ``refocus``: the team stays, qualifies out leads below `focus_threshold`, and keeps hunting: each rep
  researches `prospects_per_week` new accounts, in desk time no deal is waiting for, and an account that
  fits becomes a lead if it is ready to buy. Research takes time and uses up accounts whether or not they
  fit or are ready.

Hunting cannot create demand the market does not have: with ``prospect_demand="market"`` (the default) a
fitting account is ready to buy with the chance the market's new-logo lead flow has today against normal,
so at the trough of a shock that cuts leads by 35%, 35% fewer researched accounts are ready. (The earlier
model let every fitting account become a lead whatever the market did, so hunting in a downturn out-booked
a team that never saw one; ``"constant"`` keeps that behaviour, for the ablation that shows it.) Even in
normal times every fitting, researched account is taken to agree to a first meeting: generous, so the
notebook reads refocus as an upper bound on what hunting gives.

Prospecting draws from the policies' random stream (`model.rng`), so the market's own leads stay the
same across policies (common random numbers).
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ..engine.conditions import shock_depth
from ..engine.entities import Lead
from ..engine.hooks import ModelView, Policy, register
from ..engine.priority import NORMAL, SPARE
from ..engine.team import Rep
from ..world import World

PROSPECT_SOURCE = "Prospecting"


@register
class StaffingPolicy(Policy):
    """What the team does about headcount when the market turns."""

    key: ClassVar[str] = "staffing"
    summary: ClassVar[str] = "hold, cut or refocus the team on a date, e.g. in a downturn (null = no change)"
    levers: ClassVar[tuple[str, ...]] = ("action", "cut_share", "prospects_per_week")

    action: Literal["hold", "cut", "refocus"] = Field("hold", description="hold the team, cut it, or hold and refocus on the sweet spot")
    at: dt.date = Field(description="day the decision takes effect")
    cut_share: float = Field(0.3, ge=0, lt=1, description="cut: share of the reps let go (the lowest bookings so far)")
    rehire_at: dt.date | None = Field(None, description="cut: day as many new reps are hired back (they ramp up); null = never")
    focus_threshold: float = Field(0.55, ge=0, le=1, description="refocus: leads below this fit score are declined, accounts below it not pursued")
    prospects_per_week: float = Field(2.0, ge=0, le=20, description="refocus: new accounts each rep researches a week, in spare desk time (assumed, explored 0 to 4)")
    prospect_hours: float = Field(3.0, gt=0, le=40, description="refocus: rep hours to research one account (assumed, explored 1.5 to 6)")
    decline_hours: float = Field(0.5, ge=0, le=40, description="refocus: rep hours spent qualifying out a declined lead")
    prospect_demand: Literal["market", "constant"] = Field(
        "market", description="refocus: market = a fitting account is ready to buy as often as the market's lead flow "
                              "allows today (a shock's lead drop hits hunting too); constant = always (ignores the downturn). "
                              "The prospecting yield (every fitting account researched becomes a lead) is assumed: "
                              "no published figure, and notebook 04's headline rests on it")

    @model_validator(mode="after")
    def _rehire_after_cut(self) -> StaffingPolicy:
        if self.rehire_at is not None and self.rehire_at <= self.at:
            raise ValueError(f"rehire_at {self.rehire_at} must be after at {self.at}")
        return self

    def check(self, world: World) -> list[str]:
        if not world.start <= self.at < world.end:
            return [f"at: {self.at} is outside the scenario ({world.start} to {world.end})"]
        return []

    def start(self, model: ModelView) -> StaffingPolicy:
        model.env.process(self.decide(model))
        return self      # it keeps nothing: the decision acts on the team

    def decide(self, model: ModelView):
        """Process: wait for the decision day, then act on the team."""
        env, team = model.env, model.team
        yield env.timeout(max(0.0, model.world.day_of(self.at) - env.now))
        if self.action == "cut":
            leaving = sorted(team.active, key=lambda r: r.bookings)[: round(self.cut_share * len(team.active))]
            for rep in leaving:
                model.release(rep)
            if self.rehire_at is not None and leaving:
                yield env.timeout(max(0.0, model.world.day_of(self.rehire_at) - env.now))
                for _ in leaving:
                    team.hire(joined=env.now)
        elif self.action == "refocus" and self.prospects_per_week > 0:
            for rep in team.active:
                env.process(self.prospecting(model, rep))

    def prospecting(self, model: ModelView, rep: Rep):
        """Process: the rep researches new accounts in spare time; the ones that fit become leads."""
        env, factory, rng = model.env, model.leads, model.rng
        shares = [s.share for s in model.world.segments]
        ready = self.readiness(model)
        while rep.left is None:
            yield from model.desk_time(rep, self.prospect_hours, SPARE)
            segment = int(rng.choice(len(shares), p=[s / sum(shares) for s in shares]))
            account = factory.prospect(segment, rng)
            in_market = rng.random() < ready[min(int(env.now), len(ready) - 1)]
            if account is not None and account.fit >= self.focus_threshold and in_market:
                model.receive(factory.lead_for(env.now, account, PROSPECT_SOURCE, rng))
            yield env.timeout(7.0 / self.prospects_per_week)

    def readiness(self, model: ModelView) -> list[float]:
        """Per simulated day, the chance a researched account that fits is ready to buy: the share of the
        normal new-logo lead flow the market's shock leaves that day (1 outside a shock, or always 1 with
        ``prospect_demand="constant"``)."""
        world = model.world
        days = world.days + 1
        if self.prospect_demand == "constant" or world.market.shock is None:
            return [1.0] * days
        return list(1.0 - world.market.shock.lead_drop * shock_depth(world, days))

    def admit(self, model: ModelView, lead: Lead) -> bool:
        if self.action != "refocus" or model.now < model.world.day_of(self.at) or lead.fit >= self.focus_threshold:
            return True
        if self.decline_hours > 0:
            model.env.process(model.desk_time(model.team.pick(), self.decline_hours, NORMAL))
        return False
