"""The sales model: wires the market, the team, the deals and the policies together, and records tables.

`simulate(scenario, seed)` is the one entry point: it builds a `SalesModel`, runs SimPy until the
scenario's last day and returns a `SimResult` with the canonical tables and headline metrics.

All randomness comes from one `numpy.random.Generator` made from the seed. The model splits it into
independent streams (`market_rng` for leads and conditions, `policy_rng` for policies), so that changing
a policy or the team does not change which leads arrive: scenarios compare on common random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy

from . import quota, schema
from .market import Conditions, Lead, LeadFactory, arrivals
from .metrics import pipeline_metrics
from .policies import Policy
from .scenario import Scenario
from .stages import pass_chances, work_the_deal
from .tables import Tables
from .team import Rep, Team
from .truth import Knowledge, calibrate

Seed = int | np.random.SeedSequence | None


@dataclass(eq=False)
class Deal:
    """An opportunity in flight: its lead, its owner, where it is and how it ended."""

    id: str
    lead: Lead
    owner: Rep
    pass_chances: list[float]                                 # per stage, in normal market conditions
    stage_index: int = -1
    history: list[list[Any]] = field(default_factory=list)   # [stage index, entered, exited]
    stalls: int = 0
    closed: float | None = None
    won: bool | None = None
    amount: float | None = None
    extra: dict = field(default_factory=dict)                 # room for policies' per-deal bookkeeping
    process: simpy.Process | None = None                      # the deal's SimPy process
    waiting: bool = False                                     # queued for its owner's time right now
    knows: Knowledge = field(init=False)                      # what the rep has learned of the hidden truth

    def __post_init__(self) -> None:
        self.knows = Knowledge(self.lead.truth)

    def enter(self, stage_index: int, now: float) -> None:
        """Move into a stage, closing the stay in the previous one."""
        if self.history:
            self.history[-1][2] = now
        self.stage_index = stage_index
        self.history.append([stage_index, now, None])


@dataclass
class SimResult:
    """What one run produced: the scenario and seed used, the canonical tables and headline metrics."""

    scenario: Scenario
    seed: Any
    tables: Tables
    metrics: dict[str, float]


class SalesModel:
    """One simulated sales organisation. Processes call back into it to record what happens."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator, env: simpy.Environment | None = None):
        self.scenario = scenario
        self.env = env if env is not None else simpy.Environment()
        self.market_rng, self.policy_rng = rng.spawn(2)
        self.conditions = Conditions.build(scenario, self.market_rng)
        self.leads = LeadFactory(scenario, self.market_rng)
        self.team = Team(self.env, self)
        self.policies = scenario.policies.active()
        # only the policies that override a hook are asked at that hook (hooks run on every event)
        self._prioritisers = [p for p in self.policies if type(p).priority is not Policy.priority]
        self._motivators = [p for p in self.policies if type(p).effort is not Policy.effort]
        self.deals: list[Deal] = []
        self.customer_revenue: dict[int, float] = {}    # account -> won amount, for repeat business
        self.declined: list[Lead] = []
        self.extra: dict = {}                           # room for policies' per-run bookkeeping
        self._loss_factor = {s.name: s.loss_factor for s in scenario.lead_sources}
        self._truth_scale = calibrate(scenario.truth, [1.0 - p for p in pass_chances(scenario, 0.5, 1.0)])

    # ---- the story -----------------------------------------------------------------------------
    def run(self) -> SimResult:
        env = self.env
        env.process(arrivals(env, self))
        env.process(self.team.hiring(env))
        for policy in self.policies:
            policy.attach(self)
        env.run(until=self.scenario.days)
        tables = self.tables()
        return SimResult(self.scenario, None, tables, self.metrics(tables))

    def receive(self, lead: Lead) -> None:
        """A lead arrived: if every policy admits it, it becomes a deal with an owner and starts moving."""
        if not all(p.admit(self, lead) for p in self.policies):
            self.declined.append(lead)
            return
        deal = Deal(
            id=f"OPP-{len(self.deals) + 1:06d}",
            lead=lead,
            owner=self.team.assign(),
            pass_chances=pass_chances(self.scenario, lead.fit, self.loss_factor(lead, lead.arrived)),
        )
        self.deals.append(deal)
        deal.process = self.env.process(work_the_deal(self.env, self, deal))

    def close(self, deal: Deal, won: bool) -> None:
        """Record a deal's outcome; a win books its signed amount and makes the account a customer."""
        now = self.env.now
        deal.history[-1][2] = now
        deal.closed, deal.won = now, won
        deal.owner.open_deals -= 1
        if won:
            deal.amount = round(deal.lead.first_estimate * deal.lead.realisation, 2)
            deal.owner.bookings += deal.amount
            self.customer_revenue[deal.lead.account] = self.customer_revenue.get(deal.lead.account, 0.0) + deal.amount
        for policy in self.policies:
            policy.on_close(self, deal)

    def open_deals(self, rep: Rep) -> list[Deal]:
        """The deals `rep` owns that are still open."""
        return [d for d in self.deals if d.owner is rep and d.closed is None]

    def hand_over(self, deal: Deal, rep: Rep) -> None:
        """Give an open deal to another rep; if it is waiting for rep time, it queues at the new owner."""
        deal.owner.open_deals -= 1
        deal.owner = rep
        if deal.waiting:
            deal.process.interrupt("handed over")

    # ---- what policies decide ----------------------------------------------------------------
    def priority(self, deal: Deal) -> float:
        """Queue priority of a deal asking for rep time: the sum of what the policies say (lower first)."""
        priority = 0.0
        for p in self._prioritisers:
            priority += p.priority(self, deal)
        return priority

    def loss_factor(self, lead: Lead, now: float) -> float:
        """Factor on a lead's stage loss chances at day `now`: its lead source and its hidden truth."""
        source = self._loss_factor.get(lead.source, 1.0)
        return source * self._truth_scale * lead.truth.loss_multiplier(self.scenario.truth, now)

    def pass_chance(self, deal: Deal, i: int, now: float) -> float:
        """Chance the deal passes stage `i` at day `now` in normal conditions; lower once its budget was cut."""
        truth = deal.lead.truth
        if truth.budget_now(now) or not truth.budget:
            return deal.pass_chances[i]
        return pass_chances(self.scenario, deal.lead.fit, self.loss_factor(deal.lead, now))[i]

    def effort(self, rep: Rep) -> float:
        """Speed multiplier on a rep's work: the product of what the policies say."""
        effort = 1.0
        for p in self._motivators:
            effort *= p.effort(self, rep)
        return effort

    # ---- recording -----------------------------------------------------------------------------
    def timestamps(self, days: np.ndarray | list) -> pd.DatetimeIndex:
        """Simulated days since start -> real timestamps (to the second), NaT where missing."""
        base = pd.Timestamp(self.scenario.start)
        secs = np.round(np.asarray(days, dtype=float) * 86400.0)
        return pd.DatetimeIndex(base + pd.to_timedelta(secs, unit="s")).astype("datetime64[ns]")

    def tables(self) -> Tables:
        """Build the canonical tables from the deals recorded during the run."""
        stages = self.scenario.stage_names
        deals = self.deals
        outcome = ["open" if d.won is None else ("won" if d.won else "lost") for d in deals]
        opp = pd.DataFrame({
            "opportunity_id": text([d.id for d in deals]),
            "account_id": text([f"ACC-{d.lead.account + 1:05d}" for d in deals]),
            "owner": text([d.owner.name for d in deals]),
            "created_at": self.timestamps([d.lead.arrived for d in deals]),
            "closed_at": self.timestamps([np.nan if d.closed is None else d.closed for d in deals]),
            "stage": text([stages[d.stage_index] for d in deals]),
            "outcome": text(outcome),
            "amount": [d.amount if d.amount is not None else d.lead.first_estimate for d in deals],
            "first_estimate": [d.lead.first_estimate for d in deals],
            "lead_source": text([d.lead.source for d in deals]),
            "segment": text([d.lead.segment for d in deals]),
            "fit_score": [round(d.lead.fit, 4) for d in deals],
            "truth_win_chance": [round(math.prod(d.pass_chances), 4) for d in deals],
            "truth_budget": [d.lead.truth.budget for d in deals],
            "truth_champion_power": [round(d.lead.truth.champion_power, 4) for d in deals],
            "truth_competitor_ahead": [d.lead.truth.competitor_ahead for d in deals],
            "truth_budget_cut_at": self.timestamps([_cut_while_open(d, self.scenario.days) for d in deals]),
            "truth_amount": [round(d.lead.first_estimate * d.lead.realisation, 2) for d in deals],
            "truth_stalls": [d.stalls for d in deals],
        })
        stays = [(d.id, stages[s], entered, exited) for d in deals for s, entered, exited in d.history]
        ids, names, entered, exited = zip(*stays) if stays else ((), (), (), ())
        hist = pd.DataFrame({
            "opportunity_id": text(ids),
            "stage": text(names),
            "entered_at": self.timestamps(entered),
            "exited_at": self.timestamps([np.nan if x is None else x for x in exited]),
        })
        written = {name: df for p in self.policies for name, df in p.tables(self).items()}
        tables = Tables(
            opportunities=schema.conform(opp, "opportunities"),
            stage_history=schema.conform(hist, "stage_history"),
            accounts=self.accounts_table(),
            **written,
        )
        if self.scenario.reps.quota is not None:
            tables.attainment = self.attainment_table(tables.opportunities)
        return tables

    def attainment_table(self, opportunities: pd.DataFrame) -> pd.DataFrame:
        """Each rep's quota, bookings and attainment per quota period, prorated for when they joined or left."""
        reps = self.team.reps
        tenure = pd.DataFrame({
            "owner": [r.name for r in reps],
            "joined": self.timestamps([r.joined if r.joined > 0 else np.nan for r in reps]),
            "left": self.timestamps([np.nan if r.left is None else r.left for r in reps]),
        })
        cfg, start = self.scenario.reps, pd.Timestamp(self.scenario.start)
        return quota.attainment(opportunities, cfg.quota, cfg.quota_period, tenure,
                                start=start, end=start + pd.Timedelta(days=self.scenario.days))

    def accounts_table(self) -> pd.DataFrame:
        factory = self.leads
        n = len(factory.account_segment)
        return schema.conform(pd.DataFrame({
            "account_id": text([f"ACC-{a + 1:05d}" for a in range(n)]),
            "segment": text([self.scenario.segments[s].name for s in factory.account_segment]),
            "revenue": [round(self.customer_revenue.get(a, 0.0), 2) for a in range(n)],
            "truth_fit": [round(f, 4) for f in factory.account_fit],
        }), "accounts")

    def metrics(self, tables: Tables) -> dict[str, float]:
        """Pipeline metrics from the tables plus what only the model knows (leads, declines, rep time)."""
        out = {"leads": float(self.leads.count), "declined": float(len(self.declined))}
        out.update(pipeline_metrics(tables.opportunities))
        out["rep_utilisation"] = self.team.utilisation(self.scenario.days)
        out["reps_at_end"] = float(len(self.team.active))
        out.update(self.team.headcount(self.scenario.days))
        if self.scenario.reps.quota is not None:
            out["attainment"] = quota.annual_attainment(tables.attainment)
        for policy in self.policies:
            out.update(policy.metrics(self))
        return out


