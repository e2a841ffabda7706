"""The strong second place (principle 09): who won a lost deal, whether their first implementation fails,
and nurturing the loss so that we are the one the customer calls when it does.

Source 002 ("Selling – How to Make the Best Out of a Second Place Finish", 2006): after a loss, ask for the
evaluation, the decision criteria and access, and keep in touch; the winner's honeymoon ends, "a reasonably
high percentage of first sales fail", and the clear alternative often wins the second round — less often
when the buyer has bought in this category before, or has used the winner for a long time.

`SecondPlace` (``policies.nurture``) does, when a deal is lost:

    the loss gets a reason: to a competitor (always when a competitor was ahead, sometimes otherwise), for
    want of a budget, or no decision; a competitor's name goes on the deal (`Deal.competitor`) — unless
    another policy already gave the loss its reason (a bug in evaluation, no first meeting), which stands
    if a competitor won a first-time buyer:
        its implementation fails with `failure_rate`, some months after the loss
        if the policy nurtures this loss: each month the deal's rep spends `hours_per_month` with the account
        (the same desk the deals wait for), until the failure, or until `months` have passed
        when the implementation fails, the account looks for an alternative: it calls us with the win-back
        chance (higher if we kept in touch), lowered for a buyer experienced in the category and for each
        month it has used the winner; a call is a new deal (`winback_source`), which starts with the
        evaluation already known (it loses less often and moves faster)

Defaults that stand for behaviour lean on published figures: about one software project in five fails
outright and half are "challenged" (Standish Group CHAOS reports, 2015-2020: 19-20% failed), so
`failure_rate` 0.25 counts the outright failures and some of the worst challenged ones; firms that try win
back 20-40% of lost customers (Griffin & Lowenstein, *Customer WinBack*, 2001), so a nurtured account calls
us on a failure with chance 0.8 before the experience and tenure discounts, a neglected one with 0.2 (after
the discounts and the win-back deal's own chance, about a fifth of the nurtured failures come back, inside
that range); the share of experienced buyers (0.4) and the discounts for experience (x0.5) and tenure
(halved every 18 months on the winner) are our assumptions, shown across their range in the notebook.

Every lost deal draws the same numbers from a stream of its account's own (keyed by the run and the account
number), whether or not it is nurtured, so a scenario that nurtures and one that does not see the same
competitors, the same failures on the same days and the same buyers (common random numbers).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..core.data import Data, require_unique
from ..engine.entities import Account, Deal
from ..engine.costs import COSTS, CostLedger
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine import streams
from ..engine.priority import NORMAL, SPARE
from ..world import World

MONTH_DAYS = 365.25 / 12
DRAWS = 6   # uniforms per lost deal: competitor or not, which one, fails, when, experienced, calls back


class Competitor(Data):
    """A competitor we lose deals to, and its share of those losses."""

    name: str = Field(min_length=1, description="the competitor's name as the CRM records it")
    share: float = Field(1.0, gt=0, le=1e6, description="relative share of the deals lost to a competitor")


def _default_competitors() -> tuple[Competitor, ...]:
    return (Competitor(name="Rival A", share=0.5), Competitor(name="Rival B", share=0.3),
            Competitor(name="Rival C", share=0.2))


@register
class SecondPlace(Policy):
    """Lost deals: who won them, whether the winner's first implementation fails, and nurturing the loss."""

    key: ClassVar[str] = "nurture"
    summary: ClassVar[str] = "lost deals: the competitor who won, failed first implementations, nurturing losses to win them back"
    levers: ClassVar[tuple[str, ...]] = ("nurture", "min_stage", "hours_per_month", "months", "desk")  # what-if explorer: the nurture programme; the rest is the market
    writes: ClassVar[tuple] = (COSTS,)

    competitors: tuple[Competitor, ...] = Field(default_factory=_default_competitors, min_length=1, max_length=100,
                                                description="who wins the deals lost to a competitor")
    other_losses_to_competitor: float = Field(0.3, ge=0, le=1, description="share of the losses without a competitor ahead that still go to one")
    failure_rate: float = Field(0.25, ge=0, le=1, description="chance the winner's implementation fails")
    failure_months: tuple[float, float] = Field((3.0, 18.0), description="a failure shows between these many months after the loss (uniform)")
    experienced_share: float = Field(0.4, ge=0, le=1, description="share of buyers who have bought in this category before")
    nurture: Literal["none", "competitor_losses", "inexperienced"] = Field(
        "competitor_losses", description="whom to nurture: none, every loss to a competitor, or only buyers new to the category")
    min_stage: int = Field(0, ge=0, le=50, description="nurture only losses that reached this stage (0 = the first stage on)")
    hours_per_month: float = Field(0.5, ge=0, le=40, description="rep hours a month on each nurtured account")
    months: float = Field(12.0, gt=0, le=120, description="months a loss is nurtured if its winner does not fail first")
    desk: Literal["normal", "spare"] = Field("normal", description="nurture time queues with deals (normal) or only uses spare desk time (spare)")
    winback_nurtured: float = Field(0.8, ge=0, le=1, description="chance a nurtured account calls us when its first choice fails")
    winback_cold: float = Field(0.2, ge=0, le=1, description="the same for an account nobody kept in touch with")
    experienced_factor: float = Field(0.5, ge=0, le=1, description="multiplier on the call-back chance for an experienced buyer")
    tenure_halflife_months: float = Field(18.0, gt=0, le=600, description="the call-back chance halves for each this many months on the winner")
    winback_source: str = Field("Win-back", min_length=1, description="lead source of a won-back account's new deal")
    winback_loss_factor: float = Field(0.6, gt=0, le=5, description="multiplier on a win-back deal's stage loss chances")
    winback_duration_factor: float = Field(0.7, gt=0, le=5, description="multiplier on a win-back deal's stage time")

    @model_validator(mode="after")
    def _consistent(self) -> SecondPlace:
        lo, hi = self.failure_months
        if not 0 <= lo <= hi <= 120:
            raise ValueError(f"failure_months: ({lo:g}, {hi:g}) must be two months from 0 to 120, the first not after the second")
        require_unique("competitors", (c.name for c in self.competitors))
        return self

    def check(self, world: World) -> list[str]:
        problems = []
        if self.min_stage >= len(world.stages):
            problems.append(f"min_stage: {self.min_stage} is not a stage index (0 to {len(world.stages) - 1})")
        if self.winback_source in {s.name for s in world.lead_sources}:
            problems.append(f"winback_source: {self.winback_source!r} is also a market lead source, whose factors "
                            "would apply twice; choose another name")
        return problems

    # ---- hooks -----------------------------------------------------------------------------------
    def start(self, model: ModelView) -> NurtureRun:
        return NurtureRun(self, int(model.rng.integers(2**63)), model.costs)


