"""Salesforce's Opportunity Field History report: one row per edit of a tracked field (long format: the
opportunity, the field, its old and new value, when), read into stage stays and a `field_edits` table.

Header (the report's column labels): `Opportunity ID`, `Field / Event`, `Old Value`, `New Value`, `Edit Date`
(and `Opportunity Name`, `Edited By`, which are not needed). Tracked fields arrive under their labels: `Stage`,
`Amount`, `Close Date`, `Forecast Category`; the creation is the event `Created.`.

- Stage edits become stays: a deal is in the first edit's old stage from its creation (the `Created.` event's
  time, else the deal's created date) to that edit, then in each
  new stage until the next edit; the last stay ends at the close (won and lost are the close, not stays). A deal
  with no stage edit has one stay in its current stage from its creation.
- Every edit of a tracked field is kept in `field_edits` (opportunity_id, field, old_value, new_value, edited_at),
  with the field named `stage`, `amount`, `close_date`, `forecast_category` (others keep their label), so slips
  of the close date and changes of amount and forecast category can be counted.
- Rows read = loaded + rejected: a row without an opportunity id, of an opportunity not loaded, or without a
  readable edit date is rejected with its reason; a blank or malformed line too.
"""

from __future__ import annotations

import pandas as pd

from ..core import schema
from ..core.schema import Col, Table
from . import parse
from .issues import FileReport, IssueLog
from .parse import RawTable

FIELD_EDITS = schema.register(Table(
    "field_edits",
    (
        Col("opportunity_id", "str", required=True, nullable=False),
        Col("field", "str", required=True, nullable=False, doc="stage, amount, close_date, forecast_category, ..."),
        Col("old_value", "str", doc="the value before the edit, as the export wrote it"),
        Col("new_value", "str", doc="the value after the edit, as the export wrote it"),
        Col("edited_at", "datetime", required=True, nullable=False),
    ),
    doc="edits of tracked deal fields (Salesforce Opportunity Field History), one row each",
))
FIELDS = {"stage": "stage", "stage name": "stage", "amount": "amount", "close date": "close_date",
          "forecast category": "forecast_category", "created.": "created", "created": "created",
          "opportunity created.": "created"}
COLUMNS = {
    "opportunity_id": ("Opportunity ID", "Opportunity: Opportunity ID"),
    "field": ("Field / Event", "Field/Event", "Field"),
    "old_value": ("Old Value",),
    "new_value": ("New Value",),
    "edited_at": ("Edit Date", "Edited Date"),
}
KEYS = ("opportunity_id", "field", "new_value", "edited_at")


def read(raw: RawTable, cols: dict[str, str], log: IssueLog, opps: pd.DataFrame) -> tuple[pd.DataFrame, FileReport]:
    """The edits of one field history file (time order per deal), and the file's report."""
    frame = raw.frame
    alive = log.readable_rows(raw)
    ids = parse.parse_text(frame[cols["opportunity_id"]])
    when = parse.parse_dates(frame[cols["edited_at"]])
    for bad, col, reason in ((ids.isna(), "opportunity_id", "no opportunity id"),
                             (~ids.isin(set(opps["opportunity_id"])), "opportunity_id",
                              "opportunity not among the loaded opportunities"),
                             (when.values.isna(), "edited_at", "no readable edit date")):
        hit = alive & bad
        log.flag("rejected", raw, hit, cols[col], frame[cols[col]], reason)
        alive &= ~hit
    log.flag("repaired", raw, when.fallback & alive, cols["edited_at"], frame[cols["edited_at"]], when.why)
    label = parse.parse_text(frame[cols["field"]]).fillna("")
    field = label.str.lower().map(FIELDS).fillna(label)
    text = {c: parse.parse_text(frame[cols[c]]) if c in cols else pd.Series(None, index=frame.index, dtype=object)
            for c in ("old_value", "new_value")}
    edits = pd.DataFrame({"opportunity_id": ids, "field": field, "old_value": text["old_value"],
                          "new_value": text["new_value"], "edited_at": when.values})[alive]
    edits = edits.sort_values(["opportunity_id", "edited_at"], kind="stable").reset_index(drop=True)
    report = FileReport(raw.name, "field history", len(frame), int(alive.sum()), raw.encoding, raw.delimiter, cols,
                        [c for c in frame.columns if c not in cols.values()], raw.notes)
    return edits, report


