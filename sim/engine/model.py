"""The sales model: wires the market, the team, the deals and the policies together, and records tables.

`SalesModel(world, policies, rng).run()` runs SimPy until the world's last day and returns the canonical
tables and headline metrics (`SimResult`). The scenario layer (`sim.simulate`) builds it from a `Scenario`.

All randomness comes from one `numpy.random.Generator`. The model splits it into independent streams
(`market_rng` for leads and conditions, `rng` for policies), so that changing a policy or the team does
not change which leads arrive: scenarios compare on common random numbers.
"""

from __future__ import annotations

import gc
from collections.abc import Generator, Iterator, Sequence
from typing import Any
from contextlib import contextmanager

import numpy as np
import pandas as pd
import simpy

from ..core import quota
from ..core.metrics import pipeline_metrics
from ..core.tables import Tables
from ..world import World
from . import recorder
from .accounts import AccountStreams, customer_life
from .activities import Activities
from .conditions import Conditions
from .costs import CostLedger
from .deal import DealRules, work_the_deal
from .entities import Deal, Lead
from .hooks import HOOKS, Hooks, Policy, ordered, overrides
from .leads import LeadFactory, arrivals
from .priority import Priority
from .streams import Streams
from .desk import Clock
from .team import Rep, Team

_SERVICE_TABLES = {"activities": "activities", "costs": "costs"}   # table name -> the service (attribute) writing it


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector rests while the simulation runs (and is restored after).

    A run keeps tens of thousands of objects alive until it ends (deals, leads, processes, events) and frees
    its short-lived ones by reference counting, so the collector's passes during a run find nothing to free;
    they only re-scan the live model, and every few runs the whole interpreter (pandas, numpy, ...), which
    cost about a fifth of a run's time. What a finished run leaves behind is collected as usual afterwards.
    Nested, only the outermost restores the collector: code that runs, measures and drops a run inside one
    pause (as `replicate` does) lets the collector's first pass find the model already garbage, instead of
    scanning it alive, promoting it and scanning it again in older generations (a tenth of a `demo` run).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SimResult:
    """What one run produced: the scenario and seed used, the headline metrics and the canonical tables.

    The tables are built the first time `tables` is read, so code that keeps only `metrics` (as `replicate`
    does by default) never pays for building DataFrames (the metrics do not need them, see
    `SalesModel.metrics`); a `measure` that reads `result.tables` gets them. A pickled result carries its
    tables, never the model behind them.
    """

    def __init__(self, scenario: World, seed: Any, metrics: dict[str, float], model: SalesModel | None = None,
                 tables: Tables | None = None):
        self.scenario, self.seed, self.metrics = scenario, seed, metrics
        self._model, self._tables = model, tables

    @property
    def tables(self) -> Tables:
        if self._tables is None:
            with collector_paused():    # the tables' thousands of new objects would re-scan the live model
                self._tables = self._model.tables()
            self._model = None
        return self._tables

    def __getstate__(self) -> dict:
        return {"scenario": self.scenario, "seed": self.seed, "metrics": self.metrics, "_model": None,
                "_tables": self.tables}

    def __repr__(self) -> str:
        return f"SimResult(scenario={getattr(self.scenario, 'name', 'world')!r}, seed={self.seed!r}, {len(self.metrics)} metrics)"