@dataclass(eq=False)
class NurtureRun(PolicyRun):
    """One run of `SecondPlace`: the losses followed, and what came of them."""

    policy: SecondPlace
    key: int
    costs: CostLedger
    following: set = field(default_factory=set)
    counter: dict = field(default_factory=lambda: dict.fromkeys(
        ("lost_to_competitor", "nurtured", "nurture_touches", "competitor_failures", "winback_deals"), 0))

    def __post_init__(self) -> None:
        shares = list(itertools.accumulate(c.share for c in self.policy.competitors))
        self.bounds = [s / shares[-1] for s in shares[:-1]]

    def on_close(self, model: ModelView, deal: Deal) -> None:
        if not deal.won:
            self.lost(model, deal)

    def pass_factor(self, model: ModelView, deal: Deal, i: int) -> float:
        p = self.policy
        if deal.lead.source != p.winback_source or p.winback_loss_factor == 1.0:
            return 1.0
        passing = deal.pass_chances[i]
        return (1.0 - min((1.0 - passing) * p.winback_loss_factor, 0.99)) / passing if passing > 0 else 1.0

    def stage_days(self, model: ModelView, deal: Deal, i: int, days: float) -> float:
        p = self.policy
        return days * p.winback_duration_factor if deal.lead.source == p.winback_source else days

    def metrics(self, model: ModelView) -> dict[str, float]:
        return {k: float(v) for k, v in self.counter.items()}

    def draws(self, account: Account, n_losses: int) -> np.ndarray:
        """The uniforms of this account's n-th loss: the same whatever the policy does with them."""
        return streams.seeded([self.key, account.number, n_losses]).random(DRAWS)   # = default_rng(...)

    def lost(self, model: ModelView, deal: Deal) -> None:
        if deal.loss_reason is not None:
            return          # another policy already said why (a bug in evaluation, no first meeting): it stands
        p, account = self.policy, deal.account
        losses = sum(1 for d in account.deals if d.won is False)
        u = self.draws(account, losses)
        if deal.lead.truth.competitor_ahead or u[0] < p.other_losses_to_competitor:
            deal.competitor = p.competitors[bisect.bisect_right(self.bounds, u[1])].name
            deal.loss_reason = "competitor"
        else:
            deal.loss_reason = "no budget" if not deal.lead.truth.budget_now(model.now) else "no decision"
            return
        self.counter["lost_to_competitor"] += 1
        if account.customer or account in self.following:
            return          # an existing customer's extra deal, or a loss we already follow
        lo, hi = p.failure_months
        fails_at = model.now + (lo + u[3] * (hi - lo)) * MONTH_DAYS if u[2] < p.failure_rate else None
        experienced = bool(u[4] < p.experienced_share)
        nurture = (p.nurture == "competitor_losses" or (p.nurture == "inexperienced" and not experienced)) \
            and deal.stage_index >= p.min_stage and p.hours_per_month > 0
        self.following.add(account)
        model.env.process(self.follow(model, deal, fails_at, experienced, nurture, u[5]))

    def follow(self, model: ModelView, deal: Deal, fails_at: float | None, experienced: bool, nurture: bool,
               chance_draw: float):
        """Process: keep in touch (if nurtured) until the winner fails or the nurture ends; on a failure the
        account may call us."""
        p, env, account = self.policy, model.env, deal.account
        lost_at = env.now
        state = {"touches": 0, "until": min(fails_at if fails_at is not None else np.inf, lost_at + p.months * MONTH_DAYS)}
        if nurture:
            self.counter["nurtured"] += 1
            env.process(self.keep_in_touch(model, deal, state))
        if fails_at is None or fails_at >= model.world.days:
            return
        yield env.timeout(fails_at - env.now)
        self.counter["competitor_failures"] += 1
        chance = p.winback_nurtured if state["touches"] > 0 else p.winback_cold
        if experienced:
            chance *= p.experienced_factor
        chance *= 0.5 ** ((fails_at - lost_at) / MONTH_DAYS / p.tenure_halflife_months)
        if chance_draw < chance and not any(d.closed is None for d in account.deals):
            self.counter["winback_deals"] += 1
            rng = streams.seeded([self.key, account.number, 10_000 + len(account.deals)])   # = default_rng(...)
            model.receive(model.leads.lead_for(env.now, account, p.winback_source, rng))

    def keep_in_touch(self, model: ModelView, deal: Deal, state: dict):
        """Process: once a month, the deal's rep (or whoever has the fewest deals, if they left) spends time
        with the lost account, queueing at the desk with the deals."""
        p, env = self.policy, model.env
        priority = SPARE if p.desk == "spare" else NORMAL
        while True:
            yield env.timeout(MONTH_DAYS)
            if env.now >= state["until"] or env.now >= model.world.days:
                return
            rep = deal.owner if deal.owner.left is None else model.team.pick()
            yield from model.desk_time(rep, p.hours_per_month, priority)
            if env.now > state["until"]:     # the opening came and went while the rep was busy
                return
            state["touches"] += 1
            self.counter["nurture_touches"] += 1
            self.costs.hours(None, "nurture", rep.name, p.hours_per_month)
