"""Free trials and paid pilots: what the customer puts in, what our support puts in, and what comes out.

`TrialPolicy` plays out principle 10 in the deal's Evaluation of Options. With ``offer = "free"`` every deal
that reaches the stage gets a trial; with ``"paid"`` the buyer is asked to pay `pilot_fee` (a share of the
deal's estimate, credited toward the purchase when `fee_credited`) for a pilot, and a share `pilot_take_up`
agrees (the rest evaluate without one); ``"none"`` changes nothing, so it is the reference on the same deals.

During the trial (`trial_days`; the stage lasts at least that long):

- the customer engages: the share of the trial's potential use they put in, drawn per buyer around
  `engagement` (a logit-normal spread). A buyer who paid engages more: `investment_effect` shifts the logit.
  This is the article's "people value what they paid for"; the evidence is mixed. In Arkes & Blumer's field
  study (1985, theatre season tickets at randomly discounted prices) those who paid full price attended 4.1
  of the first 5 plays against 3.3 for the discounted groups, and the gap was gone in the second half of the
  season; Ashraf, Berry & Shapiro (AER 2010, a randomised price experiment in Zambia) found higher prices
  screened out low users but found no consistent sunk-cost effect on use. Our default shift of 1.0 on the
  logit takes a 35%-engaged free triallist to 59% when paying: a large effect, to be varied, and 0 is the
  ablation;
- our support works with them: `support_hours` per trial in `support_touches` sessions spread over it,
  taken from the deal's rep's desk (``support_by = "reps"``) or from a pool of `engineers`, at normal
  priority, so support competes with every deal's work. A session not finished by the trial's end does not
  count;
- the trial succeeds with chance engagement x (self_serve + (1 - self_serve)(1 - exp(-hours / support_scale_hours))):
  no amount of support rescues a customer who does not engage, and a customer left alone succeeds less;
- at the end of the stage a successful trial multiplies the deal's chance of being lost there by
  `success_loss`, a failed one by `failure_loss`: a trial is evidence for the buyer either way.

How much a trial's success moves the deal (`success_loss`, `failure_loss`) and how much support adds
(`self_serve`, `support_scale_hours`) have no public large-sample figure; trial-software vendors report that
trials which reach the product's value convert at multiples of those that do not, without intervals. They
are stated assumptions, and the notebook shows the result across support hours.

Vendor benchmarks put no-card ("opt-in") SaaS trials at about 15-25% trial-to-paid and card-required
("opt-out") trials at about 40-60% (Totango 2012 and successors, vendor data without intervals). That
gap mixes what the buyer put in with who agreed to start (screening). `screening` lets who takes a paid
pilot follow the buyer's real budget (the hidden truth): buyers with a budget agree (1 + screening) times as
often as `pilot_take_up`, those without (1 - screening) times, so the notebook can show a pilot "converting
better" in an export with no investment effect at all.

Each trial is written to `activities` (kind ``trial`` for a free trial, ``pilot`` for a paid one; at its
start; `duration_minutes` = the customer's hands-on minutes, the engagement a usage log would show; outcome
``converted`` / ``not converted`` once the deal closes) and each support session as kind ``support`` with our
minutes. Draws come from each deal's own stream, so the same buyer engages alike under every offer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from pydantic import Field

from ..engine.entities import Deal
from ..engine.activities import ACTIVITIES, Touch
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.rounding import rounded
from ..engine.priority import NORMAL
from ..engine.desk import Desk
from ..engine.team import Rep
from ..world import World

KINDS = {"free": "trial", "paid": "pilot"}   # offer -> activity kind


@dataclass
class Trial:
    """One deal's trial: its type, the customer's engagement, our support so far, how it ended."""

    kind: str
    start: float
    end: float
    engagement: float
    u_success: float
    fee: float
    row: Touch                       # its row in the activity log (the outcome is written at the close)
    delivered: float = 0.0           # support hours finished before the trial's end
    success: bool | None = None      # decided at the end of the stage
    sessions: list[float] = field(default_factory=list)


def expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@register
class TrialPolicy(Policy):
    """A free trial, a paid pilot or neither during evaluation; conversion, support time and fees."""

    key: ClassVar[str] = "trials"
    summary: ClassVar[str] = "a free trial or a paid pilot during evaluation, and the support we give it (null = no trials)"
    levers: ClassVar[tuple[str, ...]] = ("offer", "trial_days", "pilot_fee", "fee_credited", "support_hours", "support_by", "engineers")  # what-if explorer: the offer and its support; the rest is how buyers respond
    writes: ClassVar[tuple] = (ACTIVITIES,)

    offer: Literal["none", "free", "paid"] = Field("free", description="none, a free trial, or a paid pilot")
    stage: str = Field("Evaluation of Options", min_length=1, description="the stage in which the trial runs")
    trial_days: float = Field(30.0, gt=0, le=365, description="length of a trial; the stage lasts at least this long")
    engagement: float = Field(0.35, gt=0, lt=1, description="typical share of a free trial's potential use a buyer puts in")
    engagement_spread: float = Field(1.0, ge=0, le=5, description="spread of engagement between buyers (sd on the logit scale)")
    investment_effect: float = Field(0.9, ge=0, le=5, description="rise in engagement (logit) when the buyer paid for the pilot; 0 = none (the ablation)")
    pilot_fee: float = Field(0.05, ge=0, le=1, description="fee for a paid pilot, as a share of the deal's first estimate")
    fee_credited: bool = Field(True, description="the pilot fee counts toward the purchase when the buyer signs (it adds revenue only when they do not)")
    pilot_take_up: float = Field(0.7, ge=0, le=1, description="share of buyers who agree to pay for a pilot; the rest evaluate without one")
    screening: float = Field(0.0, ge=0, le=1, description="how much a buyer's real budget decides whether they pay for a pilot (0 = not at all)")
    support_hours: float = Field(6.0, ge=0, le=200, description="hours of our support per trial")
    support_touches: int = Field(3, ge=1, le=50, description="sessions the support hours are spread over")
    support_by: Literal["reps", "engineers"] = Field("reps", description="who gives the support: the deal's rep, or a pool of engineers")
    engineers: int = Field(2, ge=1, le=200, description="engineers in the pool (support_by = engineers)")
    engineer_hours_per_week: float = Field(30.0, gt=0, le=80, description="hours a week each engineer gives to trials")
    support_scale_hours: float = Field(4.0, gt=0, le=200, description="support hours that give 63% of what support can add")
    self_serve: float = Field(0.3, ge=0, le=1, description="success chance of an engaged buyer with no support, as a share of the supported one")
    success_loss: float = Field(0.25, ge=0, le=1, description="multiplier on the stage's loss chance after a successful trial")
    failure_loss: float = Field(1.5, ge=1, le=5, description="multiplier on the stage's loss chance after a failed trial")
    full_use_hours: float = Field(40.0, gt=0, le=1000, description="customer hands-on hours of a fully engaged trial (for the activity row)")

    def check(self, world: World) -> list[str]:
        names = world.stage_names
        return [] if self.stage in names else [f"stage: {self.stage!r} is not a stage ({', '.join(names)})"]

    # ---- the numbers the settings imply ------------------------------------------------------------
    def buyer_engagement(self, z: float, paid: bool) -> float:
        """Engagement of a buyer whose standard normal draw is `z`, in a free trial or a paid pilot."""
        shift = self.investment_effect if paid else 0.0
        return expit(logit(self.engagement) + self.engagement_spread * z + shift)

    def success_chance(self, engagement: float, hours: float) -> float:
        """Chance a trial succeeds for a buyer this engaged, given the support hours delivered in time."""
        support = self.self_serve + (1.0 - self.self_serve) * (1.0 - math.exp(-hours / self.support_scale_hours))
        return engagement * support

    def take_up(self, budget: bool) -> float:
        """Chance a buyer agrees to pay for a pilot (budget = the hidden truth: they really have one)."""
        return min(1.0, self.pilot_take_up * ((1.0 + self.screening) if budget else (1.0 - self.screening)))

    # ---- the story -------------------------------------------------------------------------------
    def start(self, model: ModelView) -> Trials:
        return Trials(self, model)


class Trials(PolicyRun):
    """One run of `TrialPolicy`: each deal's trial, the engineers' pool, and the counts."""

    def __init__(self, policy: TrialPolicy, model: ModelView):
        self.policy = policy
        self.activities, self.streams = model.activities, model.streams
        self.stage = model.world.stage_names.index(policy.stage)
        self.trials: dict[Deal, Trial] = {}
        self.offered = self.declined = 0
        self.fees = self.hours = 0.0
        self.engineers: list[Rep] = []
        if policy.support_by == "engineers":
            self.engineers = [Rep(name=f"Engineer {k + 1:02d}", desk=Desk(model.env, capacity=1), joined=-1.0,
                                  hours_per_week=policy.engineer_hours_per_week, ramp_days=0, ramp_start=1.0)
                              for k in range(policy.engineers)]

    def enter_stage(self, model: ModelView, deal: Deal, i: int):
        p = self.policy
        if p.offer == "none" or i != self.stage:
            return None
        rng = self.streams.of(deal, "trials")
        u_take, u_success = rng.random(2)
        z = float(rng.standard_normal())
        self.offered += 1
        paid = p.offer == "paid"
        if paid and u_take >= p.take_up(deal.lead.truth.budget):
            self.declined += 1
            return None
        engagement = p.buyer_engagement(z, paid)
        fee = rounded(p.pilot_fee * deal.lead.first_estimate, 2) if paid else 0.0
        self.fees += fee
        kind = KINDS[p.offer]
        row = self.activities.record(deal, kind, duration_minutes=rounded(engagement * p.full_use_hours * 60.0, 1),
                                     outcome=None)
        trial = Trial(kind, model.now, model.now + p.trial_days, engagement, float(u_success), fee, row)
        self.trials[deal] = trial
        model.env.process(self.support(model, deal, trial))
        return None

    def support(self, model: ModelView, deal: Deal, trial: Trial):
        """Process: our support sessions, spread over the trial; only those done before its end count."""
        p = self.policy
        env, hours = model.env, p.support_hours / p.support_touches
        if hours <= 0:
            return
        gap = p.trial_days / (p.support_touches + 1)
        for k in range(p.support_touches):
            yield env.timeout(max(trial.start + gap * (k + 1) - env.now, 0.0))
            if env.now >= trial.end or deal.closed is not None:
                return
            who, effort = self.supporter(deal)
            yield from self.activities.touch(who, deal, "support", hours, NORMAL, effort)
            self.hours += hours
            if env.now <= trial.end:
                trial.delivered += hours
                trial.sessions.append(env.now)

    def supporter(self, deal: Deal) -> tuple[Rep, float | None]:
        """Who gives the next support session, and at what effort (None = the policies' effort for a rep)."""
        if not self.engineers:
            return deal.owner, None
        return min(self.engineers, key=lambda e: len(e.desk.queue) + e.desk.count), 1.0

    def stage_days(self, model: ModelView, deal: Deal, i: int, days: float) -> float:
        trial = self.trials.get(deal)
        if trial is None or i != self.stage:
            return days
        return max(days, trial.end - model.now)

    def pass_factor(self, model: ModelView, deal: Deal, i: int) -> float:
        trial = self.trials.get(deal)
        if trial is None or i != self.stage:
            return 1.0
        p = self.policy
        trial.success = trial.u_success < p.success_chance(trial.engagement, trial.delivered)
        passing = deal.pass_chances[i]   # the stage's chance for this deal in normal conditions
        loss = min((1.0 - passing) * (p.success_loss if trial.success else p.failure_loss), 1.0)
        return (1.0 - loss) / passing if passing > 0 else 1.0

    def on_close(self, model: ModelView, deal: Deal) -> None:
        trial = self.trials.get(deal)
        if trial is not None:
            trial.row.outcome = "converted" if deal.won else "not converted"

    def metrics(self, model: ModelView) -> dict[str, float]:
        p = self.policy
        tried = [d for d in model.deals if d in self.trials]
        trials = [self.trials[d] for d in tried]
        closed = [d for d in tried if d.closed is not None]
        converted = sum(bool(d.won) for d in closed)
        kept = sum(self.trials[d].fee for d in tried if not (p.fee_credited and d.won))
        on_time = (sum(t.delivered for t in trials) / (len(trials) * p.support_hours)
                   if trials and p.support_hours > 0 else math.nan)
        return {"trials_offered": float(self.offered), "trials": float(len(trials)),
                "pilots_declined": float(self.declined),
                "trials_succeeded": float(sum(bool(t.success) for t in trials)),
                "trial_conversion": converted / len(closed) if closed else math.nan,
                "trial_engagement": sum(t.engagement for t in trials) / len(trials) if trials else math.nan,
                "trial_support_hours": self.hours, "trial_support_on_time": on_time,
                "trial_fees": self.fees, "trial_fees_kept": kept}
