"""Active listening (principle 03): every meeting with the customer has attendees, a customer talk share and
questions asked; the more the customer talks about their problem, the likelier the rep finds the real need.

`ListeningPolicy` holds a conversation at the start of every stage that needs the rep's time (the stage's
meeting)::

    the rep talks their usual share of the meeting (their habit, varying from meeting to meeting)
    the rep asks some questions
    each customer attendee besides the main contact says something, or never speaks
    the real need comes out with a chance that rises with the customer's talk share, steered by questions
    the meeting is written to `activities` (attendees, who spoke, customer talk share, questions)

A deal whose real need is known passes its stages more often and moves faster; one whose need is still
unknown at a stage's end passes less often, and its stages drag (proposals that miss, another round).
Who never spoke matters too: the first meeting's champion (`sim.policies.first_meeting`) is less likely to
come from an attendee who never said a word.

The chance of finding the need in one meeting, with customer talk share ``c`` and ``q`` questions::

    1 - exp(-discovery_rate * c * (unprompted + (1 - unprompted) * q / (q + question_half)))

so a customer who talks a lot but is never asked the right question (``q = 0``) reveals the need only at
the `unprompted` rate: talk alone is not listening. With ``talk_drives_discovery`` off, ``c`` is replaced by
the fixed `reference_share` for every meeting (the ablation: the talk share then changes nothing).

Evidence for the defaults (human behaviour, so stated): the one public large-sample figure is vendor data,
Gong Labs' analysis of 25,537 recorded B2B sales calls (C. Orlob, 2017; revisited 2025): on winning calls
reps talked about 43% of the time, the average rep 65-75%, and calls where the rep talked more than about
65% converted less. It is a correlation published without intervals, by a company that sells call
recording. Our default team talks 60% (between the two), with reps from about 45% to 75%; the question
count, the attendees and the size of the need's effect are our assumptions (no public figure we could
check), and the notebook sweeps them. The model has no penalty for a rep who talks too little; the vendor
data suggest one below about 35%, so results there are untested.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from pydantic import Field

from ..engine.entities import Deal
from ..engine import streams
from ..engine.activities import ACTIVITIES, Touch
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.rounding import rounded
from ..engine.team import Rep


@register
class ListeningPolicy(Policy):
    """How reps run meetings: how much they talk, how many questions they ask, and what the customer reveals."""

    key: ClassVar[str] = "listening"
    summary: ClassVar[str] = "meetings: rep talk share, questions, who speaks, whether the real need comes out (null = not modelled)"
    levers: ClassVar[tuple[str, ...]] = ("rep_talk_share", "questions", "minutes")  # what-if explorer: what coaching changes; the rest is how buyers respond
    after: ClassVar[tuple[str, ...]] = ("first_meeting",)   # holds the conversation of the meeting it booked
    writes: ClassVar[tuple] = (ACTIVITIES,)

    rep_talk_share: float = Field(
        0.60, ge=0.05, le=0.95,
        description="the team's average share of a meeting's talking done by the rep (vendor data: ~43% on winning calls, 65-75% typical)",
    )
    rep_spread: float = Field(0.08, ge=0, le=0.5, description="spread of the reps' own habits around that average (sd)")
    meeting_spread: float = Field(0.08, ge=0, le=0.5, description="spread of one rep's talk share from meeting to meeting (sd)")
    questions: float = Field(6.0, ge=0, le=100, description="average questions the rep asks in a meeting (Poisson)")
    questions_spread: float = Field(0.3, ge=0, le=2, description="spread of the reps' own question habits (sd on a log scale)")
    attendees: float = Field(2.0, ge=1, le=50, description="average customer people at a meeting no other policy booked (1 + Poisson)")
    minutes: float = Field(45.0, gt=0, le=600, description="length of a meeting [minutes]")
    discovery_rate: float = Field(1.4, ge=0, le=20, description="how fast customer talk reveals the real need (see the formula above)")
    question_half: float = Field(5.0, gt=0, le=100, description="questions that give half the full effect of asking")
    unprompted: float = Field(0.10, ge=0, le=1, description="share of the discovery that needs no question at all")
    talk_drives_discovery: bool = Field(
        True, description="the chance of finding the need rises with the customer's talk share (false: the ablation, a fixed share for everyone)"
    )
    reference_share: float = Field(0.40, ge=0, le=1, description="customer talk share used for discovery when talk does not drive it")
    speak_rate: float = Field(1.6, ge=0, le=20, description="how readily attendees besides the main contact speak, given customer talk share and questions")
    need_found_factor: float = Field(1.12, gt=0, le=3, description="pass chance multiplier of a stage that ends with the real need known")
    need_missing_factor: float = Field(0.88, gt=0, le=3, description="pass chance multiplier of a stage that ends with the need still unknown")
    slow_without_need: float = Field(1.3, gt=0, le=5, description="stage days multiplier while the need is unknown (proposals that miss)")

    def start(self, model: ModelView) -> Listening:
        return Listening(self, model)

    def discovery_chance(self, customer_share: float, questions: int) -> float:
        """Chance that one meeting reveals the real need (the formula in the module docstring)."""
        share = customer_share if self.talk_drives_discovery else self.reference_share
        asked = questions / (questions + self.question_half)
        return 1.0 - math.exp(-self.discovery_rate * share * (self.unprompted + (1.0 - self.unprompted) * asked))

    def speak_chance(self, customer_share: float, questions: int) -> float:
        """Chance that an attendee other than the main contact says something in the meeting."""
        return 1.0 - math.exp(-self.speak_rate * customer_share * (1.0 + questions / self.question_half))



class Listening(PolicyRun):
    """One run of `ListeningPolicy`: each rep's habits, each deal's meeting numbers and when its need came out."""

    def __init__(self, policy: ListeningPolicy, model: ModelView):
        self.policy = policy
        self.activities, self.streams = model.activities, model.streams
        self.habits: dict[Rep, tuple[float, float]] = {}                # rep -> (usual talk share, questions)
        self.need: dict[Deal, int | None] = {}                          # stage at whose meeting the need came out
        self.drawn: dict[Deal, tuple[np.ndarray, list[float]]] = {}     # the deal's numbers for its meetings

    # ---- hooks ---------------------------------------------------------------------------------
    def enter_stage(self, model: ModelView, deal: Deal, i: int) -> None:
        if model.world.stages[i].rep_hours <= 0:
            return None      # no rep time in this stage: no meeting
        booked, touch = self.activities.booked(deal, i)
        if booked and touch is None:
            return None      # another policy booked the meeting and the customer never came
        self.converse(model, deal, i, touch)
        return None

    def pass_factor(self, model: ModelView, deal: Deal, i: int) -> float:
        return self.policy.need_found_factor if self.knows_need(deal, i) else self.policy.need_missing_factor

    def stage_days(self, model: ModelView, deal: Deal, i: int, days: float) -> float:
        return days if self.knows_need(deal, i) else days * self.policy.slow_without_need

    def metrics(self, model: ModelView) -> dict[str, float]:
        closed = [d for d in model.deals if d.closed is not None and d in self.need]
        held = [t for t in self.activities.log if not math.isnan(t.customer_talk_share)]
        return {
            "meetings": float(len(held)),
            "need_found_share": sum(self.need[d] is not None for d in closed) / len(closed) if closed else math.nan,
            "customer_talk_share": sum(t.customer_talk_share for t in held) / len(held) if held else math.nan,
        }

    # ---- the meeting ---------------------------------------------------------------------------
    def knows_need(self, deal: Deal, i: int) -> bool:
        """Whether the rep has found the deal's real need by stage `i`'s meeting."""
        found = self.need.get(deal)
        return found is not None and found <= i

    def habit(self, model: ModelView, rep: Rep) -> tuple[float, float]:
        """The rep's usual talk share and questions per meeting: the team's averages bent by the rep's own
        leans (drawn once per rep, the same in every scenario)."""
        if rep not in self.habits:
            p = self.policy
            lean = self.streams.stream("listening.rep", model.team.reps.index(rep)).standard_normal(2)
            talk = min(max(p.rep_talk_share + p.rep_spread * lean[0], 0.05), 0.95)
            self.habits[rep] = (talk, p.questions * math.exp(p.questions_spread * lean[1]))
        return self.habits[rep]

    def converse(self, model: ModelView, deal: Deal, i: int, touch: Touch | None) -> Touch:
        """One meeting's conversation, drawn from the deal's own numbers for stage `i` (the same numbers in
        every scenario, whatever happened to other deals or at other stages)."""
        p = self.policy
        u, z = self.numbers(model, deal, i)
        talk, asks = self.habit(model, deal.owner)
        rep_share = min(max(talk + p.meeting_spread * z, 0.05), 0.95)
        customer = 1.0 - rep_share
        questions = streams.poisson_from_uniform(u[0], asks)
        if touch is None:
            attendees = 1 + streams.poisson_from_uniform(u[1], p.attendees - 1.0)
            touch = self.activities.record(deal, "meeting", duration_minutes=p.minutes, attendees=float(attendees),
                                           outcome="held")
        others = self.streams.uniforms(u[3:], int(touch.attendees) - 1, deal, f"listening.speak.{i}")
        speaks = p.speak_chance(customer, questions)
        spoke = 1 + sum(x < speaks for x in others)
        chance = p.discovery_chance(customer, questions)
        if self.need.get(deal) is None:
            self.need[deal] = i if u[2] < chance else None
        touch.customer_talk_share = rounded(customer, 4)
        touch.questions = float(questions)
        touch.attendees_spoke = float(spoke)
        touch.truth["truth_discovery_chance"] = rounded(chance, 4)
        touch.truth["truth_need_found"] = float(self.need[deal] is not None)
        return touch

    def numbers(self, model: ModelView, deal: Deal, i: int) -> tuple[list[float], float]:
        """Stage `i`'s uniforms (questions, attendees, discovery, then one per attendee who may speak) and
        normal (talk share) for this deal, drawn for every stage at its first meeting from its own stream.

        The uniforms are kept as one array per deal and a stage's row is made Python floats when its meeting
        is held (they are only compared, and numpy scalars are slow to compare one by one): most stages hold no
        meeting, and a run's deals would otherwise keep a list of floats per stage alive, which the garbage
        collector has to scan item by item)."""
        drawn = self.drawn.get(deal)
        if drawn is None:
            rng = self.streams.of(deal, "listening.meeting")
            stages = len(model.world.stages)
            drawn = self.drawn[deal] = (rng.random((stages, 3 + streams.BLOCK)), rng.standard_normal(stages).tolist())
        return drawn[0][i].tolist(), drawn[1][i]
