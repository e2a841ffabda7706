"""The data-sufficiency gate on the report's cards: a card whose data headline rests on what the export cannot
show says so in its headline instead of a degenerate number ("Organic search wins 100% of its closed deals"
on a funnel that never marks a lead lost).

Each principle's data headline measures one kind of thing (win rates, amounts, per-rep attainment...): the
table below says which, by the notebook's number. The findings are the gate's (`sim.analysis.sufficiency`),
computed once on the export the report loaded. A notebook not listed has a headline no finding switches off.
"""

from __future__ import annotations

from ..analysis.sufficiency import (AMOUNTS, CALIBRATION, COMPARISONS, CYCLE, PER_REP, STAGES, WIN_RATES, Finding,
                                   Sufficiency, describe)
from .cards import Card

# the report's Forecast (its front-page card and notebook 14's headline): bookings simulated on the export's calibration
FORECAST = (AMOUNTS, CALIBRATION)

HEADLINE_NEEDS: dict[str, tuple[str, ...]] = {
    "01": (WIN_RATES, COMPARISONS),            # win rate by lead source
    "02": (WIN_RATES, COMPARISONS),            # referral deals' win rate
    "03": (WIN_RATES, COMPARISONS),            # win rate by rep talk share
    "04": (AMOUNTS,),              # bookings history
    "05": (AMOUNTS,),              # forecast error as a share of bookings
    "06": (WIN_RATES, STAGES, COMPARISONS),     # win rate of deals that met a bug at a stage
    "07": (PER_REP, AMOUNTS),      # attainment per owner
    "08": (WIN_RATES, COMPARISONS),            # win rate by first-meeting attendees
    "09": (WIN_RATES, CYCLE),      # accounts won back after a loss, and how long after (order lines have no loss to win back)
    "11": (WIN_RATES, AMOUNTS, COMPARISONS),    # win rate and deal size by group
    "12": (AMOUNTS,),              # revenue concentration
    "13": (CALIBRATION,),          # how well the calibration matches
    "14": FORECAST,                # the period's bookings forecast
}


# what-ifs that run on the export's own calibration whatever the gate says (notebook 13 calibrates to show the
# fit itself); the others start from `sim.notebook.starting_scenario`, which falls back to the preset and says so
WHATIF_NEEDS: dict[str, tuple[str, ...]] = {
    "13": (CALIBRATION,),          # the assumption that moves the calibrated pipeline's bookings most
}


def needs(slug: str) -> tuple[str, ...]:
    """What the data headline of notebook `slug` ("01-force-concentration") measures."""
    return HEADLINE_NEEDS.get(slug[:2], ())


def forecast_blocked(gate: Sufficiency | None) -> str | None:
    """Why the report makes no Forecast of this export (its amounts or its calibration fail the gate: a P50 of
    bookings from mostly-zero amounts, or simulated from a pipeline that never loses, is not a forecast), with the
    gate's fixes; None when it can be made."""
    why = describe(gate, FORECAST) if gate is not None else None
    if why is None:
        return None
    return why + _fixes(gate.blocks(*FORECAST))


def _fixes(found: list[Finding]) -> str:
    """What the reader can do about `found`, each finding's fix after a space ("" when none has one)."""
    return "".join(f" {f.fix}" for f in found if f.fix)


def apply_gate(cards: list[Card], gate: Sufficiency | None) -> None:
    """Mark every card whose data headline fails the gate: `card.gated` says why, in place of the number; a
    what-if that ran on a calibration the gate blocks (`WHATIF_NEEDS`) says why in place of its number too."""
    if gate is None:
        return
    for card in cards:
        if card.headline is not None and (why := describe(gate, needs(card.slug))):
            card.gated = why
        if card.whatif and (found := gate.blocks(*WHATIF_NEEDS.get(card.slug[:2], ()))):
            card.whatif = (f"Not measured on this export: the calibration it ran on would simulate nonsense "
                           f"({'; '.join(f.text.rstrip('.') for f in found)}), so its numbers are not this pipeline's."
                           f"{_fixes(found)}")