class SalesModel:
    """One simulated sales organisation. Processes call back into it to record what happens.

    It is what policies' hooks see, through the `sim.engine.hooks.ModelView` protocol.
    """

    def __init__(self, world: World, policies: Sequence[Policy], rng: np.random.Generator,
                 env: simpy.Environment | None = None):
        self.world = world
        self.env = env if env is not None else Clock()
        self.market_rng, self.rng, account_rng = rng.spawn(3)
        self.account_streams = AccountStreams(account_rng)
        self.conditions = Conditions.build(world, self.market_rng)
        self.leads = LeadFactory(world, self.market_rng)
        self.team = Team(self.env, world)
        self.policies = ordered(list(policies))            # as declared by their `after` (see `sim.engine.hooks`)
        self.runs: list[Hooks] = []                        # what each policy's `start` returned, in that order
        self.rules = DealRules(world, self.conditions, self)
        self._admitters: list[Hooks] = []
        self._closers: list[Hooks] = []
        self.deals: list[Deal] = []
        self.declined: list[Lead] = []
        self.streams = Streams(self.rng)                   # services a policy may ask for
        self._activities: Activities | None = None
        self._costs: CostLedger | None = None

    @property
    def now(self) -> float:
        return self.env.now

    @property
    def activities(self) -> Activities:
        """The run's activity log, made when a policy first asks for it."""
        if self._activities is None:
            self._activities = Activities(self)
        return self._activities

    @property
    def costs(self) -> CostLedger:
        """The run's cost ledger, made when a policy first asks for it."""
        if self._costs is None:
            self._costs = CostLedger(self)
        return self._costs

    # ---- the story -----------------------------------------------------------------------------
    def run(self, seed: Any = None) -> SimResult:
        """Run until the world's last day; `seed` is only recorded on the result (the model has its generator)."""
        env, world = self.env, self.world
        env.process(arrivals(env, world.days, self.conditions, self.leads, self.receive))
        env.process(self.team.hiring(env))
        self.start_policies()
        with collector_paused():
            env.run(until=world.days)
        return SimResult(world, seed, self.metrics(), model=self)

    def start_policies(self) -> None:
        """Each policy starts its run (its processes, its state), in order; from now on the engine asks the runs."""
        self.runs = []
        for policy in self.policies:
            run = policy.start(self)
            if not isinstance(run, Hooks):
                raise TypeError(f"{type(policy).__name__}.start must return the run whose hooks the engine calls "
                                f"(a PolicyRun, or the policy itself), got {type(run).__name__}")
            ignored = [h for h in HOOKS if run is not policy and overrides(policy, h)]
            if ignored:
                raise TypeError(f"{type(policy).__name__} overrides {', '.join(ignored)} but its start returns a "
                                f"{type(run).__name__}, whose hooks the engine calls: move them to the run")
            self.runs.append(run)
        self.rules.consult(self.runs)
        self._admitters = [r for r in self.runs if overrides(r, "admit")]
        self._closers = [r for r in self.runs if overrides(r, "on_close")]

    def receive(self, lead: Lead) -> None:
        """A lead arrived: if every policy admits it, it becomes a deal with an owner and starts moving."""
        if self._admitters and not all(p.admit(self, lead) for p in self._admitters):
            self.declined.append(lead)
            return
        self._take_on(lead)

    def resume(self, lead: Lead, stage: int, entered: float) -> Deal:
        """A deal that was already open when the run began (e.g. an export's pipeline): it sits in stage
        `stage` since day `entered` (<= now) and goes on from there; it was qualified long ago."""
        if not 0 <= stage < len(self.world.stages):
            raise ValueError(f"stage {stage} is not a stage index (0 to {len(self.world.stages) - 1})")
        if entered > self.env.now:
            raise ValueError(f"entered {entered} is after now ({self.env.now}): a deal cannot resume in the future")
        return self._take_on(lead, stage, entered)

    def _take_on(self, lead: Lead, stage: int = 0, entered: float | None = None) -> Deal:
        deal = Deal(
            id=f"OPP-{len(self.deals) + 1:06d}",
            lead=lead,
            owner=self.team.assign(),
            pass_chances=self.rules.normal_chances(lead),
        )
        self.deals.append(deal)
        lead.account.deals.append(deal)
        deal.process = self.env.process(work_the_deal(self.env, self.world, self.rules, deal, self.close, stage, entered))
        return deal

    def close(self, deal: Deal, won: bool) -> None:
        """Record a deal's outcome; a win books its signed amount and makes the account a customer."""
        now = self.env.now
        deal.leave(now)
        deal.closed, deal.won = now, won
        deal.process = None          # done with: its process, generator and frame are freed when it ends, not by the collector
        deal.owner.open_deals -= 1
        if won:
            deal.amount = self.rules.signed_amount(deal)
            deal.owner.bookings += deal.amount
            account = deal.lead.account
            new_customer = not account.customer
            account.revenue += deal.amount
            if new_customer:
                self.env.process(customer_life(self.env, account, self.world.accounts, self.leads,
                                               self.account_streams.of(account), self.receive))
        for policy in self._closers:
            policy.on_close(self, deal)

    # ---- what policies may ask for -----------------------------------------------------------
    def open_deals(self, rep: Rep | None = None) -> list[Deal]:
        """The deals still open (of `rep`, if given)."""
        return [d for d in self.deals if d.closed is None and (rep is None or d.owner is rep)]

    def hand_over(self, deal: Deal, rep: Rep) -> None:
        """Give an open deal to another rep; if it is waiting for rep time, it queues at the new owner."""
        deal.owner.open_deals -= 1
        deal.owner = rep
        if deal.waiting:
            deal.process.interrupt("handed over")

    def release(self, rep: Rep) -> None:
        """The rep leaves today; each of their open deals is handed to the active rep with the fewest."""
        rep.left = self.env.now
        for deal in self.open_deals(rep):
            self.hand_over(deal, self.team.assign())

    def effort(self, rep: Rep) -> float:
        """Speed multiplier on a rep's work: the product of what the policies say."""
        return self.rules.effort(rep)

    def desk_time(self, rep: Rep, hours: float, priority: Priority, effort: float | None = None) -> Generator:
        """Process step: wait for `rep`'s desk at `priority`, then the rep works `hours` on it (at the
        policies' effort when the work starts, unless `effort` is given)."""
        env = self.env
        with rep.desk.request(priority=priority) as turn:
            yield turn
            days = rep.days_for(hours, env.now, self.rules.effort(rep) if effort is None else effort)   # `rep.work`
            yield env.timeout(days)
            rep.busy_days += days

    def timestamps(self, days: np.ndarray | list) -> pd.DatetimeIndex:
        """Simulated days since the start -> real timestamps (to the second), NaT where missing."""
        return recorder.timestamps(self.world, days)

    # ---- recording -----------------------------------------------------------------------------
    def tables(self) -> Tables:
        """Build the canonical tables from what was recorded during the run."""
        opportunities = recorder.opportunities(self.world, self.deals)
        written: dict[str, pd.DataFrame] = {}
        for policy, run in zip(self.policies, self.runs):
            written.update(run.tables(self))
            for table in type(policy).writes:       # a service's table, written once however many policies use it
                if table.name in _SERVICE_TABLES and table.name not in written:
                    written[table.name] = getattr(self, _SERVICE_TABLES[table.name]).table()
        tables = Tables(
            opportunities=opportunities,
            stage_history=recorder.stage_history(self.world, self.deals),
            accounts=recorder.accounts(self.world, self.leads.accounts),
            **written,
        )
        if self.world.reps.quota is not None:
            tables.attainment = recorder.attainment(self.world, self.team.reps, opportunities)
        return tables

    def metrics(self, tables: Tables | None = None) -> dict[str, float]:
        """Pipeline metrics plus what only the model knows (leads, declines, rep time).

        From the run's deals directly, or from `tables` if given: the same numbers either way.
        """
        days = self.world.days
        out = {"leads": float(self.leads.count), "declined": float(len(self.declined)),
               "market_exhausted": float(self.leads.market_exhausted)}
        out.update(pipeline_metrics(tables.opportunities) if tables is not None
                   else recorder.deal_metrics(self.world, self.deals))
        out["rep_utilisation"] = self.team.utilisation(days)
        out["reps_at_end"] = float(len(self.team.active))
        out.update(self.team.headcount(days))
        if self.world.reps.quota is not None:
            out["attainment"] = (quota.annual_attainment(tables.attainment) if tables is not None
                                 else recorder.annual_attainment(self.world, self.team.reps, self.deals))
        for run in self.runs:
            out.update(run.metrics(self))
        return out
