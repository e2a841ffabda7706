"""Column presets for the exports of common CRMs, and how a file is recognised from its header.

A `Format` says, for each kind of file a CRM exports (the opportunities/deals list, and where the CRM
has one, the opportunity stage history), which export columns feed which canonical column, and what
its stage labels mean (won, lost, or a stage a deal is still in). Header names are matched without
regard to case or surrounding spaces. The same structure is built from a user's mapping file
(`sim.crm.mapping`), so every export goes through one loader.

Where the column names come from (looked up, not invented):
- Salesforce: the Opportunity field labels in Salesforce Help "Opportunity Fields" (Account Name, Amount,
  Close Date, Stage, Lead Source, Probability (%), Type, Forecast Category, Opportunity Owner) as a report
  exports them; the stage history as the OpportunityHistory object labels it in the Salesforce field
  reference (Opportunity ID, Stage Name, Amount, Close Date, Created Date = when the stage was set);
  default stage picklist Prospecting ... Closed Won / Closed Lost.
- HubSpot: the deals export headers (Record ID, Deal Name, Deal Stage, Amount, Close Date, Create Date,
  Deal owner, Pipeline, Associated Company) and the default sales pipeline stages (Appointment
  Scheduled, Qualified To Buy, Presentation Scheduled, Decision Maker Bought-In, Contract Sent,
  Closed Won, Closed Lost).
- Custom fields (any CRM): the account fit score and complaint count are custom fields in every CRM, so their
  labels are ours (`Account Fit Score`, `Account Complaints`; what `playbook synth` writes); the product
  is Salesforce's `Product Name` of an "Opportunities with Products" report, HubSpot's `Product`, and
  Pipedrive's `Deal - Product name`. Name yours in a mapping file if they differ.
- Loss reason and competitor: Salesforce's `Loss Reason` and `Main Competitor(s)` (opportunity fields many orgs
  carry), HubSpot's `Closed Lost Reason` (a default deal property) and Pipedrive's `Deal - Lost reason`; HubSpot
  and Pipedrive have no competitor field by default, so `Competitor` / `Deal - Competitor` are our names for
  the custom field. The owner's yearly quota is not an opportunity field in any of them (Salesforce keeps
  quotas with forecasts); a report can carry it from the owner's user record, which we call
  `Owner Annual Quota` (Salesforce).
- Pipedrive: the "Entity - Field" headers of a deals export (Deal - ID, Deal - Title, Deal - Value,
  Deal - Currency of value, Deal - Stage, Deal - Status, Deal - Owner, Deal - Organization,
  Deal - Deal created, Deal - Won time, Deal - Lost time, Deal - Lost reason, Deal - Expected close
  date), status open / won / lost.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import field_history

# Canonical columns an export can fill beyond the schema's own, with their meaning (kept as extra columns).
EXTRA_COLUMNS = {
    "expected_close_at": "the close date an open deal is expected on (CRMs keep it in the close date field)",
    "won_at": "when a deal was won (Pipedrive keeps it apart from the lost time)",
    "lost_at": "when a deal was lost",
    "currency": "currency of the amount",
    "pipeline": "the pipeline a deal is in (HubSpot; stage labels may repeat across pipelines)",
    "stage_entered_at": "when the deal entered its current stage (Pipedrive's Deal - Last stage change)",
    "name": "the deal's name",
    "probability": "the CRM's win probability for the stage [%]",
    "champion": "who drove the deal inside the customer (rarely exported; map it when your CRM has it)",
    "product": "what the deal sells (a product or product line)",
    "complaints": "complaints (or support cases) the deal's account raised; an account-level number",
    "quota": "the deal owner's yearly quota (one figure per owner; a report can carry it from the owner's user record)",
}
DATE_COLUMNS = {"created_at", "closed_at", "expected_close_at", "won_at", "lost_at", "entered_at", "stage_entered_at"}
NUMBER_COLUMNS = {"amount", "first_estimate", "fit_score", "probability", "complaints", "quota"}
OUTCOME_WORDS = {"won": "won", "lost": "lost", "open": "open", "closed won": "won", "closed lost": "lost"}


@dataclass(frozen=True)
class FileSpec:
    """One kind of file of an export: which header feeds which canonical column."""

    kind: str                                   # "opportunities" or "history"
    columns: dict[str, tuple[str, ...]]         # canonical column -> accepted export headers
    keys: tuple[str, ...] = ("opportunity_id",)  # canonical columns whose header must be present

    def resolve(self, header: list[str]) -> dict[str, str]:
        """canonical column -> the actual header in this file, for the columns present."""
        return resolve_headers(self.columns, header)

    def matches(self, header: list[str]) -> int:
        """How well a header fits this file kind: columns found, or 0 when a key column is missing."""
        found = self.resolve(header)
        if any(k not in found for k in self.keys):
            return 0
        return len(found)


@dataclass(frozen=True)
class Format:
    """How one CRM (or one mapping file) exports its pipeline."""

    name: str
    files: tuple[FileSpec, ...]
    stages: dict[str, str] = field(default_factory=dict)   # export label -> "won" / "lost" / canonical stage
    strict_stages: bool = False      # a mapping file lists every label; unknown ones are rejected
    date_format: str | Mapping[str, str] | None = None   # one for every date column, or per canonical column
    currency: str | None = None
    keep: tuple[str, ...] = ()       # export columns kept as they are, as extra columns
    mapped: bool = False             # built from a user's mapping file: every column it names should exist
    sheets: tuple[str, ...] = ()     # the workbook sheets to read (all sheets with rows when empty)
    notes: tuple[str, ...] = ()      # what the mapping's reading changed, for the load summary
    rates: Mapping[str, float] = field(default_factory=dict)   # currency -> value of 1 unit in `currency`
    stage_patterns: tuple[tuple[str, str], ...] = ()   # (regex on the folded label, "won" / "lost") after `stages`

    def spec(self, kind: str) -> FileSpec | None:
        return next((f for f in self.files if f.kind == kind), None)

    def date_format_for(self, column: str) -> str | None:
        """The date format given for a canonical date column (None: detect it)."""
        if isinstance(self.date_format, Mapping):
            return self.date_format.get(column)
        return self.date_format

    def stage_meaning(self, label: str) -> str:
        """'won', 'lost', or the stage name a label stands for (unknown labels stand for themselves).

        Labels match whatever their case, accents, spacing or Unicode form ('Closed\u00a0Won', 'closed  won',
        'Fermee gagnee'); then the format's patterns (HubSpot's 'Closed won (Renewals)') are tried.
        """
        return self.known_stage(label) or label

    def known_stage(self, label: str) -> str | None:
        """What a label means when this format knows it (listed or matching a pattern), else None."""
        if label in self.stages:
            return self.stages[label]
        key = fold_label(label)
        for known, meaning in self.stages.items():
            if fold_label(known) == key:
                return meaning
        for pattern, meaning in self.stage_patterns:
            if re.fullmatch(pattern, key):
                return meaning
        return None


def resolve_headers(columns: Mapping[str, tuple[str, ...]], header: Iterable[str]) -> dict[str, str]:
    """column -> the header in this file that feeds it: its first accepted name present, case and spacing ignored."""
    by_norm = {_norm(h): h for h in header}
    found = {}
    for column, aliases in columns.items():
        for alias in aliases:
            if _norm(alias) in by_norm:
                found[column] = by_norm[_norm(alias)]
                break
    return found


def clean_label(label: str) -> str:
    """A label as it should read: Unicode-normalised (NFKC: no-break and other odd spaces become spaces, full-width
    letters plain ones) with its whitespace collapsed ('Closed\u00a0 Won ' -> 'Closed Won')."""
    return " ".join(unicodedata.normalize("NFKC", str(label)).split())


def fold_label(label: str) -> str:
    """A label's matching key: cleaned, lower case, accents dropped ('Fermée  Gagnée' -> 'fermee gagnee')."""
    decomposed = unicodedata.normalize("NFKD", clean_label(label).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _norm(header: str) -> str:
    return " ".join(str(header).replace("\ufeff", "").split()).lower()


# ---- presets ---------------------------------------------------------------------------------------
SALESFORCE = Format(
    "salesforce",
    (
        FileSpec("opportunities", {
            "opportunity_id": ("Opportunity ID", "Opportunity ID (18)", "Id"),
            "name": ("Opportunity Name",),
            "account_id": ("Account Name", "Account ID"),
            "owner": ("Opportunity Owner", "Owner Name", "Owner"),
            "stage": ("Stage",),
            "amount": ("Amount", "Amount (converted)"),
            "probability": ("Probability (%)", "Probability"),
            "created_at": ("Created Date",),
            "closed_at": ("Close Date",),
            "lead_source": ("Lead Source",),
            "segment": ("Segment", "Industry"),
            "forecast_category": ("Forecast Category",),
            "loss_reason": ("Loss Reason",),
            "competitor": ("Main Competitor(s)", "Competitor"),
            "currency": ("Opportunity Currency", "Amount Currency"),
            "product": ("Product Name", "Product", "Opportunity Product"),
            "fit_score": ("Account Fit Score", "Fit Score"),
            "complaints": ("Account Complaints", "Complaints"),
            "quota": ("Owner Annual Quota", "Opportunity Owner: Annual Quota", "Owner Quota"),
        }, keys=("opportunity_id", "stage")),
        FileSpec("history", {
            "opportunity_id": ("Opportunity ID",),
            "stage": ("Stage Name", "To Stage", "Stage"),
            "entered_at": ("Created Date", "Last Modified", "Last Modified Date", "Edit Date"),
            "amount": ("Amount",),
            "expected_close_at": ("Close Date",),    # the close date the deal was expected on at that change
        }, keys=("opportunity_id", "stage", "entered_at")),
        FileSpec("field_history", field_history.COLUMNS, keys=field_history.KEYS),   # Opportunity Field History
    ),
    stages={
        "Prospecting": "Prospecting", "Qualification": "Qualification", "Needs Analysis": "Needs Analysis",
        "Value Proposition": "Value Proposition", "Id. Decision Makers": "Id. Decision Makers",
        "Perception Analysis": "Perception Analysis", "Proposal/Price Quote": "Proposal/Price Quote",
        "Negotiation/Review": "Negotiation/Review", "Closed Won": "won", "Closed Lost": "lost",
        # the closed stages of Salesforce orgs in German, French, Spanish, Portuguese, Italian and Dutch
        "Geschlossen und gewonnen": "won", "Geschlossen und verloren": "lost",
        "Geschlossen/Gewonnen": "won", "Geschlossen/Verloren": "lost",
        "Fermée gagnée": "won", "Fermée perdue": "lost", "Fermé gagné": "won", "Fermé perdu": "lost",
        "Cerrada ganada": "won", "Cerrada perdida": "lost", "Cerrado ganado": "won", "Cerrado perdido": "lost",
        "Fechada ganha": "won", "Fechada perdida": "lost", "Fechado ganho": "won", "Fechado perdido": "lost",
        "Chiusa vinta": "won", "Chiusa persa": "lost", "Gesloten gewonnen": "won", "Gesloten verloren": "lost",
    },
)

HUBSPOT = Format(
    "hubspot",
    (
        FileSpec("opportunities", {
            "opportunity_id": ("Record ID", "Deal ID"),
            "name": ("Deal Name",),
            "account_id": ("Associated Company", "Associated Company (Primary)", "Company Name"),
            "owner": ("Deal owner",),
            "stage": ("Deal Stage",),
            "amount": ("Amount", "Amount in company currency"),
            "created_at": ("Create Date",),
            "closed_at": ("Close Date",),
            "lead_source": ("Original Traffic Source", "Original Source Type", "Original Source"),
            "forecast_category": ("Forecast category",),
            "loss_reason": ("Closed Lost Reason",),
            "competitor": ("Competitor", "Main Competitor"),
            "currency": ("Currency",),
            "probability": ("Deal probability",),
            "product": ("Product", "Product Name"),
            "fit_score": ("Company Fit Score", "Fit Score"),
            "complaints": ("Company Complaints", "Complaints"),
            "pipeline": ("Pipeline",),
        }, keys=("opportunity_id", "stage")),
    ),
    stages={
        "Appointment Scheduled": "Appointment Scheduled", "Qualified To Buy": "Qualified To Buy",
        "Presentation Scheduled": "Presentation Scheduled", "Decision Maker Bought-In": "Decision Maker Bought-In",
        "Contract Sent": "Contract Sent", "Closed Won": "won", "Closed Lost": "lost",
        "closedwon": "won", "closedlost": "lost",
    },
    # an export of several pipelines: 'Closed won (Renewals)', 'Closed Lost - EMEA', 'Deal Won', 'Lost'
    stage_patterns=((r"(closed ?won|deal won|won)( ?[-(:/].*)?", "won"),
                    (r"(closed ?lost|deal lost|lost)( ?[-(:/].*)?", "lost")),
)

PIPEDRIVE = Format(
    "pipedrive",
    (
        FileSpec("opportunities", {
            "opportunity_id": ("Deal - ID",),
            "name": ("Deal - Title",),
            "account_id": ("Deal - Organization", "Organization - Name", "Organization"),
            "owner": ("Deal - Owner",),
            "stage": ("Deal - Stage",),
            "outcome": ("Deal - Status",),
            "amount": ("Deal - Value",),
            "currency": ("Deal - Currency of value", "Deal - Currency"),
            "created_at": ("Deal - Deal created", "Deal - Add time"),
            "won_at": ("Deal - Won time",),
            "lost_at": ("Deal - Lost time",),
            "expected_close_at": ("Deal - Expected close date",),
            "loss_reason": ("Deal - Lost reason",),
            "competitor": ("Deal - Competitor", "Deal - Main competitor"),
            "lead_source": ("Deal - Source channel", "Deal - Source", "Deal - Lead Source"),
            "probability": ("Deal - Probability",),
            "product": ("Deal - Product name", "Deal - Product"),
            "fit_score": ("Organization - Fit Score", "Deal - Fit Score"),
            "complaints": ("Organization - Complaints",),
            "stage_entered_at": ("Deal - Last stage change",),
        }, keys=("opportunity_id",)),
    ),
    stages={"Won": "won", "Lost": "lost"},
)

PRESETS: dict[str, Format] = {f.name: f for f in (SALESFORCE, HUBSPOT, PIPEDRIVE)}


def detect(header: list[str]) -> tuple[Format, FileSpec] | None:
    """The preset and file kind whose columns best fit a header, or None when none fits."""
    best, score = None, 0
    for fmt in PRESETS.values():
        for spec in fmt.files:
            s = spec.matches(header)
            if s > score:
                best, score = (fmt, spec), s
    return best
