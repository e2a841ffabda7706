"""The first meeting (principle 08): where it happens decides who comes, and who comes decides whether
someone inside the customer takes up our cause.

`FirstMeetingPolicy` books the first meeting of every new deal as it enters its first stage::

    book the meeting in the chosen format (lunch at their office, at our office, a video call)
    the customer shows up with the format's show rate; if not, rebook after some days (a few tries,
    then the deal is given up: lost, "no first meeting")
    the format brings its number of customer attendees; the rep spends the meeting's hours (and the
    travel, for their office) at the desk, and buys the food
    each attendee becomes a champion with chance p (less if they never spoke, when `listening` says who
    spoke); a deal with a champion passes every stage more often

With every attendee engaged, the chance of at least one champion among n attendees is the closed form
1 - (1 - p)^n; the simulation draws each attendee on their own, and a test checks the two agree. Every
booking is written to `activities` (kind lunch / meeting / video, outcome held or no-show, attendees,
minutes; the simulated champion as `truth_champion`).

Defaults (human behaviour, so stated): we know of no public large-sample figure on show rates or head
counts by meeting format. Practitioner reports put no-shows for booked sales meetings at roughly 10-30%
(SDR agencies and scheduling vendors, no intervals, no split by format); our video default (20% no-show)
sits inside that range. That a lunch at their office draws more people and fewer no-shows is the claim of
the source post, not a measurement: the lunch and office defaults are our assumptions, and the notebook
shows the result when they are equal (the format effect then disappears). The champion chance p and its
effect are assumptions too.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import ClassVar

from pydantic import Field, model_validator

from ..core.data import Data
from ..engine.entities import Deal
from ..engine import streams
from ..engine.activities import ACTIVITIES, Touch
from ..engine.hooks import ModelView, Policy, PolicyRun, register
from ..engine.rounding import rounded


class MeetingFormat(Data):
    """One way to hold the first meeting: how often the customer shows up, how many come, what it costs."""

    kind: str = Field(min_length=1, description="the activity kind written for it (lunch, meeting, video)")
    show_rate: float = Field(gt=0, le=1, description="chance the booked meeting takes place")
    attendees: float = Field(ge=1, le=50, description="average customer people who come when it does (1 + Poisson)")
    travel_hours: float = Field(0.0, ge=0, le=24, description="rep hours of travel (both ways) on top of the meeting")
    food_per_attendee: float = Field(0.0, ge=0, le=10_000, description="food bought per customer attendee [currency]")


def _default_formats() -> dict[str, MeetingFormat]:
    return {
        "lunch_at_their_office": MeetingFormat(kind="lunch", show_rate=0.9, attendees=4.0, travel_hours=1.5, food_per_attendee=20.0),
        "our_office": MeetingFormat(kind="meeting", show_rate=0.7, attendees=1.6, travel_hours=0.0),
        "video": MeetingFormat(kind="video", show_rate=0.8, attendees=2.0, travel_hours=0.0),
    }


class FirstMeeting:
    """What happened at one deal's first meeting (kept by the run, `FirstMeetings`)."""

    __slots__ = ("touch", "champion", "drawn", "cost", "hours", "numbers")

    def __init__(self) -> None:
        self.touch: Touch | None = None   # the meeting held, None if it never took place
        self.champion = False
        self.drawn = False                        # champion drawn yet (after the conversation, if any)
        self.cost = 0.0
        self.hours = 0.0
        self.numbers = None                       # the deal's uniform numbers for its attendees


@register
class FirstMeetingPolicy(Policy):
    """Where and how the first meeting with a new prospect is held."""

    key: ClassVar[str] = "first_meeting"
    summary: ClassVar[str] = "the first meeting's format: show rate, attendees, cost, champions (null = not modelled)"
    levers: ClassVar[tuple[str, ...]] = ("meeting_hours", "tries", "rebook_days")  # what-if explorer: the choices a team makes; the rest is how buyers respond
    writes: ClassVar[tuple] = (ACTIVITIES,)

    format: str = Field("video", description="the format used: a key of `formats`")
    mix: dict[str, float] | None = Field(
        None, description="shares of first meetings held in each format, drawn deal by deal (instead of `format`; null = all in `format`)"
    )
    formats: dict[str, MeetingFormat] = Field(default_factory=_default_formats, description="the formats and what each does")
    meeting_hours: float = Field(1.0, gt=0, le=8, description="rep hours the meeting itself takes")
    tries: int = Field(2, ge=1, le=10, description="bookings before a prospect who never shows is given up")
    rebook_days: float = Field(10.0, ge=0, le=365, description="days until the next try after a no-show")
    champion_chance: float = Field(0.12, ge=0, le=1, description="chance p that one engaged attendee becomes our champion")
    silent_factor: float = Field(
        0.3, ge=0, le=1, description="factor on p for an attendee who never spoke (known only with policies.listening)"
    )
    champion_factor: float = Field(1.15, gt=0, le=3, description="pass chance multiplier of every stage of a deal with a champion")
    hourly_cost: float = Field(60.0, ge=0, le=10_000, description="cost of one rep hour, for the cost per meeting [currency]")

    @model_validator(mode="after")
    def _known_format(self) -> FirstMeetingPolicy:
        if self.format not in self.formats:
            raise ValueError(f"format: {self.format!r} is not one of the formats ({', '.join(self.formats)})")
        if self.mix is not None:
            unknown = [k for k in self.mix if k not in self.formats]
            if unknown:
                raise ValueError(f"mix: {', '.join(map(repr, unknown))} not among the formats ({', '.join(self.formats)})")
            if any(v < 0 for v in self.mix.values()) or sum(self.mix.values()) <= 0:
                raise ValueError("mix: shares must be >= 0 and not all 0")
        return self

    def format_for(self, u: float) -> str:
        """The format of one deal's first meeting: `format`, or drawn from `mix` with the uniform number `u`."""
        if self.mix is None:
            return self.format
        total, acc = sum(self.mix.values()), 0.0
        for name, share in self.mix.items():
            acc += share / total
            if u < acc:
                return name
        return name

    def start(self, model: ModelView) -> FirstMeetings:
        return FirstMeetings(self, model)

    def engagement(self, touch: Touch) -> tuple[int, int]:
        """(attendees who spoke, attendees who never did); everyone counts as engaged when nobody recorded it."""
        n = int(touch.attendees)
        if math.isnan(touch.attendees_spoke):
            return n, 0
        spoke = int(touch.attendees_spoke)
        return spoke, n - spoke

    def champion_chance_of(self, touch: Touch) -> float:
        """The closed form for this meeting: 1 - (1 - p)^spoke * (1 - p * silent_factor)^silent."""
        spoke, silent = self.engagement(touch)
        p = self.champion_chance
        return 1.0 - (1.0 - p) ** spoke * (1.0 - p * self.silent_factor) ** silent



