"""Leads: when they arrive, which account they come from, and everything chance decides about them.

The market sends new-logo leads (`arrivals`); repeat business and referrals come from customers
(`sim.engine.accounts`). Each lead is drawn whole at arrival — its account, segment, fit, source, first estimate and the random
numbers that will decide its fate — from the market's own random stream. That keeps common random
numbers intact: two scenarios with the same market see the same leads, whatever their teams do.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable

import numpy as np
import simpy

from ..world import World
from . import truth
from .conditions import Conditions
from .entities import Account, Lead

class LeadFactory:
    """Draws leads for a world: new logos from segments and sources, or a lead for a known account."""

    def __init__(self, world: World, rng: np.random.Generator):
        self.world, self.rng = world, rng
        self.segments = world.segments
        self.segment_cum = _cumulative(s.share for s in self.segments)
        self.sources = world.lead_sources
        self.source_cum = _cumulative(s.share for s in self.sources)
        self.accounts_left = [s.accounts if s.accounts is not None else np.inf for s in self.segments]
        self.accounts: list[Account] = []          # every account met so far, by number
        self.count = 0
        self.market_exhausted = 0                  # new-logo leads that found no account left
        # settings read for every lead, looked up once (they are frozen)
        self._stages = len(world.stages)
        self._truth = truth.Drawer(world.truth, world.market.volatility)
        self._on_size = world.fit_effects.on_size
        self._realisation = (world.deal_value.realisation_median, world.deal_value.realisation_spread)
        self._fit_beta = [_beta_parameters(s.fit_mean, s.fit_sd) for s in self.segments]

    def draw(self, now: float) -> Lead | None:
        """The next new-logo lead; None when its segment's market has no account left to sell to."""
        n_stages = self._stages
        u = tuple(self.rng.random(2 + 2 * n_stages).tolist())
        z = tuple(self.rng.standard_normal(2 + 2 * n_stages).tolist())
        seg_i = bisect.bisect_right(self.segment_cum, u[0])
        if self.accounts_left[seg_i] <= 0:
            self.market_exhausted += 1
            return None
        self.accounts_left[seg_i] -= 1
        account = self._new_account(seg_i, self.rng)
        source = self.sources[bisect.bisect_right(self.source_cum, u[1])].name
        return self._lead(now, account, source, u, z, self.rng, first=2)

    def prospect(self, seg_i: int, rng: np.random.Generator) -> Account | None:
        """A rep researches a new account of segment `seg_i`, drawn with `rng`; None when the segment has
        no account left. The account is used up whether or not it becomes a lead."""
        if self.accounts_left[seg_i] <= 0:
            return None
        self.accounts_left[seg_i] -= 1
        return self._new_account(seg_i, rng)

    def lead_for(self, now: float, account: Account, source: str, rng: np.random.Generator) -> Lead:
        """A lead from a known account (prospected, referred, coming back), its chance draws taken from `rng`."""
        n_stages = self._stages
        u = tuple(rng.random(2 * n_stages).tolist())   # tuples of floats: not tracked by the garbage collector
        z = tuple(rng.standard_normal(2 + 2 * n_stages).tolist())
        return self._lead(now, account, source, u, z, rng)

    def _lead(self, now: float, account: Account, source: str, u: tuple[float, ...], z: tuple[float, ...],
              rng: np.random.Generator, first: int = 0) -> Lead:
        """A lead for `account`: its size and fate set by the normals `z` and the per-stage uniforms `u[first:]` (loss
        draws, then stall draws), its hidden truth by `rng`."""
        n_stages = self._stages
        segment = self.segments[account.segment]
        size_factor = math.exp(self._on_size * (account.fit - 0.5))
        realisation_median, realisation_spread = self._realisation
        hidden = self._truth.draw(now, rng)
        self.count += 1
        return Lead(
            number=self.count,
            arrived=now,
            account=account,
            segment=segment.name,
            fit=account.fit,
            source=source,
            first_estimate=round(segment.deal_size * math.exp(segment.size_spread * z[0]) * size_factor, 2),
            realisation=realisation_median * math.exp(realisation_spread * z[1]),
            loss_draws=u[first : first + n_stages],
            stage_noise=z[2 : 2 + n_stages],
            stall_draws=u[first + n_stages :],
            stall_noise=z[2 + n_stages :],
            truth=hidden,
        )

    def _new_account(self, seg_i: int, rng: np.random.Generator) -> Account:
        a, b = self._fit_beta[seg_i]
        account = Account(number=len(self.accounts), segment=seg_i, fit=float(rng.beta(a, b)))
        self.accounts.append(account)
        return account


def _beta_parameters(mean: float, sd: float) -> tuple[float, float]:
    """The beta distribution's (a, b) with this mean and standard deviation: how a segment's fit scores spread."""
    m, v = mean, sd**2
    k = m * (1 - m) / v - 1
    return m * k, (1 - m) * k


def _cumulative(shares) -> list[float]:
    """Cumulative shares normalised to end at 1 (the last bound is dropped so bisect never overruns)."""
    cum = list(itertools.accumulate(shares))
    return [c / cum[-1] for c in cum[:-1]]


def arrivals(env: simpy.Environment, days: int, conditions: Conditions, factory: LeadFactory,
             receive: Callable[[Lead], None]):
    """Process: new-logo leads arrive as a Poisson stream whose rate follows the day's conditions (thinning)."""
    rate, rng = conditions.lead_rate_by_day, factory.rng
    peak = max(rate)
    if peak <= 0:
        return
    while True:
        yield env.timeout(rng.exponential(1.0 / peak))
        if env.now >= days:
            return
        if rng.random() * peak < rate[conditions.at(env.now)]:
            lead = factory.draw(env.now)
            if lead is not None:
                receive(lead)
