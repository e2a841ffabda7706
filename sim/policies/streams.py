"""A random stream per deal for a policy, so that common random numbers survive a change of policy.

A policy that draws from the shared policies' stream (`model.rng`) in the order events happen gets
different numbers for the same deal as soon as a setting moves events around (a bug that stalls one deal
changes which deal reaches Evaluation next). Paired comparisons then lose most of their power. Instead a
policy makes one `DealStreams` when it attaches (one draw from `model.rng`, in the fixed order policies
attach) and asks it for each deal's own generator: the same lead meets the same draws in every scenario
run with the same seed, whatever else happens in between (the same idea as the accounts' streams,
`sim.engine.accounts.AccountStreams`).

A lead is recognised by its arrival day and its first stage-time draw, both drawn with the lead from the
market's (or its account's) stream, so they are identical across scenarios that share the market.
"""

from __future__ import annotations

import numpy as np

from ..engine.entities import Deal
from ..engine.hooks import ModelView


class DealStreams:
    """Per-deal random generators made from one key drawn from the policies' stream."""

    def __init__(self, model: ModelView):
        self._key = int(model.rng.integers(2**63))

    def of(self, deal: Deal) -> np.random.Generator:
        """The deal's own generator: the same for the same lead and run seed, in every scenario."""
        lead = deal.lead
        marks = np.array([lead.arrived, lead.stage_noise[0] if lead.stage_noise else 0.0], dtype=np.float64)
        return np.random.default_rng([self._key, *marks.view(np.uint64).tolist()])
