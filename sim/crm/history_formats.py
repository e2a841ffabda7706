"""Stage history from the formats CRMs really export, beyond a stage-history file: the one hook the loader calls.

- HubSpot: "Date entered/exited" columns in the deals file (`sim.crm.hubspot_stages`), per pipeline;
- Salesforce: the Opportunity Field History report (`sim.crm.field_history`): stage stays and field edits;
- Pipedrive: `Deal - Last stage change` tells when a deal entered the stage it is in now. With no earlier stay
  known, it is kept on the deal (`stage_entered_at`), not as stage history: one stay per deal would read as
  deals that entered no other stage, and every stage-to-stage rate would be wrong.

And `synth_layout` writes a simulated export in these layouts (`playbook synth --history ...`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from . import field_history, hubspot_stages, parse
from .files import ExportError
from .formats import Format, FileSpec
from .issues import FileReport, IssueLog
from .parse import RawTable

LAYOUTS = {"wide": "hubspot", "hs_v2": "hubspot", "field": "salesforce"}   # --history LAYOUT: the CRM it is for


def extend(log: IssueLog, reports: list[FileReport], notes: list[str],
           opp_files: list[tuple[RawTable, Format, FileSpec]], field_files: list[tuple[RawTable, Format, FileSpec]],
           opps: pd.DataFrame, history: pd.DataFrame, pipeline: str | None = None
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(deals, stage history, field edits or None) with what the export's other history formats hold."""
    wide = []
    for raw, fmt, spec in opp_files:
        opps, stays = _wide(raw, fmt, spec, log, reports, notes, opps, pipeline)
        if stays is not None:
            wide.append(stays)
    if pipeline is not None and not any(hubspot_stages.stage_columns(list(r.frame.columns)) or
                                        "pipeline" in s.resolve(list(r.frame.columns)) for r, _, s in opp_files):
        raise ExportError(f"--pipeline {pipeline}: the export has no pipeline column (HubSpot's 'Pipeline')")
    if wide and history.empty:
        history = pd.concat(wide, ignore_index=True)
    edits = []
    for raw, fmt, spec in field_files:
        cols = spec.resolve(list(raw.frame.columns))
        found, report = field_history.read(raw, cols, log, opps)
        reports.append(report)
        edits.append(found)
        if history.empty and len(found):
            history = field_history.stays(found, opps, fmt.stage_meaning)
            notes.append(f"{raw.name}: stage history read from the field history's Stage edits")
        elif len(found):
            notes.append(f"{raw.name}: stage history taken from the opportunity history file; the field history's "
                         "edits are kept in field_edits")
    if edits and ("first_estimate" not in opps or opps["first_estimate"].isna().all()):
        opps = _first_estimates(opps, pd.concat(edits, ignore_index=True))
    if "stage_entered_at" in opps and opps["stage_entered_at"].notna().any():
        notes.append("the export gives when each deal entered its current stage (stage_entered_at), not the stays "
                     "before it: analyses of stage-to-stage movement need a stage history")
    table = pd.concat(edits, ignore_index=True) if edits else None
    return opps, history, table


