"""A deal's life: it walks the stages one by one, needing its rep's time in each, until won or lost.

The process reads like the sale itself::

    for each stage:
        enter the stage (a policy may run a sub-process here: a meeting, a trial)
        wait for the rep, who works the stage's hours
        the customer takes their time (and sometimes stalls)
        at the end of the stage, the deal is lost or moves on
    won

`DealRules` is the one place where a stage's chance and time are put together: the world's stage table,
bent by the lead's fit, source and hidden truth, the market conditions of the day, the buyer's patience
and every policy run's `pass_factor` / `stage_days`. The random numbers were drawn with the lead
(`sim.engine.entities.Lead`), so the same lead meets the same fate under the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence

import simpy
from scipy.special import ndtr, ndtri

from ..world import World
from .conditions import Conditions
from .entities import Deal, Lead
from .hooks import Hooks, ModelView, overrides
from .priority import Priority, combine
from .team import Rep
from .truth import calibrate


def pass_chances(world: World, fit: float, loss_factor: float) -> tuple[float, ...]:
    """Per stage, the chance a deal of this fit and loss factor moves on, in normal market conditions."""
    return _pass_chances([s.loss_chance for s in world.stages], world.fit_effects.on_loss, fit, loss_factor)


def _pass_chances(loss_chances: Sequence[float], on_loss: float, fit: float, loss_factor: float) -> tuple[float, ...]:
    """The formula: each stage's loss chance times the fit factor exp(on_loss x (0.5 - fit)) times the loss
    factor, capped at 0.99; the pass chance is what is left (a tuple: a deal keeps it, untracked by the collector)."""
    fit_factor = math.exp(on_loss * (0.5 - fit)) * loss_factor
    return tuple([1.0 - min(loss * fit_factor, 0.99) for loss in loss_chances])


class DealRules:
    """How each stage goes for a deal: chance of passing, customer-side time, queue priority, rep effort."""

    def __init__(self, world: World, conditions: Conditions, view: ModelView):
        self.world, self.conditions, self.view = world, conditions, view
        self.consult([])
        self._source_loss = {s.name: s.loss_factor for s in world.lead_sources}
        self._source_time = {s.name: s.duration_factor for s in world.lead_sources}
        self._truth_scale = calibrate(world.truth, [1.0 - p for p in pass_chances(world, 0.5, 1.0)])
        # the settings read at every stage, looked up once (they are frozen)
        self._stages = [(s.median_days, s.spread, s.stall_chance, s.stall_days) for s in world.stages]
        self._loss_chances = [s.loss_chance for s in world.stages]
        self._on_loss, self._on_duration = world.fit_effects.on_loss, world.fit_effects.on_duration
        self._patience = world.market.patience_days
        self._pass_factor, self._stretch = conditions.pass_factor_by_day, conditions.stretch_by_day
        self._last_day = len(conditions.pass_factor_by_day) - 1

    def consult(self, runs: Sequence[Hooks]) -> None:
        """Ask these policy runs from now on; at each hook only those that override it (hooks run on every event)."""
        asked = lambda hook: [r for r in runs if overrides(r, hook)]  # noqa: E731 - tiny local filter
        self._enterers, self._prioritisers, self._motivators = asked("enter_stage"), asked("priority"), asked("effort")
        self._timers, self._passers, self._pricers = asked("stage_days"), asked("pass_factor"), asked("signed_amount")
        self.has_enterers = bool(self._enterers)

    # ---- chance -------------------------------------------------------------------------------
    def loss_factor(self, lead: Lead, now: float) -> float:
        """Factor on a lead's stage loss chances at day `now`: its lead source and its hidden truth."""
        source = self._source_loss.get(lead.source, 1.0)
        return source * self._truth_scale * lead.truth.loss_multiplier(self.world.truth, now)

    def normal_chances(self, lead: Lead) -> list[float]:
        """Per stage, the lead's chance of passing in normal conditions, as it stands when it arrives."""
        return self._chances(lead.fit, self.loss_factor(lead, lead.arrived))

    def _chances(self, fit: float, loss_factor: float) -> list[float]:
        """`pass_chances` with the world's settings read once."""
        return _pass_chances(self._loss_chances, self._on_loss, fit, loss_factor)

    def pass_chance(self, deal: Deal, i: int, now: float, waited: float) -> float:
        """The chance the deal passes stage `i` at day `now`, after waiting `waited` days for its rep.

        The stage table's chance for this deal (lower once its budget was cut), times the day's market
        factor, times the buyer's patience, times every policy's factor.
        """
        lead = deal.lead
        truth = lead.truth
        if not truth.budget or truth.budget_now(now):
            passing = deal.pass_chances[i]
        else:
            passing = self._chances(lead.fit, self.loss_factor(lead, now))[i]
        passing *= self._pass_factor[min(int(now), self._last_day)]
        patience = self._patience
        if waited and patience is not None:   # a buyer kept waiting may go elsewhere
            passing *= math.exp(-waited / patience)
        for p in self._passers:
            passing *= p.pass_factor(self.view, deal, i)
        return passing

    # ---- time ---------------------------------------------------------------------------------
    def stage_days(self, deal: Deal, i: int, now: float, elapsed: float = 0.0) -> float:
        """Customer-side days the deal spends in stage `i` from day `now`, including any stall.

        `elapsed`: days the deal has already spent in the stage (a deal that was open when the run began):
        its time is then drawn given that it lasted at least that long, and what remains is returned.
        """
        median_days, spread, stall_chance, stall_days = self._stages[i]
        lead = deal.lead
        fit_factor = math.exp(self._on_duration * (0.5 - lead.fit))
        stretch = self._stretch[min(int(now), self._last_day)] * self._source_time.get(lead.source, 1.0)
        typical = median_days * fit_factor * stretch
        if elapsed > 0:
            noise = _noise_beyond(lead.stage_noise[i], elapsed, typical, spread)
            days = max(typical * math.exp(spread * noise) - elapsed, 0.0)
        else:
            days = typical * math.exp(spread * lead.stage_noise[i])
        if lead.stall_draws[i] < stall_chance:
            deal.stalls += 1
            days += stall_days * math.exp(0.5 * lead.stall_noise[i])
        for p in self._timers:
            days = p.stage_days(self.view, deal, i, days)
        return days

    # ---- the rep's time -------------------------------------------------------------------------
    def priority(self, deal: Deal) -> Priority:
        """The deal's place in its rep's queue, from every policy that has a say."""
        asked = self._prioritisers
        if len(asked) == 1:   # one voice: its priority as it is (what `combine` would make of it alone)
            priority = asked[0].priority(self.view, deal)
            return priority if type(priority) is Priority else Priority(*priority)
        return combine([p.priority(self.view, deal) for p in asked])

    def effort(self, rep: Rep) -> float:
        """Speed multiplier on a rep's work: the product of what the policies say."""
        effort = 1.0
        for p in self._motivators:
            effort *= p.effort(self.view, rep)
        return effort

    # ---- policies' own steps --------------------------------------------------------------------
    def entering(self, deal: Deal, i: int) -> Generator:
        """Process step: the sub-processes policies run as the deal enters stage `i`, one after another."""
        for p in self._enterers:
            step = p.enter_stage(self.view, deal, i)
            if step is not None:
                yield from step

    def signed_amount(self, deal: Deal) -> float:
        """What a won deal signs for: first estimate x realisation, then whatever policies change."""
        amount = round(deal.lead.first_estimate * deal.lead.realisation, 2)
        for p in self._pricers:
            amount = round(p.signed_amount(self.view, deal, amount), 2)
        return amount