class FirstMeetings(PolicyRun):
    """One run of `FirstMeetingPolicy`: every deal's first meeting, booked in the run's activity log."""

    def __init__(self, policy: FirstMeetingPolicy, model: ModelView):
        self.policy = policy
        self.activities, self.streams = model.activities, model.streams
        self.meetings: dict[Deal, FirstMeeting] = {}

    # ---- hooks ---------------------------------------------------------------------------------
    def enter_stage(self, model: ModelView, deal: Deal, i: int) -> Generator | None:
        if i != 0:
            return None
        return self.first_meeting(model, deal)

    def pass_factor(self, model: ModelView, deal: Deal, i: int) -> float:
        state = self.meetings.get(deal)
        if state is None:
            return 1.0          # a deal that began before the run: its first meeting is long past
        if state.touch is None:
            return 0.0          # the customer never came: the deal is given up
        return self.policy.champion_factor if self.has_champion(deal, state) else 1.0

    def on_close(self, model: ModelView, deal: Deal) -> None:
        state = self.meetings.get(deal)
        if state is not None and state.touch is None and not deal.won:
            deal.loss_reason = "no first meeting"

    def metrics(self, model: ModelView) -> dict[str, float]:
        states = [self.meetings[d] for d in model.deals if d in self.meetings]
        held = [s for s in states if s.touch is not None]
        drawn = [s for s in held if s.drawn]
        booked = [t for t in self.activities.log if t.truth.get("truth_first_meeting") == 1.0]
        return {
            "first_meetings": float(len(states)),
            "first_meetings_held": float(len(held)),
            "show_rate": sum(t.outcome == "held" for t in booked) / len(booked) if booked else math.nan,
            "first_meeting_attendees": sum(s.touch.attendees for s in held) / len(held) if held else math.nan,
            "champion_share": sum(s.champion for s in drawn) / len(drawn) if drawn else math.nan,
            "first_meeting_cost": sum(s.cost for s in states),
            "first_meeting_hours": sum(s.hours for s in states),
        }

    # ---- the meeting ---------------------------------------------------------------------------
    def first_meeting(self, model: ModelView, deal: Deal) -> Generator:
        """Process: book the meeting until the customer shows (or the tries run out), then hold it."""
        policy, log = self.policy, self.activities
        tries = policy.tries
        drawn = self.streams.of(deal, "first_meeting").random(tries + 2 + streams.BLOCK)
        u = drawn[: tries + 1].tolist()      # compared only: as Python floats (numpy scalars compare slowly)
        fmt = policy.formats[policy.format_for(float(drawn[-1]))]
        state = FirstMeeting()
        self.meetings[deal] = state
        state.numbers = drawn[tries + 1 : -1]   # an array, made floats if a champion is drawn (not every deal's)
        for attempt in range(tries):
            if attempt:
                yield model.env.timeout(policy.rebook_days)
            if u[attempt] < fmt.show_rate:
                break
            log.record(deal, fmt.kind, outcome="no-show", attendees=0.0, truth={"truth_first_meeting": 1.0})
        else:
            log.book(deal, 0, None)
            return
        attendees = 1 + streams.poisson_from_uniform(u[tries], fmt.attendees - 1.0)
        state.touch = log.record(deal, fmt.kind, outcome="held", attendees=float(attendees),
                                 duration_minutes=60.0 * policy.meeting_hours, truth={"truth_first_meeting": 1.0})
        log.book(deal, 0, state.touch)
        state.hours = policy.meeting_hours + fmt.travel_hours
        state.cost = attendees * fmt.food_per_attendee + state.hours * policy.hourly_cost
        yield from log.desk(deal.owner, state.hours)

    def has_champion(self, deal: Deal, state: FirstMeeting) -> bool:
        """Whether an attendee took up our cause, drawn once per deal after the meeting's conversation:
        each attendee on their own (the closed form is what the test compares this with)."""
        if not state.drawn:
            policy, touch = self.policy, state.touch
            spoke, silent = policy.engagement(touch)
            chances = [policy.champion_chance] * spoke + [policy.champion_chance * policy.silent_factor] * silent
            u = self.streams.uniforms(state.numbers, len(chances), deal, "first_meeting.champion")
            state.champion = bool(any(x < p for x, p in zip(u, chances)))
            state.drawn = True
            touch.truth["truth_champion"] = float(state.champion)
            touch.truth["truth_champion_chance"] = rounded(policy.champion_chance_of(touch), 4)
        return state.champion
