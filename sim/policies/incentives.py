"""Incentives: award rules that reps respond to, the programme's credibility, and reps' effort.

An incentive is known up front (a reward comes after): it works through what reps expect. Each rep has an
effort level, a multiplier on how fast they work (the engine's `effort` hook: their selling hours go further,
so they can work more deals). Effort is 1 plus two pulls, capped at `response.max_effort`:

* the quota pull: ``quota_lift x quota_curve(chance of making quota this quota period)``, the chance judged
  from the rep's own bookings so far and the time left;
* the prize pull, summed over every award the rep can win now:
  ``credibility x prize_lift x (award / reference_award) ** size_elasticity x prize_curve(chance of winning)``.
  The chance is judged from the standings the rep last saw (`standings`: never, monthly, weekly); with no
  standings a rep knows only how many win among how many, and their own progress to an absolute bar.

What the defaults lean on (our magnitudes are our own assumptions; the directions are the evidence's):

* Chung, Steenburgh and Sudhir (2014, Marketing Science 33(2)): bonuses raise productivity; reps tend to give
  up when far from a quota, and do not slow down once it is reached when there is an overachievement
  commission. The default `quota_curve` is near 0 when the chance of making quota is small and stays at its top
  after the quota is in hand (it assumes an overachievement commission; lower its right end for a plan without).
* Casas-Arce and Martinez-Jerez (2009, Management Science 55(8)): in multi-period sales contests, leaders
  reduce effort as their lead extends, while trailing participants' effort fades only when the gap is very
  large; contests raise effort on average, and less so the more participants there are. The default
  `prize_curve` rises steeply from a 0 chance (only a nearly hopeless rep eases off), is flat in the middle, and
  falls as the chance nears certainty (a clear leader eases off). More participants mean a smaller chance each.
* Lim, Ahearne and Ham (2009, Journal of Marketing Research 46(3)): contests should have more than one
  winner; unequal prizes by rank add no effort or revenue over equal ones. Rules here pay `winners` equal
  awards; prizes that differ by rank are not modelled, for that reason.
* Oyer (1998, QJE 113(1)) and Larkin (2014, Journal of Labor Economics 32(2)): reps time deals around
  period ends; Larkin finds reps accept lower prices in quarters where closing pays, costing 6-8% of revenue.
  `timing` (off by default) pulls a deal's close into the quota period when it would close just after it and
  the rep is still short of quota, at a `discount`; the notebook measures its cost against Larkin's range.
* Credibility is our own assumption from the source article (in Will's post, source 002, a Porsche nobody won
  "killed most of the motivational potential of such an incentive for years to come"): no paper named above measures it.

Award rules (`AwardRule`): ``relative`` (top `winners` by a metric), ``absolute`` (the top `winners` by bookings,
and only if at least `over_quota` above quota: the Porsche), ``categories`` (a relative award in each
territory, each segment, or among newcomers). Every decision is written to the `incentives` table (period,
rule, category, winner or none, payout) and each rep's effort per month to `incentive_effort`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.polynomial.hermite_e import hermegauss
from pydantic import Field, field_validator, model_validator
from scipy.special import ndtr

from ..core import periods, schema
from ..core.data import Data, require_unique
from ..core.periods import PER_YEAR
from ..engine.entities import Deal
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.team import Rep
from ..world import World

Curve = tuple[tuple[float, float], ...]

# chance of winning -> share of the full pull (Casas-Arce and Martinez-Jerez 2009: trailing effort fades only
# when the gap is very large, leaders ease off as their lead extends). Magnitudes: our assumption.
PRIZE_CURVE: Curve = ((0.0, 0.0), (0.02, 0.2), (0.05, 0.45), (0.1, 0.7), (0.2, 0.92), (0.3, 1.0), (0.6, 1.0), (0.85, 0.7), (0.97, 0.35), (1.0, 0.25))
# chance of making quota -> share of the full pull (Chung, Steenburgh and Sudhir 2014: reps far from quota give
# up; with an overachievement commission they do not slow down once it is reached). Magnitudes: our assumption.
QUOTA_CURVE: Curve = ((0.0, 0.0), (0.05, 0.3), (0.25, 0.85), (0.5, 1.0), (1.0, 1.0))

_NODES, _WEIGHTS = hermegauss(32)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()      # expectations over a standard normal


# ---- settings ------------------------------------------------------------------------------------------
def _check_curve(points: Curve, name: str) -> Curve:
    xs = [p[0] for p in points]
    if len(points) < 2 or xs[0] != 0.0 or xs[-1] != 1.0 or any(b <= a for a, b in zip(xs, xs[1:])):
        raise ValueError(f"{name} needs (chance, pull) points with chances rising strictly from 0 to 1, got {list(points)}")
    if any(not 0.0 <= y <= 1.0 for _, y in points):
        raise ValueError(f"{name} pulls must lie between 0 and 1, got {[y for _, y in points]}")
    return points


class Response(Data):
    """How a rep's effort responds to chances, award sizes and quota (see the module docstring for evidence)."""

    prize_curve: Curve = Field(PRIZE_CURVE, description="(chance of winning, share of the full pull) points, chances 0 to 1 (Casas-Arce and Martinez-Jerez 2009)")
    quota_curve: Curve = Field(QUOTA_CURVE, description="(chance of making quota, share of the full pull) points (Chung, Steenburgh and Sudhir 2014)")
    prize_lift: float = Field(0.12, ge=0, le=2, description="extra work speed at the full pull of one award of the reference size at full credibility (0.12 = 12% faster; our assumption)")
    quota_lift: float = Field(0.10, ge=0, le=2, description="extra work speed at the full pull of a quota within reach (our assumption)")
    reference_award: float = Field(10_000.0, gt=0, le=1e12, description="award size (scenario currency) whose pull is prize_lift")
    size_elasticity: float = Field(0.5, ge=0, le=1.5, description="pull grows as (award / reference_award) ** this: below 1, a bigger prize pulls less than proportionally (our assumption; the source: prizes need not be big)")
    outlook_cv: float = Field(0.3, gt=0, le=5, description="how uncertain a rep thinks a year's bookings are, as a share of the yearly quota (shorter spans: x the square root of their share of a year); sets how fast a gap in the standings becomes hopeless. 0.3 is about the spread of yearly attainment in the baseline team")
    max_effort: float = Field(1.6, ge=1, le=3, description="cap on the effort multiplier")

    @field_validator("prize_curve")
    @classmethod
    def _prize(cls, v: Curve) -> Curve:
        return _check_curve(v, "prize_curve")

    @field_validator("quota_curve")
    @classmethod
    def _quota(cls, v: Curve) -> Curve:
        return _check_curve(v, "quota_curve")


