"""Who the team sells to: market segments (fit, deal size, market size) and where leads come from."""

from __future__ import annotations

from pydantic import Field, model_validator

from ..core.data import Data


class Segment(Data):
    """A group of accounts that look alike: how well they fit, how big their deals are, how many exist."""

    name: str = Field(min_length=1, description="segment name")
    share: float = Field(gt=0.0, le=1e6, description="relative share of new-logo leads from this segment")
    fit_mean: float = Field(0.5, gt=0.0, lt=1.0, description="average fit score of its accounts (0..1)")
    fit_sd: float = Field(0.15, gt=0.0, lt=0.5, description="spread of fit scores")
    deal_size: float = Field(20_000.0, gt=0.0, le=1e12, description="median first estimate of a deal, in the scenario currency")
    size_spread: float = Field(0.6, ge=0.0, le=3.0, description="spread of deal sizes (log scale)")
    accounts: int | None = Field(None, ge=1, le=100_000_000, description="accounts in this market (null = unlimited)")

    @model_validator(mode="after")
    def _beta_feasible(self) -> Segment:
        limit = (self.fit_mean * (1 - self.fit_mean)) ** 0.5
        if self.fit_sd >= limit:
            raise ValueError(f"fit_sd {self.fit_sd} is too large for fit_mean {self.fit_mean}; must be < {limit:.3f}")
        return self


class LeadSource(Data):
    """How leads are found and how much better (or worse) such leads close."""

    name: str = Field(min_length=1, description="lead source name")
    share: float = Field(gt=0.0, le=1e6, description="relative share of new-logo leads")
    loss_factor: float = Field(1.0, gt=0.0, le=5.0, description="multiplier on stage loss chances (0.7 = loses 30% less often)")
    duration_factor: float = Field(1.0, gt=0.0, le=5.0, description="multiplier on customer-side stage time (0.8 = stages take 20% less time)")
