"""Qualification: which leads the team takes on, and the temptation to lower the bar when behind.

`QualificationPolicy(threshold=0.5)` declines every lead whose fit score is below 0.5. Declining is not
free: the rep who would have owned the lead spends `decline_hours` looking at it and saying no (a desk
request like any other work). `relax_when_behind` is the rule the sweet-spot article warns about: when a
rep's bookings this quota period trail the plan to date by more than a margin, that rep's bar drops to
the relaxed threshold, and it comes back as soon as they are on track again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from . import quota
from .policies import Data, Policy

if TYPE_CHECKING:  # pragma: no cover
    from .model import Deal, Lead, SalesModel
    from .team import Rep


class RelaxWhenBehind(Data):
    """Lower the qualification bar for a rep who is behind plan this period; restore it when on track."""

    margin: float = Field(0.2, ge=0, lt=1, description="behind = bookings to date below (1 - margin) x plan to date")
    threshold: float = Field(0.0, ge=0, le=1, description="the lowered fit threshold used while behind")
    grace_days: int = Field(30, ge=0, le=365, description="days into a period before anyone is judged behind")


class QualificationPolicy(Policy):
    """Decline leads whose fit score is below `threshold`; optionally relax the bar for reps behind plan."""

    threshold: float = Field(0.0, ge=0, le=1, description="leads with a fit score below this are declined (0 = take everything)")
    decline_hours: float = Field(0.5, ge=0, le=40, description="rep hours spent qualifying out a declined lead")
    relax_when_behind: RelaxWhenBehind | None = Field(
        None, description="lower the threshold for reps behind plan (the death spiral); null = hold the line"
    )

    @model_validator(mode="after")
    def _relax_lowers(self) -> QualificationPolicy:
        relax = self.relax_when_behind
        if relax is not None and relax.threshold > self.threshold:
            raise ValueError(f"relax_when_behind.threshold {relax.threshold} must not be above threshold {self.threshold}")
        return self

    def admit(self, model: SalesModel, lead: Lead) -> bool:
        rep = model.team.pick()
        if lead.fit >= self.bar(model, rep):
            return True
        if self.decline_hours > 0:
            model.env.process(qualify_out(model, rep, self.decline_hours))
        return False

    def bar(self, model: SalesModel, rep: Rep) -> float:
        """The fit threshold that applies to `rep` now: relaxed while they are behind plan."""
        relax, cfg = self.relax_when_behind, model.scenario.reps
        if relax is None or cfg.quota is None:
            return self.threshold
        now = model.env.now
        cal = quota.calendar(model.scenario.start, model.scenario.days, cfg.quota_period)
        i = cal.index(now)
        if now - cal.starts[i] < relax.grace_days:
            return self.threshold
        plan = quota.plan_to_date(cfg.quota, cfg.quota_period, cal, now, rep.joined)
        booked = rep.extra.get("booked", {}).get(i, 0.0)
        behind = booked < (1.0 - relax.margin) * plan
        return relax.threshold if behind else self.threshold

    def on_close(self, model: SalesModel, deal: Deal) -> None:
        """Keep each rep's bookings per quota period, which `bar` compares with the plan."""
        cfg = model.scenario.reps
        if not deal.won or self.relax_when_behind is None or cfg.quota is None:
            return
        cal = quota.calendar(model.scenario.start, model.scenario.days, cfg.quota_period)
        booked = deal.owner.extra.setdefault("booked", {})
        i = cal.index(model.env.now)
        booked[i] = booked.get(i, 0.0) + deal.amount


def qualify_out(model: SalesModel, rep: Rep, hours: float):
    """Process: the rep takes `hours` of desk time to look at a lead and decline it."""
    with rep.desk.request(priority=0.0) as turn:
        yield turn
        yield from rep.work(model.env, hours, model.effort(rep))
