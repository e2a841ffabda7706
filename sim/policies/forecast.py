"""Forecast discipline: a review every week, month, quarter or year, and a rule for what goes in the call.

`ForecastPolicy` runs one SimPy process, the forecast review::

    at every review (the cadence):
        each rep checks in with the customer of every open deal   (a contact: they may learn the truth)
        each rep spends the review's hours away from selling
        each rep's forecast for the current period(s) is written to the `forecasts` table:
            closed   - won so far in the period
            commit   - what the inclusion rule puts in the call
            pipeline - the rest of the deals expected to close in the period

Inclusion rules (what "commit" holds):

- ``stage_weighted``: every deal expected to close in the period, at its amount times the chance of
  winning from its stage (the usual CRM pipeline maths);
- ``rep_judgement``: every deal unless the rep has learned it has no budget or a competitor is ahead,
  at the amount first quoted, with the rep's own optimistic close date: what a rep assumes rather than
  checks (a weak champion or an unchecked budget does not stop an optimist);
- ``evidence_gated``: only deals whose evidence the rep has actually seen (the criteria are data: a
  budget, a champion with power, no competitor ahead, recent contact), at their whole expected amount.

Amounts are the first estimate times the scenario's median realisation (what the team has learned to
expect a quote to sign at), except under ``rep_judgement``, where the rep takes the quote at face value.

The forecast call is closed + commit; `sim.analysis.forecast` compares it with what was booked.

An inclusion rule changes only the call written, never a deal (a review's contacts and hours are the same
whatever the rule), so one run can be scored under several rules: `also_score` names other rules whose calls
are written beside the team's, one row set per rule, to the `forecast_calls` table. Each rule's rows are what
a run with that rule would write to `forecasts` (`sim.experiments.forecast_discipline.replicate_forecasts`
runs a grid of rules this way, a run per cadence instead of one per habit).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import pandas as pd
from pydantic import Field, model_validator

from ..core import periods, schema
from ..core.periods import Cadence
from ..engine.deal import pass_chances
from ..engine.entities import Deal
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.priority import URGENT
from ..engine.team import Rep
from ..world import World

Inclusion = Literal["stage_weighted", "rep_judgement", "evidence_gated"]
Criterion = Literal["budget", "champion", "no_competitor_ahead", "recent_contact"]

FORECAST_CALLS = schema.register(schema.Table(
    "forecast_calls",
    (*schema.FORECASTS.cols,
     schema.Col("rule", "str", required=True, nullable=False, doc="the inclusion rule that wrote these rows")),
    doc="the same run's forecast snapshots under other inclusion rules (`ForecastPolicy.also_score`)",
))


@register
class ForecastPolicy(Policy):
    """How often the team forecasts, and which deals it puts in the call."""

    key: ClassVar[str] = "forecast"
    summary: ClassVar[str] = "forecast reviews: cadence and which deals go in the call (null = no forecasting)"
    levers: ClassVar[tuple[str, ...]] = ("cadence", "inclusion", "review_hours")

    cadence: Cadence = Field("quarterly", description="how often reps review and forecast: weekly, monthly, quarterly, yearly")
    inclusion: Inclusion = Field(
        "stage_weighted", description="what goes in the call: stage_weighted, rep_judgement or evidence_gated"
    )
    evidence: tuple[Criterion, ...] = Field(
        ("budget", "champion", "no_competitor_ahead"),
        description="evidence a deal needs before evidence_gated commits it: budget, champion, no_competitor_ahead, recent_contact",
    )
    champion_power_min: float = Field(0.5, ge=0, le=1, description="power (0..1) a champion needs to count as evidence")
    recent_contact_days: float = Field(14.0, gt=0, description="days within which the last contact counts as recent")
    review_hours: float = Field(2.0, ge=0, le=40, description="hours each rep spends on one review (checking in with customers, updating the CRM)")
    optimism: float = Field(
        0.2, ge=0, lt=1, description="rep_judgement: share by which reps shorten the time they expect a deal still needs"
    )
    period: Literal["quarter", "month"] = Field("quarter", description="the period forecast: quarter or month")
    stage_probabilities: tuple[float, ...] | None = Field(
        None, description="chance of winning from each stage for stage_weighted (null = from the scenario's stage table)"
    )
    also_score: tuple[Inclusion, ...] = Field(
        (), description="other inclusion rules whose calls on the same deals are written too, to the forecast_calls "
                        "table (the run itself is the same whatever the rule)"
    )

    @model_validator(mode="after")
    def _probabilities(self) -> ForecastPolicy:
        if self.stage_probabilities is not None and not all(0 <= p <= 1 for p in self.stage_probabilities):
            raise ValueError("stage_probabilities must each be between 0 and 1")
        if self.inclusion in self.also_score or len(set(self.also_score)) < len(self.also_score):
            raise ValueError(f"also_score: {list(self.also_score)} must name each rule once, and not the call's own "
                             f"rule ({self.inclusion})")
        return self

    def check(self, world: World) -> list[str]:
        if self.stage_probabilities is not None and len(self.stage_probabilities) != len(world.stages):
            return [f"stage_probabilities: {len(self.stage_probabilities)} values for {len(world.stages)} stages; "
                    "give one per stage"]
        return []

    # ---- hooks ---------------------------------------------------------------------------------
    def start(self, model: ModelView) -> ForecastBook:
        book = ForecastBook.open(self, model.world)
        model.env.process(self.reviews(model.env, model, book))
        return book

    # ---- the review ----------------------------------------------------------------------------
    def reviews(self, env, model: ModelView, book: ForecastBook):
        """Process: at every review date, reps check in on their deals, spend the time, and forecast."""
        ticks = review_days(model.world, self.cadence)
        for k, day in enumerate(ticks):
            if day > env.now:
                yield env.timeout(day - env.now)
            next_day = ticks[k + 1] if k + 1 < len(ticks) else float(model.world.days)
            open_deals = book.open_deals(model)
            for deal in open_deals:
                deal.knows.contact(env.now)
            for rep in model.team.active:
                if self.review_hours > 0:
                    env.process(self.review_time(model, rep, book))
            book.snapshot(env.now, next_day, open_deals, model)

    def review_time(self, model: ModelView, rep: Rep, book: ForecastBook):
        """Process: the rep spends the review's hours, ahead of any deal waiting for them."""
        yield from model.desk_time(rep, self.review_hours, URGENT, effort=1.0)
        book.review_hours += self.review_hours

    # ---- the inclusion rule ----------------------------------------------------------------------
    def commit_test(self, inclusion: Inclusion | None = None) -> Callable[[Deal, float], bool]:
        """Whether the rule (the call's own, or `inclusion`) puts a deal in the call at day `now` (`stage_weighted`
        commits a share of every deal instead), as one fast function of (deal, now): the evidence list is read
        once, since the test runs for every open deal at every review. Unknown evidence is not evidence."""
        if (inclusion or self.inclusion) != "evidence_gated":
            return lambda deal, now: not self.heard_against(deal)
        budget, champion = "budget" in self.evidence, "champion" in self.evidence
        competitor, recent = "no_competitor_ahead" in self.evidence, "recent_contact" in self.evidence
        power_min, recent_days = self.champion_power_min, self.recent_contact_days

        def test(deal: Deal, now: float) -> bool:
            k = deal.knows
            if budget and k.budget() is not True:
                return False
            if champion and ((power := k.champion_power()) is None or power < power_min):
                return False
            if competitor and k.competitor_ahead() is not False:
                return False
            return not recent or (k.last_contact is not None and now - k.last_contact <= recent_days)
        return test

    @staticmethod
    def heard_against(deal: Deal) -> bool:
        """Whether the rep has heard what an optimist cannot ignore: no budget, or a competitor ahead."""
        return deal.knows.budget() is False or deal.knows.competitor_ahead() is True


