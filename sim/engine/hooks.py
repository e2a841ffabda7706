"""The hook protocol: how a policy takes part in the story without the engine naming it.

A policy is a small piece of scenario data (a frozen `Data` model) that the model consults at named
moments. It overrides only the hooks it cares about; the engine asks, at each moment, only the policies
that override that hook, in a fixed order (`Policy.order`, then the scenario key), so runs are reproducible.

Before the run
- ``attach(model)``                      start any process the policy needs (a weekly review, a date-driven change)

When a lead arrives
- ``admit(model, lead) -> bool``         may the team take it on? (qualification); every policy must agree

While a deal walks the stages (`sim.engine.deal`)
- ``enter_stage(model, deal, i)``        the deal just entered stage i: return a generator to run a sub-process
                                         there (a meeting, a trial), or None
- ``priority(model, deal) -> Priority``  its place in its rep's queue (`sim.engine.priority`)
- ``effort(model, rep) -> float``        a multiplier on how fast the rep works (incentives)
- ``stage_days(model, deal, i, days)``   the customer-side days of stage i, as this policy changes them
- ``pass_factor(model, deal, i)``        a multiplier on the chance of passing stage i (all factors multiply)
- ``signed_amount(model, deal, amount)`` a won deal's signed amount, as this policy changes it (a discount)
- ``on_close(model, deal)``              the deal was won or lost (``deal.won``): bookkeeping, nurture, ...

After the run
- ``tables(model) -> {name: DataFrame}`` canonical tables the policy wrote (declare them in ``writes``)
- ``metrics(model) -> {name: float}``    numbers it measured, added to the run's metrics

A policy also says where it sits in a scenario (``key``: ``policies.<key>`` in YAML), a one-line
``summary`` (the YAML comment), and checks itself against the world (``check(world)``). `register` makes it
known to scenarios and declares its tables; a new policy is one module in `sim/policies/` and touches no
engine file. What a hook may use of the model is `ModelView`, not the model class.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import simpy

from ..core import schema
from ..core.data import Data
from ..world import World
from .entities import Deal, Lead
from .leads import LeadFactory
from .priority import NORMAL, Priority
from .team import Rep, Team


class ModelView(Protocol):
    """What a hook may see and do of the running model."""

    env: simpy.Environment
    world: World
    team: Team
    leads: LeadFactory
    rng: np.random.Generator           # the policies' own random stream (never the market's)
    extra: dict[str, Any]              # per-run bookkeeping, one key per policy
    deals: list[Deal]                  # every deal so far, in the order they were created (read, do not change)

    @property
    def now(self) -> float: ...
    def receive(self, lead: Lead) -> None: ...
    def resume(self, lead: Lead, stage: int, entered: float) -> Deal: ...
    def open_deals(self, rep: Rep | None = None) -> list[Deal]: ...
    def release(self, rep: Rep) -> None: ...
    def effort(self, rep: Rep) -> float: ...
    def desk_time(self, rep: Rep, hours: float, priority: Priority, effort: float | None = None) -> Generator: ...
    def timestamps(self, days: Any) -> pd.DatetimeIndex: ...


class Policy(Data):
    """A policy the model consults; subclasses override the hooks they care about."""

    key: ClassVar[str] = ""                          # its place in a scenario: policies.<key>
    summary: ClassVar[str] = ""                      # one line: what it decides (the YAML comment)
    order: ClassVar[int] = 100                       # position among the active policies
    on_by_default: ClassVar[bool] = False            # present with its defaults when a scenario does not set it
    writes: ClassVar[tuple[schema.Table, ...]] = ()  # tables it writes, declared with their columns
    levers: ClassVar[tuple[str, ...] | None] = None  # fields a leader may change in the what-if explorer (None = all simple ones)

    def check(self, world: World) -> list[str]:
        """Problems of this policy against the world, one line each starting with the field (none = fine)."""
        return []

    def attach(self, model: ModelView) -> None:
        """Start any process the policy needs (called once, before the run)."""

    def admit(self, model: ModelView, lead: Lead) -> bool:
        """Whether the team takes this lead on as an opportunity."""
        return True

    def enter_stage(self, model: ModelView, deal: Deal, i: int) -> Generator | None:
        """A sub-process to run when the deal enters stage `i` (its rep's meeting, a trial), or None."""
        return None

    def priority(self, model: ModelView, deal: Deal) -> Priority:
        """The deal's place in its rep's queue."""
        return NORMAL

    def effort(self, model: ModelView, rep: Rep) -> float:
        """Multiplier on the speed of a rep's work (1 = normal)."""
        return 1.0

    def stage_days(self, model: ModelView, deal: Deal, i: int, days: float) -> float:
        """The customer-side days of stage `i`, given what the engine and earlier policies made of them."""
        return days

    def pass_factor(self, model: ModelView, deal: Deal, i: int) -> float:
        """Multiplier on the chance that the deal passes stage `i` (1 = no effect)."""
        return 1.0

    def signed_amount(self, model: ModelView, deal: Deal, amount: float) -> float:
        """A won deal's signed amount, given what the engine and earlier policies made of it."""
        return amount

    def on_close(self, model: ModelView, deal: Deal) -> None:
        """React to a deal being won or lost (`deal.won`)."""

    def tables(self, model: ModelView) -> dict[str, pd.DataFrame]:
        """Canonical tables this policy wrote during the run, by table name."""
        return {}

    def metrics(self, model: ModelView) -> dict[str, float]:
        """Numbers this policy measured during the run, added to the run's metrics."""
        return {}


HOOKS = ("attach", "admit", "enter_stage", "priority", "effort", "stage_days", "pass_factor", "signed_amount",
         "on_close", "tables", "metrics")

REGISTRY: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Make a policy class known to scenarios under `cls.key`, and declare the tables it writes.

    Used as a class decorator in the policy's own module. Registering another class under a taken key
    replaces it only if it has the same name and module (a module re-imported in a notebook).
    """
    if not cls.key or not cls.key.isidentifier():
        raise ValueError(f"{cls.__name__}.key must be a name usable in YAML (letters, digits, _), got {cls.key!r}")
    known = REGISTRY.get(cls.key)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"policy key {cls.key!r} is taken by {known.__module__}.{known.__qualname__}")
    for table in cls.writes:
        schema.register(table)
    REGISTRY[cls.key] = cls
    return cls


def unregister(key: str) -> None:
    """Forget the policy registered under `key` (scenarios made since keep it; new ones reject it)."""
    REGISTRY.pop(key, None)


def registered() -> list[type[Policy]]:
    """The known policy classes in the order the model consults them."""
    return sorted(REGISTRY.values(), key=lambda c: (c.order, c.key))


def overrides(policy: Policy, hook: str) -> bool:
    """Whether `policy` does something at `hook` (the engine asks only those, as hooks run on every event)."""
    return getattr(type(policy), hook) is not getattr(Policy, hook)
