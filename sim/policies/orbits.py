"""Customer orbits (principle 02): every account sits in an orbit and jumps in or out when something happens.

Source 001 ("Customer Orbits", 2012) pictures buyers as electrons around a nucleus: Awareness, Potential,
Benefit, Observation, Acquisition, Installation, Adaptation, Belief, Expansion, Refer, Zealots — and they
jump between orbits, in or out, in reaction to stimuli. `OrbitModel` is that picture as scenario data (the
orbit names and their roles, and each stimulus with its rate and its chances to move an account one orbit
in, one out, or out of the orbits altogether); `OrbitAllocation` is the leader's decision: how the monthly
marketing money and the reps' orbit hours are spread over the orbits.

The story, on top of the engine's accounts (`sim.engine.accounts`; the engine's own repeat business and
referrals must be off, the orbits drive them here):

    each month
        marketing money in the deal orbit buys leads; in the outermost orbit it brings new accounts in;
        in any other orbit it buys touches on the accounts there
        rep hours in an orbit become contacts with its accounts, worked on the same desks as the deals
        every account meets what happens to it unprompted, at rates per account and year: prospects forget,
        customers adopt, feel neglected, hit bugs, meet a competitor's move, open support tickets (answered
        fast and solved, or left angry), churn; customers in the expansion orbits bring expansion deals,
        customers in the referral orbits refer new accounts
    a lead makes its account enter the deal orbit; a won deal moves it to the won orbit (a customer's won
    expansion deal, one orbit in); a lost deal moves a prospect to the lost orbit (it has seen us)
    a customer moving out of the won orbit, or churning, leaves: `Account.lost`, orbit "Churned"

Defaults that stand for customer behaviour lean on published figures, and the notebook shows where the
claim stops holding as they change:

- selling to an existing customer succeeds far more often than to a new prospect (60-70% against 5-20%,
  Farris et al., *Marketing Metrics*, 2010): `expansion_loss_factor` 0.5 halves each stage's loss chance;
- referred customers are worth more and stay longer (at least 16% more value, higher retention: Schmitt,
  Skiera & Van den Bulte, "Referral Programs and Customer Value", *Journal of Marketing* 75(1), 2011); few
  customers who say they would refer actually do (Kumar, Petersen & Leone, "How Valuable Is Word of
  Mouth?", *HBR* 2007): `referrals_per_year` 0.8 for a customer in a referral orbit, referral leads lose 40%
  less often (`referral_loss_factor` 0.6) and move 25% faster;
- B2B software loses roughly 10-15% of its customers a year where someone looks after them, up to 20-40%
  in firms that do not (Griffin & Lowenstein, *Customer WinBack*, 2001): `churn_per_year` 0.1 that no care
  prevents, plus what neglect, bugs and angry tickets add by pushing customers out of the won orbit;
- effort, not delight, drives disloyalty after a service contact (Dixon, Freeman & Toman, "Stop Trying to
  Delight Your Customers", *HBR* 2010): an angry ticket pushes a customer out a quarter of the time.

What the touches and contacts achieve (`marketing_touch`, `rep_contact`) and what leads, new accounts and
touches cost are our assumptions: the article gives none; the notebook varies them.

Randomness: a key drawn once from the policies' stream (`model.rng`) seeds three streams of the policy's own:
the plan (how many touches and unprompted events, when, on whom), fate (what each stimulus does, tickets) and
draws (new accounts and the leads the orbits send). The market's own leads keep their stream, so two
allocations meet the same market (common random numbers); what happens inside the orbits differs as soon as
the allocations send different accounts there.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..core import schema
from ..core.data import Data, require_unique
from ..engine.entities import Account, Deal
from ..engine.costs import COSTS
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.priority import NORMAL
from ..world import World

CHURNED, UNAWARE = "Churned", "Unaware"     # where accounts go when they leave the orbits
MONTH_DAYS = 365.25 / 12


class Effect(Data):
    """What one stimulus does to the account it reaches: chances to move one orbit in, one out, or leave."""

    inward: float = Field(0.0, ge=0, le=1, description="chance the account moves one orbit in")
    outward: float = Field(0.0, ge=0, le=1, description="chance it moves one orbit out")
    churn: float = Field(0.0, ge=0, le=1, description="chance it leaves the orbits altogether (a customer churns)")

    @model_validator(mode="after")
    def _one_outcome(self) -> Effect:
        if self.inward + self.outward + self.churn > 1 + 1e-9:
            raise ValueError(f"inward + outward + churn must be at most 1, got {self.inward + self.outward + self.churn:g}")
        return self


class Stimulus(Data):
    """Something that happens to accounts unprompted: how often (per account and year) and what it does."""

    per_year: float = Field(0.0, ge=0, le=365, description="times a year it reaches one account")
    effect: Effect = Field(default_factory=Effect, description="what it does when it does")


class Support(Data):
    """Support quality: how often customers need help, how fast and how well they get it."""

    tickets_per_year: float = Field(3.0, ge=0, le=365, description="support tickets a customer opens a year")
    response_hours: float = Field(6.0, gt=0, le=10_000, description="median hours to the first answer (support quality)")
    response_spread: float = Field(1.0, ge=0, le=3, description="spread of the response time (log scale)")
    fix_hours: float = Field(24.0, gt=0, le=10_000, description="median hours from the first answer to the fix")
    fast_hours: float = Field(8.0, gt=0, le=10_000, description="a first answer within this many hours counts as fast")
    solve_chance: float = Field(0.85, ge=0, le=1, description="chance the problem gets solved")
    fast_fix: Effect = Field(Effect(inward=0.3), description="answered fast and solved: the customer moves in")
    angry: Effect = Field(Effect(outward=0.25, churn=0.04),
                          description="answered slowly or left unsolved: the customer drifts out or churns")


class OrbitModel(Data):
    """How accounts move between orbits: the orbits and their roles, prices, and the stimuli that move accounts."""

    orbits: tuple[str, ...] = Field(schema.ORBITS, min_length=3, max_length=50, description="orbit names, outermost first")
    deal_orbit: str = Field("Acquisition", description="the orbit of an account with a deal in progress")
    won_orbit: str = Field("Installation", description="where a won deal puts a new customer (the orbit after the deal orbit)")
    lost_orbit: str = Field("Observation", description="where a prospect whose deal was lost goes (an orbit before the deal orbit)")
    expansion_orbits: tuple[str, ...] = Field(("Adaptation", "Belief", "Expansion"), description="customers here bring expansion deals")
    referral_orbits: tuple[str, ...] = Field(("Refer", "Zealots"), description="customers here refer new accounts")

    cost_per_lead: float = Field(1500.0, gt=0, le=1e9, description="marketing money that buys one lead in the deal orbit (paid lead generation); assumed: B2B cost-per-lead surveys vary by channel and industry from tens to hundreds of dollars per raw lead and more per sales-ready one, no figure with intervals; explored 0 to 2x")
    cost_per_account: float = Field(30.0, gt=0, le=1e9, description="marketing money that brings one new account into the outermost orbit (assumed, explored 0 to 2x)")
    cost_per_touch: float = Field(25.0, gt=0, le=1e9, description="marketing money for one touch on an account in any other orbit (assumed, explored 0 to 2x)")
    hours_per_contact: float = Field(1.5, gt=0, le=100, description="rep hours one contact with an account takes")

    marketing_touch: Effect = Field(Effect(inward=0.15), description="what a marketing touch does (the 0.15 chance of moving an account inward is assumed, no published figure; explored 0 to 0.3)")
    rep_contact: Effect = Field(Effect(inward=0.4), description="what a rep's contact does (the 0.4 chance of moving an account inward is assumed, no published figure; explored 0 to 0.8)")
    forget: Stimulus = Field(Stimulus(per_year=2.0, effect=Effect(outward=1.0)),
                             description="prospects (orbits before the deal orbit) losing interest")
    adopt: Stimulus = Field(Stimulus(per_year=1.0, effect=Effect(inward=1.0)),
                            description="customers getting on with the product by themselves")
    neglect: Stimulus = Field(Stimulus(per_year=0.6, effect=Effect(outward=1.0)),
                              description="customers feeling left alone after the sale")
    bug: Stimulus = Field(Stimulus(per_year=1.0, effect=Effect(outward=0.3, churn=0.03)),
                          description="a bad experience with the product")
    competitor_move: Stimulus = Field(Stimulus(per_year=0.5, effect=Effect(outward=0.3, churn=0.05)),
                                      description="a competitor courting our customer")
    support: Support = Field(default_factory=Support, description="support tickets: how often, how fast, how well")
    churn_per_year: float = Field(0.1, ge=0, le=10, description="churn no care prevents (budget gone, company bought), per customer and year, in every orbit")

    expansion_per_year: float = Field(0.5, ge=0, le=52, description="expansion deals a customer in an expansion orbit brings a year")
    referrals_per_year: float = Field(0.8, ge=0, le=52, description="new accounts a customer in a referral orbit refers a year")
    referral_loss_factor: float = Field(0.6, gt=0, le=5, description="multiplier on referral deals' stage loss chances")
    referral_duration_factor: float = Field(0.75, gt=0, le=5, description="multiplier on referral deals' stage time")
    expansion_loss_factor: float = Field(0.5, gt=0, le=5, description="multiplier on expansion deals' stage loss chances")
    expansion_duration_factor: float = Field(0.8, gt=0, le=5, description="multiplier on expansion deals' stage time")
    grown_loss_factor: float = Field(0.8, gt=0, le=5, description="multiplier on the stage loss chances of leads grown through the orbits")
    installed_base: int = Field(150, ge=0, le=1_000_000, description="customers at the start, spread evenly over the orbits from the won orbit in")

    referral_source: str = Field("Customer referral", min_length=1, description="lead source of referred accounts")
    paid_source: str = Field("Paid lead", min_length=1, description="lead source of leads bought in the deal orbit")
    grown_source: str = Field("Marketing", min_length=1, description="lead source of accounts that came in through the orbits")

    @model_validator(mode="after")
    def _roles(self) -> OrbitModel:
        names = list(self.orbits)
        require_unique("orbits", names)
        taken = {CHURNED, UNAWARE} & set(names)
        if taken:
            raise ValueError(f"orbits: {', '.join(sorted(taken))} is where accounts go when they leave the orbits, not an orbit")
        roles = {"deal_orbit": [self.deal_orbit], "won_orbit": [self.won_orbit], "lost_orbit": [self.lost_orbit],
                 "expansion_orbits": list(self.expansion_orbits), "referral_orbits": list(self.referral_orbits)}
        for role, values in roles.items():
            unknown = [v for v in values if v not in names]
            if unknown:
                raise ValueError(f"{role}: {', '.join(unknown)} not among the orbits ({', '.join(names)})")
        deal, won = names.index(self.deal_orbit), names.index(self.won_orbit)
        if deal == 0:
            raise ValueError("deal_orbit: at least one orbit must come before the deal orbit")
        if won != deal + 1:
            raise ValueError(f"won_orbit: must be the orbit right after the deal orbit ({self.deal_orbit})")
        if names.index(self.lost_orbit) >= deal:
            raise ValueError(f"lost_orbit: must come before the deal orbit ({self.deal_orbit})")
        inside = [v for v in (*self.expansion_orbits, *self.referral_orbits) if names.index(v) < won]
        if inside:
            raise ValueError(f"expansion_orbits / referral_orbits: {', '.join(inside)} come before the won orbit; "
                             "only customers expand and refer")
        sources = [self.referral_source, self.paid_source, self.grown_source]
        if len(set(sources)) < 3:
            raise ValueError("referral_source, paid_source and grown_source must be three different names")
        return self

    @property
    def deal(self) -> int:
        return self.orbits.index(self.deal_orbit)

    @property
    def won(self) -> int:
        return self.orbits.index(self.won_orbit)

    def before_sale(self) -> list[str]:
        """The orbits of prospects, outermost first."""
        return list(self.orbits[: self.deal])

    def after_sale(self) -> list[str]:
        """The orbits of customers, from the won orbit in."""
        return list(self.orbits[self.won :])


Allocation = Literal["acquisition", "whole", "custom"]


def shares(model: OrbitModel, allocation: Allocation, custom_money: dict[str, float] | None = None,
           custom_hours: dict[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Share of the marketing money and of the reps' orbit hours per orbit, for an allocation.

    ``acquisition``: all money buys leads in the deal orbit; reps only sell (no orbit hours).
    ``whole``: 30% of the money buys leads, 35% is spread evenly over the orbits before the sale (new
    accounts in the outermost, touches in the others) and 35% evenly over the customers' orbits; the
    reps' orbit hours go evenly to the customers' orbits. ``custom``: the shares given.
    """
    if allocation == "acquisition":
        return {model.deal_orbit: 1.0}, {}
    if allocation == "custom":
        return dict(custom_money or {}), dict(custom_hours or {})
    before, after = model.before_sale(), model.after_sale()
    money = {model.deal_orbit: 0.30}
    money.update({o: 0.35 / len(before) for o in before})
    money.update({o: 0.35 / len(after) for o in after})
    return money, {o: 1.0 / len(after) for o in after}