class Credibility(Data):
    """Whether reps believe the programme pays: it drops when an award goes to nobody and recovers slowly.

    Our own assumption, from the source article's account of an award nobody won (no paper measures it).
    """

    start: float = Field(1.0, ge=0, le=1, description="credibility when the run starts (1 = reps fully believe awards are paid)")
    drop: float = Field(0.7, ge=0, le=1, description="share of credibility lost each time an award period ends with no winner (0 = no damage)")
    recovery_years: float = Field(3.0, gt=0, le=100, description="time constant of the recovery toward full credibility, in years (slow: 'for years to come')")


class PeriodEndTiming(Data):
    """Reps pull a deal's close into the quota period when it would close just after it (Oyer 1998; Larkin 2014)."""

    pull_in_days: float = Field(14.0, gt=0, le=90, description="a close due at most this many days after the quota period's end is pulled in before it")
    discount: float = Field(0.10, ge=0, lt=1, description="price given up on a pulled-in deal (our assumption; Larkin 2014 puts the whole cost of timing at 6-8% of revenue)")


class AwardRule(Data):
    """One award: who wins it, how often it is decided, and what each winner gets."""

    name: str = Field(min_length=1, max_length=80, description="the award's name, e.g. 'President's trophy'")
    kind: Literal["relative", "absolute", "categories"] = Field(description="relative: top `winners` by `metric`; absolute: top `winners` by bookings who are also `over_quota` above quota; categories: a relative award in each group of `by`")
    period: Literal["month", "quarter", "year"] = Field("year", description="how often the award is decided")
    award: float = Field(gt=0, le=1e9, description="what each winner gets, in the scenario currency")
    winners: int | None = Field(1, ge=1, le=1000, description="winners per award (per group for categories); absolute: null = everyone over the bar")
    metric: Literal["bookings", "attainment"] = Field("bookings", description="what ranks reps (relative, categories): bookings in the period, or bookings / quota")
    over_quota: float | None = Field(None, ge=0, le=10, description="absolute only: the bar, as attainment above quota (0.3 = at least 130% of quota)")
    by: Literal["territory", "segment", "newcomer"] | None = Field(None, description="categories only: one award per territory, per segment (bookings in it), or among newcomers")
    start: dt.date | None = Field(None, description="first day the rule runs (null = from the start); award periods starting before it are not decided")
    end: dt.date | None = Field(None, description="first day it no longer runs (null = to the end); award periods ending after it are not decided")

    @model_validator(mode="after")
    def _kind_fits(self) -> AwardRule:
        if self.kind == "absolute" and self.over_quota is None:
            raise ValueError(f"rule {self.name!r}: an absolute rule needs over_quota (the bar above quota, e.g. 0.3 for 130%)")
        if self.kind != "absolute" and self.over_quota is not None:
            raise ValueError(f"rule {self.name!r}: over_quota is for absolute rules only; a {self.kind} rule always has a winner")
        if self.kind == "categories" and self.by is None:
            raise ValueError(f"rule {self.name!r}: a categories rule needs by (territory, segment or newcomer)")
        if self.kind != "categories" and self.by is not None:
            raise ValueError(f"rule {self.name!r}: by is for categories rules only")
        if self.kind != "absolute" and self.winners is None:
            raise ValueError(f"rule {self.name!r}: winners may be null (everyone over the bar) only for an absolute rule")
        if self.kind == "absolute" and self.metric != "bookings":
            raise ValueError(f"rule {self.name!r}: an absolute rule ranks by bookings and sets its bar on attainment; leave metric as bookings")
        if self.by == "segment" and self.metric == "attainment":
            raise ValueError(f"rule {self.name!r}: there is no quota per segment; rank segment awards by bookings")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"rule {self.name!r}: end {self.end} must be after start {self.start}")
        return self


