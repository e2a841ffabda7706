"""`World`: every setting of a scenario except its policies, and the checks that span several of them."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from ..core.data import Data, require_unique
from ..core.schema import DEFAULT_STAGES
from .accounts import AccountSettings
from .market import Market
from .segments import LeadSource, Segment
from .stages import DealValue, FitEffects, Stage
from .team import MAX_REPS, Reps
from .truth import TruthSettings

EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2200, 12, 31)   # dates a run may span (pandas' range is 1677-2262)


def _default_segments() -> tuple[Segment, ...]:
    return (Segment(name="Mid-market", share=1.0),)


def _default_sources() -> tuple[LeadSource, ...]:
    return (LeadSource(name="Inbound", share=1.0),)


def _default_stages() -> tuple[Stage, ...]:
    return tuple(Stage(name=n, median_days=14.0) for n in DEFAULT_STAGES)


SHORTEST_DAYS = 7   # a run's shortest calendar: a week


class World(Data):
    """The calendar, the market, who is sold to, how deals move, and the team: the simulator's settings."""

    start: dt.date = Field(dt.date(2026, 1, 1), description="first simulated day; tables carry real dates from here")
    days: int = Field(365, ge=SHORTEST_DAYS, le=3650, description="simulated calendar days")
    currency: str = Field("USD", min_length=1, max_length=12, description="currency of all amounts")
    market: Market = Field(default_factory=Market, description="lead flow and market conditions")
    segments: tuple[Segment, ...] = Field(default_factory=_default_segments, min_length=1, max_length=100, description="market segments")
    lead_sources: tuple[LeadSource, ...] = Field(default_factory=_default_sources, min_length=1, max_length=100, description="where new-logo leads come from")
    stages: tuple[Stage, ...] = Field(default_factory=_default_stages, min_length=1, max_length=50, description="sales stages in order; a deal that passes the last one is won")
    reps: Reps = Field(default_factory=Reps, description="the sales team")
    deal_value: DealValue = Field(default_factory=DealValue, description="first estimate vs signed amount")
    fit_effects: FitEffects = Field(default_factory=FitEffects, description="how much fit matters")
    truth: TruthSettings = Field(default_factory=TruthSettings, description="hidden facts behind each deal's real chance, and how reps learn them")
    accounts: AccountSettings = Field(default_factory=AccountSettings, description="what customers do after a win: repeat business, referrals")

    @model_validator(mode="after")
    def _world_consistent(self) -> World:
        if not EARLIEST <= self.start <= LATEST - dt.timedelta(days=self.days):
            raise ValueError(f"start: {self.start} is not allowed, the run must lie between {EARLIEST} and {LATEST}")
        for what, items in (("segments", self.segments), ("lead_sources", self.lead_sources), ("stages", self.stages)):
            require_unique(what, (i.name for i in items))
        if {s.name for s in self.stages} & {"won", "lost"}:
            raise ValueError("stages: 'won' and 'lost' are outcomes, not stage names")
        total = self.reps.count + sum(h.count for h in self.reps.hires)
        if total > MAX_REPS:
            raise ValueError(f"reps: {total:,} reps with the hires is not allowed, at most {MAX_REPS:,} in one team")
        for i, hire in enumerate(self.reps.hires):
            if hire.at < self.start:
                raise ValueError(f"reps.hires.{i}.at: {hire.at} is before the scenario start {self.start}")
        return self

    def day_of(self, when: dt.date) -> int:
        """Simulated day number of a calendar date (0 = the start date)."""
        return (when - self.start).days

    @property
    def end(self) -> dt.date:
        """The first day after the run."""
        return self.start + dt.timedelta(days=self.days)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]