@register
class OrbitAllocation(Policy):
    """Customer orbits, and how marketing money and rep hours are spread over them."""

    key: ClassVar[str] = "orbits"
    summary: ClassVar[str] = "customer orbits: how accounts move, and how marketing money and rep hours are spread over them"
    levers: ClassVar[tuple[str, ...]] = ("allocation", "marketing_per_month", "rep_hours_per_month")  # what-if explorer: the spend; the orbit model is the market
    writes: ClassVar[tuple] = (schema.ORBIT_HISTORY, schema.TICKETS, COSTS)

    allocation: Allocation = Field("whole", description="acquisition (only the deal orbit), whole (every orbit) or custom (the shares below)")
    marketing_per_month: float = Field(8000.0, ge=0, le=1e10, description="marketing money a month, in the scenario currency")
    rep_hours_per_month: float = Field(8.0, ge=0, le=200, description="hours a month each rep spends on orbit contacts (whole and custom; they come off selling time)")
    marketing_shares: dict[str, float] = Field(default_factory=dict, description="custom: share of the money per orbit (sums to 1)")
    hour_shares: dict[str, float] = Field(default_factory=dict, description="custom: share of the orbit hours per orbit (sums to 1)")
    model: OrbitModel = Field(default_factory=OrbitModel, description="the orbits and what moves accounts between them")

    @model_validator(mode="after")
    def _custom_shares(self) -> OrbitAllocation:
        for name, given in (("marketing_shares", self.marketing_shares), ("hour_shares", self.hour_shares)):
            unknown = [o for o in given if o not in self.model.orbits]
            if unknown:
                raise ValueError(f"{name}: {', '.join(unknown)} not among the orbits ({', '.join(self.model.orbits)})")
            if any(v < 0 or not math.isfinite(v) for v in given.values()):
                raise ValueError(f"{name}: shares must be finite numbers >= 0")
            if self.allocation == "custom" and given and abs(sum(given.values()) - 1) > 1e-6:
                raise ValueError(f"{name}: shares must add up to 1, they add up to {sum(given.values()):g}")
            if self.allocation != "custom" and given:
                raise ValueError(f"{name}: only used with allocation: custom (allocation is {self.allocation})")
        if self.allocation == "custom" and not self.marketing_shares and not self.hour_shares:
            raise ValueError("allocation custom needs marketing_shares or hour_shares")
        return self

    def check(self, world: World) -> list[str]:
        problems = []
        if world.accounts.repeat_per_year or world.accounts.referrals_per_year:
            problems.append("the orbits drive expansion deals and referrals: set accounts.repeat_per_year: 0 and "
                            "accounts.referrals_per_year: 0 (the engine's plain repeat business) to use them")
        market = {s.name for s in world.lead_sources}
        m = self.model
        for field, name in (("referral_source", m.referral_source), ("paid_source", m.paid_source),
                            ("grown_source", m.grown_source)):
            if name in market:
                problems.append(f"model.{field}: {name!r} is also a market lead source, whose factors would apply "
                                "twice; choose another name")
        if world.accounts.repeat_source in market:
            problems.append(f"accounts.repeat_source {world.accounts.repeat_source!r} is also a market lead source; "
                            "expansion deals would get its factors twice")
        if world.accounts.repeat_source in (m.referral_source, m.paid_source, m.grown_source):
            problems.append(f"accounts.repeat_source {world.accounts.repeat_source!r} is also an orbit lead source; "
                            "expansion deals need a name of their own")
        return problems

    # ---- hooks -----------------------------------------------------------------------------------
    def start(self, model: ModelView) -> OrbitRun:
        run = OrbitRun(self, model)
        run.begin()
        return run


