"""Market conditions per simulated day: how many leads arrive, how easily deals pass, how long stages take.

Computed once before the run from the world's market settings (season, volatility, an optional shock), so
the processes only look them up. Volatility draws come from the market's random stream.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..world import World


@dataclass(frozen=True)
class Conditions:
    """Market conditions per simulated day: lead-rate multiplier, pass-chance multiplier, stage stretch."""

    lead_rate: np.ndarray     # leads per day
    pass_factor: np.ndarray   # multiplier on each stage's pass chance (1 = normal)
    stretch: np.ndarray       # multiplier on stage durations (1 = normal)
    # the same numbers as lists of Python floats, for the processes that look one up at every event
    # (indexing a numpy array gives a numpy scalar, and arithmetic on those is several times slower)
    lead_rate_by_day: list[float] = field(init=False, repr=False, compare=False)
    pass_factor_by_day: list[float] = field(init=False, repr=False, compare=False)
    stretch_by_day: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lead_rate_by_day", np.asarray(self.lead_rate, dtype=float).tolist())
        object.__setattr__(self, "pass_factor_by_day", np.asarray(self.pass_factor, dtype=float).tolist())
        object.__setattr__(self, "stretch_by_day", np.asarray(self.stretch, dtype=float).tolist())

    @classmethod
    def build(cls, world: World, rng: np.random.Generator) -> Conditions:
        days = world.days + 1
        month, month_index = _calendar(world.start, days)
        market = world.market

        season = np.ones(days) if market.seasonality is None else np.asarray(market.seasonality)[month]
        season = season / (np.mean(market.seasonality) if market.seasonality is not None else 1.0)

        # volatility: one lognormal factor per calendar month for leads and one for win chances
        months = int(month_index.max()) + 1
        sigma = market.volatility
        lead_noise = np.exp(sigma * rng.standard_normal(months) - sigma**2 / 2)[month_index]
        win_noise = np.exp(0.5 * sigma * rng.standard_normal(months) - (0.5 * sigma) ** 2 / 2)[month_index]

        depth = shock_depth(world, days)
        shock = market.shock
        lead_drop = shock.lead_drop if shock else 0.0
        win_drop = shock.win_drop if shock else 0.0
        cycle_stretch = shock.cycle_stretch if shock else 0.0

        rate = market.leads_per_month * 12 / 365.25 * season * lead_noise * (1 - lead_drop * depth)
        pass_factor = np.clip(win_noise * (1 - win_drop * depth), 0.0, None)
        return cls(lead_rate=rate, pass_factor=pass_factor, stretch=1 + cycle_stretch * depth)

    def at(self, t: float) -> int:
        """Index of the day holding simulated time `t` (days since start)."""
        return min(int(t), len(self.lead_rate) - 1)


@lru_cache(maxsize=64)
def _calendar(start: dt.date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per day from `start`: the calendar month (0 = January) and the months since the start's month."""
    dates = [start + dt.timedelta(days=d) for d in range(days)]
    month = np.array([d.month - 1 for d in dates])
    month_index = np.array([(d.year - start.year) * 12 + d.month - start.month for d in dates])
    month.flags.writeable = month_index.flags.writeable = False
    return month, month_index


def shock_depth(world: World, days: int) -> np.ndarray:
    """0..1 per day: 1 in the trough of the shock, falling linearly to 0 over the recovery."""
    depth = np.zeros(days)
    shock = world.market.shock
    if shock is None:
        return depth
    d = np.arange(days) - world.day_of(shock.start)
    depth[(d >= 0) & (d < shock.trough_days)] = 1.0
    if shock.recovery_days > 0:
        rec = d - shock.trough_days
        in_rec = (rec >= 0) & (rec < shock.recovery_days)
        depth[in_rec] = 1.0 - rec[in_rec] / shock.recovery_days
    return depth
