"""Staffing in a downturn: hold the team, cut it, or hold it and refocus it on the sweet spot.

`StaffingPolicy(action=..., at=...)` acts once, on the day `at`:

- ``hold``: nothing changes; the reps ride the downturn out.
- ``cut``: a share of the reps leaves (those with the lowest bookings so far: cutting "with data"); their
  open deals go to the remaining reps. On `rehire_at` as many new reps join, and they need the scenario's
  ramp time to reach full speed.
- ``refocus``: the team stays, qualifies out leads below `focus_threshold`, and keeps hunting: each rep
  researches `prospects_per_week` new accounts, in desk time no deal is waiting for, and the accounts that
  fit become leads. Research takes time and uses up accounts whether or not they fit.

Prospecting draws from the policy's random stream (`model.policy_rng`), so the market's own leads stay the
same across policies (common random numbers).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from .policies import Policy
from .qualification import qualify_out

if TYPE_CHECKING:  # pragma: no cover
    from .model import Lead, SalesModel
    from .team import Rep

SPARE_TIME = 1e18        # desk priority of prospecting: after any deal that is waiting
PROSPECT_SOURCE = "Prospecting"


class StaffingPolicy(Policy):
    """What the team does about headcount when the market turns."""

    action: Literal["hold", "cut", "refocus"] = Field("hold", description="hold the team, cut it, or hold and refocus on the sweet spot")
    at: dt.date = Field(description="day the decision takes effect")
    cut_share: float = Field(0.3, ge=0, lt=1, description="cut: share of the reps let go (the lowest bookings so far)")
    rehire_at: dt.date | None = Field(None, description="cut: day as many new reps are hired back (they ramp up); null = never")
    focus_threshold: float = Field(0.55, ge=0, le=1, description="refocus: leads below this fit score are declined, accounts below it not pursued")
    prospects_per_week: float = Field(2.0, ge=0, le=20, description="refocus: new accounts each rep researches a week, in spare desk time")
    prospect_hours: float = Field(3.0, gt=0, le=40, description="refocus: rep hours to research one account")
    decline_hours: float = Field(0.5, ge=0, le=40, description="refocus: rep hours spent qualifying out a declined lead")

    @model_validator(mode="after")
    def _rehire_after_cut(self) -> StaffingPolicy:
        if self.rehire_at is not None and self.rehire_at <= self.at:
            raise ValueError(f"rehire_at {self.rehire_at} must be after at {self.at}")
        return self

    def attach(self, model: SalesModel) -> None:
        model.env.process(self.decide(model))

    def decide(self, model: SalesModel):
        """Process: wait for the decision day, then act on the team."""
        env, team = model.env, model.team
        yield env.timeout(max(0.0, model.scenario.day_of(self.at) - env.now))
        if self.action == "cut":
            leaving = sorted(team.active, key=lambda r: r.bookings)[: round(self.cut_share * len(team.active))]
            for rep in leaving:
                team.release(rep)
            if self.rehire_at is not None and leaving:
                yield env.timeout(max(0.0, model.scenario.day_of(self.rehire_at) - env.now))
                for _ in leaving:
                    team.hire(joined=env.now)
        elif self.action == "refocus" and self.prospects_per_week > 0:
            for rep in team.active:
                env.process(self.prospecting(model, rep))

    def prospecting(self, model: SalesModel, rep: Rep):
        """Process: the rep researches new accounts in spare time; the ones that fit become leads."""
        env, factory, rng = model.env, model.leads, model.policy_rng
        shares = [s.share for s in model.scenario.segments]
        while rep.left is None:
            with rep.desk.request(priority=SPARE_TIME) as turn:
                yield turn
                yield from rep.work(env, self.prospect_hours, model.effort(rep))
            segment = int(rng.choice(len(shares), p=[s / sum(shares) for s in shares]))
            account = factory.prospect(segment, rng)
            if account is not None and factory.account_fit[account] >= self.focus_threshold:
                model.receive(factory.prospected_lead(env.now, account, PROSPECT_SOURCE, rng))
            yield env.timeout(7.0 / self.prospects_per_week)

    def admit(self, model: SalesModel, lead: Lead) -> bool:
        if self.action != "refocus" or model.env.now < model.scenario.day_of(self.at) or lead.fit >= self.focus_threshold:
            return True
        if self.decline_hours > 0:
            model.env.process(qualify_out(model, model.team.pick(), self.decline_hours))
        return False