def stays(edits: pd.DataFrame, opps: pd.DataFrame, meaning) -> pd.DataFrame:
    """Stage stays from the stage edits (see the module text); `meaning` maps a label to won / lost / a stage."""
    stage = edits[(edits["field"] == "stage") & edits["new_value"].notna()]
    info = opps.set_index("opportunity_id")
    # the creation: the history's own 'Created.' event (a time), else the deal's created date
    born = edits[edits["field"] == "created"].groupby("opportunity_id")["edited_at"].first()
    if "created_at" in info:
        born = born.combine_first(info["created_at"].dropna())
    rows = []
    for deal, group in stage.groupby("opportunity_id", sort=True):
        first_old = group["old_value"].iloc[0]
        if first_old is not None and deal in born.index:
            rows.append((deal, meaning(first_old), born[deal]))
        rows += [(deal, meaning(v), t) for v, t in zip(group["new_value"], group["edited_at"])]
    edited = set(stage["opportunity_id"])
    still = info[~info.index.isin(edited) & info["stage"].notna() & info.index.isin(born.index)]
    rows += [(deal, s, born[deal]) for deal, s in zip(still.index, still["stage"])]   # no stage edit: one stay
    out = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_at"])
    out["entered_at"] = pd.to_datetime(out["entered_at"])
    out = out.sort_values(["opportunity_id", "entered_at"], kind="stable")
    out = out[out["stage"].ne(out["stage"].shift()) | out["opportunity_id"].ne(out["opportunity_id"].shift())]
    same = out["opportunity_id"].eq(out["opportunity_id"].shift(-1))
    out["exited_at"] = out["entered_at"].shift(-1).where(same)
    if "closed_at" in info:
        last = ~same
        out.loc[last, "exited_at"] = out.loc[last, "opportunity_id"].map(info["closed_at"])
    out = out[~out["stage"].isin(["won", "lost"])]
    early = out["exited_at"] < out["entered_at"]
    out.loc[early, "exited_at"] = out.loc[early, "entered_at"]
    return out.reset_index(drop=True)


# ---- writing (playbook synth --crm salesforce --history field) ---------------------------------------------------
def rows(opp: pd.DataFrame, hist: pd.DataFrame, labels: dict[str, str], closed: tuple[str, str],
         ids: dict[str, str]) -> pd.DataFrame:
    """The field history a Salesforce org tracking Stage and Amount would show for the simulated deals: the
    creation, each stage change (old -> new), the close, and a won deal's amount set at signing."""
    out = []
    h = hist.sort_values(["opportunity_id", "entered_at"], kind="stable")
    for deal, group in h.groupby("opportunity_id", sort=False):
        names = [labels.get(s, s) for s in group["stage"]]
        out += [(deal, "Stage", old, new, t) for old, new, t in zip(names[:-1], names[1:], group["entered_at"].iloc[1:])]
    info = opp.set_index("opportunity_id")
    last = h.groupby("opportunity_id")["stage"].last().map(lambda s: labels.get(s, s))
    out += [(deal, "Created.", "", "", t) for deal, t in info["created_at"].items()]
    done = info[info["outcome"] != "open"]
    for deal, r in done.iterrows():
        out.append((deal, "Stage", last.get(deal, ""), closed[0] if r["outcome"] == "won" else closed[1], r["closed_at"]))
        if r["outcome"] == "won" and round(r["amount"], 2) != round(r["first_estimate"], 2):
            out.append((deal, "Amount", f"{r['first_estimate']:.2f}", f"{r['amount']:.2f}", r["closed_at"]))
    frame = pd.DataFrame(out, columns=["deal", "Field / Event", "Old Value", "New Value", "when"])
    frame = frame.sort_values(["deal", "when"], kind="stable")
    frame.insert(0, "Opportunity ID", frame.pop("deal").map(ids))
    return frame.reset_index(drop=True)
