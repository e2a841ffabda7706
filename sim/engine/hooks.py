"""The hook protocol: how a policy takes part in the story without the engine naming it.

A policy is two things:

- its **settings**: a frozen, validated `Data` model (`Policy` subclass) that sits in a scenario under
  ``policies.<key>``; and
- its **run**: what it keeps track of during one run (counters, per-deal records, its own processes). When a
  run begins the engine calls ``policy.start(model)``, which returns the object whose hooks the engine then
  calls for the rest of that run. A policy with nothing to remember is its own run (the default ``start``
  returns ``self``); a policy with state returns a `PolicyRun` of its own type, holding that state as typed
  attributes (and, usually, the settings as ``self.policy``). Nothing is kept on the model for a policy.
  Hooks left on the settings of a policy whose run is another object would never be called: the model
  refuses such a policy when the run starts.

Hooks (on the run; each has a do-nothing default, override only the ones you need)

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
- ``tables(model) -> {name: DataFrame}`` canonical tables the run wrote (declare them in ``writes``)
- ``metrics(model) -> {name: float}``    numbers it measured, added to the run's metrics

Services a hook may ask the model for (`ModelView`): ``model.activities`` (the shared log of meetings,
calls, trials: `sim.engine.activities`), ``model.costs`` (the cost ledger: `sim.engine.costs`) and
``model.streams`` (a random stream per deal or rep: `sim.engine.streams`). A policy that uses the activity
log or the ledger lists its table (``ACTIVITIES``, ``COSTS``) in ``writes``; the engine writes it once.

Order: policies are consulted in the order they were registered, except that a policy naming others in
``after`` (``after = ("first_meeting",)``: it reads what they decided) comes after them. `register` refuses a
cycle of such declarations with a message naming it. The order is fixed, so runs are reproducible.

A policy also says where it sits in a scenario (``key``), a one-line ``summary`` (the YAML comment), and
checks itself against the world (``check(world)``). `register` makes it known to scenarios and declares its
tables; a new policy is one module (or one test file) and touches no engine file. What a hook may use of the
model is `ModelView`, not the model class.
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
from .activities import Activities
from .costs import CostLedger
from .entities import Deal, Lead
from .leads import LeadFactory
from .priority import NORMAL, Priority
from .streams import Streams
from .team import Rep, Team


class ModelView(Protocol):
    """What a hook may see and do of the running model."""

    env: simpy.Environment
    world: World
    team: Team
    leads: LeadFactory
    rng: np.random.Generator           # the policies' own random stream (never the market's)
    deals: list[Deal]                  # every deal so far, in the order they were created (read, do not change)

    @property
    def now(self) -> float: ...
    @property
    def activities(self) -> Activities: ...   # the run's activity log (meetings, calls, trials)
    @property
    def costs(self) -> CostLedger: ...        # the run's cost ledger (money and rep hours)
    @property
    def streams(self) -> Streams: ...         # random streams per deal / rep, the same across scenarios
    def receive(self, lead: Lead) -> None: ...
    def resume(self, lead: Lead, stage: int, entered: float) -> Deal: ...
    def open_deals(self, rep: Rep | None = None) -> list[Deal]: ...
    def release(self, rep: Rep) -> None: ...
    def effort(self, rep: Rep) -> float: ...
    def desk_time(self, rep: Rep, hours: float, priority: Priority, effort: float | None = None) -> Generator: ...
    def timestamps(self, days: Any) -> pd.DatetimeIndex: ...


class Hooks:
    """The moments a policy's run takes part in; each default does nothing (see the module docstring)."""

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
        """Canonical tables this run wrote, by table name (not the services' tables: the engine writes those)."""
        return {}

    def metrics(self, model: ModelView) -> dict[str, float]:
        """Numbers this run measured, added to the run's metrics."""
        return {}


class PolicyRun(Hooks):
    """One policy's state during one run: subclass it, keep the state as typed attributes, override hooks.

    `Policy.start` makes one per run (``return OrbitRun(self, model)``), so two runs never share state and a
    finished run's numbers are read from the object that counted them.
    """


