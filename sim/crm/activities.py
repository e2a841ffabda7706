"""Activity exports (meetings, calls, recorded conversations) loaded into the canonical `activities` table.

Three kinds of files are recognised from their header, through presets:

- Salesforce Task and Event exports (Data Loader / data export API names): `WhatId` (the opportunity, or an
  account when it starts with 001), `AccountId`, `ActivityDate` / `StartDateTime`, `DurationInMinutes`
  (events) or `CallDurationInSeconds` (tasks), `Type` / `TaskSubtype` / `EventSubtype`, `Subject`, and
  `Status` or `CallDisposition` as the outcome. Field names from the Salesforce object reference. A Task has
  no field for its result or the time it took; teams add custom fields, and two are read when present:
  `Outcome__c` (the result, before `CallDisposition` and `Status`) and `Time_Spent_Minutes__c` (minutes).
- HubSpot engagement exports of meetings, calls and tasks (property labels as HubSpot exports them):
  `Associated Deal IDs`, `Associated Company IDs`, `Activity date` / `Meeting start time` and `Meeting end
  time`, `Meeting outcome` (Completed, No show, Canceled...), `Call duration` (HubSpot stores it in
  milliseconds), `Call outcome`, `Meeting name` / `Call title`; tasks by `Task Title`, `Task Type`, `Due
  Date`, with the custom properties `Outcome` (else `Task Status`) and `Time spent (minutes)`.

The kind of an activity comes from its type and subject: support, bug, lunch, video, demo, trial, pilot,
call, meeting, email (the first word found, in that order), else the file's kind.
- Call-recording exports (Gong, Chorus and the like write CSVs with a talk ratio per call): an opportunity
  id column, a start time, a duration, the rep's talk ratio (or the customer's), questions asked, and
  external participants and speakers where the tool counts them.

Anything else is read through a small activity mapping (YAML or a dict)::

    columns:                    # canonical field: your header
      opportunity_id: Deal ID
      at: Meeting date
      rep_talk_share: Rep talk %          # or customer_talk_share: ...
      questions: Questions
      attendees: Customer attendees
      attendees_spoke: Customers who spoke
    kind: meeting               # kind of every row that does not say (default: meeting)
    duration_unit: minutes      # minutes, seconds, milliseconds or hours
    date_format: "%d/%m/%Y"     # optional (or day-first / month-first); detected otherwise

Every input row is loaded or rejected with a reason (rows read = loaded + rejected, per file), and a value
that cannot be read is left empty and listed as repaired, in the shape `sim.crm.load` uses for
opportunities (file, row, column, value, reason). A row is rejected when it is blank, has no date, is tied
to neither a deal nor an account, or names an opportunity that is not among the loaded ones. Talk shares
given in percent (any value above 1, or a % sign) are divided by 100; a rep's talk share becomes the
customer's as 1 - share (the canonical column is the customer's share). A row tied to a known opportunity
takes the opportunity's account, so activities and opportunities agree on who the account is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import schema
from . import parse
from .dates import check_format
from .formats import resolve_headers
from .issues import ISSUE_COLUMNS, FileReport, IssueLog  # noqa: F401 - ISSUE_COLUMNS re-exported
from .mapping import read_yaml
from .parse import ExportError, RawTable

FIELDS = ("opportunity_id", "account_id", "at", "end_at", "kind", "subject", "duration_minutes", "duration_seconds",
          "duration_ms", "duration", "attendees", "attendees_spoke", "customer_talk_share", "rep_talk_share",
          "questions", "outcome")
MAPPING_FIELDS = ("opportunity_id", "account_id", "at", "end_at", "kind", "subject", "duration", "attendees",
                  "attendees_spoke", "customer_talk_share", "rep_talk_share", "questions", "outcome")
UNITS = {"minutes": 1.0, "seconds": 1 / 60, "milliseconds": 1 / 60000, "hours": 60.0}
OUTCOME_WORDS = {
    "completed": "held", "complete": "held", "held": "held", "done": "held", "connected": "held",
    "no show": "no-show", "no_show": "no-show", "no-show": "no-show", "noshow": "no-show", "no-showed": "no-show",
    "canceled": "cancelled", "cancelled": "cancelled", "rescheduled": "rescheduled", "scheduled": "scheduled",
    "not started": "scheduled",
}
# kind from the type / subject text: more specific words first ("trial support session" is support)
KIND_WORDS = (("support", "support"), ("bug", "bug"), ("lunch", "lunch"), ("breakfast", "lunch"), ("dinner", "lunch"),
              ("video", "video"), ("zoom", "video"), ("teams", "video"), ("webex", "video"), ("demo", "demo"), ("trial", "trial"), ("pilot", "pilot"),
              ("call", "call"), ("phone", "call"), ("meeting", "meeting"), ("event", "meeting"), ("email", "email"),
              ("e-mail", "email"))
NUMERIC = ("attendees", "attendees_spoke", "customer_talk_share", "rep_talk_share", "questions")
DURATIONS = {"duration_minutes": 1.0, "duration_seconds": 1 / 60, "duration_ms": 1 / 60000}


@dataclass(frozen=True)
class ActivitySpec:
    """One kind of activity file: which header feeds which field, and how to read it."""

    name: str
    columns: dict[str, tuple[str, ...]]          # field -> accepted headers (case and spaces ignored)
    markers: tuple[str, ...]                     # at least one of these fields' headers identifies the file
    kind: str = "meeting"                        # kind of a row whose type and subject say nothing
    duration_unit: float = 1.0                   # minutes per unit of the plain `duration` field
    salesforce_ids: bool = False                 # WhatId may hold an account (001...) and 18-character ids
    outcome_from_subject: bool = False           # no outcome field: a subject saying no-show / cancelled marks one
    date_format: str | None = None

    def resolve(self, header: Iterable[str]) -> dict[str, str]:
        """field -> the actual header in this file, for the fields present."""
        return resolve_headers(self.columns, header)

    def matches(self, header: Iterable[str]) -> int:
        """How well a header fits: fields found, or 0 without a date, a deal/account link or a marker."""
        found = self.resolve(header)
        if "at" not in found or not ({"opportunity_id", "account_id"} & set(found)):
            return 0
        if self.markers and not any(m in found for m in self.markers):
            return 0
        return len(found)


SALESFORCE_EVENT = ActivitySpec(
    "salesforce event",
    {"opportunity_id": ("WhatId",), "account_id": ("AccountId",),
     "at": ("StartDateTime", "ActivityDateTime", "ActivityDate"), "end_at": ("EndDateTime",),
     "kind": ("Type", "EventSubtype"), "subject": ("Subject",), "duration_minutes": ("DurationInMinutes",)},
    markers=("duration_minutes", "end_at"), kind="meeting", salesforce_ids=True, outcome_from_subject=True,
)
SALESFORCE_TASK = ActivitySpec(
    "salesforce task",
    {"opportunity_id": ("WhatId",), "account_id": ("AccountId",), "at": ("ActivityDate", "CompletedDateTime"),
     "kind": ("Type", "TaskSubtype"), "subject": ("Subject",), "duration_seconds": ("CallDurationInSeconds",),
     "duration_minutes": ("Time_Spent_Minutes__c", "Time Spent (minutes)"),
     "outcome": ("Outcome__c", "CallDisposition", "Status")},
    markers=("opportunity_id",), kind="call", salesforce_ids=True,
)
HUBSPOT_MEETINGS = ActivitySpec(
    "hubspot meetings",
    {"opportunity_id": ("Associated Deal IDs", "Associated Deal ID", "Associated Deal"),
     "account_id": ("Associated Company IDs", "Associated Company ID", "Associated Company"),
     "at": ("Meeting start time", "Activity date"), "end_at": ("Meeting end time",),
     "subject": ("Meeting name", "Meeting title"), "outcome": ("Meeting outcome",),
     "kind": ("Meeting type", "Activity type")},
    markers=("end_at", "outcome", "subject"), kind="meeting",
)
HUBSPOT_CALLS = ActivitySpec(
    "hubspot calls",
    {"opportunity_id": ("Associated Deal IDs", "Associated Deal ID", "Associated Deal"),
     "account_id": ("Associated Company IDs", "Associated Company ID", "Associated Company"),
     "at": ("Activity date", "Call date"), "duration_ms": ("Call duration",), "subject": ("Call title",),
     "outcome": ("Call outcome", "Call status")},
    markers=("duration_ms", "subject"), kind="call",
)
HUBSPOT_TASKS = ActivitySpec(
    "hubspot tasks",
    {"opportunity_id": ("Associated Deal IDs", "Associated Deal ID", "Associated Deal"),
     "account_id": ("Associated Company IDs", "Associated Company ID", "Associated Company"),
     "at": ("Due Date", "Task due date", "Completed at"), "subject": ("Task Title", "Title"),
     "kind": ("Task Type",), "outcome": ("Outcome", "Task outcome", "Task Status"),
     "duration_minutes": ("Time spent (minutes)",)},
    markers=("subject", "kind"), kind="task",
)
CALL_RECORDING = ActivitySpec(
    "call recording",
    {"opportunity_id": ("CRM Opportunity ID", "Opportunity ID", "Salesforce Opportunity ID", "Deal ID", "CRM Deal ID"),
     "account_id": ("CRM Account ID", "Account ID", "Account", "Company"),
     "at": ("Started", "Start Time", "Call Date", "Date", "Scheduled"),
     "duration_minutes": ("Duration (min)", "Duration (minutes)", "Duration"),
     "duration_seconds": ("Duration (sec)", "Duration (seconds)"),
     "rep_talk_share": ("Talk Ratio", "Talk Ratio (%)", "Rep Talk Ratio", "Rep Talk Time (%)", "Talk Time (%)"),
     "customer_talk_share": ("Customer Talk Ratio", "Prospect Talk Ratio", "Customer Talk Share", "Customer Talk Time (%)"),
     "questions": ("Questions Asked", "Rep Questions", "Questions"),
     "attendees": ("External Participants", "Customer Participants", "External Attendees"),
     "attendees_spoke": ("External Speakers", "Customer Speakers", "External Participants Who Spoke"),
     "subject": ("Title", "Call Title", "Call Name"), "kind": ("Call Type", "Meeting Type")},
    markers=("rep_talk_share", "customer_talk_share"), kind="call",
)
ACTIVITY_PRESETS: dict[str, ActivitySpec] = {s.name: s for s in (SALESFORCE_EVENT, SALESFORCE_TASK, HUBSPOT_MEETINGS,
                                                                 HUBSPOT_CALLS, HUBSPOT_TASKS, CALL_RECORDING)}


@dataclass
class ActivityLoad:
    """Activity files loaded: the canonical table, rejected rows, repaired values, a report per file."""

    table: pd.DataFrame
    rejected: pd.DataFrame
    repaired: pd.DataFrame
    files: list[FileReport]
    notes: list[str]
    warnings: list[str] = field(default_factory=list)


# ---- entry points --------------------------------------------------------------------------------------
def detect_activity(header: Iterable[str]) -> ActivitySpec | None:
    """The activity preset whose columns best fit a header, or None when none fits."""
    header = list(header)
    scored = [(spec.matches(header), k, spec) for k, spec in enumerate(ACTIVITY_PRESETS.values())]
    score, _, spec = max(scored, key=lambda t: (t[0], -t[1]))
    return spec if score else None


def split_activity_files(raws: list[RawTable]) -> tuple[list[RawTable], list[RawTable]]:
    """Files of an export folder: (the others, the activity files a preset recognises from their header)."""
    activity = [r for r in raws if detect_activity(r.frame.columns) is not None]
    return [r for r in raws if r not in activity], activity


def read_activities(path: str | Path, mapping: str | Path | Mapping | None = None,
                    opportunities: pd.DataFrame | None = None) -> ActivityLoad:
    """Load an activity file, or every .csv/.xlsx file of a folder, recognised by header or read through
    `mapping` (a YAML path or a dict); rows are checked against `opportunities` when given."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in parse.TEXT_SUFFIXES + parse.EXCEL_SUFFIXES)
    if not files:
        raise ExportError(f"{path}: the folder holds no .csv or .xlsx files")
    raws = [table for p in files for table in parse.read_tables(p)[0]]
    return load_activities(raws, opportunities, mapping)


