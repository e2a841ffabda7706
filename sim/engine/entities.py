"""The things the story is about: accounts, the leads they send, and the deals a team works.

An `Account` lives for the whole run: it is found (by a lead or by prospecting), may become a customer,
and may come back with more business. A `Lead` is a prospective deal as it arrives, with everything chance
decides about it drawn up front. A `Deal` is a lead the team took on: it has an owner, walks the stages
and ends won or lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import simpy

from .team import Rep
from .truth import HiddenTruth, Knowledge


@dataclass(eq=False, slots=True)
class Account:
    """A buying organisation: its segment and fit, what it has bought, and its deals so far."""

    number: int
    segment: int                  # index into the world's segments
    fit: float                    # how well it fits the sweet spot, 0..1
    revenue: float = 0.0          # won amount so far
    lost: bool = False            # the customer has gone (a policy decides: churn); its own process stops
    deals: list[Deal] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"ACC-{self.number + 1:05d}"

    @property
    def customer(self) -> bool:
        """True once the account has signed a deal."""
        return self.revenue > 0


@dataclass(slots=True)
class Lead:
    """A prospective deal as it arrives, with everything chance decides about it drawn up front."""

    number: int
    arrived: float
    account: Account
    segment: str
    fit: float
    source: str
    first_estimate: float
    realisation: float          # signed amount / first estimate, if won
    loss_draws: tuple[float, ...]    # one uniform per stage: lost at that stage if at or above its pass chance
    stage_noise: tuple[float, ...]   # one standard normal per stage: how long the stage takes
    stall_draws: tuple[float, ...]   # one uniform per stage: stalls if below its stall chance
    stall_noise: tuple[float, ...]   # one standard normal per stage: how long a stall lasts
    truth: HiddenTruth          # budget, champion, competitor: what really decides the deal


@dataclass(eq=False, slots=True)
class Deal:
    """An opportunity in flight: its lead, its owner, where it is and how it ended."""

    id: str
    lead: Lead
    owner: Rep                                                # the rep who owns it now
    pass_chances: tuple[float, ...]                           # per stage, in normal market conditions
    stage_index: int = -1
    history: list[tuple[Any, ...]] = field(default_factory=list)   # (stage index, entered, exited or None)
    stalls: int = 0
    closed: float | None = None
    won: bool | None = None
    amount: float | None = None
    loss_reason: str | None = None                            # why it was lost, if a policy knows
    competitor: str | None = None                             # who won instead, if a policy knows
    process: simpy.Process | None = None                      # the deal's SimPy process (None once it closed)
    waiting: bool = False                                     # queued for its owner's time right now
    knows: Knowledge = field(init=False)                      # what the rep has learned of the hidden truth

    def __post_init__(self) -> None:
        self.knows = Knowledge(self.lead.truth)

    @property
    def account(self) -> Account:
        return self.lead.account

    def enter(self, stage_index: int, now: float) -> None:
        """Move into a stage, closing the stay in the previous one."""
        history = self.history
        if history:
            stage, entered, _ = history[-1]
            history[-1] = (stage, entered, now)
        self.stage_index = stage_index
        history.append((stage_index, now, None))

    def leave(self, now: float) -> None:
        """Close the stay in the current stage (the deal closed at `now`).

        Stays are tuples of numbers, not lists: the garbage collector stops tracking them, and a finished run's
        thousands of stays cost it nothing to free (`sim.engine.model.collector_paused`)."""
        stage, entered, _ = self.history[-1]
        self.history[-1] = (stage, entered, now)