def review_days(world: World, cadence: Cadence) -> list[float]:
    """Simulated days of the reviews: the first day, then every 7 days or every month / quarter / year start."""
    start = pd.Timestamp(world.start)
    dates = periods.review_dates(start, start + pd.Timedelta(days=world.days - 1), cadence, first_day=True)
    return [float((d - start).days) for d in dates]


@dataclass(eq=False)
class _Rule:
    """One inclusion rule's way of calling the deals: the share of a deal it commits, and the rep's view of a deal's
    amount and remaining time (the quote at face value and an optimist's dates under `rep_judgement`)."""

    name: Inclusion
    weighted: bool
    committed: Callable[[Deal, float], bool]
    amount_factor: float                 # expected signed amount / first estimate
    time_factor: float                   # the rep's view of the time a deal still needs / the typical time
    rows: list[tuple] = field(default_factory=list)

    @classmethod
    def of(cls, policy: ForecastPolicy, inclusion: Inclusion, world: World) -> _Rule:
        judgement = inclusion == "rep_judgement"
        return cls(inclusion, inclusion == "stage_weighted", policy.commit_test(inclusion),
                   amount_factor=1.0 if judgement else world.deal_value.realisation_median,
                   time_factor=1.0 - policy.optimism if judgement else 1.0)


