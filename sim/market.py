"""The market: when leads arrive, who they are, and how conditions (season, shocks, volatility) move.

Conditions are computed once per simulated day before the run (`Conditions`), so the processes only look
them up. Each lead is drawn whole at arrival — its account, segment, fit, source, first estimate and the
random numbers that will decide its fate — from the market's own random stream. That keeps common random
numbers intact: two scenarios with the same market see the same leads, whatever their teams do.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import truth
from .scenario import Scenario

if TYPE_CHECKING:  # pragma: no cover
    from .model import SalesModel

REPEAT_SOURCE = "Existing customer"


@dataclass(frozen=True)
class Conditions:
    """Market conditions per simulated day: lead-rate multiplier, pass-chance multiplier, stage stretch."""

    lead_rate: np.ndarray     # leads per day
    pass_factor: np.ndarray   # multiplier on each stage's pass chance (1 = normal)
    stretch: np.ndarray       # multiplier on stage durations (1 = normal)

    @classmethod
    def build(cls, scenario: Scenario, rng: np.random.Generator) -> Conditions:
        days = scenario.days + 1
        dates = [scenario.start + dt.timedelta(days=d) for d in range(days)]
        month = np.array([d.month - 1 for d in dates])
        month_index = np.array([(d.year - scenario.start.year) * 12 + d.month - scenario.start.month for d in dates])
        market = scenario.market

        season = np.ones(days) if market.seasonality is None else np.asarray(market.seasonality)[month]
        season = season / (np.mean(market.seasonality) if market.seasonality is not None else 1.0)

        # volatility: one lognormal factor per calendar month for leads and one for win chances
        months = int(month_index.max()) + 1
        sigma = market.volatility
        lead_noise = np.exp(sigma * rng.standard_normal(months) - sigma**2 / 2)[month_index]
        win_noise = np.exp(0.5 * sigma * rng.standard_normal(months) - (0.5 * sigma) ** 2 / 2)[month_index]

        depth = shock_depth(scenario, days)
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


def shock_depth(scenario: Scenario, days: int) -> np.ndarray:
    """0..1 per day: 1 in the trough of the shock, falling linearly to 0 over the recovery."""
    depth = np.zeros(days)
    shock = scenario.market.shock
    if shock is None:
        return depth
    d = np.arange(days) - scenario.day_of(shock.start)
    depth[(d >= 0) & (d < shock.trough_days)] = 1.0
    if shock.recovery_days > 0:
        rec = d - shock.trough_days
        in_rec = (rec >= 0) & (rec < shock.recovery_days)
        depth[in_rec] = 1.0 - rec[in_rec] / shock.recovery_days
    return depth


@dataclass
class Lead:
    """A prospective deal as it arrives, with everything chance decides about it drawn up front."""

    number: int
    arrived: float
    account: int
    segment: str
    fit: float
    source: str
    first_estimate: float
    realisation: float          # signed amount / first estimate, if won
    loss_draws: list[float]     # one uniform per stage: lost at that stage if below its loss chance
    stage_noise: list[float]    # one standard normal per stage: how long the stage takes
    stall_draws: list[float]    # one uniform per stage: stalls if below its stall chance
    stall_noise: list[float]    # one standard normal per stage: how long a stall lasts
    truth: truth.HiddenTruth    # budget, champion, competitor: what really decides the deal


class LeadFactory:
    """Draws leads for a scenario: new logos from segments and sources, or repeat business from customers."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator):
        self.scenario, self.rng = scenario, rng
        self.segments = scenario.segments
        self.segment_cum = _cumulative(s.share for s in self.segments)
        self.sources = scenario.lead_sources
        self.source_cum = _cumulative(s.share for s in self.sources)
        self.accounts_left = [s.accounts if s.accounts is not None else np.inf for s in self.segments]
        self.account_segment: list[int] = []      # account number -> segment index
        self.account_fit: list[float] = []
        self.count = 0
        self.market_exhausted = 0                 # new-logo leads that found no account left

    def draw(self, now: float, customers: dict[int, float]) -> Lead | None:
        """The next lead; None when its segment's market has no account left to sell to."""
        n_stages = len(self.scenario.stages)
        u = self.rng.random(3 + 2 * n_stages).tolist()
        z = self.rng.standard_normal(2 + 2 * n_stages).tolist()
        if customers and u[0] < self.scenario.market.repeat_share:
            account = _pick_weighted(customers, u[1])
            seg_i, source = self.account_segment[account], REPEAT_SOURCE
        else:
            seg_i = bisect.bisect_right(self.segment_cum, u[1])
            if self.accounts_left[seg_i] <= 0:
                self.market_exhausted += 1
                return None
            self.accounts_left[seg_i] -= 1
            account = self._new_account(seg_i, self.rng)
            source = self.sources[bisect.bisect_right(self.source_cum, u[2])].name
        return self._lead(now, seg_i, account, source, u, z, self.rng)

    def prospect(self, seg_i: int, rng: np.random.Generator) -> int | None:
        """A rep researches a new account of segment `seg_i`, drawn with `rng`: its number, or None when the
        segment has no account left. The account is used up whether or not it becomes a lead."""
        if self.accounts_left[seg_i] <= 0:
            return None
        self.accounts_left[seg_i] -= 1
        return self._new_account(seg_i, rng)

    def prospected_lead(self, now: float, account: int, source: str, rng: np.random.Generator) -> Lead:
        """The lead a prospected account becomes, with its chance draws taken from `rng`."""
        n_stages = len(self.scenario.stages)
        u = rng.random(3 + 2 * n_stages).tolist()
        z = rng.standard_normal(2 + 2 * n_stages).tolist()
        return self._lead(now, self.account_segment[account], account, source, u, z, rng)

    def _lead(self, now: float, seg_i: int, account: int, source: str, u: list[float], z: list[float],
              rng: np.random.Generator) -> Lead:
        """A lead for `account`, its size and fate set by the uniforms `u` and normals `z`, its hidden truth by `rng`."""
        n_stages = len(self.scenario.stages)
        segment = self.segments[seg_i]
        fit = self.account_fit[account]
        size_factor = math.exp(self.scenario.fit_effects.on_size * (fit - 0.5))
        value = self.scenario.deal_value
        hidden = truth.draw(self.scenario.truth, self.scenario.market.volatility, now, rng)
        self.count += 1
        return Lead(
            number=self.count,
            arrived=now,
            account=account,
            segment=segment.name,
            fit=fit,
            source=source,
            first_estimate=round(segment.deal_size * math.exp(segment.size_spread * z[0]) * size_factor, 2),
            realisation=value.realisation_median * math.exp(value.realisation_spread * z[1]),
            loss_draws=u[3 : 3 + n_stages],
            stage_noise=z[2 : 2 + n_stages],
            stall_draws=u[3 + n_stages :],
            stall_noise=z[2 + n_stages :],
            truth=hidden,
        )

    def _new_account(self, seg_i: int, rng: np.random.Generator) -> int:
        seg = self.segments[seg_i]
        # beta distribution with the segment's mean and spread
        m, v = seg.fit_mean, seg.fit_sd**2
        k = m * (1 - m) / v - 1
        self.account_segment.append(seg_i)
        self.account_fit.append(float(rng.beta(m * k, (1 - m) * k)))
        return len(self.account_segment) - 1


def _cumulative(shares) -> list[float]:
    """Cumulative shares normalised to end at 1 (the last bound is dropped so bisect never overruns)."""
    cum = list(itertools.accumulate(shares))
    return [c / cum[-1] for c in cum[:-1]]


def _pick_weighted(weights: dict[int, float], u: float) -> int:
    """Pick a key with probability proportional to its weight, using the uniform `u`."""
    keys = list(weights)
    cum = list(itertools.accumulate(weights.values()))
    return keys[min(bisect.bisect_right(cum, u * cum[-1]), len(keys) - 1)]


def arrivals(env, model: SalesModel):
    """Leads arrive as a Poisson stream whose rate follows the day's conditions (thinning)."""
    rate, rng = model.conditions.lead_rate, model.market_rng
    peak = float(rate.max())
    if peak <= 0:
        return
    while True:
        yield env.timeout(rng.exponential(1.0 / peak))
        if env.now >= model.scenario.days:
            return
        if rng.random() * peak < rate[model.conditions.at(env.now)]:
            lead = model.leads.draw(env.now, model.customer_revenue)
            if lead is not None:
                model.receive(lead)