# ---- tables --------------------------------------------------------------------------------------------
INCENTIVES = schema.Table(   # declared (registered) through the policy's `writes`
    "incentives",
    (
        schema.Col("period", "str", required=True, nullable=False, doc="the award period decided, e.g. 2026 or 2026-Q1"),
        schema.Col("rule", "str", required=True, nullable=False, doc="the rule's name"),
        schema.Col("category", "str", doc="the group of a categories rule (territory, segment, newcomers); empty otherwise"),
        schema.Col("winner", "str", doc="the rep who won; empty when nobody did"),
        schema.Col("payout", "float", required=True, lo=0, doc="what was paid for this row (0 when nobody won)"),
        schema.Col("score", "float", lo=0, doc="the winner's metric, or the best rep's when nobody won"),
        schema.Col("bar", "float", lo=0, doc="absolute rules: the attainment a winner needed (1.3 = 130% of quota)"),
    ),
    doc="one row per award decided: a winner, or one row with no winner",
)

INCENTIVE_EFFORT = schema.Table(
    "incentive_effort",
    (
        schema.Col("period", "str", required=True, nullable=False, doc="month, e.g. 2026-01"),
        schema.Col("owner", "str", required=True, nullable=False, doc="the rep"),
        schema.Col("effort", "float", required=True, lo=0, doc="average effort multiplier over the month (1 = normal speed)"),
        schema.Col("from_quota", "float", lo=0, doc="part of the effort above 1 that the quota pull gave"),
        schema.Col("from_prizes", "float", lo=0, doc="part of the effort above 1 that the awards' pull gave"),
        schema.Col("credibility", "float", lo=0, hi=1, doc="the programme's average credibility over the month"),
        schema.Col("chance", "float", lo=0, hi=1, doc="the rep's best perceived chance of winning an award (average over the month); empty with no award"),
        schema.Col("rank", "float", lo=1, doc="the rep's place by bookings so far this calendar year at the month's start (1 = most); empty in January"),
    ),
    doc="one row per rep and month: how hard the rep worked and why",
)


