"""What the levers of a plan cost: a rep's yearly cost and a lead's price (`scenario.costs`).

The engine never reads them: they price the changes `sim.plan` searches (a rep more, a hire, more leads a
month). They are scenario fields so they are stated where the rest of the scenario is, edited the same way
(`costs: {rep_per_year: 140000}` in the YAML, ``scenario.replace({"costs.lead": 180})``, ``--rep-cost``) and
checked the same way. An export does not hold them, so unless set they are assumed: `ASSUMED` gives each
default with the range the sources support and the sources, and `notes` the YAML comment that says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from ..core.data import Data


@dataclass(frozen=True)
class Assumed:
    """An assumed default: its value, the range the sources support, and the sources."""

    value: float
    low: float
    high: float
    source: str


ASSUMED: dict[str, Assumed] = {
    "rep_per_year": Assumed(
        150_000.0, 100_000.0, 300_000.0,
        "a quota-carrying account executive's fully loaded cost (on-target earnings plus payroll taxes, benefits, "
        "tools); surveys of B2B software AEs put on-target earnings from about 120k (The Bridge Group's SaaS AE "
        "reports) to about 250k (ICONIQ Growth's 2023 sales compensation survey), in USD"),
    "lead": Assumed(
        250.0, 30.0, 500.0,
        "marketing spend for one more lead; B2B cost-per-lead tables put software leads at roughly 160 (organic) "
        "to 310 (paid) USD (First Page Sage, 2023) and bought content-syndication leads near 30 (Madison Logic)"),
}


class Costs(Data):
    """A rep's yearly cost and a lead's price, in the scenario's currency: what `sim.plan` prices levers with."""

    rep_per_year: float = Field(
        ASSUMED["rep_per_year"].value, ge=0.0, le=10_000_000.0,
        description="a rep's fully loaded yearly cost (pay, taxes, benefits, tools), in the scenario currency; "
                    "prices a rep more or a hire in a plan (assumed unless set: see the note)")
    lead: float = Field(
        ASSUMED["lead"].value, ge=0.0, le=1_000_000.0,
        description="what one more lead costs (marketing spend per lead), in the scenario currency; prices more "
                    "leads a month in a plan (assumed unless set: see the note)")

    def provenance(self, name: str) -> str:
        """Where the value of `name` comes from: ``assumed (...); range a to b`` at its default, else set here."""
        a = ASSUMED[name]
        value = getattr(self, name)
        if value == a.value:
            return f"assumed: {a.source}; range {a.low:,.0f} to {a.high:,.0f}"
        return f"set in this scenario (the default {a.value:,.0f} is assumed; range {a.low:,.0f} to {a.high:,.0f})"

    def notes(self, prefix: str = "costs.") -> dict[str, str]:
        """YAML comments by field path: each cost's provenance (`Scenario.to_yaml` writes them on the lines)."""
        return {f"{prefix}{name}": self.provenance(name) for name in ASSUMED}

    def said(self, currency: str) -> str:
        """One line for a plan's output: both costs, each with whether it is assumed or set."""
        parts = []
        for name, what in (("rep_per_year", "a rep {} a year"), ("lead", "a lead {}")):
            value, a = getattr(self, name), ASSUMED[name]
            how = (f"assumed, range {a.low:,.0f} to {a.high:,.0f}" if value == a.value else "set in the scenario")
            parts.append(what.format(f"{value:,.0f} {currency}") + f" ({how})")
        return "costs: " + ", ".join(parts) + "; edit them as the scenario's costs.rep_per_year and costs.lead"