def load_activities(raws: list[RawTable], opportunities: pd.DataFrame | None = None,
                    mapping: str | Path | Mapping | None = None) -> ActivityLoad:
    """The canonical `activities` table from activity files already read, with every row accounted for."""
    spec_given = read_activity_mapping(mapping) if mapping is not None else None
    builder = _Builder(opportunities)
    parts = []
    for raw in raws:
        spec = spec_given or detect_activity(raw.frame.columns)
        if spec is None or not spec.matches(raw.frame.columns):
            raise ExportError(f"{raw.path}{f' [{raw.sheet}]' if raw.sheet else ''}: the header "
                              f"({', '.join(list(raw.frame.columns)[:8])}) is not a known "
                              "activity export (Salesforce Task/Event, HubSpot meetings/calls, a call-recording CSV "
                              "with a talk ratio); describe its columns in an activity mapping")
        parts.append(builder.file(raw, spec))
    table = pd.concat(parts, ignore_index=True) if parts else schema.empty("activities")
    table = schema.conform(table, "activities")
    schema.validate(table, "activities", ", ".join(r.name for r in raws) or None)
    return ActivityLoad(table, builder.issues("rejected"), builder.issues("repaired"), builder.reports, builder.notes,
                        builder.warnings)


# ---- mapping -------------------------------------------------------------------------------------------
def read_activity_mapping(mapping: str | Path | Mapping) -> ActivitySpec:
    """Check an activity mapping (YAML path or dict) and turn it into an `ActivitySpec`; one line per problem."""
    source = "activity mapping"
    if not isinstance(mapping, Mapping):
        path = Path(mapping)
        source = f"activity mapping {path}"
        mapping = read_yaml(path, source)
    if not isinstance(mapping, Mapping) or not isinstance(mapping.get("columns"), Mapping):
        raise ExportError(f"{source}: needs `columns:`, a mapping of canonical field to your header")
    problems = []
    unknown_keys = sorted(set(mapping) - {"columns", "kind", "duration_unit", "date_format"})
    if unknown_keys:
        problems.append(f"unknown key(s) {', '.join(unknown_keys)}; allowed: columns, kind, duration_unit, date_format")
    cols = {str(k): str(v) for k, v in mapping["columns"].items()}
    unknown = sorted(set(cols) - set(MAPPING_FIELDS))
    if unknown:
        problems.append(f"columns: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(MAPPING_FIELDS)}")
    if "at" not in cols:
        problems.append("columns: at is required (the column with the activity's date)")
    if not {"opportunity_id", "account_id"} & set(cols):
        problems.append("columns: opportunity_id or account_id is required (what the activity belongs to)")
    if {"rep_talk_share", "customer_talk_share"} <= set(cols):
        problems.append("columns: give rep_talk_share or customer_talk_share, not both")
    unit = mapping.get("duration_unit", "minutes")
    if unit not in UNITS:
        problems.append(f"duration_unit: {unit!r} is not one of {', '.join(UNITS)}")
    date_format = mapping.get("date_format")
    if date_format is not None and (why := check_format(date_format)) is not None:
        problems.append(f"date_format: {why}")
    kind = mapping.get("kind", "meeting")
    if not isinstance(kind, str) or not kind.strip():
        problems.append("kind: must be a word such as meeting or call")
    if problems:
        raise ExportError(f"{source}: invalid activity mapping:\n" + "\n".join(f"  {p}" for p in problems))
    return ActivitySpec("mapping", {k: (v,) for k, v in cols.items()}, markers=(), kind=kind.strip().lower(),
                        duration_unit=UNITS[unit], date_format=mapping.get("date_format"))


