"""A deal's life: it walks the stages one by one, needing its rep's time in each, until won or lost.

The process reads like the sale itself::

    for each stage:
        enter the stage
        wait for the rep, who works the stage's hours
        the customer takes their time (and sometimes stalls)
        at the end of the stage, the deal is lost or moves on
    won

Chances and times come from the scenario's stage table, bent by the lead's fit, its source, the
market conditions of the day and, when the market sets a patience, how long the buyer waited for the rep; the random numbers were drawn with the lead (see `market.Lead`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import simpy

from .scenario import Scenario

if TYPE_CHECKING:  # pragma: no cover
    from .model import Deal, SalesModel


def pass_chances(scenario: Scenario, fit: float, loss_factor: float) -> list[float]:
    """Per stage, the chance a deal of this fit and lead source moves on, in normal market conditions."""
    fit_factor = math.exp(scenario.fit_effects.on_loss * (0.5 - fit)) * loss_factor
    return [1.0 - min(stage.loss_chance * fit_factor, 0.99) for stage in scenario.stages]


def win_chance(scenario: Scenario, fit: float, loss_factor: float) -> float:
    """A deal's real chance of being won in normal market conditions: the product of its pass chances."""
    return math.prod(pass_chances(scenario, fit, loss_factor))


def stage_days(scenario: Scenario, deal: Deal, i: int, stretch: float) -> float:
    """Customer-side days deal spends in stage `i`, including a stall if one happens."""
    stage, lead = scenario.stages[i], deal.lead
    fit_factor = math.exp(scenario.fit_effects.on_duration * (0.5 - lead.fit))
    days = stage.median_days * math.exp(stage.spread * lead.stage_noise[i]) * fit_factor * stretch
    if lead.stall_draws[i] < stage.stall_chance:
        deal.stalls += 1
        days += stage.stall_days * math.exp(0.5 * lead.stall_noise[i])
    return days


def rep_time(env, model: SalesModel, deal: Deal, hours: float):
    """Process step: the deal waits for its owner's desk, then the owner works `hours` on it.

    A deal handed to another rep while it waits (its owner left) queues again at the new owner.
    Returns the days the deal waited before the work started.
    """
    asked = env.now
    while True:
        rep = deal.owner
        with rep.desk.request(priority=model.priority(deal)) as turn:
            deal.waiting = True
            try:
                yield turn
            except simpy.Interrupt:      # handed over while waiting: queue at the new owner
                continue
            finally:
                deal.waiting = False
            waited = env.now - asked
            yield from rep.work(env, hours, model.effort(rep))
            return waited


def work_the_deal(env, model: SalesModel, deal: Deal):
    """Process: the deal walks the stages, holding its rep's desk while the rep works each one."""
    scenario = model.scenario
    for i, stage in enumerate(scenario.stages):
        deal.enter(i, env.now)

        waited = 0.0
        if stage.rep_hours > 0:
            waited = yield from rep_time(env, model, deal, stage.rep_hours)
            deal.knows.contact(env.now)

        day = model.conditions.at(env.now)
        yield env.timeout(stage_days(scenario, deal, i, model.conditions.stretch[day]))

        passing = model.pass_chance(deal, i, env.now) * model.conditions.pass_factor[model.conditions.at(env.now)]
        if waited and scenario.market.patience_days is not None:   # a buyer kept waiting may go elsewhere
            passing *= math.exp(-waited / scenario.market.patience_days)
        if deal.lead.loss_draws[i] >= passing:
            model.close(deal, won=False)
            return

    model.close(deal, won=True)