def _noise_beyond(z: float, elapsed: float, typical: float, spread: float) -> float:
    """The standard normal `z` moved into the part of its distribution where the stage lasts > `elapsed` days
    (inverse-CDF conditioning: the same `z` keeps its rank among the durations still possible)."""
    if spread <= 0:
        return z
    floor = ndtr(math.log(elapsed / typical) / spread)
    return float(ndtri(min(floor + ndtr(z) * (1.0 - floor), 1.0 - 1e-12)))


def work_the_deal(env: simpy.Environment, world: World, rules: DealRules, deal: Deal,
                  close: Callable[[Deal, bool], None], first_stage: int = 0, entered: float | None = None):
    """Process: the deal walks the stages, holding its rep's desk while the rep works each one.

    A deal that was already open when the run began starts in `first_stage`, which it `entered` on that
    (earlier) day: its rep's work there is done, and the customer takes what remains of the stage.
    In a stage with rep hours the deal waits for its owner's desk, then the owner works those hours on it; a
    deal handed to another rep while it waits (its owner left) queues again at the new owner. This is written
    out in the loop rather than in a sub-generator: a generator fewer per stage.
    """
    stages = world.stages
    timeout = env.timeout
    for i in range(first_stage, len(stages)):
        hours = stages[i].rep_hours
        resumed = i == first_stage and entered is not None
        deal.enter(i, entered if resumed else env.now)
        waited = 0.0
        if not resumed:
            if rules.has_enterers:
                yield from rules.entering(deal, i)
            if hours > 0:
                asked = env.now
                while True:
                    rep = deal.owner
                    with rep.desk.request(priority=rules.priority(deal)) as turn:
                        deal.waiting = True
                        try:
                            yield turn
                        except simpy.Interrupt:      # handed over while waiting: queue at the new owner
                            continue
                        finally:
                            deal.waiting = False
                        now = env.now
                        days = rep.days_for(hours, now, rules.effort(rep))   # `rep.work`, written out
                        yield timeout(days)
                        rep.busy_days += days
                        waited = now - asked
                        break
                deal.knows.contact(env.now)

        yield timeout(rules.stage_days(deal, i, env.now, env.now - entered if resumed else 0.0))

        if deal.lead.loss_draws[i] >= rules.pass_chance(deal, i, env.now, waited):
            close(deal, False)
            return

    close(deal, True)
