"""Bugs a customer meets while evaluating the product: how often, how the buyer reacts, what changes that.

`BugPolicy` plays out principle 06 in the deal's Evaluation of Options (any stage can be named). When a deal
enters that stage, its customer hits a bug that matters with the *residual* chance

    bug_chance x exp(-testing_hours / hours_to_find) x (1 - beta_catch if beta)

Pre-release field and support testing finds bugs the way software-reliability growth models describe it
(Goel & Okumoto 1979: found = 1 - exp(-effort / scale)); a friendly beta removes a further share of what is
left. Defaults lean on Capers Jones's defect-removal figures ("Get Software Quality Right", Dr. Dobb's,
2010, from about 13,000 projects, no intervals given): a single test stage removes about 35-50% of the
defects present. Our 40 hours of field testing remove 1 - exp(-40/60) = 49%, the top of that range, and a
beta removes 40%, inside it. `bug_chance` (30% of evaluations meet a bug that matters when nothing is
tested) has no public figure behind it: it is an assumption the notebook varies from 0 to 50%.

When the bug surfaces (a uniform point of the stage's typical length), the buyer reacts:

- a share `fatal_share` of bugs destroys trust whatever support does (the spreadsheet that shows one math
  flaw): the deal is lost;
- otherwise the buyer waits for support: each day of `response_hours` they walk away with chance
  `walk_per_day`; if they stay, the deal stalls (the response time plus `retest_days` of re-testing) and the
  rep concedes `discount` on price to keep it;
- a bug the team already knew about (`known_share` of them) that was disclosed up front (`disclose`) meets a
  buyer who expected it: they re-test that area later (a stall of `retest_days`), with no loss and no
  discount. Disclosure can also cost: a share `disclosure_loss` of every evaluating buyer told about known
  issues drops the deal then and there (0 by default; the notebook shows where a cost reverses the advice);
- whatever the reaction, the deal's rep spends `rep_hours` on the bug, urgently, ahead of other deals.

No public large-sample figure says how buyers react to bugs in an evaluation; `fatal_share`,
`walk_per_day`, `retest_days` and `discount` are stated assumptions, and the notebook shows the claim across
them. `buyer_reacts = False` is the ablation: bugs still surface and take the rep's time, but the buyer
shrugs them off.

Each bug is written to `activities` (kind ``bug``, the rep's minutes, outcome ``lost`` / ``stalled`` /
``expected`` / ``no effect``); a deal lost to one has ``loss_reason = "bug in evaluation"``. Draws come from
each deal's own stream (`model.streams`, `sim.engine.streams`), so the same deal meets the same bug in every scenario that shares a
seed: a lower bug chance removes bugs, it never moves them to other deals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from ..engine.entities import Deal
from ..engine.activities import ACTIVITIES
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.priority import URGENT
from ..world import World

LOSS_REASON = "bug in evaluation"
DISCLOSED = "put off by disclosed known issues"
OUTCOMES = ("lost", "stalled", "expected", "no effect")


@dataclass
class BugEvent:
    """A bug one deal's customer met: when (days into the stage), and what the buyer did about it."""

    offset_days: float
    known: bool
    reaction: str          # one of OUTCOMES
    stall_days: float = 0.0
    leave_after: float = 0.0   # lost: days into the stage when the buyer leaves
    reason: str = "bug in evaluation"   # the loss reason if the deal is lost to it


@register
class BugPolicy(Policy):
    """Bugs that surface while the customer evaluates: lost, stalled or discounted deals; testing and support."""

    key: ClassVar[str] = "bugs"
    summary: ClassVar[str] = "bugs customers meet while evaluating, pre-release testing, disclosure and support response (null = no bugs)"
    levers: ClassVar[tuple[str, ...]] = ("testing_hours", "beta", "disclose", "response_hours", "rep_hours")  # what-if explorer: what the company decides; the rest is how buyers respond
    writes: ClassVar[tuple] = (ACTIVITIES,)

    stage: str = Field("Evaluation of Options", min_length=1, description="the stage in which the customer evaluates the product")
    bug_chance: float = Field(0.3, ge=0, le=1, description="chance an evaluation meets a bug that matters, with no pre-release testing (an assumption)")
    testing_hours: float = Field(0.0, ge=0, le=5000, description="hours of field and support testing of the release, done the way a new user will use it")
    hours_to_find: float = Field(60.0, gt=0, le=5000, description="testing hours that find 63% of the bugs evaluators would hit (1 - exp(-hours / this))")
    beta: bool = Field(False, description="a friendly beta at existing customers before release")
    beta_catch: float = Field(0.4, ge=0, le=1, description="share of the remaining bugs a friendly beta removes (Jones: 35-50% per test stage)")
    known_share: float = Field(0.4, ge=0, le=1, description="share of the bugs evaluators hit that the team already knew about")
    disclose: bool = Field(False, description="tell the buyer about known issues up front and ask them to test those areas later")
    disclosure_loss: float = Field(0.0, ge=0, le=1, description="share of buyers who drop the deal when told about known issues (0 = none)")
    fatal_share: float = Field(0.15, ge=0, le=1, description="share of undisclosed bugs that end the deal whatever support does")
    response_hours: float = Field(24.0, ge=0, le=2000, description="hours until support answers the bug with a fix or a workaround")
    walk_per_day: float = Field(0.15, ge=0, le=1, description="chance per day of waiting for support that the buyer walks away")
    retest_days: float = Field(7.0, ge=0, le=365, description="days the buyer needs to re-test after a fix (the stall on top of the wait)")
    discount: float = Field(0.1, ge=0, lt=1, description="price concession on a deal that survives a bug (share of the amount)")
    rep_hours: float = Field(4.0, ge=0, le=200, description="rep hours pulled into each bug, ahead of other deals")
    buyer_reacts: bool = Field(True, description="False = bugs surface and take rep time but the buyer shrugs them off (the ablation)")

    def check(self, world: World) -> list[str]:
        names = world.stage_names
        return [] if self.stage in names else [f"stage: {self.stage!r} is not a stage ({', '.join(names)})"]

    # ---- the numbers the settings imply ------------------------------------------------------------
    @property
    def chance(self) -> float:
        """The residual chance that an evaluation meets a bug, after testing and beta."""
        left = self.bug_chance * math.exp(-self.testing_hours / self.hours_to_find)
        return left * (1.0 - self.beta_catch) if self.beta else left

    @property
    def walk_chance(self) -> float:
        """Chance the buyer walks while waiting `response_hours` for support."""
        return 1.0 - (1.0 - self.walk_per_day) ** (self.response_hours / 24.0)

    # ---- the story -------------------------------------------------------------------------------
    def start(self, model: ModelView) -> Bugs:
        return Bugs(self, model)

    def react(self, u_known: float, u_fatal: float, u_walk: float) -> tuple[bool, str, float, float]:
        """What the buyer does about a bug, from three uniforms: (known, reaction, stall days, days to leave)."""
        known = u_known < self.known_share
        wait = self.response_hours / 24.0
        if not self.buyer_reacts:
            return known, "no effect", 0.0, 0.0
        if known and self.disclose:
            return known, "expected", self.retest_days, 0.0
        if u_fatal < self.fatal_share:
            return known, "lost", 0.0, 0.0
        if u_walk < self.walk_chance:
            return known, "lost", 0.0, wait * u_walk / self.walk_chance   # walks part-way through the wait
        return known, "stalled", wait + self.retest_days, 0.0


