"""The market's settings: how many leads arrive, when, and how conditions swing (season, volatility, shocks)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from ..core.data import Data


class Shock(Data):
    """A market shock: at `start` conditions drop to the trough, stay there, then recover linearly."""

    start: dt.date = Field(description="first day of the shock")
    lead_drop: float = Field(0.0, ge=0.0, le=1.0, description="share of the lead flow lost at the trough (0.3 = 30% fewer leads)")
    win_drop: float = Field(0.0, ge=0.0, le=1.0, description="share of each stage's pass chance lost at the trough")
    cycle_stretch: float = Field(0.0, ge=0.0, le=5.0, description="extra stage time at the trough (0.5 = stages take 50% longer)")
    trough_days: int = Field(90, ge=0, le=3650, description="days the market stays at the trough")
    recovery_days: int = Field(180, ge=0, le=3650, description="days from the end of the trough back to normal")


class Market(Data):
    """What the market sends the team."""

    leads_per_month: float = Field(40.0, gt=0.0, le=100_000.0, description="average new-logo leads per month (repeat business from customers comes on top, see accounts)")
    seasonality: tuple[float, ...] | None = Field(
        None, description="12 monthly multipliers on the lead rate, January first (null = flat)"
    )
    volatility: float = Field(
        0.0, ge=0.0, le=2.0, description="month-to-month randomness of the lead rate (0 = calm, 0.5 = volatile)"
    )
    shock: Shock | None = Field(None, description="an optional downturn with recovery")
    patience_days: float | None = Field(
        None, gt=0, le=3650,
        description="buyers' patience: a deal kept waiting w days for its rep passes the stage with chance x exp(-w / patience) (null = buyers wait forever); assumed: no published figure measures how long B2B buyers wait for a rep, the remain-aggressive preset's 60 days is explored from 30 to 120",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: object) -> object:
        if isinstance(data, dict) and "repeat_share" in data:
            raise ValueError("repeat_share has moved: repeat business now comes from each customer, "
                             "set accounts.repeat_per_year (deals a customer brings per year) instead")
        return data

    @model_validator(mode="after")
    def _twelve_months(self) -> Market:
        if self.seasonality is not None:
            if len(self.seasonality) != 12:
                raise ValueError(f"seasonality needs 12 monthly values, got {len(self.seasonality)}")
            if any(m < 0 for m in self.seasonality) or max(self.seasonality) <= 0:
                raise ValueError("seasonality values must be >= 0 and not all 0")
            if max(self.seasonality) > 100:
                raise ValueError("seasonality values must be <= 100 (they multiply the average lead rate)")
        return self
