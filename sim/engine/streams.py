"""A random stream per deal, so that common random numbers survive a change of policy.

A policy that draws from the shared policies' stream (`model.rng`) in the order events happen gets
different numbers for the same deal as soon as a setting moves events around (a bug that stalls one deal
changes which deal reaches Evaluation next), and paired comparisons lose most of their power. Instead a
policy asks the run's `Streams` (``model.streams``) for a deal's own stream for a purpose (`Streams.of`):
made from the run's policy seed, the purpose and the deal's identity, it is the same in every scenario run
with that seed, whatever else drew before (the same idea as the accounts' streams, `sim.engine.accounts`). Nothing is drawn from `model.rng`.

A deal is recognised by its lead's arrival time and first stage-time draw, both drawn with the lead from the
market's (or its account's) stream, so they are the same across scenarios that share the market, whatever
order deals were created in.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from .entities import Deal

BLOCK = 32           # uniform numbers drawn ahead per meeting for its attendees (more are drawn if needed)


class Streams:
    """The run's named random streams, made from its policy seed (`model.streams`)."""

    def __init__(self, rng: np.random.Generator):
        self._seq = rng.bit_generator.seed_seq

    def stream(self, purpose: str, *keys: int) -> np.random.Generator:
        """A random stream for one purpose and key (a deal's identity, a rep's number): the same in every
        scenario run with that seed, whatever else drew before."""
        seq = self._seq
        salt = zlib.crc32(purpose.encode())
        return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, salt, *keys)))

    def of(self, deal: Deal, purpose: str) -> np.random.Generator:
        """`deal`'s own stream for `purpose`."""
        return self.stream(purpose, *deal_keys(deal))

    def uniforms(self, block: np.ndarray, n: int, deal: Deal, purpose: str) -> np.ndarray:
        """`n` uniform numbers for a deal: the first from its pre-drawn `block`, any beyond it (more people than
        `BLOCK`, rare) from a stream of the deal's own for `purpose`."""
        n = max(n, 0)
        if n <= len(block):
            return block[:n]
        more = self.of(deal, purpose).random(n - len(block))
        return np.concatenate([block, more])


def deal_keys(deal: Deal) -> tuple[int, int]:
    """Keys that name a deal across scenarios: the bits of its lead's arrival time and first stage draw."""
    lead = deal.lead
    marks = np.array([lead.arrived, lead.stage_noise[0] if lead.stage_noise else 0.0], dtype=np.float64)
    first, second = marks.view(np.uint64).tolist()
    return first, second


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
