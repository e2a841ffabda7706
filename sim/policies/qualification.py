"""Qualification: which leads the team takes on, and the temptation to lower the bar when behind.

`QualificationPolicy(threshold=0.5)` declines every lead whose fit score is below 0.5. Declining is not
free: the rep who would have owned the lead spends `decline_hours` looking at it and saying no (a desk
request like any other work). `relax_when_behind` is the rule the sweet-spot article warns about: when a
rep's bookings this quota period trail the plan to date by more than a margin, that rep's bar drops to
the relaxed threshold, and it comes back as soon as they are on track again.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from ..core import periods, quota
from ..core.data import Data
from ..engine.entities import Deal, Lead
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.priority import NORMAL
from ..engine.team import Rep
from ..world import World


class RelaxWhenBehind(Data):
    """Lower the qualification bar for a rep who is behind plan this period; restore it when on track."""

    margin: float = Field(0.2, ge=0, lt=1, description="behind = bookings to date below (1 - margin) x plan to date")
    threshold: float = Field(0.0, ge=0, le=1, description="the lowered fit threshold used while behind")
    grace_days: int = Field(30, ge=0, le=365, description="days into a period before anyone is judged behind")


@register
class QualificationPolicy(Policy):
    """Decline leads whose fit score is below `threshold`; optionally relax the bar for reps behind plan."""

    key: ClassVar[str] = "qualification"
    summary: ClassVar[str] = "which leads the team declines by fit score (null = take every lead)"
    levers: ClassVar[tuple[str, ...]] = ("threshold", "relax_when_behind")

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

    def check(self, world: World) -> list[str]:
        if self.relax_when_behind is not None and world.reps.quota is None:
            return ["relax_when_behind needs reps.quota: behind is judged against a quota"]
        return []

    def start(self, model: ModelView) -> Qualifying:
        return Qualifying(self)


class Qualifying(PolicyRun):
    """One run of `QualificationPolicy`: each rep's bookings per quota period, which the relaxed bar reads."""

    def __init__(self, policy: QualificationPolicy):
        self.policy = policy
        self.booked: dict[Rep, dict[int, float]] = {}   # rep -> quota period index -> bookings

    def admit(self, model: ModelView, lead: Lead) -> bool:
        rep = model.team.pick()
        if lead.fit >= self.bar(model, rep):
            return True
        if self.policy.decline_hours > 0:
            model.env.process(model.desk_time(rep, self.policy.decline_hours, NORMAL))
        return False

    def bar(self, model: ModelView, rep: Rep) -> float:
        """The fit threshold that applies to `rep` now: relaxed while they are behind plan."""
        relax, cfg, threshold = self.policy.relax_when_behind, model.world.reps, self.policy.threshold
        if relax is None or cfg.quota is None:
            return threshold
        now = model.now
        cal = periods.calendar(model.world.start, model.world.days, cfg.quota_period)
        i = cal.index(now)
        if now - cal.starts[i] < relax.grace_days:
            return threshold
        plan = quota.plan_to_date(cfg.quota, cfg.quota_period, cal, now, rep.joined)
        booked = self.booked.get(rep, {}).get(i, 0.0)
        behind = booked < (1.0 - relax.margin) * plan
        return relax.threshold if behind else threshold

    def on_close(self, model: ModelView, deal: Deal) -> None:
        """Keep each rep's bookings per quota period, which `bar` compares with the plan."""
        cfg = model.world.reps
        if not deal.won or self.policy.relax_when_behind is None or cfg.quota is None:
            return
        cal = periods.calendar(model.world.start, model.world.days, cfg.quota_period)
        booked = self.booked.setdefault(deal.owner, {})
        i = cal.index(model.now)
        booked[i] = booked.get(i, 0.0) + deal.amount
