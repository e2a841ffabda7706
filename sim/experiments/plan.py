"""What it takes to hit the number: `sim.plan(scenario, target, period, confidence, levers)`.

    p = sim.plan(sc, target=12e6, period="2027", confidence=0.8, levers=["reps.count"])
    p.now          # {"p_hit", "p_low", "p_high"}: the chance today's plan books the target in the period (95% CI)
    p.options()    # the cheapest changes reaching the confidence: one column per lever, p_hit, p_low, p_high, cost
    p.frontier()   # P(hit) against cost over what was searched; p.figure() draws it
    p.coverage()   # the open pipeline needed per segment and month, beside the pipeline now

A run "hits" when the won amount closed inside the period reaches the target; P(hit) is the share of runs
that do, with its Wilson interval. Every value tried runs the same replication seeds (common random
numbers), so two values of a lever see the same market and their P(hit) differ by what the lever does.

One lever: a monotone search. P(hit) rises with more reps, more hires, more leads; the search gallops up from
the low end (1, 2, 4, ... steps) until a value reaches the confidence, then bisects the last jump for the
smallest value whose P(hit) reaches it, estimating P(hit) at each step with replications added round by
round (n="auto", as `replicate` does: runs already made are reused) until its interval is clearly on one
side of the confidence or narrower than `search_precision` (a step only picks a direction). The value found is then
measured again on fresh seeds to the full precision (the estimate that picked it flatters it), and the next
value up is taken if that misses the confidence: the P(hit) reported is that measurement, beside the search's
estimate (`p_search`). Two or three levers: a grid over their ranges run with `sim.sweep` (resumable), each
cell's P(hit) and cost; the options are the cells reaching the confidence, cheapest first, and the frontier
the cells no cheaper cell beats. The cheapest cell reaching the confidence is measured again the same way,
on fresh seeds to the full precision (its grid estimate kept as `p_search`); if it misses, the next cheapest
is, up to `RECHECKS` cells.

Costs are the scenario's (`scenario.costs`, `sim.world.costs`): a rep's yearly cost and a lead's price,
assumed unless set (the plan's summary says which, with the assumed range), edited like any field
(``scenario.replace({"costs.rep_per_year": 140e3})``, the command's --rep-cost / --lead-cost). A lever's cost
is the spend it adds up to the period's end: an extra rep from the scenario's start, a hire from its date (a
September hire costs four months of the year, and with a five-month ramp books little of it: the search
finds more of them are needed), more leads a month from the start.

Lever names are the scenario's field paths (`reps.count`, `market.leads_per_month`,
`policies.qualification.threshold`) plus `hires` (reps hired on the scenario's first day) or
`hires@2027-09-01` (hired on that date). A range can be given: `reps.count=8:20`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..analysis.coverage import coverage as pipeline_coverage
from ..analysis.plots import new_figure
from ..core.periods import period_bounds
from ..core.stats import wilson_ci
from ..engine.hooks import REGISTRY
from ..scenario import Scenario, ScenarioError
from ..world.costs import Costs
from .replicate import RunCache, replicate_each, worker_start
from .simulate import SimResult, simulate
from .sweep import sweep

DAYS_PER_YEAR = 365.25
FIRST_N = 40               # replications of a step's first round
MAX_N = 600                # most replications one step may take
PRECISION = 0.05           # half-width of P(hit)'s 95% interval a reported value is measured to
SEARCH_PRECISION = 0.10    # half-width a search step stops at when its interval straddles the confidence: the
                           # step only picks a direction, and the value found is measured again to PRECISION
RECHECKS = 4               # grid cells a two- or three-lever plan measures again, cheapest first, to find one that holds
SCAN = 7                   # values a one-lever search scans when the far end of the range misses too
GRID = 5                   # values per lever in a two- or three-lever frontier
FRONTIER_N = 100           # replications per cell of a frontier


class PeriodHit:
    """Measure: the won amount closed in [lo, hi) (simulated days) and whether it reaches `target`.

    When the period starts on the scenario's first day and the run ends with it, the run's own bookings
    metric is that amount (no tables are built); otherwise the opportunities table is read.
    """

    def __init__(self, lo: float, hi: float, target: float, whole_run: bool):
        self.lo, self.hi, self.target, self.whole_run = lo, hi, target, whole_run
        self.__qualname__ = f"PeriodHit({lo:g},{hi:g},{target:g},{whole_run})"   # names it in replicate's run cache

    def __call__(self, result: SimResult) -> dict[str, float]:
        if self.whole_run:
            booked = result.metrics["bookings"]
        else:
            opp = result.tables.opportunities
            start = pd.Timestamp(result.scenario.start)
            day = (opp["closed_at"] - start).dt.total_seconds() / 86400
            booked = float(opp.loc[(opp["outcome"] == "won") & (day >= self.lo) & (day < self.hi), "amount"].sum())
        return {"period_bookings": float(booked), "hit": float(booked >= self.target)}


@dataclass(frozen=True)
class Lever:
    """One thing the plan may change: its field path, today's value, the range searched and its cost."""

    path: str                  # as named by the user: "reps.count", "hires@2027-09-01", ...
    now: float
    lo: float
    hi: float
    step: float                # the search's resolution (1 for counts)
    integer: bool
    unit_cost: float           # cost of one unit more, up to the period's end (0: no cost known)
    hire_at: dt.date | None = None
    policy_off: bool = False   # a field of a policy the scenario does not run: setting it switches the policy on

    @property
    def field_path(self) -> bool:
        """Whether `sim.sweep` can set it as a field path (a hire count or a switched-off policy it cannot)."""
        return self.hire_at is None and not self.policy_off

    def values(self) -> list[float]:
        """The grid of values from lo to hi in steps."""
        k = int(round((self.hi - self.lo) / self.step))
        return [self.value(self.lo + i * self.step) for i in range(k + 1)]

    def value(self, x: float) -> float | int:
        return int(round(x)) if self.integer else round(float(x), 6)

    def cost(self, x: float) -> float:
        return max(0.0, (x - self.now)) * self.unit_cost

    def apply(self, scenario: Scenario, x: float) -> Scenario:
        if self.hire_at is not None:
            if x <= 0:
                return scenario
            hires = [h.model_dump() for h in scenario.reps.hires] + [{"at": self.hire_at, "count": int(round(x))}]
            return scenario.replace({"reps.hires": hires})
        parts = self.path.split(".")
        if parts[0] == "policies" and len(parts) == 3:     # merged into the policy, or switches it on
            return scenario.replace({f"policies.{parts[1]}": {parts[2]: self.value(x)}})
        return scenario.replace({self.path: self.value(x)})


