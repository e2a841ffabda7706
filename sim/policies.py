"""Policies: small pieces of scenario data that the model consults at fixed points of the story.

A policy never hides inside a process as an ``if``. The model asks every active policy, at named moments:

- ``attach(model)``  once before the run: a policy that acts over time (a forecast review every week, a
  staffing change on a date) starts its own SimPy process here;
- ``admit(model, lead)``  when a lead arrives: may the team take it on? (qualification)
- ``priority(model, deal)``  when a deal asks for rep time: lower goes first (time allocation)
- ``effort(model, rep)``  when a rep works: a multiplier on how fast the work gets done (incentives)
- ``on_close(model, deal)``  when a deal is won or lost (bookkeeping, e.g. attainment)
- ``tables(model)`` / ``metrics(model)``  after the run: canonical tables the policy wrote (forecast
  snapshots) and numbers it measured (hours spent reviewing), added to the run's result

Each policy is a frozen pydantic model, so it validates and round-trips through YAML with the scenario.
The defaults below are the neutral answers, which is what a scenario without that policy gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    import pandas as pd

    from .model import Deal, Lead, Rep, SalesModel


class Data(BaseModel):
    """Base of all scenario data: immutable, and unknown fields are an error (catches typos in YAML)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Policy(Data):
    """A policy the model consults; subclasses override the hooks they care about."""

    def attach(self, model: SalesModel) -> None:
        """Start any process the policy needs (called once, before the run)."""

    def admit(self, model: SalesModel, lead: Lead) -> bool:
        """Whether the team takes this lead on as an opportunity."""
        return True

    def priority(self, model: SalesModel, deal: Deal) -> float:
        """Queue priority of a deal asking for rep time; lower is served first."""
        return 0.0

    def effort(self, model: SalesModel, rep: Rep) -> float:
        """Multiplier on the speed of a rep's work (1 = normal)."""
        return 1.0

    def on_close(self, model: SalesModel, deal: Deal) -> None:
        """React to a deal being won or lost."""

    def tables(self, model: SalesModel) -> dict[str, pd.DataFrame]:
        """Canonical tables this policy wrote during the run, by table name."""
        return {}

    def metrics(self, model: SalesModel) -> dict[str, float]:
        """Numbers this policy measured during the run, added to the run's metrics."""
        return {}


class AllocationPolicy(Policy):
    """How a rep chooses which waiting deal gets their time next.

    ``first_come`` serves deals in the order they asked; ``largest_first`` works the biggest first
    estimates first (spend time on the top); ``best_fit_first`` works the best-fitting accounts first.
    ``focus_segments`` puts deals of those segments ahead of all others (force concentration).
    """

    rule: Literal["first_come", "largest_first", "best_fit_first"] = Field(
        "first_come", description="order in which waiting deals get rep time: first_come, largest_first, best_fit_first"
    )
    focus_segments: tuple[str, ...] = Field(
        (), description="segments whose deals always get rep time first (empty = no focus)"
    )

    def priority(self, model: SalesModel, deal: Deal) -> float:
        focus = 0.0 if not self.focus_segments or deal.lead.segment in self.focus_segments else 1e12
        if self.rule == "largest_first":
            return focus - deal.lead.first_estimate
        if self.rule == "best_fit_first":
            return focus - deal.lead.fit
        return focus


# Policies that live in their own modules import `Data` and `Policy` from here, so they come after them.
from .qualification import QualificationPolicy  # noqa: E402
from .staffing import StaffingPolicy  # noqa: E402
from .forecasting import ForecastPolicy  # noqa: E402


class Policies(Data):
    """The policies a scenario runs with. Later principles add their own fields here."""

    allocation: AllocationPolicy = Field(
        default_factory=AllocationPolicy, description="how reps share their time between waiting deals"
    )
    qualification: QualificationPolicy | None = Field(
        None, description="which leads the team declines by fit score (null = take every lead)"
    )
    staffing: StaffingPolicy | None = Field(
        None, description="hold, cut or refocus the team on a date, e.g. in a downturn (null = no change)"
    )
    forecast: ForecastPolicy | None = Field(
        None, description="forecast reviews: cadence and which deals go in the call (null = no forecasting)"
    )

    def active(self) -> list[Policy]:
        """The policies that are set, in a fixed order (so runs are reproducible)."""
        return [p for name in type(self).model_fields if isinstance(p := getattr(self, name), Policy)]