class Policy(Data, Hooks):
    """A policy's settings, frozen and validated; `start` gives the run the engine calls (itself by default)."""

    key: ClassVar[str] = ""                          # its place in a scenario: policies.<key>
    summary: ClassVar[str] = ""                      # one line: what it decides (the YAML comment)
    after: ClassVar[tuple[str, ...]] = ()            # keys of policies whose effects it reads: consulted after them
    on_by_default: ClassVar[bool] = False            # present with its defaults when a scenario does not set it
    writes: ClassVar[tuple[schema.Table, ...]] = ()  # tables it writes, declared with their columns
    levers: ClassVar[tuple[str, ...] | None] = None  # fields a leader may change in the what-if explorer (None = all simple ones)

    def check(self, world: World) -> list[str]:
        """Problems of this policy against the world, one line each starting with the field (none = fine)."""
        return []

    def start(self, model: ModelView) -> Hooks:
        """Begin a run: start any process the policy needs, and return the object whose hooks the engine calls
        for this run (a `PolicyRun` holding the run's state; by default the policy itself, which has none)."""
        return self


HOOKS = ("admit", "enter_stage", "priority", "effort", "stage_days", "pass_factor", "signed_amount",
         "on_close", "tables", "metrics")

REGISTRY: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Make a policy class known to scenarios under `cls.key`, and declare the tables it writes.

    Used as a class decorator in the policy's own module. Registering another class under a taken key
    replaces it only if it has the same name and module (a module re-imported in a notebook). A policy whose
    `after` declarations close a cycle with the registered ones is refused, with the cycle in the message.
    """
    if not cls.key or not cls.key.isidentifier():
        raise ValueError(f"{cls.__name__}.key must be a name usable in YAML (letters, digits, _), got {cls.key!r}")
    known = REGISTRY.get(cls.key)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"policy key {cls.key!r} is taken by {known.__module__}.{known.__qualname__}")
    if isinstance(cls.after, str) or not all(isinstance(k, str) for k in cls.after):
        raise ValueError(f"{cls.__name__}.after must be a tuple of policy keys, got {cls.after!r}")
    if cls.key in cls.after:
        raise ValueError(f"{cls.__name__}.after names the policy itself ({cls.key!r})")
    candidate = {**REGISTRY, cls.key: cls}
    ordered(list(candidate.values()))        # raises on a cycle, before anything is registered
    for table in dict.fromkeys(cls.writes):
        schema.register(table)
    REGISTRY[cls.key] = cls
    return cls


def unregister(key: str) -> None:
    """Forget the policy registered under `key` (scenarios made since keep it; new ones reject it)."""
    REGISTRY.pop(key, None)


def registered() -> list[type[Policy]]:
    """The known policy classes in the order the model consults them (see `ordered`).

    A policy whose `after` names a key no policy is registered under (a typo, or a policy never imported) is
    an error here, naming both, rather than a dependency silently dropped.
    """
    for cls in REGISTRY.values():
        unknown = [k for k in cls.after if k not in REGISTRY]
        if unknown:
            raise ValueError(f"{cls.__name__}.after names {', '.join(map(repr, unknown))}: no policy is registered "
                             f"under that key (known: {', '.join(sorted(REGISTRY))})")
    return ordered(list(REGISTRY.values()))


def ordered(policies: list[Any]) -> list[Any]:
    """`policies` (classes or instances) in consulting order: as given, except that each comes after those it
    names in `after` (among those given; a policy that is off imposes nothing). Raises ValueError on a cycle.

    Of the policies whose predecessors are all placed, the first given goes next (a stable topological sort),
    so declarations move only what they must.
    """
    keys = [p.key for p in policies]
    waiting = {p.key: [k for k in p.after if k in keys] for p in policies}
    out: list[Any] = []
    placed: set[str] = set()
    pending = list(policies)
    while pending:
        ready = next((p for p in pending if all(k in placed for k in waiting[p.key])), None)
        if ready is None:
            raise ValueError(f"policies wait for each other in a cycle: {_cycle(waiting, [p.key for p in pending])}; "
                             "remove one of these `after` declarations")
        pending.remove(ready)
        placed.add(ready.key)
        out.append(ready)
    return out


def _cycle(waiting: dict[str, list[str]], stuck: list[str]) -> str:
    """One cycle among the `stuck` keys, written 'a after b after ... after a'."""
    path, key = [], stuck[0]
    while key not in path:
        path.append(key)
        key = next(k for k in waiting[key] if k in stuck)
    loop = path[path.index(key):] + [key]
    return " after ".join(loop)


def overrides(run: Hooks, hook: str) -> bool:
    """Whether `run` does something at `hook` (the engine asks only those, as hooks run on every event)."""
    return getattr(type(run), hook) is not getattr(Hooks, hook)