class Bugs(PolicyRun):
    """One run of `BugPolicy`: the bug each deal's buyer met (if any), and what they cost."""

    def __init__(self, policy: BugPolicy, model: ModelView):
        self.policy = policy
        self.activities, self.streams = model.activities, model.streams
        self.stage = model.world.stage_names.index(policy.stage)
        self.bugs: dict[Deal, BugEvent] = {}
        self.evaluations = 0
        self.rep_hours = 0.0
        self.discounts = 0.0

    def enter_stage(self, model: ModelView, deal: Deal, i: int):
        if i != self.stage:
            return None
        p = self.policy
        self.evaluations += 1
        u = self.streams.of(deal, "bugs").random(6)   # surfaces?, when, known?, fatal?, walks?, put off by disclosure?
        if p.disclose and u[5] < p.disclosure_loss:
            self.bugs[deal] = BugEvent(0.0, True, "lost", 0.0, 0.0, reason=DISCLOSED)
            return None
        if u[0] >= p.chance:
            return None
        offset = u[1] * model.world.stages[i].median_days
        known, reaction, stall, leave = p.react(u[2], u[3], u[4])
        event = BugEvent(offset, known, reaction, stall, offset + leave)
        self.bugs[deal] = event
        model.env.process(self.firefight(model, deal, event))
        return None

    def firefight(self, model: ModelView, deal: Deal, event: BugEvent):
        """Process: the bug surfaces part-way through the evaluation and the rep drops everything for it."""
        yield model.env.timeout(event.offset_days)
        hours = self.policy.rep_hours
        self.rep_hours += hours
        if hours > 0:
            yield from self.activities.touch(deal.owner, deal, "bug", hours, URGENT, outcome=event.reaction)
        else:
            self.activities.record(deal, "bug", duration_minutes=0.0, outcome=event.reaction)

    def stage_days(self, model: ModelView, deal: Deal, i: int, days: float) -> float:
        event = self.bugs.get(deal)
        if event is None or i != self.stage:
            return days
        if event.reaction == "lost":   # the buyer leaves when they leave, not when the stage would have ended
            return max(event.leave_after - (model.now - deal.history[-1][1]), 0.0)
        return days + event.stall_days

    def pass_factor(self, model: ModelView, deal: Deal, i: int) -> float:
        event = self.bugs.get(deal)
        lost = event is not None and event.reaction == "lost" and i == self.stage
        return 0.0 if lost else 1.0

    def signed_amount(self, model: ModelView, deal: Deal, amount: float) -> float:
        event = self.bugs.get(deal)
        if event is None or event.reaction != "stalled":
            return amount
        self.discounts += amount * self.policy.discount
        return amount * (1.0 - self.policy.discount)

    def on_close(self, model: ModelView, deal: Deal) -> None:
        event = self.bugs.get(deal)
        if event is not None and event.reaction == "lost" and not deal.won:
            deal.loss_reason = event.reason

    def metrics(self, model: ModelView) -> dict[str, float]:
        events = [self.bugs[d] for d in model.deals if d in self.bugs and self.bugs[d].reason == LOSS_REASON]
        count = lambda reaction: float(sum(e.reaction == reaction for e in events))  # noqa: E731 - tiny counter
        return {"evaluations": float(self.evaluations), "bugs": float(len(events)),
                "bug_losses": float(sum(d.loss_reason == LOSS_REASON for d in model.deals)),
                "disclosure_losses": float(sum(d.loss_reason == DISCLOSED for d in model.deals)),
                "bug_stalls": count("stalled"), "bugs_expected": count("expected"),
                "bug_rep_hours": self.rep_hours, "bug_discounts": self.discounts}