def _current(scenario: Scenario, path: str) -> tuple[Any, bool]:
    """The field's value today, and whether it belongs to a policy the scenario does not run (then: its default)."""
    parts = path.split(".")
    if parts[0] == "policies" and len(parts) == 3 and getattr(scenario.policies, parts[1], None) is None:
        cls = REGISTRY.get(parts[1])
        info = cls.model_fields.get(parts[2]) if cls is not None else None
        if info is None:
            raise ScenarioError([f"levers: {path!r} is not a field of a known policy"])
        if info.is_required():
            raise ScenarioError([f"levers: {path!r}: the policy {parts[1]!r} is off and has no default for "
                                 f"{parts[2]!r}; switch it on in the scenario first"])
        return info.default, True
    return _field(scenario, path), False


def _field(scenario: Scenario, path: str) -> Any:
    target: Any = scenario
    for part in path.split("."):
        if part.isdigit() and isinstance(target, (list, tuple)):
            target = target[int(part)]
        else:
            if target is None or not hasattr(target, part):
                raise ScenarioError([f"levers: {path!r} is not a field of this scenario ({part!r} not found)"])
            target = getattr(target, part)
    return target


def make_lever(spec: str, scenario: Scenario, period_end: dt.date) -> Lever:
    """A lever from its name (`reps.count`, `hires`, `hires@2027-09-01`, `market.leads_per_month`, any
    numeric field) and an optional range (`=lo:hi`), priced with the scenario's costs."""
    costs = scenario.costs
    name, _, span = spec.strip().partition("=")
    name = name.strip()
    years_from_start = (period_end - scenario.start).days / DAYS_PER_YEAR
    hire_at = None
    if name == "hires" or name.startswith("hires@"):
        text = name.partition("@")[2]
        try:
            hire_at = dt.date.fromisoformat(text) if text else scenario.start
        except ValueError:
            raise ScenarioError([f"levers: {name!r}: {text!r} is not a date (write hires@2027-09-01)"]) from None
        if not scenario.start <= hire_at < period_end:
            raise ScenarioError([f"levers: {name!r}: the hire date must be from the scenario's start ({scenario.start}) "
                                 f"to before the period's end ({period_end})"])
        now, lo, hi, integer, off = 0, 0, max(10, 2 * scenario.reps.count), True, False
        unit = costs.rep_per_year * (period_end - hire_at).days / DAYS_PER_YEAR
    else:
        now, off = _current(scenario, name)
        if isinstance(now, bool) or not isinstance(now, (int, float)):
            raise ScenarioError([f"levers: {name!r} is not a number ({now!r}); a lever must be a numeric field"])
        integer = isinstance(now, int)
        if name == "reps.count":
            lo, hi, unit = now, max(now + 10, 3 * now), costs.rep_per_year * years_from_start
        elif name == "market.leads_per_month":
            lo, hi, unit = now, 3 * now, costs.lead * 12 * years_from_start
        else:
            lo, hi, unit = (0.0, 1.0, 0.0) if 0 <= now <= 1 and not integer else (now, 2 * now if now else 1, 0.0)
    if span:
        try:
            a, b = (float(x) for x in span.split(":"))
        except ValueError:
            raise ScenarioError([f"levers: {spec!r}: write the range as {name}=LOW:HIGH"]) from None
        if not a < b:
            raise ScenarioError([f"levers: {spec!r}: the range's low end must be below its high end"])
        lo, hi = a, b
    step = 1.0 if integer else (hi - lo) / 20
    return Lever(path=name, now=float(now), lo=float(lo), hi=float(hi), step=step, integer=integer, unit_cost=unit,
                 hire_at=hire_at, policy_off=off)