# ---- the policy ----------------------------------------------------------------------------------------
@register
class IncentivePolicy(Policy):
    """Award rules and the effort reps put in for them and for their quota (see the module docstring)."""

    key: ClassVar[str] = "incentives"
    summary: ClassVar[str] = "award rules (relative, absolute, categories), standings, credibility, and reps' effort in response"
    levers: ClassVar[tuple[str, ...]] = ("standings", "territories")  # what-if explorer: the award rules themselves are edited in the scenario file
    writes: ClassVar[tuple] = (INCENTIVES, INCENTIVE_EFFORT)

    rules: tuple[AwardRule, ...] = Field((), max_length=50, description="the awards that run, together (empty = no programme: reps respond to their quota only)")
    standings: Literal["never", "monthly", "weekly"] = Field("monthly", description="how often reps see where everyone stands")
    territories: int = Field(1, ge=1, le=1000, description="territories the reps are split into, in hiring order (Rep 01 in territory 1, Rep 02 in 2, ...)")
    newcomer_days: int = Field(365, ge=1, le=3650, description="a rep hired during the run is a newcomer for this many days")
    response: Response = Field(default_factory=Response, description="how effort responds to chances, award sizes and quota")
    credibility: Credibility = Field(default_factory=Credibility, description="how an award given to nobody damages the programme")
    timing: PeriodEndTiming | None = Field(None, description="reps pull closes into the quota period at a discount (null = no timing games)")

    @model_validator(mode="after")
    def _names_unique(self) -> IncentivePolicy:
        require_unique("rules", (r.name for r in self.rules))
        return self

    def check(self, world: World) -> list[str]:
        problems = []
        if world.reps.quota is None:
            problems.append("reps.quota is needed: effort responds to distance to quota, and absolute bars are set over quota")
        for i, rule in enumerate(self.rules):
            if rule.by == "territory" and self.territories < 2:
                problems.append(f"rules.{i}.by: territory awards need territories >= 2 (now {self.territories})")
            if not _award_periods(world, rule):
                problems.append(f"rules.{i}: no whole {rule.period} between its start and end lies in the run "
                                f"({world.start} to {world.end}); it would never be decided")
        return problems

    # ---- hooks ------------------------------------------------------------------------------------------
    def start(self, model: ModelView) -> IncentiveRun:
        run = IncentiveRun(self, model)
        model.env.process(run.run())
        return run


# ---- what happens during a run ---------------------------------------------------------------------------
def _award_periods(world: World, rule: AwardRule) -> list[int]:
    """Indices of the rule's award periods that lie wholly in the run and in the rule's start..end window."""
    cal = periods.calendar(world.start, world.days, rule.period)
    lo = 0.0 if rule.start is None else max(0.0, float(world.day_of(rule.start)))
    hi = float(world.days) if rule.end is None else min(float(world.days), float(world.day_of(rule.end)))
    return [i for i in range(len(cal.labels)) if cal.starts[i] >= lo - 1e-9 and cal.ends[i] <= hi + 1e-9]


def pull(curve: Curve, chance: float) -> float:
    """The curve's pull at `chance`, interpolated linearly between its points (a scalar: it runs every week
    for every rep and award, where numpy's call overhead would dominate)."""
    x = min(max(chance, 0.0), 1.0)
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return curve[-1][1]


def top_chances(values: np.ndarray, spread: np.ndarray, winners: int) -> np.ndarray:
    """Each contestant's chance of finishing in the top `winners`, when contestant j ends at
    ``values[j] + spread[j] * Z_j`` with independent standard normal Z (the same expected gain for all).

    Exact for that model: for each outcome x of a contestant, the number of others ending above x is a sum of
    independent Bernoulli draws, whose distribution a short recursion gives; a Gauss-Hermite rule integrates
    over x. Equal standings give every contestant winners / n.
    """
    n = len(values)
    if winners >= n:
        return np.ones(n)
    x = values[:, None] + spread[:, None] * _NODES[None, :]                       # (i, node)
    above = ndtr((values[None, None, :] - x[:, :, None]) / spread[None, None, :])    # (i, node, j): P(X_j > x)
    dist = np.zeros((n, len(_NODES), winners))                                      # P(k others above), k < winners
    dist[:, :, 0] = 1.0
    for j in range(n):
        q = above[:, :, j].copy()
        q[j, :] = 0.0                                   # a contestant does not compete with themselves
        shifted = np.concatenate([np.zeros((n, len(_NODES), 1)), dist[:, :, :-1]], axis=2)
        dist = dist * (1.0 - q[:, :, None]) + shifted * q[:, :, None]
    return np.clip((dist.sum(axis=2) * _WEIGHTS[None, :]).sum(axis=1), 0.0, 1.0)


@dataclass
class _Pool:
    """One award a rep can win now: a rule's group in its current award period."""

    rule: AwardRule
    period: int                 # award period index in the rule's calendar
    category: str | None
    members: list[Rep]
    chances: dict[str, float] = field(default_factory=dict)   # top-N chance from the last standings seen