# ---- building the table --------------------------------------------------------------------------------
class _Builder(IssueLog):
    """Turns activity files into canonical rows, collecting rejected rows and repaired values."""

    def __init__(self, opportunities: pd.DataFrame | None):
        super().__init__()
        self.reports: list[FileReport] = []
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.opps = None
        if opportunities is not None and "opportunity_id" in opportunities:
            accounts = opportunities["account_id"] if "account_id" in opportunities else pd.Series(None, index=opportunities.index)
            self.opps = pd.Series(accounts.to_numpy(), index=opportunities["opportunity_id"].astype(str).to_numpy())

    def number(self, raw: RawTable, cols: dict[str, str], fld: str, alive: pd.Series) -> pd.Series | None:
        """A numeric field, unreadable or negative values left empty and reported."""
        if fld not in cols:
            return None
        text = raw.frame[cols[fld]]
        p = parse.parse_amount(text)
        self.flag("repaired", raw, p.invalid & alive, cols[fld], text, "not a number; left empty")
        if p.why is not None:
            self.flag("repaired", raw, p.fallback & alive, cols[fld], text, p.why)
        self.warn_if_unread(raw, fld, cols[fld], text, p.values, alive, "a number")
        values = p.values
        negative = values < 0
        self.flag("repaired", raw, negative & alive, cols[fld], text, "negative; left empty")
        return values.where(~negative)

    def file(self, raw: RawTable, spec: ActivitySpec) -> pd.DataFrame:
        frame, name = raw.frame, raw.name
        cols = spec.resolve(frame.columns)
        if spec.name == "mapping":
            absent = [f"{fld} ({aliases[0]})" for fld, aliases in spec.columns.items() if fld not in cols]
            if absent:
                self.notes.append(f"{name}: the activity mapping names column(s) the file does not have: {', '.join(absent)}")
        notes: list[str] = []
        alive = self.readable_rows(raw)

        at, unreadable, why = self._dates(raw, cols, "at", spec, alive)
        self.flag("rejected", raw, alive & unreadable, cols["at"], frame[cols["at"]],
                  why.astype("object").str.replace("; left empty", "", regex=False))   # the row is rejected, not kept
        self.flag("rejected", raw, alive & at.isna() & ~unreadable, cols["at"], frame[cols["at"]], "no date")
        alive &= at.notna()

        none = pd.Series(None, index=frame.index, dtype="object")
        opp = parse.parse_text(frame[cols["opportunity_id"]]) if "opportunity_id" in cols else none
        account = parse.parse_text(frame[cols["account_id"]]) if "account_id" in cols else none
        if "opportunity_id" in cols:
            several = alive & opp.notna() & opp.astype(str).str.contains(";", regex=False)
            self.flag("repaired", raw, several, cols["opportunity_id"], frame[cols["opportunity_id"]],
                      "several deals named; the activity is attached to the first")
            opp = opp.where(~several, opp.astype(str).str.split(";").str[0].str.strip())
        if spec.salesforce_ids:
            opp, account = self._salesforce_ids(opp, account, notes)
        orphan = alive & opp.isna() & account.isna()
        self.flag("rejected", raw, orphan, cols.get("opportunity_id", cols.get("account_id", "")),
                  pd.Series("", index=frame.index), "not tied to a deal or an account")
        alive &= ~orphan
        if self.opps is not None:
            opp = self._match_ids(opp, notes)
            unknown = alive & opp.notna() & ~opp.isin(self.opps.index)
            self.flag("rejected", raw, unknown, cols["opportunity_id"], frame[cols["opportunity_id"]],
                      "opportunity not among the loaded opportunities")
            alive &= ~unknown
            known = opp.notna() & opp.isin(self.opps.index)
            account = account.where(~known, opp.map(self.opps))

        out = pd.DataFrame({"opportunity_id": opp, "account_id": account, "at": at}, index=frame.index)
        out["kind"] = self._kinds(frame, cols, spec)
        out["duration_minutes"] = self._duration(raw, cols, spec, at, alive)
        values = {fld: self.number(raw, cols, fld, alive) for fld in NUMERIC}
        talk = self._talk_share(raw, cols, values, alive, notes)
        if talk is not None:
            out["customer_talk_share"] = talk
        for fld in ("attendees", "attendees_spoke", "questions"):
            if values[fld] is not None:
                out[fld] = values[fld]
        if "attendees" in out and "attendees_spoke" in out:
            more = alive & (out["attendees_spoke"] > out["attendees"])
            self.flag("repaired", raw, more, cols["attendees_spoke"], frame[cols["attendees_spoke"]],
                      "more speakers than attendees; left empty")
            out["attendees_spoke"] = out["attendees_spoke"].where(~more)
        if "outcome" in cols:
            text = parse.parse_text(frame[cols["outcome"]])
            low = text.str.lower().str.strip()
            out["outcome"] = low.map(OUTCOME_WORDS).where(low.isin(list(OUTCOME_WORDS)), low).astype("object")
            out["outcome"] = out["outcome"].where(text.notna(), None)
        elif spec.outcome_from_subject and "subject" in cols:
            out["outcome"] = _outcome_from_subject(parse.parse_text(frame[cols["subject"]]))
            notes.append("no outcome column: subjects saying no-show or cancelled mark those, other events count as held")
        loaded = out[alive]
        self.reports.append(FileReport(name, f"activities ({spec.name})", len(frame), len(loaded), raw.encoding,
                                       raw.delimiter, cols, [c for c in frame.columns if c not in cols.values()],
                                       list(raw.notes)))
        self.notes.extend(f"{name}: {n}" for n in notes)
        return loaded.reset_index(drop=True)

    def _dates(self, raw, cols, fld, spec, alive) -> tuple[pd.Series, pd.Series, pd.Series]:
        """A date field, its unreadable cells and why each could not be read. Cells read by a fallback rule are reported as repairs, and so
        are unreadable ones, except for the activity date, whose row the caller rejects (with `p.why`)."""
        text = raw.frame[cols[fld]]
        p = parse.parse_dates(text, spec.date_format)
        self.flag("repaired", raw, (p.fallback | (p.invalid & (fld != "at"))) & alive, cols[fld], text, p.why)
        self.notes += [f"{raw.name}: {cols[fld]}: {note}" for note in p.notes]
        if p.ambiguous:
            self.notes.append(f"{raw.name}: {cols[fld]}: every date fits both day/month orders; read {p.order} first "
                              f"({p.style}); set date_format in an activity mapping (e.g. day-first) to override")
        self.warn_if_unread(raw, fld, cols[fld], text, p.values, alive, "a date")
        return p.values.where(~p.invalid), p.invalid, p.why


    def warn_if_unread(self, raw: RawTable, fld: str, header: str, text: pd.Series, values: pd.Series,
                       alive: pd.Series, what: str) -> None:
        """A column with values none of which could be read: said in `warnings`, not only as many repairs."""
        if values[alive].notna().any():
            return
        filled = alive & ~parse.is_empty(text.fillna("").astype(str))
        if filled.any():
            sample = ", ".join(repr(v) for v in text[filled].drop_duplicates().head(3))
            self.warnings.append(f"{raw.name}: column {header!r} ({fld}): none of its {int(filled.sum()):,} values could "
                                 f"be read as {what} (e.g. {sample}); all are left empty. Check the column, or give "
                                 "its layout in an activity mapping.")

    def _salesforce_ids(self, opp: pd.Series, account: pd.Series, notes: list[str]) -> tuple[pd.Series, pd.Series]:
        """A WhatId starting with 001 is an account, not an opportunity."""
        is_account = opp.notna() & opp.astype(str).str.startswith("001")
        if is_account.any():
            account = account.where(account.notna() | ~is_account, opp)
            opp = opp.where(~is_account)
            notes.append(f"{int(is_account.sum())} activity row(s) are tied to an account (WhatId 001...), not a deal")
        return opp, account

    def _match_ids(self, opp: pd.Series, notes: list[str]) -> pd.Series:
        """18-character Salesforce ids matched to 15-character ones in the opportunities (and back)."""
        known = set(self.opps.index)
        missing = opp.notna() & ~opp.isin(known)
        if not missing.any():
            return opp
        short = {k[:15]: k for k in known if len(k) == 18}
        fixed = opp[missing].map(lambda v: v[:15] if len(v) == 18 and v[:15] in known else short.get(v, v))
        changed = fixed != opp[missing]
        if changed.any():
            notes.append(f"{int(changed.sum())} opportunity id(s) matched between their 15- and 18-character forms")
        return opp.where(~missing, fixed)

    def _kinds(self, frame: pd.DataFrame, cols: dict[str, str], spec: ActivitySpec) -> pd.Series:
        """meeting, call, lunch, video, demo, email, trial...: from the type column, refined by the subject."""
        typed = parse.parse_text(frame[cols["kind"]]).str.lower() if "kind" in cols else pd.Series(None, index=frame.index, dtype="object")
        subject = parse.parse_text(frame[cols["subject"]]).str.lower() if "subject" in cols else pd.Series(None, index=frame.index, dtype="object")
        text = typed.fillna("") + " " + subject.fillna("")
        codes, uniq = pd.factorize(text)
        kinds = []
        for t in uniq:
            head = t.split(" ", 1)[0] if t else ""
            kind = _keyword(t)
            if head and _keyword(head) in ("call", "email"):    # the type says call or email: keep it
                kind = _keyword(head)
            kinds.append(kind or head or spec.kind)
        return pd.Series(np.array(kinds, dtype=object)[codes] if len(uniq) else [], index=frame.index, dtype="object")

    def _duration(self, raw, cols, spec, at, alive) -> pd.Series:
        """Minutes, from the first duration column present (h:mm:ss text or a number in its unit), else
        from the end time."""
        for fld, unit in (*DURATIONS.items(), ("duration", spec.duration_unit)):
            if fld not in cols:
                continue
            text = raw.frame[cols[fld]]
            clock = _clock_minutes(text)
            if clock is not None:
                bad = alive & clock.isna() & ~parse.is_empty(text)
                self.flag("repaired", raw, bad, cols[fld], text, "not a duration (h:mm:ss); left empty")
                return clock
            return self.number(raw, cols, fld, alive) * unit
        if "end_at" in cols:
            end, _, _ = self._dates(raw, cols, "end_at", spec, alive)
            minutes = (end - at).dt.total_seconds() / 60
            backwards = alive & (minutes < 0)
            self.flag("repaired", raw, backwards, cols["end_at"], raw.frame[cols["end_at"]], "ends before it starts; duration left empty")
            return minutes.where(~backwards)
        return pd.Series(np.nan, index=raw.frame.index)

    def _talk_share(self, raw, cols, values, alive, notes) -> pd.Series | None:
        """The customer's share of the talking, 0..1, from the rep's or the customer's share in 0..1 or percent."""
        fld = "customer_talk_share" if values["customer_talk_share"] is not None else "rep_talk_share"
        share = values[fld]
        if share is None:
            return None
        text = raw.frame[cols[fld]]
        if (share > 1).any() or text.str.contains("%", regex=False).any():
            share = share / 100.0
            notes.append(f"{cols[fld]}: read as percent")
        out_of_range = alive & (share > 1)
        self.flag("repaired", raw, out_of_range, cols[fld], text, "talk share above 100%; left empty")
        share = share.where(~out_of_range)
        return (1.0 - share) if fld == "rep_talk_share" else share