class OrbitRun(PolicyRun):
    """One run of `OrbitAllocation`: where each account is, what happened to it, and the monthly plan that moves them."""

    def __init__(self, policy: OrbitAllocation, model: ModelView):
        self.policy, self.model, self.m = policy, model, policy.model
        self.costs = model.costs
        self.names = list(self.m.orbits)
        self.deal, self.won = self.m.deal, self.m.won
        self.expanding = {self.names.index(o) for o in self.m.expansion_orbits}
        self.referring = {self.names.index(o) for o in self.m.referral_orbits}
        money, hours = shares(self.m, policy.allocation, policy.marketing_shares, policy.hour_shares)
        self.money = {self.names.index(o): s for o, s in money.items() if s > 0}
        self.hours = {self.names.index(o): s for o, s in hours.items() if s > 0 and self.names.index(o) != self.deal}
        self.carry: dict[tuple[str, int], float] = {}
        self.where: dict[Account, int | str] = {}                  # orbit index, or CHURNED / UNAWARE
        self.members: list[dict[Account, None]] = [{} for _ in self.names]   # ordered sets, for fair picks
        self.stay: dict[Account, int] = {}                         # account -> its open stay (a row of `stays`)
        self.stays: dict[str, list] = {c: [] for c in ("account_id", "orbit", "entered", "exited", "stimulus")}
        self.tickets: list[tuple] = []
        self.counter = {"referral_leads": 0, "expansion_leads": 0, "paid_leads": 0, "grown_leads": 0,
                        "customers_churned": 0, "orbit_contacts": 0, "marketing_touches": 0}
        w = model.world
        self.expansion_source = w.accounts.repeat_source
        self.loss_factors = {self.m.referral_source: self.m.referral_loss_factor,
                             self.expansion_source: self.m.expansion_loss_factor,
                             self.m.grown_source: self.m.grown_loss_factor}
        self.duration_factors = {self.m.referral_source: self.m.referral_duration_factor,
                                 self.expansion_source: self.m.expansion_duration_factor}
        key = int(model.rng.integers(2**63))
        self.plan, self.fate, self.draws = (np.random.default_rng([key, i]) for i in range(3))
        self.yearly = self.rates()
        shares_ = np.array([s.share for s in w.segments], dtype=float)
        self.segment_p = shares_ / shares_.sum()

    # ---- hooks -----------------------------------------------------------------------------------
    def enter_stage(self, model: ModelView, deal: Deal, i: int):
        if i == 0:
            self.lead_arrived(deal)
        return None

    def pass_factor(self, model: ModelView, deal: Deal, i: int) -> float:
        factor = self.loss_factors.get(deal.lead.source, 1.0)
        if factor == 1.0:
            return 1.0
        p = deal.pass_chances[i]
        return (1.0 - min((1.0 - p) * factor, 0.99)) / p if p > 0 else 1.0

    def stage_days(self, model: ModelView, deal: Deal, i: int, days: float) -> float:
        return days * self.duration_factors.get(deal.lead.source, 1.0)

    def on_close(self, model: ModelView, deal: Deal) -> None:
        self.closed(deal)

    def tables(self, model: ModelView) -> dict:
        return {"orbit_history": self.history_table(), "tickets": self.ticket_table()}

    def metrics(self, model: ModelView) -> dict[str, float]:
        return self.counts()

    # ---- accounts ----------------------------------------------------------------------------------
    def new_account(self) -> Account | None:
        """A new account from the market (segment by the segments' shares); None when the segment is used up."""
        seg = int(self.plan.choice(len(self.segment_p), p=self.segment_p))
        return self.model.leads.prospect(seg, self.draws)

    # ---- moving accounts -----------------------------------------------------------------------------
    def move(self, account: Account, to: int | str, stimulus: str) -> None:
        """Close the account's current stay and open one in `to` (an orbit index, CHURNED or UNAWARE)."""
        now = self.model.now
        old = self.where.get(account)
        if isinstance(old, int):
            self.members[old].pop(account, None)
        stays = self.stays
        if account in self.stay:
            stays["exited"][self.stay[account]] = now
        self.where[account] = to
        if isinstance(to, int):
            self.members[to][account] = None
        self.stay[account] = len(stays["orbit"])
        stays["account_id"].append(account.id)
        stays["orbit"].append(self.names[to] if isinstance(to, int) else to)
        stays["entered"].append(now)
        stays["exited"].append(np.nan)
        stays["stimulus"].append(stimulus)

    def churn(self, account: Account, stimulus: str) -> None:
        account.lost = True
        self.counter["customers_churned"] += 1
        self.move(account, CHURNED, stimulus)

    def apply(self, account: Account, effect: Effect, stimulus: str) -> None:
        """A stimulus reaches the account: it may move one orbit in, one out, or leave."""
        at = self.where.get(account)
        if not isinstance(at, int) or at == self.deal:
            return
        u = self.fate.random()
        customer = at >= self.won
        if u < effect.churn:
            if customer:
                self.churn(account, stimulus)
            else:
                self.move(account, UNAWARE, stimulus)
        elif u < effect.churn + effect.inward:
            if at == self.deal - 1:
                self.send_lead(account, self.m.grown_source, "grown_leads")
            elif at < len(self.names) - 1:
                self.move(account, at + 1, stimulus)
        elif u < effect.churn + effect.inward + effect.outward:
            if at == self.won:
                self.churn(account, stimulus)
            elif at == 0:
                self.move(account, UNAWARE, stimulus)
            else:
                self.move(account, at - 1, stimulus)

    def send_lead(self, account: Account, source: str, counter: str) -> None:
        """A lead for `account` (it enters the deal orbit when the team takes it on, see `lead_arrived`)."""
        model = self.model
        if any(d.closed is None for d in account.deals):
            return
        self.counter[counter] += 1
        model.receive(model.leads.lead_for(model.now, account, source, self.draws))

    # ---- what deals do to orbits ---------------------------------------------------------------------
    def lead_arrived(self, deal: Deal) -> None:
        account = deal.account
        at = self.where.get(account)
        if isinstance(at, int) and at >= self.won:        # a customer's expansion deal: it stays where it is
            self.costs.sold_in(deal, self.names[at])
            return
        self.costs.sold_in(deal, self.m.deal_orbit)
        self.move(account, self.deal, f"lead: {deal.lead.source}")

    def closed(self, deal: Deal) -> None:
        account = deal.account
        at = self.where.get(account)
        customer = isinstance(at, int) and at >= self.won
        if deal.won:
            if customer:
                if at < len(self.names) - 1:
                    self.move(account, at + 1, "expansion won")
            else:
                account.lost = False
                self.move(account, self.won, "won" if at != CHURNED else "won back")
        elif not customer and at == self.deal:
            why = f"lost: {deal.loss_reason}" if deal.loss_reason else "lost"
            self.move(account, self.names.index(self.m.lost_orbit), why)

    # ---- the months ----------------------------------------------------------------------------------
    def begin(self) -> None:
        """The installed base takes its places, and the monthly plan starts."""
        after = list(range(self.won, len(self.names)))
        for k in range(self.m.installed_base):
            account = self.new_account()
            if account is not None:
                self.move(account, after[k % len(after)], "installed base")
        self.model.env.process(self.months())

    def months(self):
        env, world = self.model.env, self.model.world
        starts = self.costs.month_starts
        for m, day in enumerate(starts):
            if day > env.now:
                yield env.timeout(day - env.now)
            end = starts[m + 1] if m + 1 < len(starts) else float(world.days)
            events = self.plan_month(day, end)
            env.process(self.walk(events))

    def budget(self, what: str, orbit: int, amount: float, price: float, reachable: bool = True) -> int:
        """Whole units `amount` buys at `price`, carrying what is left over to next month (nothing carries
        for an orbit with nobody in it: the money is not spent)."""
        if not reachable:
            self.carry[(what, orbit)] = 0.0
            return 0
        total = self.carry.get((what, orbit), 0.0) + amount
        n = int(total // price + 1e-9)
        self.carry[(what, orbit)] = total - n * price
        return n

    def plan_month(self, day: float, end: float) -> list[tuple]:
        """Everything that happens this month, as (day, order, action, account) events; rep contacts start
        processes of their own (they wait for the rep's desk)."""
        model, m, plan = self.model, self.m, self.plan
        scale = (end - day) / MONTH_DAYS
        events: list[tuple] = []

        def when(n: int) -> np.ndarray:
            return np.floor(day + plan.random(n) * (end - day))

        money = self.policy.marketing_per_month * scale
        for orbit, share in self.money.items():
            if orbit == self.deal:
                n = self.budget("money", orbit, money * share, m.cost_per_lead)
                if n:
                    self.costs.spend(m.deal_orbit, "paid leads", n * m.cost_per_lead)
                events += [(t, 0, "paid", None) for t in when(n)]
            elif orbit == 0:
                n = self.budget("money", orbit, money * share, m.cost_per_account)
                if n:
                    self.costs.spend(self.names[0], "new accounts", n * m.cost_per_account)
                events += [(t, 0, "aware", None) for t in when(n)]
            else:
                there = list(self.members[orbit])
                n = self.budget("money", orbit, money * share, m.cost_per_touch, bool(there))
                if n:
                    self.costs.spend(self.names[orbit], "marketing touch", n * m.cost_per_touch)
                    self.counter["marketing_touches"] += n
                    picks = plan.integers(0, len(there), n)
                    events += [(t, 0, "touch", there[k]) for t, k in zip(when(n), picks)]

        hours = self.policy.rep_hours_per_month * scale * len(model.team.active)
        for orbit, share in self.hours.items():
            there = list(self.members[orbit])
            n = self.budget("hours", orbit, hours * share, m.hours_per_contact, bool(there))
            picks = plan.integers(0, len(there), n) if n else []
            for t, k in zip(when(n), picks):
                model.env.process(self.contact(there[k], orbit, float(t)))

        events += self.unprompted(day, end)
        events.sort(key=lambda e: (e[0], e[1]))
        return events

    KINDS: ClassVar[tuple[str, ...]] = ("forget", "adopt", "neglect", "bug", "competitor", "ticket", "churn", "expand", "refer")

    def rates(self) -> np.ndarray:
        """Per orbit (rows) and unprompted kind (columns, `KINDS`): times a year it happens to one account."""
        m = self.m
        table = np.zeros((len(self.names), len(self.KINDS)))
        for orbit in range(len(self.names)):
            if orbit < self.deal:
                table[orbit, 0] = m.forget.per_year
            elif orbit >= self.won:
                table[orbit, 1:7] = (m.adopt.per_year, m.neglect.per_year, m.bug.per_year, m.competitor_move.per_year,
                                     m.support.tickets_per_year, m.churn_per_year)
                table[orbit, 7] = m.expansion_per_year if orbit in self.expanding else 0.0
                table[orbit, 8] = m.referrals_per_year if orbit in self.referring else 0.0
        return table

    def unprompted(self, day: float, end: float) -> list[tuple]:
        """What happens to the accounts this month by themselves, at rates read at the start of the month
        (one draw for every account and kind at once)."""
        accounts = [a for orbit, there in enumerate(self.members) if orbit != self.deal for a in there]
        if not accounts:
            return []
        orbit = np.array([self.where[a] for a in accounts])
        counts = self.plan.poisson(self.yearly[orbit] * ((end - day) / 365.25))
        who, kind = np.nonzero(counts)
        reps = counts[who, kind]
        who, kind = np.repeat(who, reps), np.repeat(kind, reps)
        times = np.floor(day + self.plan.random(len(who)) * (end - day))
        return [(t, 1, self.KINDS[k], accounts[i]) for t, k, i in zip(times.tolist(), kind.tolist(), who.tolist())]

    def walk(self, events: list[tuple]):
        """Process: the month's events, day by day, in order."""
        env = self.model.env
        for t, _, kind, account in events:
            if t > env.now:
                yield env.timeout(t - env.now)
            self.happen(kind, account)

    def happen(self, kind: str, account: Account | None) -> None:
        m = self.m
        if kind == "paid":
            account = self.new_account()
            if account is not None:
                self.send_lead(account, m.paid_source, "paid_leads")
        elif kind == "aware":
            account = self.new_account()
            if account is not None:
                self.move(account, 0, "marketing: new account")
        elif kind == "touch":
            self.apply(account, m.marketing_touch, "marketing touch")
        elif kind == "forget":
            self.apply(account, m.forget.effect, "forgot us")
        elif kind == "adopt":
            self.apply(account, m.adopt.effect, "adopted")
        elif kind == "neglect":
            self.apply(account, m.neglect.effect, "neglected")
        elif kind == "bug":
            self.apply(account, m.bug.effect, "bug")
        elif kind == "competitor":
            self.apply(account, m.competitor_move.effect, "competitor's move")
        elif kind == "churn":
            if isinstance(self.where.get(account), int):
                self.churn(account, "churned")
        elif kind == "ticket":
            self.ticket(account)
        elif kind == "expand":
            if isinstance(self.where.get(account), int):
                self.send_lead(account, self.expansion_source, "expansion_leads")
        elif kind == "refer":
            if isinstance(self.where.get(account), int):
                referred = self.model.leads.prospect(account.segment, self.draws)
                if referred is not None:
                    self.send_lead(referred, m.referral_source, "referral_leads")

    def ticket(self, account: Account) -> None:
        """A customer asks for help: answered fast and solved, it moves in; slow or unsolved, it may drift out."""
        if not isinstance(self.where.get(account), int):
            return
        s, rng = self.m.support, self.fate
        z1, z2, u = rng.standard_normal(), rng.standard_normal(), rng.random()
        response = s.response_hours * math.exp(s.response_spread * z1)
        resolution = response + s.fix_hours * math.exp(s.response_spread * z2)
        solved = u < s.solve_chance
        fast = response <= s.fast_hours and solved
        self.tickets.append((f"TKT-{len(self.tickets) + 1:06d}", account.id, self.model.now, response * 60.0,
                             self.model.now + resolution / 24.0, resolution, float(solved)))
        self.apply(account, s.fast_fix if fast else s.angry, "ticket solved fast" if fast else "ticket left angry")

    def contact(self, account: Account, aimed: int, at: float):
        """Process: on day `at` the account's rep spends `hours_per_contact` with it (after the deals ahead); the
        hours count against the orbit they were aimed at (`aimed`), wherever the account has moved since."""
        model = self.model
        if at > model.now:
            yield model.env.timeout(at - model.now)
        if not isinstance(self.where.get(account), int):
            return
        rep = next((d.owner for d in reversed(account.deals) if d.owner.left is None), None) or model.team.pick()
        yield from model.desk_time(rep, self.m.hours_per_contact, NORMAL)
        self.costs.hours(self.names[aimed], "rep contact", rep.name, self.m.hours_per_contact)
        self.counter["orbit_contacts"] += 1
        self.apply(account, self.m.rep_contact, "rep contact")

    # ---- tables ----------------------------------------------------------------------------------------
    def history_table(self) -> pd.DataFrame:
        stays = self.stays
        frame = pd.DataFrame({
            "account_id": pd.Series(stays["account_id"], dtype="object"),
            "orbit": pd.Series(stays["orbit"], dtype="object"),
            "entered_at": self.model.timestamps(stays["entered"]),
            "exited_at": self.model.timestamps(stays["exited"]),
            "stimulus": pd.Series(stays["stimulus"], dtype="object"),
        })
        return schema.conform(frame, "orbit_history")

    def ticket_table(self) -> pd.DataFrame:
        t = self.tickets
        days = self.model.world.days
        frame = pd.DataFrame({
            "ticket_id": pd.Series([r[0] for r in t], dtype="object"),
            "account_id": pd.Series([r[1] for r in t], dtype="object"),
            "opened_at": self.model.timestamps([r[2] for r in t]),
            "first_response_minutes": [round(r[3], 1) for r in t],
            "closed_at": self.model.timestamps([r[4] if r[4] < days else np.nan for r in t]),
            "resolution_hours": [round(r[5], 2) if r[4] < days else np.nan for r in t],
            "solved": [r[6] for r in t],
        })
        return schema.conform(frame, "tickets")

    def counts(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.counter.items()}
