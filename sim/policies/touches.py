"""Touches: what several policies share when they meet, call or support a customer.

A touch is one row of the canonical `activities` table (a meeting, a call, a lunch, a trial check-in...).
Every policy that touches customers records its touches here, in one log per run, so the `activities`
table holds them all whichever policies ran; each such policy returns `table(model)` from its `tables`
hook (the same whole table, so it does not matter which policy's copy the model keeps).

A touch is a mutable record until the run ends: one policy can book a meeting (who came) and another
fill in what was said (talk share, questions), and the table is written once, at the end.

Also here: `stream`, a random stream of its own for one deal or one rep, made from the run's policy seed
and a purpose, so a deal's meetings draw the same numbers in every scenario of a comparison however the
deals before it went (common random numbers, like the accounts' own streams in `sim.engine.accounts`), and
`poisson_from_uniform`, a count drawn by inverse CDF so that a higher mean never gives fewer from the same
uniform number.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core import schema
from ..engine.entities import Deal
from ..engine.hooks import ModelView
from ..engine.priority import NORMAL, Priority
from ..engine.team import Rep

LOG = "activities"   # key of the shared log in `model.extra`
BLOCK = 32           # uniform numbers drawn ahead per meeting for its attendees (more are drawn if needed)
TABLE = "touches.table"   # key in `model.extra`: the table built at the end of the run
BOOKED = "touches.booked"   # key in `deal.extra`: (stage, meeting) booked by a policy for that stage


@dataclass(eq=False)
class Touch:
    """One activity with a customer, as the `activities` table records it (numbers NaN when unknown)."""

    opportunity_id: str | None
    account_id: str | None
    at: float                                   # simulated day
    kind: str                                   # meeting, lunch, video, call, trial...
    duration_minutes: float = math.nan
    attendees: float = math.nan
    attendees_spoke: float = math.nan
    customer_talk_share: float = math.nan
    questions: float = math.nan
    outcome: str | None = None                  # held, no-show, ...
    truth: dict[str, float] = field(default_factory=dict)   # simulated-only facts: truth_* columns


def record(model: ModelView, deal: Deal | None, kind: str, at: float | None = None, **fields: Any) -> Touch:
    """Log a touch with `deal`'s customer (now, unless `at` is given) and return it, to fill in later."""
    touch = Touch(
        opportunity_id=deal.id if deal is not None else None,
        account_id=deal.account.id if deal is not None else fields.pop("account_id", None),
        at=model.now if at is None else at,
        kind=kind,
        **fields,
    )
    model.extra.setdefault(LOG, []).append(touch)
    return touch


def book(deal: Deal, stage: int, touch: Touch | None) -> None:
    """Say that stage `stage`'s meeting with the customer is `touch` (None: it was booked and never held),
    so a policy consulted later at the same stage (the conversation) uses this meeting, not a new one."""
    deal.extra[BOOKED] = (stage, touch)


def booked(deal: Deal, stage: int) -> tuple[bool, Touch | None]:
    """Whether another policy booked stage `stage`'s meeting, and the meeting (None if never held)."""
    entry = deal.extra.get(BOOKED)
    if entry is None or entry[0] != stage:
        return False, None
    return True, entry[1]


def table(model: ModelView) -> pd.DataFrame:
    """Every touch logged in the run, as the canonical `activities` table plus its `truth_*` columns
    (built once per run: every policy that writes touches asks for it)."""
    touches: list[Touch] = model.extra.get(LOG, [])
    if not touches:
        return schema.empty("activities")
    built = model.extra.get(TABLE)
    if built is None or built[0] != len(touches):
        built = model.extra[TABLE] = (len(touches), _build(model, touches))
    return built[1]


def _build(model: ModelView, touches: list[Touch]) -> pd.DataFrame:
    columns = [c for c in schema.ACTIVITIES.columns]
    data: dict[str, Any] = {c: [getattr(t, c) for t in touches] for c in columns}
    data["at"] = model.timestamps([t.at for t in touches])
    for c in ("opportunity_id", "account_id", "kind", "outcome"):
        data[c] = pd.Series(data[c], dtype="object")
    truths = sorted({k for t in touches for k in t.truth})
    for k in truths:
        data[k] = [float(t.truth.get(k, math.nan)) for t in touches]
    df = pd.DataFrame(data)
    return schema.conform(df.sort_values("at", kind="stable").reset_index(drop=True), "activities")


def desk(model: ModelView, rep: Rep, hours: float, priority: Priority = NORMAL) -> Generator:
    """Process step: the rep spends `hours` of desk time on a touch (travel, a lunch, trial support)."""
    if hours > 0:
        yield from model.desk_time(rep, hours, priority)


def stream(model: ModelView, purpose: str, *keys: int) -> np.random.Generator:
    """A random stream for one purpose and key (a deal's account and place, a rep's number), made from
    the run's policy seed: the same in every scenario run with that seed, whatever else drew before."""
    seq = model.rng.bit_generator.seed_seq
    salt = zlib.crc32(purpose.encode())
    return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, salt, *keys)))


def uniforms(block: np.ndarray, n: int, model: ModelView, deal: Deal, purpose: str) -> np.ndarray:
    """`n` uniform numbers for a deal: the first from its pre-drawn `block`, any beyond it (more people than
    `BLOCK`, rare) from a stream of the deal's own for `purpose`."""
    n = max(n, 0)
    if n <= len(block):
        return block[:n]
    extra = stream(model, purpose, *deal_keys(deal)).random(n - len(block))
    return np.concatenate([block, extra])


def deal_keys(deal: Deal) -> tuple[int, int]:
    """Keys that name a deal across scenarios: its account's number and its place among the account's deals
    (deal ids are given in creation order, which repeat business shifts from one scenario to another)."""
    account = deal.account
    return account.number, next(k for k, d in enumerate(account.deals) if d is deal)


def poisson_from_uniform(u: float, mean: float) -> int:
    """The Poisson(`mean`) count whose CDF first reaches `u` (inverse CDF): monotone in `mean` for one `u`."""
    if mean <= 0:
        return 0
    k, p = 0, math.exp(-mean)
    cdf = p
    while cdf < u and k < 1000:
        k += 1
        p *= mean / k
        cdf += p
    return k