@dataclass
class Plan:
    """The answer to "what does it take": P(hit) now, the options searched, their frontier, the coverage."""

    scenario: Scenario                 # the scenario as run (its days reach the period's end)
    target: float
    period: str
    confidence: float
    levers: list[Lever]
    budget: float | None
    seed: int
    now: dict[str, float]
    tried: pd.DataFrame                # every value (or cell) evaluated: lever columns, p_hit, p_low, p_high, n, cost
    reachable: bool
    tables: Any = None                 # the export's tables, if the plan was given them (for coverage)
    notes: list[str] = field(default_factory=list)

    @property
    def costs(self) -> Costs:
        """What the levers were priced with: the scenario's costs."""
        return self.scenario.costs

    def options(self, k: int = 10) -> pd.DataFrame:
        """The cheapest changes whose P(hit) reaches the confidence (within the budget), cheapest first.

        `p_search` is the search's (or grid's) estimate of a value that was measured again on fresh seeds (its
        p_hit, p_low, p_high are that measurement); empty for a value measured once."""
        ok = self.tried[self.tried["p_hit"] >= self.confidence]
        if self.budget is not None:
            ok = ok[ok["cost"] <= self.budget]
        cols = [lv.path for lv in self.levers] + ["p_hit", "p_low", "p_high", "cost", "p_search"]
        return ok.sort_values(["cost", "p_hit"], ascending=[True, False])[cols].head(k).reset_index(drop=True)

    def frontier(self) -> pd.DataFrame:
        """The values tried that no cheaper one beats on P(hit): P(hit) against cost, cheapest first."""
        rows = self.tried.sort_values(["cost", "p_hit"], ascending=[True, False])
        best, keep = -1.0, []
        for i, r in rows.iterrows():
            if r["p_hit"] > best:
                keep.append(i)
                best = r["p_hit"]
        cols = [lv.path for lv in self.levers] + ["p_hit", "p_low", "p_high", "cost", "n"]
        return rows.loc[keep, cols].reset_index(drop=True)

    def figure(self):
        """P(hit) against cost: every value tried (grey), the frontier (line), the confidence asked for."""
        fig, ax = new_figure(figsize=(8, 4.5))
        t, f = self.tried, self.frontier()
        ax.errorbar(t["cost"], t["p_hit"], yerr=[t["p_hit"] - t["p_low"], t["p_high"] - t["p_hit"]], fmt="o",
                    color="0.7", ms=4, lw=0.8, label="values tried (95% CI)")
        ax.plot(f["cost"], f["p_hit"], "-o", color="C0", label="frontier: the most P(hit) for the money")
        ax.axhline(self.confidence, color="C3", ls="--", lw=1, label=f"confidence asked: {self.confidence:.0%}")
        if self.budget is not None:
            ax.axvline(self.budget, color="C2", ls=":", lw=1, label="budget")
        ax.set_xlabel(f"added cost to the period's end [{self.scenario.currency}]")
        ax.set_ylabel("P(bookings reach the target)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"What it takes to book {self.target:,.0f} in {self.period}: the cheapest options sit on the line")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        return fig

    def coverage(self) -> pd.DataFrame:
        """Open pipeline needed per segment at the start of each month of the period, beside the pipeline now.

        Rates from the export given to `plan` (`tables=`), else from one simulated run of the scenario up to
        the period's start (its open deals then are "now")."""
        start, end = period_bounds(self.period)
        if self.tables is not None:
            opp = self.tables.opportunities
            return pipeline_coverage(opp, self.target, start, end)
        run_days = max(7, (start.date() - self.scenario.start).days)
        history = simulate(self.scenario.replace({"days": run_days}), seed=self.seed).tables.opportunities
        if (history["outcome"] == "won").sum() < 20:   # a plan from the scenario's first day: read rates from the run
            history, open_now = simulate(self.scenario, seed=self.seed).tables.opportunities, history
        else:
            open_now = None
        if not (history["outcome"] == "won").any():
            raise ValueError(f"coverage: a simulated run of {self.scenario.name!r} has no won deals to read win rates "
                             "and cycles from; give the export's tables (plan(..., tables=...))")
        return pipeline_coverage(history, self.target, start, end, open_now=open_now)

    def assumption_ends(self, path: str | None = None, low: float | None = None, high: float | None = None,
                        executor: Executor | str | None = None, precision: float = PRECISION) -> pd.DataFrame:
        """P(hit) again at the ends of an assumption's range, for today's plan and the cheapest option.

        Default: the voluntary attrition rate from 20% to 35% a year when the scenario runs attrition, else the
        reps' selling hours a week from 80% to 120% of the scenario's (an export cannot show them; the
        calibration keeps the preset's value). Same seeds and stopping rule as the plan: each value's interval
        clearly on one side of the confidence, or `precision` wide."""
        if path is None:
            if self.scenario.policies.attrition is not None:
                path, low, high = "policies.attrition.rate", 0.20, 0.35
            else:
                hours = self.scenario.reps.selling_hours_per_week
                path, low, high = "reps.selling_hours_per_week", round(0.8 * hours, 1), round(min(80.0, 1.2 * hours), 1)
        if low is None or high is None:
            raise ValueError(f"assumption_ends: give the low and high ends of {path!r}")
        plans = {"today": self.scenario}
        best = self.options(1)
        if not best.empty:
            sc = self.scenario
            for lv in self.levers:
                sc = lv.apply(sc, best.at[0, lv.path])
            plans["cheapest option"] = sc
        measure = PeriodHit(*self._window(), self.target, self._whole_run())
        pool, owned = _pool(executor)
        try:
            estimate = _Estimator(measure, self.seed, self.confidence, precision, pool, MAX_N)
            rows = [{"plan": name, "assumption": path, "value": v, **estimate(sc.replace({path: v}))}
                    for name, sc in plans.items() for v in (low, high)]
        finally:
            if owned:
                pool.shutdown(cancel_futures=True)
        return pd.DataFrame(rows)[["plan", "assumption", "value", "p_hit", "p_low", "p_high", "n"]]

    def _window(self) -> tuple[float, float]:
        start, end = (t.date() for t in period_bounds(self.period))
        return float((start - self.scenario.start).days), float((end - self.scenario.start).days)

    def _whole_run(self) -> bool:
        return period_bounds(self.period)[0].date() == self.scenario.start

    def summary(self) -> str:
        """A few lines a leader reads: P(hit) now, the cheapest option, what the costs assume."""
        cur = self.scenario.currency
        lines = [f"target {self.target:,.0f} {cur} in {self.period}, confidence {self.confidence:.0%}",
                 f"P(hit) with today's plan: {self.now['p_hit']:.0%} (95% CI {self.now['p_low']:.0%} to {self.now['p_high']:.0%})"]
        opts = self.options(1)
        if self.now["p_hit"] >= self.confidence:
            lines.append("today's plan already reaches the confidence")
        elif opts.empty:
            lines.append("no option searched reaches the confidence" + (" within the budget" if self.budget is not None else "")
                         + f" (largest values tried: {', '.join(f'{lv.path}={lv.value(lv.hi)}' for lv in self.levers)})")
        else:
            o = opts.iloc[0]
            said = ", ".join(f"{lv.path}={o[lv.path]:g}" for lv in self.levers)
            again = (f"; measured again on fresh seeds, the search's estimate was {o['p_search']:.0%}"
                     if pd.notna(o["p_search"]) else "")
            lines.append(f"cheapest option: {said}: P(hit) {o['p_hit']:.0%} ({o['p_low']:.0%} to {o['p_high']:.0%}{again}), "
                         f"added cost {o['cost']:,.0f} {cur}")
        lines.append(self.costs.said(cur))
        lines.extend(self.notes)
        return "\n".join(lines)


class _Estimator:
    """P(hit) of a scenario on the plan's common seeds, replications added until the interval is narrow
    enough (or clearly on one side of the confidence); every run made is kept and reused."""

    def __init__(self, measure: PeriodHit, seed: int, confidence: float, precision: float, executor, max_n: int):
        self.measure, self.seed, self.confidence, self.precision = measure, seed, confidence, precision
        self.executor, self.max_n = executor, max_n
        self.known = RunCache(on=True)

    def __call__(self, scenario: Scenario, seed: int | None = None, decide: bool = True,
                 precision: float | None = None) -> dict[str, float]:
        """P(hit) on the plan's seeds (or `seed`'s) until its interval's half-width is `precision` (default: the
        plan's); with `decide`, also stop as soon as the interval is clearly on one side of the confidence (a
        search step, or P(hit) now), else only when it is narrow enough (a value to report)."""
        precision = self.precision if precision is None else precision
        n = min(FIRST_N, self.max_n)
        while True:
            runs = replicate_each({"plan": scenario}, n=n, seed=self.seed if seed is None else seed, measure=self.measure,
                                  executor=self.executor, known=self.known, progress=False)
            hits = float(runs["hit"].sum())
            lo, hi = (float(x) for x in wilson_ci(hits, n))
            decided = decide and (hi < self.confidence or lo > self.confidence)
            if (hi - lo) / 2 <= precision or decided or n >= self.max_n:
                return {"p_hit": hits / n, "p_low": lo, "p_high": hi, "n": n,
                        "mean_bookings": float(runs["period_bookings"].mean())}
            need = n * (((hi - lo) / 2) / precision) ** 2 * 1.1
            n = int(min(self.max_n, 4 * n, max(n + 20, math.ceil(need))))

    def again(self, scenario: Scenario) -> dict[str, float]:
        """P(hit) measured again on fresh seeds (not the search's, whose runs chose the value) to the full
        precision: the value a plan reports for its answer."""
        return self(scenario, seed=seed_for_check(self.seed), decide=False)


def seed_for_check(seed: int) -> int:
    """The seed the search's answer is measured again on: not the search's own (its runs chose the answer)."""
    return int(np.random.SeedSequence([seed, 1_000_003]).generate_state(1)[0])


def _pool(executor):
    if executor is not None:
        return executor, False
    cores = os.cpu_count() or 1
    if cores < 2:
        return "serial", False
    return ProcessPoolExecutor(max_workers=cores, initializer=worker_start), True


def plan(
    scenario: Scenario,
    target: float,
    period: str,
    confidence: float = 0.8,
    levers: Sequence[str] = ("reps.count",),
    budget: float | None = None,
    *,
    seed: int = 0,
    precision: float = PRECISION,
    search_precision: float = SEARCH_PRECISION,
    max_n: int = MAX_N,
    grid: int = GRID,
    frontier_n: int = FRONTIER_N,
    executor: Executor | str | None = None,
    path: str | Path | None = None,
    tables: Any = None,
    progress: bool | None = None,
) -> Plan:
    """Search the levers for the cheapest ways to book `target` in `period` with P(hit) >= `confidence`.

    `levers`: field paths (see the module's docstring); one lever is searched by bisection (each step to
    `search_precision` unless clearly decided), two or three on a grid of `grid` values each (`sim.sweep`,
    `frontier_n` replications per cell, written under `path` and resumable); either way the answer is measured
    again on fresh seeds to `precision`. Levers are priced with `scenario.costs`. `tables`: the export's tables,
    for `coverage`. The scenario's run is lengthened, if needed, to reach the period's end.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"plan() needs a sim.Scenario, got {type(scenario).__name__}")
    if not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
        raise ValueError(f"target: {target!r} is not allowed, must be a positive amount")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: {confidence!r} is not allowed, must be between 0 and 1 (0.8 = 80%)")
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise ValueError(f"budget: {budget!r} is not allowed, must be an amount >= 0")
    for name, value in (("precision", precision), ("search_precision", search_precision)):
        if not (isinstance(value, (int, float)) and 0 < value < 0.5):
            raise ValueError(f"{name}: {value!r} is not allowed, must be a half-width between 0 and 0.5")
    levers = [levers] if isinstance(levers, str) else list(levers)
    if not 1 <= len(levers) <= 3:
        raise ValueError(f"levers: give one to three levers, got {len(levers)}")
    start, end = (t.date() for t in period_bounds(period))
    if start < scenario.start:
        raise ValueError(f"period: {period} starts before the scenario does ({scenario.start}); plan a period from "
                         "the scenario's start on")
    days = (end - scenario.start).days
    if days > 3650:
        raise ValueError(f"period: {period} ends more than ten years after the scenario's start ({scenario.start})")
    notes = []
    if days != scenario.days:
        notes.append(f"the scenario's run was set to {days} days to end with {period}")
        scenario = scenario.replace({"days": days})
    made = [make_lever(spec, scenario, end) for spec in levers]
    paths = [lv.path for lv in made]
    if len(set(paths)) != len(paths):
        raise ValueError(f"levers: each lever once, got {', '.join(paths)}")
    measure = PeriodHit(float((start - scenario.start).days), float(days), float(target), start == scenario.start)
    if progress is None:
        progress = os.environ.get("PLAYBOOK_PROGRESS", "1") != "0"
    pool, owned = _pool(executor)
    try:
        estimate = _Estimator(measure, seed, confidence, precision, pool, max_n)
        now = estimate(scenario)
        if len(made) == 1:
            tried, reachable = _bisect(made[0], scenario, estimate, now, confidence, search_precision, progress)
            tried["cost"] = tried[made[0].path].map(made[0].cost)
        else:
            tried = _grid(made, scenario, measure, seed, grid, frontier_n, pool, path, progress)
            tried["cost"] = sum(tried[lv.path].map(lv.cost) for lv in made)
            tried, reachable = _recheck(made, scenario, tried, estimate, confidence, budget, progress, notes)
    finally:
        if owned:
            pool.shutdown(cancel_futures=True)
    if "p_search" not in tried:
        tried["p_search"] = math.nan
    now = {k: now[k] for k in ("p_hit", "p_low", "p_high", "n")}
    return Plan(scenario=scenario, target=float(target), period=str(period), confidence=confidence, levers=made,
                budget=budget, seed=seed, now=now, tried=tried, reachable=reachable, tables=tables, notes=notes)


def _bisect(lever: Lever, scenario: Scenario, estimate: _Estimator, now: dict, confidence: float,
            search_precision: float, progress: bool) -> tuple[pd.DataFrame, bool]:
    """The smallest value of a monotone lever whose P(hit) reaches `confidence`: bisection on its grid."""
    values = lever.values()
    rows: dict[int, dict] = {}

    def at(i: int) -> dict:
        if i not in rows:
            v = values[i]
            same = not lever.policy_off and v == lever.value(lever.now)     # today's value: P(hit) now
            rows[i] = {lever.path: v, **(now if same else estimate(lever.apply(scenario, v), precision=search_precision))}
            bar.update(1)
        return rows[i]

    steps = 2 + 2 * math.ceil(math.log2(max(2, len(values))))
    with tqdm(total=steps, desc=f"searching {lever.path}", unit="step", disable=not progress) as bar:
        lo, hi = 0, len(values) - 1
        reachable = True
        if at(lo)["p_hit"] >= confidence:
            hi = lo
        else:
            # gallop up from the low end (1, 2, 4, ... steps): the answer is usually a few steps from today's
            # value, so the far end of the range, often well past it, is simulated only when it must be
            jump, top = 1, hi
            while lo + jump < top and at(lo + jump)["p_hit"] < confidence:
                lo, jump = lo + jump, 2 * jump
            hi = min(lo + jump, top)
        if at(hi)["p_hit"] < confidence:
            # the far end misses too: the lever may not be monotone over its whole range (more leads than the
            # team can work book less); scan the range coarsely for a value that reaches, then bisect below it
            coarse = sorted({round(i * (len(values) - 1) / (SCAN - 1)) for i in range(SCAN)})
            bar.total += len(coarse)
            found = next((j for j in coarse if at(j)["p_hit"] >= confidence), None)
            if found is None:
                reachable = False
            else:
                lo, hi = max(j for j in coarse if j < found), found
        if reachable:
            while hi - lo > 1:          # invariant: P(values[lo]) < confidence <= P(values[hi])
                mid = (lo + hi) // 2
                if at(mid)["p_hit"] >= confidence:
                    hi = mid
                else:
                    lo = mid
        if reachable and hi > 0:
            # the value found was picked for its estimate reaching the confidence, which flatters it (the winner's
            # curse); its P(hit) is measured again on fresh seeds, to the full precision, and if that misses the
            # confidence the next value up is measured the same way
            bar.total += 1
            for i in range(hi, len(values)):
                search = rows[i]["p_hit"] if i in rows else math.nan
                rows[i] = {lever.path: values[i], **estimate.again(lever.apply(scenario, values[i])), "p_search": search}
                bar.update(1)
                if rows[i]["p_hit"] >= confidence:
                    break
            else:
                reachable = False
        bar.total = len(rows)
        bar.refresh()
    tried = pd.DataFrame([rows[i] for i in sorted(rows)])
    return tried, reachable


def _recheck(levers: list[Lever], scenario: Scenario, tried: pd.DataFrame, estimate: _Estimator, confidence: float,
             budget: float | None, progress: bool, notes: list[str]) -> tuple[pd.DataFrame, bool]:
    """A grid's answer measured again: the cheapest cell reaching the confidence (within the budget) is run on
    fresh seeds to the full precision; if it then misses, the next cheapest is, up to `RECHECKS` cells. Each
    cell measured again reports that measurement, its grid estimate kept as `p_search`."""
    tried = tried.copy()
    tried["p_search"] = math.nan
    checked = 0
    with tqdm(total=RECHECKS, desc="measuring the answer again", unit="cell", disable=not progress) as bar:
        while checked < RECHECKS:
            ok = tried[(tried["p_hit"] >= confidence) & tried["p_search"].isna()]
            if budget is not None:
                ok = ok[ok["cost"] <= budget]
            if ok.empty:
                break
            i = ok.sort_values(["cost", "p_hit"], ascending=[True, False]).index[0]
            sc = scenario
            for lv in levers:
                sc = lv.apply(sc, tried.at[i, lv.path])
            again = estimate.again(sc)
            tried.loc[i, "p_search"] = tried.at[i, "p_hit"]
            for key in ("p_hit", "p_low", "p_high", "n", "mean_bookings"):
                tried.loc[i, key] = again[key]
            checked += 1
            bar.update(1)
            if again["p_hit"] >= confidence:
                break
        bar.total = checked
        bar.refresh()
    held = bool(((tried["p_hit"] >= confidence) & tried["p_search"].notna()).any())
    if checked and not held:
        missed = (f"the {checked} cheapest grid cells reaching the confidence missed it when measured again on fresh "
                  "seeds")
        notes.append(missed + ("; the options left are the grid's estimates, not measured again"
                               if (tried["p_hit"] >= confidence).any() else ""))
    return tried, bool((tried["p_hit"] >= confidence).any())


def _grid(levers: list[Lever], scenario: Scenario, measure: PeriodHit, seed: int, grid: int, n: int, pool,
          path, progress: bool) -> pd.DataFrame:
    """Two or three levers: every combination of `grid` values each, `n` runs per cell with `sim.sweep` (resumable
    from `path`); a grid with a hire lever, which no field path sets, runs with `replicate_each` instead."""
    axes = {}
    for lv in levers:
        raw = np.linspace(lv.lo, lv.hi, grid)
        axes[lv.path] = sorted({lv.value(x) for x in raw})
    if any(lv.hire_at is not None for lv in levers):   # a hire is not a field path: scenarios built here, per cell
        return _grid_of_scenarios(levers, axes, scenario, measure, seed, n, pool, progress)
    base = scenario
    for lv in levers:          # a policy the scenario does not run is switched on; the sweep sets the field per cell
        if lv.policy_off:
            base = lv.apply(base, axes[lv.path][0])
    sw = sweep(base, axes, n=n, seed=seed, path=path, executor=pool, measure=measure, progress=progress)
    runs = sw.read([*axes, "hit", "period_bookings"])
    return _cells(runs, list(axes))


def _grid_of_scenarios(levers, axes, scenario, measure, seed, n, pool, progress) -> pd.DataFrame:
    combos = pd.MultiIndex.from_product(list(axes.values()), names=list(axes)).to_frame(index=False)
    scenarios = {}
    for i, row in combos.iterrows():
        sc = scenario
        for lv in levers:
            sc = lv.apply(sc, row[lv.path])
        scenarios[str(i)] = sc
    runs = replicate_each(scenarios, n=n, seed=seed, measure=measure, executor=pool, progress=progress)
    runs = runs.merge(combos.rename_axis("cell").reset_index().assign(scenario=lambda d: d["cell"].astype(str)),
                      on="scenario")
    return _cells(runs, list(axes))


def _cells(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per cell of a grid: P(hit) with its Wilson interval and the runs behind it."""
    agg = runs.groupby(keys, sort=True).agg(hits=("hit", "sum"), n=("hit", "size"),
                                            mean_bookings=("period_bookings", "mean")).reset_index()
    lo, hi = wilson_ci(agg["hits"], agg["n"])
    return agg.assign(p_hit=agg["hits"] / agg["n"], p_low=lo, p_high=hi).drop(columns="hits")