def _outcome_from_subject(subject: pd.Series) -> pd.Series:
    """held, or no-show / cancelled when the subject says so (Salesforce events have no outcome field)."""
    low = subject.fillna("").str.lower()
    out = pd.Series("held", index=subject.index, dtype="object")
    out[low.str.contains("cancel", regex=False)] = "cancelled"
    out[low.str.contains(r"no[- _]?show", regex=True)] = "no-show"
    return out


def _keyword(text: str) -> str | None:
    for word, kind in KIND_WORDS:
        if word in text:
            return kind
    return None


def _is_clock(text: pd.Series) -> bool:
    return bool(text.str.fullmatch(r"\s*\d{1,3}:\d{2}(:\d{2})?\s*").any())


def _clock_minutes(text: pd.Series) -> pd.Series | None:
    """'1:02:30' or '32:10' (h:mm:ss, mm:ss) as minutes, when the column is written that way; else None."""
    if not _is_clock(text):
        return None
    parts = text.str.extract(r"^\s*(\d{1,3}):(\d{2})(?::(\d{2}))?\s*$").astype(float)
    three = parts[2].notna()
    return (parts[0] * 60 + parts[1] + parts[2] / 60).where(three, parts[0] + parts[1] / 60)


# ---- writing simulated activities as exports (the demo data and test fixtures) -----------------------
SUBJECTS = {"lunch": "Lunch at their office", "meeting": "Meeting at our office", "video": "Video call",
            "support": "Trial support session", "bug": "Bug reported in evaluation", "trial": "Free trial",
            "pilot": "Paid pilot"}
