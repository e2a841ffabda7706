"""Hidden truth about a deal, and what its rep has learned of it.

Every deal carries three facts that decide its real chance (the evidence a disciplined forecast asks
for): does the customer have a budget that includes our category, how much power does our champion
have, and is a competitor ahead. In a volatile market a budget can also be cut while the deal is open.
The rep does not see these facts: each contact with the customer (working a stage, a forecast review)
reveals each one with the chance the scenario sets, and a budget cut is only noticed at a contact after
it happened.

All chance is drawn once with the lead (`draw`), from the market's stream, so common random numbers
hold: the same lead has the same truth and would be discovered after the same number of contacts,
whatever the team's policies do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..world.truth import TruthSettings

FACTS = ("budget", "champion", "competitor")
N_DRAWS = 8   # uniforms per lead: 3 facts, 3 discoveries, cut time, cut discovery


class HiddenTruth(NamedTuple):
    """The facts of one deal, and how many contacts its rep needs to learn each of them (immutable)."""

    budget: bool
    champion_power: float          # 0..1
    competitor_ahead: bool
    contacts_to_learn: tuple[int, int, int]   # per fact in FACTS
    budget_cut_at: float           # simulated day the budget is cut (inf = never)
    contacts_to_notice_cut: int

    def budget_now(self, now: float) -> bool:
        return self.budget and now < self.budget_cut_at

    def loss_multiplier(self, settings: TruthSettings, now: float) -> float:
        """Raw factor on the deal's stage loss chances at day `now` (see `calibrate` for its scale)."""
        raw = math.exp(settings.on_power * (0.5 - self.champion_power))
        if not self.budget_now(now):
            raw *= math.exp(settings.on_budget)
        if self.competitor_ahead:
            raw *= math.exp(settings.on_competitor)
        return raw


def raw_multiplier(settings: TruthSettings, budget: bool, power: np.ndarray, competitor: bool) -> np.ndarray:
    """`HiddenTruth.loss_multiplier` for many champion powers at once (used to calibrate)."""
    return (np.where(budget, 1.0, math.exp(settings.on_budget))
            * np.exp(settings.on_power * (0.5 - np.asarray(power)))
            * np.where(competitor, math.exp(settings.on_competitor), 1.0))


def calibrate(settings: TruthSettings, stage_losses: Sequence[float]) -> float:
    """Scale on the raw multiplier that keeps the average deal's win chance what the stage table says.

    Without it, spreading deals between hopeless and near-certain would change the team's win rate
    (a product of pass chances is not linear in the loss chance); with it, the hidden truth only
    decides *which* deals win, and a scenario's win rate stays calibrated to its stage table.
    Computed once per settings and stage table (a few milliseconds), then remembered.
    """
    return _calibrate(settings, tuple(float(x) for x in stage_losses))


@lru_cache(maxsize=256)
def _calibrate(settings: TruthSettings, stage_losses: tuple[float, ...]) -> float:
    losses = np.asarray(stage_losses, dtype=float)
    target = float(np.prod(1.0 - losses))
    power = (np.arange(200) + 0.5) / 200
    combos = [(b, c, (settings.budget_share if b else 1 - settings.budget_share)
               * (settings.competitor_share if c else 1 - settings.competitor_share))
              for b in (True, False) for c in (True, False)]
    raw = np.stack([raw_multiplier(settings, b, power, c) for b, c, _ in combos])     # (4, 200)
    weight = np.array([w for *_, w in combos])[:, None] / len(power)

    def mean_win(scale: float) -> float:
        loss = np.minimum(scale * raw[..., None] * losses, 0.99)
        return float((weight * np.prod(1.0 - loss, axis=-1)).sum())

    lo, hi = 1e-6, 1e3
    for _ in range(60):   # mean_win falls as the scale grows: bisect on a log scale
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if mean_win(mid) > target else (lo, mid)
    return math.sqrt(lo * hi)




def contacts_needed(u: float, chance: float) -> int:
    """Contacts until a fact is revealed when each contact reveals it with `chance` (geometric, >= 1)."""
    if chance >= 1.0:
        return 1
    return 1 + int(math.log(max(u, 1e-300)) / math.log(1.0 - chance))


def draw(settings: TruthSettings, volatility: float, arrived: float, rng: np.random.Generator) -> HiddenTruth:
    """A lead's hidden truth, drawn whole from the market stream (always `N_DRAWS` uniforms)."""
    return Drawer(settings, volatility).draw(arrived, rng)


class Drawer:
    """`draw` for one world: its settings read once, since a run draws a hidden truth for every lead."""

    def __init__(self, settings: TruthSettings, volatility: float):
        self.budget_share, self.competitor_share = settings.budget_share, settings.competitor_share
        self.cut_rate = settings.budget_cut_rate * volatility / 365.25
        learn = settings.learn_chance
        self.log_miss = math.log(1.0 - learn) if learn < 1.0 else None   # a contact's chance to reveal nothing, as a log

    def draw(self, arrived: float, rng: np.random.Generator) -> HiddenTruth:
        budget, power, competitor, learn_1, learn_2, learn_3, cut, notice = rng.random(N_DRAWS).tolist()
        rate, log_miss, log = self.cut_rate, self.log_miss, math.log
        if log_miss is None:   # every contact reveals every fact
            learn, notice_after = (1, 1, 1), 1
        else:                  # contacts_needed(u, learn_chance) for each fact and for the cut
            learn = (1 + int(log(max(learn_1, 1e-300)) / log_miss), 1 + int(log(max(learn_2, 1e-300)) / log_miss),
                     1 + int(log(max(learn_3, 1e-300)) / log_miss))
            notice_after = 1 + int(log(max(notice, 1e-300)) / log_miss)
        return HiddenTruth(budget < self.budget_share, power, competitor < self.competitor_share, learn,
                           arrived - log(max(cut, 1e-300)) / rate if rate > 0 else math.inf, notice_after)


@dataclass(eq=False, slots=True)
class Knowledge:
    """What a deal's rep knows of its hidden truth: it grows with each contact with the customer."""

    truth: HiddenTruth
    contacts: int = 0
    contacts_since_cut: int = 0
    last_contact: float | None = None

    def contact(self, now: float) -> None:
        """The rep talked with the customer at day `now`."""
        self.contacts += 1
        if now >= self.truth.budget_cut_at:
            self.contacts_since_cut += 1
        self.last_contact = now

    def budget(self) -> bool | None:
        """The rep's belief about the budget: True, False or None (not learned yet)."""
        truth = self.truth
        if truth.budget and self.contacts_since_cut >= truth.contacts_to_notice_cut:
            return False
        return truth.budget if self.contacts >= truth.contacts_to_learn[0] else None

    def champion_power(self) -> float | None:
        """The champion's power as the rep knows it, or None (not learned yet)."""
        return self.truth.champion_power if self.contacts >= self.truth.contacts_to_learn[1] else None

    def competitor_ahead(self) -> bool | None:
        """Whether the rep knows a competitor is ahead (True), knows none is (False), or not yet (None)."""
        return self.truth.competitor_ahead if self.contacts >= self.truth.contacts_to_learn[2] else None
