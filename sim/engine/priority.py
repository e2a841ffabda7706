"""Who gets a rep's time first: named priority levels, composed by rule.

A desk request carries a `Priority`: a level, then a score within the level (lower goes first at both).
Levels say what kind of work it is; the score orders work of the same level (e.g. largest deal first).
When several policies speak about the same deal, the deal takes the latest (most deferred) level any of
them asks for, and the sum of their scores: a policy can push a deal back, never jump it ahead of
urgent work.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class Level(IntEnum):
    """Kinds of desk work, in the order a rep takes them."""

    URGENT = 0     # goes ahead of every deal waiting: a forecast review
    NORMAL = 1     # deal work and qualification, ordered by score
    DEFERRED = 2   # deal work a policy puts behind the normal ones (outside the focus segments)
    SPARE = 3      # only when no deal is waiting: prospecting, research


class Priority(NamedTuple):
    """A desk request's place in the queue: level first, then score (lower is served first)."""

    level: Level = Level.NORMAL
    score: float = 0.0


URGENT = Priority(Level.URGENT)
NORMAL = Priority(Level.NORMAL)
SPARE = Priority(Level.SPARE)


def combine(priorities: list[Priority]) -> Priority:
    """One priority from what several policies said: the latest level, the summed scores."""
    if not priorities:
        return NORMAL
    return Priority(max(p.level for p in priorities), sum(p.score for p in priorities))