class IncentiveRun(PolicyRun):
    """One run of `IncentivePolicy`: bookings kept per period, standings, credibility, effort, decisions."""

    def __init__(self, policy: IncentivePolicy, model: ModelView):
        self.policy, self.model, self.world = policy, model, model.world
        world = model.world
        self.quota = float(world.reps.quota)
        self.cals = {p: periods.calendar(world.start, world.days, p) for p in PER_YEAR}
        self.qcal = self.cals[world.reps.quota_period]
        self.months = self.cals["month"]
        self.booked: dict[tuple, float] = defaultdict(float)      # (rep, period kind, index[, segment]) -> amount
        self.segments = [s.name for s in world.segments]
        worth = np.array([s.share * s.deal_size for s in world.segments])
        self.segment_share = dict(zip(self.segments, worth / worth.sum()))
        self.due = {i: _award_periods(world, r) for i, r in enumerate(policy.rules)}
        self.decided: set[tuple[int, int]] = set()
        self.awards: list[dict] = []
        self.credibility = policy.credibility.start
        self.clock = 0.0                                           # last day effort was integrated to
        self.acc: dict[tuple[str, int], np.ndarray] = defaultdict(lambda: np.zeros(7))   # (rep, month) -> sums
        self.rank: dict[tuple[str, int], float] = {}
        self.pools: dict[tuple[int, str | None], _Pool] = {}
        self.parts: dict[str, tuple[float, float, float, float]] = {}   # rep -> (effort, quota, prizes, chance)
        self.pulled_in = 0                                          # deals whose close was pulled in
        self.pulled: set[Deal] = set()                              # ... which they are
        self.effort_of: dict[Rep, float] = {}                       # each rep's current effort multiplier
        self.discounts = 0.0                                        # price given up on them
        self.finished = False
        self.curve_p = policy.response.prize_curve
        self.curve_q = policy.response.quota_curve

    # ---- hooks ------------------------------------------------------------------------------------------
    def effort(self, model: ModelView, rep: Rep) -> float:
        return self.effort_of.get(rep, 1.0)

    def on_close(self, model: ModelView, deal: Deal) -> None:
        if deal.won:
            self.book(deal)

    def stage_days(self, model: ModelView, deal: Deal, i: int, days: float) -> float:
        if self.policy.timing is None or i != len(model.world.stages) - 1:
            return days
        return self.timed_close(deal, days)

    def signed_amount(self, model: ModelView, deal: Deal, amount: float) -> float:
        timing = self.policy.timing
        if timing is not None and deal in self.pulled:
            self.discounts += amount * timing.discount
            return amount * (1.0 - timing.discount)
        return amount

    def tables(self, model: ModelView) -> dict[str, pd.DataFrame]:
        self.finish()
        return {"incentives": self.awards_table(), "incentive_effort": self.effort_table()}

    def metrics(self, model: ModelView) -> dict[str, float]:
        self.finish()
        awards = self.awards_table()
        decided = awards.drop_duplicates(["period", "rule", "category"])
        no_winner = decided["winner"].isna()
        return {"incentive_payout": float(awards["payout"].sum()),
                "incentive_decisions": float(len(decided)),
                "incentive_no_winner": float(no_winner.sum()),
                "pulled_in_deals": float(self.pulled_in),
                "timing_discount": float(self.discounts)}

    # ---- the story ----------------------------------------------------------------------------------
    def run(self):
        """Process: every week, and at every month start, quota period start and award period start and end:
        add up effort so far, decide the awards that are due, publish the standings when it is their day, and
        recompute every rep's effort."""
        env, world = self.model.env, self.world
        weekly = set(np.arange(0.0, world.days, 7.0).tolist())
        days = set(weekly)
        days |= {float(d) for d in self.months.starts if 0 <= d < world.days}
        days |= {float(d) for d in self.qcal.starts if 0 <= d < world.days}
        for i, rule in enumerate(self.policy.rules):
            cal = self.cals[rule.period]
            days |= {float(cal.ends[k]) for k in self.due[i] if cal.ends[k] < world.days}
            days |= {float(max(cal.starts[k], 0.0)) for k in self.due[i]}
        month_starts = {float(d) for d in self.months.starts}
        for day in sorted(days):
            if day > env.now:
                yield env.timeout(day - env.now)
            self.integrate(env.now)
            self.decide_due(env.now)
            if day in month_starts:
                self.note_ranks(env.now)
            publish = (self.policy.standings == "weekly" and day in weekly) or \
                      (self.policy.standings == "monthly" and day in month_starts)
            self.refresh(env.now, publish)

    def book(self, deal: Deal) -> None:
        """A won deal counts for its owner in every period kind it closed in (and in its segment)."""
        day, rep, amount = self.model.now, deal.owner.name, float(deal.amount)
        for kind, cal in self.cals.items():
            i = cal.index(day)
            self.booked[(rep, kind, i)] += amount
            self.booked[(rep, kind, i, deal.lead.segment)] += amount

    def timed_close(self, deal: Deal, days: float) -> float:
        """The last stage's customer days, pulled in to end before the quota period's end when the close
        would fall just after it and the owner is still short of quota (a discount is the price)."""
        timing, now = self.policy.timing, self.model.now
        i = self.qcal.index(now)
        end = float(self.qcal.ends[i])
        if not (now + days > end and now + days - end <= timing.pull_in_days and end < self.world.days):
            return days
        rep = deal.owner
        if self.booked.get((rep.name, self.world.reps.quota_period, i), 0.0) >= self._quota_for(rep, self.world.reps.quota_period, i):
            return days
        self.pulled.add(deal)
        self.pulled_in += 1
        return max(end - now - 1e-3, 0.0)

    # ---- effort ---------------------------------------------------------------------------------------
    def refresh(self, now: float, publish: bool) -> None:
        """Recompute every active rep's effort from their quota chance, the awards open to them and credibility."""
        reps = self.model.team.active
        resp = self.policy.response
        self.update_pools(now, reps, publish)
        qi = self.qcal.index(now)
        for rep in reps:
            plan = self._quota_for(rep, self.world.reps.quota_period, qi)
            if plan > 0:
                got = self.booked.get((rep.name, self.world.reps.quota_period, qi), 0.0) / plan
                p_quota = self._reach(got, 1.0, self.qcal, qi, plan, now)
                from_quota = resp.quota_lift * pull(self.curve_q, p_quota)
            else:
                from_quota = 0.0
            from_prizes, best = 0.0, np.nan
            for pool in self.pools.values():
                if rep.name not in pool.chances:
                    continue
                chance = self._chance(pool, rep, now)
                best = chance if np.isnan(best) else max(best, chance)
                size = (pool.rule.award / resp.reference_award) ** resp.size_elasticity
                from_prizes += resp.prize_lift * size * pull(self.curve_p, chance)
            from_prizes *= self.credibility
            effort = min(resp.max_effort, 1.0 + from_quota + from_prizes)
            scale = (effort - 1.0) / (from_quota + from_prizes) if from_quota + from_prizes > 0 else 0.0
            self.effort_of[rep] = effort
            self.parts[rep.name] = (effort, from_quota * scale, from_prizes * scale, best)

    def update_pools(self, now: float, reps: list[Rep], publish: bool) -> None:
        """The awards open now, their members, and (when standings are published) each member's top-N chance."""
        current: dict[tuple[int, str | None], _Pool] = {}
        for i, rule in enumerate(self.policy.rules):
            cal = self.cals[rule.period]
            k = cal.index(now)
            if k not in self.due[i] or (i, k) in self.decided:
                continue
            for category, members in self._groups(rule, reps, cal, k):
                old = self.pools.get((i, category))
                pool = _Pool(rule, k, category, members)
                fresh = old is None or old.period != k or [m.name for m in old.members] != [m.name for m in members]
                if fresh or publish or self.policy.standings == "never":
                    pool.chances = self._top_chances(pool, now, visible=self.policy.standings != "never" and (publish or fresh))
                else:
                    pool.chances = old.chances
                current[(i, category)] = pool
        self.pools = current

    def _groups(self, rule: AwardRule, reps: list[Rep], cal: periods.Calendar, k: int) -> list[tuple[str | None, list[Rep]]]:
        """The groups a rule awards in period k: everyone, or each territory / segment, or the newcomers."""
        on = [r for r in reps if self._quota_for(r, rule.period, k) > 0]
        if rule.kind != "categories":
            return [(None, on)] if on else []
        if rule.by == "segment":
            return [(s, on) for s in self.segments] if on else []
        if rule.by == "newcomer":
            days = self.policy.newcomer_days
            new = [r for r in on if r.joined >= 0 and cal.starts[k] - r.joined < days]
            return [("newcomers", new)] if new else []
        groups: dict[int, list[Rep]] = defaultdict(list)
        for r in on:
            groups[self._territory(r)].append(r)
        return [(f"Territory {t + 1}", groups[t]) for t in sorted(groups)]

    def _territory(self, rep: Rep) -> int:
        return self.model.team.reps.index(rep) % self.policy.territories

    def _top_chances(self, pool: _Pool, now: float, visible: bool) -> dict[str, float]:
        """Each member's chance of being among the top `winners`: from the standings when visible, else winners / n."""
        n, rule = len(pool.members), pool.rule
        names = [m.name for m in pool.members]
        winners = n if rule.winners is None else rule.winners
        if not visible or rule.winners is None:
            return dict(zip(names, np.full(n, min(1.0, winners / n))))
        days_left = max(float(self.cals[rule.period].ends[pool.period]) - now, 0.25)
        values = np.array([self._score(pool, m) for m in pool.members])
        if rule.metric == "attainment":   # a year's outlook in units of this period's quota
            scale = np.array([self.quota / max(self._quota_for(m, rule.period, pool.period), 1e-9) for m in pool.members])
        else:
            scale = np.full(n, self.quota * (self.segment_share[pool.category] if rule.by == "segment" else 1.0))
        spread = np.maximum(self._outlook(days_left) * scale, 1e-9)
        return dict(zip(names, top_chances(values, spread, winners)))

    def _outlook(self, days_left: float) -> float:
        """Uncertainty of what is still to come, as a share of a yearly quota: outlook_cv x sqrt(years left)."""
        return self.policy.response.outlook_cv * math.sqrt(max(days_left, 0.0) / 365.25)

    def _chance(self, pool: _Pool, rep: Rep, now: float) -> float:
        """The rep's perceived chance of winning this award now: top-N chance, and for an absolute rule the
        chance of clearing the bar (from the rep's own bookings, which they always know)."""
        chance = pool.chances[rep.name]
        if pool.rule.kind == "absolute":
            cal = self.cals[pool.rule.period]
            plan = self._quota_for(rep, pool.rule.period, pool.period)
            got = self.booked.get((rep.name, pool.rule.period, pool.period), 0.0) / plan
            chance *= self._reach(got, 1.0 + pool.rule.over_quota, cal, pool.period, plan, now)
        return chance

    def _reach(self, got: float, bar: float, cal: periods.Calendar, k: int, plan: float, now: float) -> float:
        """Chance that attainment `got` so far in period k reaches `bar` by its end: the rest of the period at
        quota pace, give or take the outlook's uncertainty (`plan`: the rep's quota for the period)."""
        end = float(cal.ends[k])
        left = self._left(cal, k, now)
        if left <= 1e-6:
            return float(got >= bar)
        sd = self._outlook(end - now) * self.quota / plan
        return float(ndtr((got + left - bar) / sd))

    def integrate(self, now: float) -> None:
        """Add each rep's effort since the last update to the month it falls in (updates fall on month starts)."""
        span = now - self.clock
        if span <= 0:
            return
        month = self.months.index(self.clock)
        for rep in self.model.team.reps:
            parts = self.parts.get(rep.name)
            if parts is None or (rep.left is not None and rep.left < self.clock):
                continue
            effort, quota_part, prize_part, chance = parts
            seen = not np.isnan(chance)
            self.acc[(rep.name, month)] += span * np.array(
                [1.0, effort, quota_part, prize_part, self.credibility, chance if seen else 0.0, float(seen)])
        rec = self.policy.credibility
        self.credibility = 1.0 - (1.0 - self.credibility) * math.exp(-span / (365.25 * rec.recovery_years))
        self.clock = now

    def note_ranks(self, now: float) -> None:
        """Each active rep's place by bookings so far this calendar year, at the start of a month."""
        year = self.cals["year"].index(now)
        if now - self.cals["year"].starts[year] < 1:
            return
        reps = self.model.team.active
        got = pd.Series({r.name: self.booked.get((r.name, "year", year), 0.0) for r in reps})
        month = self.months.index(now)
        for name, rank in got.rank(ascending=False, method="min").items():
            self.rank[(name, month)] = float(rank)

    # ---- awards -----------------------------------------------------------------------------------------
    def decide_due(self, now: float) -> None:
        """Decide every award period that has ended by `now`; an award given to nobody costs credibility."""
        missed = 0
        for i, rule in enumerate(self.policy.rules):
            cal = self.cals[rule.period]
            for k in self.due[i]:
                if cal.ends[k] <= now + 1e-9 and (i, k) not in self.decided:
                    self.decided.add((i, k))
                    missed += self.decide(i, rule, cal, k)
        if missed:
            self.credibility *= (1.0 - self.policy.credibility.drop) ** missed

    def decide(self, i: int, rule: AwardRule, cal: periods.Calendar, k: int) -> int:
        """Write the rows of one award decision; returns how many groups had no winner."""
        reps = [r for r in self.model.team.reps if r.joined < cal.ends[k] and (r.left is None or r.left >= cal.ends[k])]
        missed = 0
        for category, members in self._groups(rule, reps, cal, k):
            pool = _Pool(rule, k, category, members)
            scores = [(self._score(pool, m), -self.model.team.reps.index(m), m) for m in members]
            ranked = [m for _, _, m in sorted(scores, key=lambda s: (s[0], s[1]), reverse=True)]
            score = {m.name: s for s, _, m in scores}
            row = {"period": cal.labels[k], "rule": rule.name, "category": category, "bar": None}
            if rule.kind == "absolute":
                bar = 1.0 + rule.over_quota
                row["bar"] = bar
                top = ranked if rule.winners is None else ranked[: rule.winners]
                won = [m for m in top if self._attainment(m, rule.period, k) >= bar - 1e-12]
            else:
                won = ranked[: rule.winners]
            for m in won:
                self.awards.append({**row, "winner": m.name, "payout": rule.award, "score": score[m.name]})
            if not won:
                missed += 1
                best = score[ranked[0].name] if ranked else None
                self.awards.append({**row, "winner": None, "payout": 0.0, "score": best})
        return missed

    def _score(self, pool: _Pool, rep: Rep) -> float:
        rule = pool.rule
        if rule.metric == "attainment":
            return self._attainment(rep, rule.period, pool.period)
        if rule.by == "segment":
            return self.booked.get((rep.name, rule.period, pool.period, pool.category), 0.0)
        return self.booked.get((rep.name, rule.period, pool.period), 0.0)

    def _attainment(self, rep: Rep, kind: str, k: int) -> float:
        plan = self._quota_for(rep, kind, k)
        return self.booked.get((rep.name, kind, k), 0.0) / plan if plan > 0 else 0.0

    def _quota_for(self, rep: Rep, kind: str, k: int) -> float:
        """The rep's quota for period k of that kind: the yearly quota's share (as `sim.core.quota` counts it),
        prorated for the days the rep was on the team."""
        cal = self.cals[kind]
        start, end = float(cal.starts[k]), float(cal.ends[k])
        on_from = max(start, rep.joined, 0.0)
        on_to = min(end, float(self.world.days), rep.left if rep.left is not None else end)
        return self.quota / PER_YEAR[kind] * max(0.0, on_to - on_from) / (end - start)

    @staticmethod
    def _left(cal: periods.Calendar, k: int, now: float) -> float:
        start, end = float(cal.starts[k]), float(cal.ends[k])
        return max(0.0, end - now) / (end - start)

    # ---- after the run ------------------------------------------------------------------------------
    def finish(self) -> None:
        """Integrate effort to the run's end and decide award periods that end exactly there (once)."""
        if self.finished:
            return
        self.finished = True
        self.integrate(float(self.world.days))
        self.decide_due(float(self.world.days))

    def awards_table(self) -> pd.DataFrame:
        cols = ["period", "rule", "category", "winner", "payout", "score", "bar"]
        rows = pd.DataFrame(self.awards, columns=cols)
        for c in ("category", "winner"):
            rows[c] = pd.Series([None if v is None or v != v else v for v in rows[c]], dtype="object")
        return schema.conform(rows.astype({"payout": float, "score": float, "bar": float}), "incentives")

    def effort_table(self) -> pd.DataFrame:
        rows = []
        for (name, month), acc in self.acc.items():
            span = acc[0]
            rows.append({"period": self.months.labels[month], "owner": name, "effort": acc[1] / span,
                         "from_quota": acc[2] / span, "from_prizes": acc[3] / span, "credibility": acc[4] / span,
                         "chance": acc[5] / acc[6] if acc[6] > 0 else np.nan,
                         "rank": self.rank.get((name, month), np.nan)})
        cols = ["period", "owner", "effort", "from_quota", "from_prizes", "credibility", "chance", "rank"]
        table = pd.DataFrame(rows, columns=cols).sort_values(["period", "owner"], kind="stable").reset_index(drop=True)
        return schema.conform(table.astype({c: float for c in cols[2:]}), "incentive_effort")
