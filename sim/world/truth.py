"""The hidden truth behind each deal: how common budgets, strong champions and competitors ahead are.

The engine (`sim.engine.truth`) draws each deal's facts from these settings and lets reps learn them
through contact with the customer.
"""

from __future__ import annotations

from pydantic import Field

from ..core.data import Data


class TruthSettings(Data):
    """How common the facts behind a deal's real chance are, how much they matter, how fast reps learn them."""

    budget_share: float = Field(0.6, ge=0, le=1, description="share of deals whose customer has a budget that includes our category (the hidden truth: never in an export; assumed, explored 0.3 to 0.9)")
    competitor_share: float = Field(0.3, ge=0, le=1, description="share of deals where a competitor is ahead (hidden truth; assumed, explored 0 to 0.6)")
    on_budget: float = Field(1.0, ge=0, le=10, description="how much a missing budget raises stage loss chances: x exp(on_budget) (hidden truth; assumed, explored 0 to 2)")
    on_power: float = Field(1.0, ge=0, le=10, description="how much champion power (0..1) lowers loss chances: x exp(on_power * (0.5 - power)) (hidden truth; assumed, explored 0 to 2)")
    on_competitor: float = Field(0.8, ge=0, le=10, description="how much a competitor ahead raises loss chances: x exp(on_competitor) (hidden truth; assumed, explored 0 to 1.6)")
    learn_chance: float = Field(0.3, gt=0, le=1, description="chance that one contact with the customer reveals each fact to the rep (hidden truth; assumed, explored 0 to 0.6)")
    budget_cut_rate: float = Field(
        1.0, ge=0, le=50,
        description="yearly chance that an open deal's budget is cut, per unit of market volatility (0 volatility = no cuts)",
    )
