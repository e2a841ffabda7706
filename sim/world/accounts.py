"""What accounts do after their first deal: come back with more business, refer others.

These are the engine's plain account dynamics; customer orbits, churn and nurture of lost deals are
policies built on top (`sim.policies`). Rates are per account per year, so a team with more customers
gets more repeat business, as in life.
"""

from __future__ import annotations

from pydantic import Field

from ..core.data import Data


class AccountSettings(Data):
    """How customers keep the pipeline going: repeat business and referrals."""

    repeat_per_year: float = Field(
        0.8, ge=0, le=52,
        description="new deals a customer brings per year (renewals, expansions, more seats); 0 = none",
    )
    repeat_source: str = Field("Existing customer", min_length=1, description="lead source name of repeat business")
    referrals_per_year: float = Field(
        0.0, ge=0, le=52,
        description="new accounts a customer refers per year (each a new lead of the customer's segment); 0 = none",
    )
    referral_source: str = Field(
        "Referral", min_length=1,
        description="lead source of referred leads (its loss and duration factors apply when it is a lead source)",
    )