def _wide(raw: RawTable, fmt: Format, spec: FileSpec, log: IssueLog, reports: list[FileReport], notes: list[str],
          opps: pd.DataFrame, pipeline: str | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    header = list(raw.frame.columns)
    columns = hubspot_stages.stage_columns(header)
    if not columns and pipeline is None:
        return opps, None      # the usual case: nothing to read here, no pass over the rows
    cols = spec.resolve(header)
    ids = parse.parse_text(raw.frame[cols["opportunity_id"]])
    loaded = ids.isin(set(opps["opportunity_id"])) & ~ids.duplicated()
    pipe = parse.parse_text(raw.frame[cols["pipeline"]]) if "pipeline" in cols else None
    if pipeline is not None and pipe is not None:
        known = sorted(set(pipe.dropna()))
        if pipeline.strip().lower() not in {k.lower() for k in known}:
            raise ExportError(f"--pipeline {pipeline}: {raw.name} has no deal in that pipeline; its pipelines are "
                              + ", ".join(known))
        other = loaded & (pipe.fillna("").str.lower() != pipeline.strip().lower())
        log.flag("rejected", raw, other, cols["pipeline"], pipe, f"in another pipeline (--pipeline {pipeline})")
        report = next(r for r in reports if r.file == raw.name and r.kind == "opportunities")
        report.rows_loaded -= int(other.sum())
        if "stage" in cols and hasattr(log, "stage_report"):   # the deals per stage label count loaded deals only
            for label, n in parse.parse_text(raw.frame[cols["stage"]])[other].value_counts().items():
                if label in log.stage_report:
                    log.stage_report[label]["deals"] -= int(n)
        opps = opps[~opps["opportunity_id"].isin(set(ids[other]))].reset_index(drop=True)
        loaded &= ~other
        columns = [c for c in columns if c.pipeline is None or c.pipeline.lower() == pipeline.strip().lower()]
    if not columns:
        return opps, None
    repeated = hubspot_stages.repeated_labels(columns, fmt.stage_meaning) if pipeline is None else set()
    stays = hubspot_stages.read_stays(raw, log, ids, loaded, pipe, fmt.stage_meaning, columns, repeated)
    used = {c.header for c in columns}
    report = next((r for r in reports if r.file == raw.name and r.kind == "opportunities"), None)
    if report is not None:
        report.unused = [c for c in report.unused if c not in used]
    notes.append(f"{raw.name}: stage history read from {len(columns)} 'Date entered/exited' columns "
                 f"({columns[0].generation} names)")
    ignored = hubspot_stages.ignored_generations(header)
    if ignored:
        notes.append(f"{raw.name}: {len(ignored)} stage columns of an older naming left out "
                     f"(e.g. {ignored[0]}): the same stays under another name")
    if repeated:
        if "pipeline" not in opps:
            raise ExportError(f"{raw.name}: stage labels repeat across pipelines ({', '.join(sorted(repeated))}) "
                              "but the file has no Pipeline column to tell them apart")
        label = opps["stage"].fillna("").str.lower()
        twice = opps["stage"].notna() & label.isin(repeated)
        opps = opps.copy()
        opps.loc[twice, "stage"] = [hubspot_stages.qualified(s, p) for s, p in
                                    zip(opps.loc[twice, "stage"], opps.loc[twice, "pipeline"])]
        shown = sorted({c.stage for c in columns if c.stage.lower() in repeated})
        notes.append(f"{raw.name}: the stage label(s) {', '.join(shown)} stand in several pipelines: each "
                     "is named 'Label (Pipeline)', so every pipeline's stages are analysed apart "
                     "(or choose one pipeline with --pipeline NAME)")
    return opps, stays


def _first_estimates(opps: pd.DataFrame, edits: pd.DataFrame) -> pd.DataFrame:
    """A deal's first amount: the old value of its first Amount edit, else the amount it has (never edited)."""
    amount = edits[edits["field"] == "amount"].drop_duplicates("opportunity_id")
    first = pd.Series(parse.parse_amount(amount["old_value"].fillna("")).values.to_numpy(),
                      index=amount["opportunity_id"].to_numpy())
    opps = opps.copy()
    current = opps["amount"] if "amount" in opps else pd.Series(float("nan"), index=opps.index)
    opps["first_estimate"] = opps["opportunity_id"].map(first).astype("float64").fillna(current)
    return opps


# ---- writing ----------------------------------------------------------------------------------------------------
def synth_layout(files: dict, tables, crm: str, layout: str | None, labels: dict[str, str],
                 closed: tuple[str, str], ids: dict[str, str], stamp: Callable[[pd.Series], pd.Series]) -> dict:
    """The export files of `write_export` in another history layout (`--history`): HubSpot's wide columns
    ('wide': labels, 'hs_v2': internal names) or Salesforce's Opportunity Field History ('field'), its edit
    dates written by `stamp` (the CRM's date-time layout)."""
    if layout is None:
        return files
    if LAYOUTS.get(layout) != crm:
        raise ValueError(f"history: {layout!r} is a layout of {LAYOUTS.get(layout, 'no CRM')}, not of {crm} "
                         f"(layouts: " + ", ".join(f"{k} ({v})" for k, v in LAYOUTS.items()) + ")")
    opp, hist = tables.opportunities, tables.stage_history
    if crm == "hubspot":
        name = next(iter(files))
        frame, how = files[name]
        wide = hubspot_stages.wide_columns(opp, hist, labels, closed, "Sales Pipeline", "label" if layout == "wide"
                                           else "hs_v2", "%Y-%m-%d %H:%M")
        files[name] = (pd.concat([frame, wide], axis=1), how)
        return files
    files.pop("opportunity_history.csv", None)
    rows = field_history.rows(opp, hist, labels, closed, ids)
    rows["Edit Date"] = stamp(pd.to_datetime(rows.pop("when")))
    files["opportunity_field_history.csv"] = (rows, {})
    return files