TASK_KINDS = ("bug", "trial", "pilot")   # logged as tasks with a result; every other kind is a calendar meeting
BUG_RESULTS = {"lost": "Lost", "stalled": "Stalled", "expected": "Expected", "no effect": "No effect"}


def export_files(activities: pd.DataFrame, crm: str, ids: Mapping[str, str] | None = None) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Simulated activities as a team would export them, file name -> (frame, how to write it) like
    `sim.crm.synth`'s writers. `ids` maps the simulator's opportunity ids to the export's (as the opportunity
    file has them). Files, each only when the activities hold rows for it:

    - meetings (first meetings, stage meetings, trial support sessions): for ``salesforce`` an ``Event.csv``
      (every booking; no-shows say so in the subject, as Salesforce events have no outcome field), for
      ``hubspot`` a ``meetings.csv`` (with the meeting outcome);
    - bugs met in evaluation and trials: for ``salesforce`` a ``Task.csv`` (standard Subject, Type, Status,
      ActivityDate, Description), for ``hubspot`` a ``tasks.csv`` (Task Title, Task Type, Task Status, Due
      Date). Neither CRM has a field for a task's result or its time, so two custom fields carry them, the way
      teams add them: the result the rep records (``Outcome__c`` / ``Outcome``: a bug's Lost, Stalled, Expected
      or No effect) and the minutes (``Time_Spent_Minutes__c`` / ``Time spent (minutes)``: the rep's minutes on
      a bug; for a trial, the buyer's hands-on minutes as the product's usage log reports them). A trial's
      task carries no result: whether it converted is whether its deal was won (`sim.analysis.trials` reads
      it from the deal), as in a CRM where the trial is logged and the deal records the sale;
    - a call recorder's ``call_recordings.csv`` of the held meetings with a talk share (rep talk ratio,
      questions, external participants and speakers).
    """
    if crm not in ("salesforce", "hubspot"):
        raise ValueError(f"crm: {crm!r} has no activity export here; choose salesforce or hubspot")
    acts = activities[activities["opportunity_id"].notna()].reset_index(drop=True)
    deal = acts["opportunity_id"].map(ids) if ids is not None else acts["opportunity_id"]
    number = pd.Series(np.arange(1, len(acts) + 1), index=acts.index).astype(str).str.zfill(12)
    task = acts["kind"].isin(TASK_KINDS)
    files: dict[str, tuple[pd.DataFrame, dict]] = {}
    meetings = _meetings(acts[~task], deal[~task], number[~task], crm)
    if len(meetings[1]):
        files[meetings[0]] = (meetings[1], meetings[2])
    tasks = _tasks(acts[task], deal[task], number[task], crm)
    if len(tasks[1]):
        files[tasks[0]] = (tasks[1], tasks[2])
    recordings = _recordings(acts[~task], deal[~task], number[~task])
    if len(recordings):
        files["call_recordings.csv"] = (recordings, {})
    return files


def _subject(acts: pd.DataFrame) -> pd.Series:
    return acts["kind"].map(SUBJECTS).fillna(acts["kind"].str.capitalize())


def _meetings(acts: pd.DataFrame, deal: pd.Series, number: pd.Series, crm: str) -> tuple[str, pd.DataFrame, dict]:
    """Meetings (and support sessions) as calendar events: Salesforce Event.csv or HubSpot meetings.csv."""
    subject = _subject(acts)
    no_show = acts["outcome"].eq("no-show")
    start = acts["at"]
    minutes = acts["duration_minutes"].fillna(60.0)
    end = start + pd.to_timedelta(minutes, unit="min")
    if crm == "salesforce":
        iso = "%Y-%m-%dT%H:%M:%S.000Z"
        return "Event.csv", pd.DataFrame({
            "Id": "00U" + number + "AAA",
            "WhatId": deal,
            "Subject": subject.where(~no_show, "No-show: " + subject),
            "Type": "Meeting",
            "ActivityDate": start.dt.strftime("%Y-%m-%d"),
            "StartDateTime": start.dt.strftime(iso),
            "EndDateTime": end.dt.strftime(iso),
            "DurationInMinutes": minutes.round().astype(int).astype(str),
        }).reset_index(drop=True), {}
    stamp = "%Y-%m-%d %H:%M"
    return "meetings.csv", pd.DataFrame({
        "Record ID": (50_000_000 + number.astype("int64")).astype(str),
        "Meeting name": subject,
        "Activity date": start.dt.strftime(stamp),
        "Meeting start time": start.dt.strftime(stamp),
        "Meeting end time": end.dt.strftime(stamp),
        "Meeting outcome": np.where(no_show, "No show", "Completed"),
        "Associated Deal IDs": deal,
    }).reset_index(drop=True), {"encoding": "utf-8-sig"}


def _tasks(acts: pd.DataFrame, deal: pd.Series, number: pd.Series, crm: str) -> tuple[str, pd.DataFrame, dict]:
    """Bugs and trials as tasks with a result and minutes (see `export_files`): Salesforce Task.csv or HubSpot tasks.csv."""
    subject = _subject(acts)
    bug = acts["kind"].eq("bug")
    result = acts["outcome"].map(BUG_RESULTS).where(bug, "").fillna("")
    minutes = acts["duration_minutes"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    description = np.where(bug, "Customer hit a bug while evaluating; rep pulled in to fix or work around it",
                           "Trial of the product during evaluation; hands-on minutes from the product's usage log")
    if crm == "salesforce":
        return "Task.csv", pd.DataFrame({
            "Id": "00T" + number + "AAA",
            "WhatId": deal,
            "Subject": subject,
            "Type": "Other",
            "Status": "Completed",
            "Priority": np.where(bug, "High", "Normal"),
            "ActivityDate": acts["at"].dt.strftime("%Y-%m-%d"),
            "Description": description,
            "Outcome__c": result,
            "Time_Spent_Minutes__c": minutes,
        }).reset_index(drop=True), {}
    return "tasks.csv", pd.DataFrame({
        "Record ID": (70_000_000 + number.astype("int64")).astype(str),
        "Task Title": subject,
        "Task Type": "To-do",
        "Task Status": "Completed",
        "Due Date": acts["at"].dt.strftime("%Y-%m-%d %H:%M"),
        "Notes": description,
        "Outcome": result,
        "Time spent (minutes)": minutes,
        "Associated Deal IDs": deal,
    }).reset_index(drop=True), {"encoding": "utf-8-sig"}


def _recordings(acts: pd.DataFrame, deal: pd.Series, number: pd.Series) -> pd.DataFrame:
    """A call recorder's export of the held meetings it recorded (those with a talk share)."""
    talked = acts["customer_talk_share"].notna()
    rec = acts[talked]
    whole = rec["duration_minutes"].fillna(45.0).round().astype(int)
    return pd.DataFrame({
        "Call ID": "C" + number[talked],
        "CRM Opportunity ID": deal[talked],
        "Title": _subject(rec),
        "Started": rec["at"].dt.strftime("%Y-%m-%d %H:%M"),
        "Duration": (whole // 60).astype(str) + ":" + (whole % 60).astype(str).str.zfill(2) + ":00",
        "Talk Ratio": ((1.0 - rec["customer_talk_share"]) * 100).round().astype(int).astype(str) + "%",
        "Questions Asked": rec["questions"].round().astype("Int64").astype(str),
        "External Participants": rec["attendees"].round().astype("Int64").astype(str),
        "External Speakers": rec["attendees_spoke"].round().astype("Int64").astype(str),
    }).reset_index(drop=True)