@dataclass(eq=False)
class ForecastBook(PolicyRun):
    """One run of `ForecastPolicy`: open deals, bookings per rep and period, and the snapshots written (the call's
    own rule first, then each of `also_score`)."""

    policy: ForecastPolicy
    world: World
    bounds: list[float]                  # period start days, ascending
    labels: list[str]
    later_days: list[float]              # median days of the stages after each stage
    stage_medians: list[float]               # median days of each stage
    stage_prob: list[float]
    rules: list[_Rule]
    won: defaultdict = field(default_factory=lambda: defaultdict(float))
    live: dict = field(default_factory=dict)     # open deals by id
    seen: int = 0
    reviews: int = 0
    review_hours: float = 0.0

    @classmethod
    def open(cls, policy: ForecastPolicy, world: World) -> ForecastBook:
        starts, labels = _period_starts(world, policy.period)
        medians = [s.median_days for s in world.stages]
        later = [sum(medians[i + 1 :]) for i in range(len(medians))]
        if policy.stage_probabilities is not None:
            prob = list(policy.stage_probabilities)
        else:
            passes = pass_chances(world, 0.5, 1.0)
            prob = [math.prod(passes[i:]) for i in range(len(passes))]
        rules = [_Rule.of(policy, inclusion, world) for inclusion in (policy.inclusion, *policy.also_score)]
        return cls(policy, world, starts, labels, later, medians, prob, rules)

    def on_close(self, model: ModelView, deal: Deal) -> None:
        if deal.won:
            self.won[(deal.owner.name, self.period_of(deal.closed)[0])] += deal.amount

    def tables(self, model: ModelView) -> dict[str, pd.DataFrame]:
        own, *others = self.rules
        out = {"forecasts": self.table(model, own.rows)}
        if others:
            calls = [self.table(model, rule.rows).assign(rule=rule.name) for rule in others]
            out["forecast_calls"] = schema.conform(pd.concat(calls, ignore_index=True), "forecast_calls")
        return out

    def metrics(self, model: ModelView) -> dict[str, float]:
        return {"forecast_reviews": float(self.reviews), "forecast_review_hours": self.review_hours}

    def period_of(self, day: float) -> tuple[str, int]:
        """Label and index of the period holding simulated day `day`."""
        i = bisect.bisect_right(self.bounds, day) - 1
        return self.labels[i], i

    def open_deals(self, model: ModelView) -> list[Deal]:
        """The deals open now (kept incrementally: new deals join, closed ones leave)."""
        for deal in model.deals[self.seen :]:
            self.live[deal.id] = deal
        self.seen = len(model.deals)
        for key in [k for k, d in self.live.items() if d.closed is not None]:
            del self.live[key]
        return list(self.live.values())

    def expected_close(self, deal: Deal, now: float, rule: _Rule) -> float:
        """The day the rep expects the deal to close: the typical time its remaining stages take."""
        i = deal.stage_index
        remaining = max(self.stage_medians[i] - (now - deal.history[-1][1]), 0.0) + self.later_days[i]
        return now + remaining * rule.time_factor

    def snapshot(self, now: float, next_review: float, deals: list[Deal], model: ModelView) -> None:
        """Write every rep's forecast for each period that the time until the next review touches, under each rule."""
        self.reviews += 1
        first = self.period_of(now)[1]
        last = self.period_of(max(now, next_review - 1e-9))[1]
        for rule in self.rules:
            self._call(rule, now, first, last, deals, model)

    def _call(self, rule: _Rule, now: float, first: int, last: int, deals: list[Deal], model: ModelView) -> None:
        """One rule's rows of a review: closed, commit and pipeline per rep and period."""
        lo, hi = self.bounds[first], self.bounds[last + 1]
        weighted, committed = rule.weighted, rule.committed
        amounts: dict[tuple[str, int, str], float] = defaultdict(float)
        for deal in deals:
            close = self.expected_close(deal, now, rule)
            if not lo <= close < hi:
                continue
            p = first if last == first else self.period_of(close)[1]
            value = deal.lead.first_estimate * rule.amount_factor
            share = self.stage_prob[deal.stage_index] if weighted else float(committed(deal, now))
            owner = deal.owner.name
            amounts[(owner, p, "commit")] += value * share
            amounts[(owner, p, "pipeline")] += value * (1.0 - share)
        for p in range(first, last + 1):
            label = self.labels[p]
            for rep in model.team.reps:
                if rep.left is not None and rep.left <= now:
                    continue
                rule.rows.append((now, label, rep.name, "closed", self.won[(rep.name, label)]))
                for category in ("commit", "pipeline"):
                    rule.rows.append((now, label, rep.name, category, amounts[(rep.name, p, category)]))

    def table(self, model: ModelView, rows: list[tuple]) -> pd.DataFrame:
        """Snapshots as the canonical `forecasts` table (amounts rounded to cents)."""
        df = pd.DataFrame(rows, columns=["as_of", "period", "owner", "category", "amount"])
        df["as_of"] = model.timestamps(df["as_of"].to_numpy(dtype=float))
        df["amount"] = df["amount"].round(2)
        return schema.conform(df, "forecasts")


def _period_starts(world: World, kind: str) -> tuple[list[float], list[str]]:
    """Start days and labels of every period from before the run's start to a year past its end."""
    freq = "Q" if kind == "quarter" else "M"
    spans = pd.period_range(pd.Timestamp(world.start).to_period(freq),
                            (pd.Timestamp(world.end) + pd.Timedelta(days=730)).to_period(freq))
    start = pd.Timestamp(world.start)
    days = [(p.start_time - start).days for p in spans]
    return [float(d) for d in days], [periods.label(p.start_time, kind) for p in spans]