def text(values) -> pd.Series:
    """A column of Python strings in pandas' `object` dtype, the canonical text dtype (see `schema`).

    A Series with an explicit dtype keeps pandas from inferring its own string dtype, which `conform`
    would then have to convert back.
    """
    return pd.Series(list(values), dtype="object")


def _cut_while_open(deal: Deal, end: float) -> float:
    """Day the deal's budget was cut while it was open (NaN if it never was)."""
    cut, until = deal.lead.truth.budget_cut_at, deal.closed if deal.closed is not None else end
    return cut if deal.lead.truth.budget and cut < until else np.nan


def make_rng(seed: Seed) -> np.random.Generator:
    """The run's one generator, from an int or a `SeedSequence` (as `replicate` hands out).

    A `SeedSequence` is copied first: spawning streams from it counts children on the object itself,
    and the same replication seed must give the same streams in every scenario that uses it.
    """
    if isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    return np.random.default_rng(seed)


def simulate(scenario: Scenario, seed: Seed = 0) -> SimResult:
    """Run `scenario` once with `seed`; same scenario and seed give identical tables."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"simulate() needs a sim.Scenario, got {type(scenario).__name__}; "
                        "use Scenario.preset(name) or Scenario.from_yaml(path)")
    result = SalesModel(scenario, make_rng(seed)).run()
    result.seed = seed
    return result
