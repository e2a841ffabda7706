"""Time allocation: which waiting deal gets a rep's time next.

``first_come`` serves deals in the order they asked; ``largest_first`` works the biggest first estimates
first (spend time on the top); ``best_fit_first`` works the best-fitting accounts first. ``focus_segments``
puts deals of those segments ahead of all others (force concentration): the rest are deferred.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ..engine.entities import Deal
from ..engine.hooks import ModelView, Policy, register
from ..engine.priority import Level, Priority
from ..world import World


@register
class AllocationPolicy(Policy):
    """How a rep chooses which waiting deal gets their time next."""

    key: ClassVar[str] = "allocation"
    summary: ClassVar[str] = "how reps share their time between waiting deals"
    levers: ClassVar[tuple[str, ...]] = ("rule",)
    on_by_default: ClassVar[bool] = True

    rule: Literal["first_come", "largest_first", "best_fit_first"] = Field(
        "first_come", description="order in which waiting deals get rep time: first_come, largest_first, best_fit_first"
    )
    focus_segments: tuple[str, ...] = Field(
        (), description="segments whose deals always get rep time first (empty = no focus)"
    )

    def check(self, world: World) -> list[str]:
        names = {s.name for s in world.segments}
        unknown = [s for s in self.focus_segments if s not in names]
        if unknown:
            return [f"focus_segments: {', '.join(unknown)} not among the segments ({', '.join(sorted(names))})"]
        return []

    def priority(self, model: ModelView, deal: Deal) -> Priority:
        level = Level.NORMAL if not self.focus_segments or deal.lead.segment in self.focus_segments else Level.DEFERRED
        if self.rule == "largest_first":
            return Priority(level, -deal.lead.first_estimate)
        if self.rule == "best_fit_first":
            return Priority(level, -deal.lead.fit)
        return _IN_TURN[level]   # the same priority for every deal of a level: made once


_IN_TURN = {level: Priority(level, 0.0) for level in Level}   # first come, first served within a level
