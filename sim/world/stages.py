"""How deals move: the sales stages, how the signed amount compares with the first estimate, how much fit matters."""

from __future__ import annotations

from pydantic import Field

from ..core.data import Data


class Stage(Data):
    """One sales stage: customer-side time, the rep work it needs, and its chances of loss and stall."""

    name: str = Field(min_length=1, description="stage name as the CRM shows it")
    median_days: float = Field(gt=0.0, le=3650.0, description="median customer-side days in this stage")
    spread: float = Field(0.5, ge=0.0, le=3.0, description="spread of stage time (log scale)")
    rep_hours: float = Field(4.0, ge=0.0, le=1000.0, description="hours of rep work the stage needs")
    loss_chance: float = Field(0.1, ge=0.0, lt=1.0, description="chance a deal of average fit is lost at the end of this stage")
    stall_chance: float = Field(0.1, ge=0.0, le=1.0, description="chance the deal stalls in this stage")
    stall_days: float = Field(30.0, ge=0.0, le=3650.0, description="median extra days a stall adds")


class DealValue(Data):
    """How the signed amount compares with the first estimate (the '2 licences instead of 10' gap)."""

    realisation_median: float = Field(0.85, gt=0.0, le=10.0, description="median of actual / first estimate for won deals")
    realisation_spread: float = Field(0.3, ge=0.0, le=3.0, description="spread of that ratio (log scale)")


class FitEffects(Data):
    """How much a lead's fit score matters. 0 = not at all; larger = good fit helps more."""

    on_loss: float = Field(2.0, ge=0.0, le=10.0, description="good fit lowers stage loss chances: x exp(on_loss * (0.5 - fit)); assumed (no published figure: 2.0 makes a perfect fit lose about a third as often as an average one at each stage), explored 0 to 4")
    on_size: float = Field(0.5, ge=0.0, le=10.0, description="good fit raises deal size: x exp(on_size * (fit - 0.5)); assumed (no published figure), explored 0 to 1")
    on_duration: float = Field(0.5, ge=0.0, le=10.0, description="good fit shortens stages: x exp(on_duration * (0.5 - fit)); assumed (no published figure), explored 0 to 1")
