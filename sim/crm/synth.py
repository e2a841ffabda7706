"""Simulated pipelines written as a CRM would export them: the demo data and the loader's test fixtures.

`write_export(tables, crm, folder, seed, broken)` takes canonical tables (usually `simulate(...).tables`)
and writes them with that CRM's column names, stage labels, date and number formats, and an
opportunity-history file where the CRM has one (Salesforce). `broken=N` deliberately damages N rows in
known ways (no id, a duplicate id, a formula or words in the amount, an impossible date, a close before
the creation) and appends blank trailing rows, and lists each damage in `broken_rows.json`, so tests and
the report's data-quality page can show that every damaged row is caught. Only the opportunity file is
damaged; rows of the other files (history, activities) that belong to a deal whose row is rejected are
rejected in turn ("not among the loaded opportunities"), as they would be in a real export.

Each export also carries what the analyses need beyond the simulated tables, as the custom fields a CRM
would hold: the account's fit score (the simulated one, rounded to two decimals), the product sold and
the account's complaints. Where the simulated run has them, it also writes each lost deal's loss reason and
the competitor that won it (`Loss Reason`, `Main Competitor(s)` for Salesforce), the owner's yearly quota
when one is given (`Owner Annual Quota`, Salesforce), and the run's activities next to the opportunities
(`sim.crm.activities.export_files`: Salesforce `Event.csv` / `Task.csv` or HubSpot `meetings.csv` /
`tasks.csv`, and a call recorder's `call_recordings.csv`), tied to the export's own opportunity ids.
Pipedrive gets the loss reason and competitor but no activity, history or quota file (the loader reads
none for it). The simulator models neither products nor complaints yet, so `derived_fields`
makes them up deterministically from the simulated deal and the seed, and says so here: the product from
the deal's size band (small deals buy Core, mid-sized Core Plus, large Platform; a seeded quarter of deals
buy the Analytics or Services add-on instead), the complaints of an account a seeded Poisson count that
grows with the deals it won. They exercise the product and complaint analyses on the demo; they are not
findings about any market.

Formats written (see `formats.py` for where the column names come from): Salesforce as a US report
(`$12,345.67`, `1/15/2026`, history times `1/15/2026 9:05 AM`); HubSpot as UTF-8 with a BOM, plain
numbers and `2026-01-15 09:05` times; Pipedrive as a European-locale export (`;` delimiter, decimal
comma `12345,67`, `2026-01-15 09:05:00` times).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.outputs import atomic_file, write_text
from ..core.tables import Tables
from . import activities, history_formats

OPEN_LABELS = {
    "salesforce": ("Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review"),
    "hubspot": ("Qualified To Buy", "Presentation Scheduled", "Decision Maker Bought-In", "Contract Sent"),
    "pipedrive": ("Qualified", "Contact Made", "Proposal Made", "Negotiations Started"),
}
CLOSED_LABELS = {"salesforce": ("Closed Won", "Closed Lost"), "hubspot": ("Closed Won", "Closed Lost")}
FAR_FUTURE = {"salesforce": "12/31/2099", "hubspot": "2099-12-31 09:00", "pipedrive": "2099-12-31 09:00:00"}
EXPECTED_CYCLE_DAYS = 90   # open deals carry an expected close date this long after creation


@dataclass(frozen=True)
class Damage:
    """One deliberate defect: the row it is in, what was done, and what the loader should do with it."""

    file: str
    row: int
    what: str
    expect: str   # "rejected" or "repaired"


def stage_labels(stages: list[str], crm: str) -> dict[str, str]:
    """Simulated stage name -> the CRM's label for it (by position; the simulator's own names if there are more stages)."""
    labels = OPEN_LABELS[crm]
    if len(stages) > len(labels):
        return {s: s for s in stages}
    return dict(zip(stages, labels))


def export_labels(tables: Tables, crm: str) -> dict[str, str]:
    """Each simulated stage's label in `crm`'s export, the stages in the order the stage history shows them."""
    opp = tables.opportunities
    return stage_labels(list(dict.fromkeys(tables.stage_history["stage"])) or list(opp["stage"].unique()), crm)


def us_date(ts: pd.Series) -> pd.Series:
    """1/15/2026 (no leading zeros), '' where missing."""
    out = ts.dt.month.astype("Int64").astype(str) + "/" + ts.dt.day.astype("Int64").astype(str) + "/" + ts.dt.year.astype("Int64").astype(str)
    return out.where(ts.notna(), "")


def us_datetime(ts: pd.Series) -> pd.Series:
    """1/15/2026 9:05 AM, '' where missing."""
    hour = ts.dt.hour.astype("Int64")
    h12 = ((hour + 11) % 12 + 1).astype(str)
    ampm = pd.Series(np.where(hour < 12, "AM", "PM"), index=ts.index)
    out = us_date(ts) + " " + h12 + ":" + ts.dt.strftime("%M") + " " + ampm
    return out.where(ts.notna(), "")


def dollars(x: pd.Series) -> pd.Series:
    return x.map(lambda v: "" if pd.isna(v) else f"${v:,.2f}")


def decimal_comma(x: pd.Series) -> pd.Series:
    return x.map(lambda v: "" if pd.isna(v) else f"{v:.2f}".replace(".", ","))


def _signed_or_estimate(opp: pd.DataFrame) -> pd.Series:
    return opp["amount"].round(2)


def _expected_close(opp: pd.DataFrame) -> pd.Series:
    expected = (opp["created_at"] + pd.Timedelta(days=EXPECTED_CYCLE_DAYS)).dt.normalize()
    if "expected_close_at" in opp:   # an export as of an earlier date: the close date as it stood (sim.crm.as_of)
        expected = opp["expected_close_at"].where(opp["expected_close_at"].notna(), expected)
    return opp["closed_at"].where(opp["outcome"] != "open", expected)


def _label(opp: pd.DataFrame, labels: dict[str, str], crm: str) -> pd.Series:
    label = opp["stage"].map(labels)
    if crm in CLOSED_LABELS:
        won, lost = CLOSED_LABELS[crm]
        label = label.where(opp["outcome"] != "won", won).where(opp["outcome"] != "lost", lost)
    return label


PRODUCTS = ("Core", "Core Plus", "Platform")     # by size band: small, mid-sized, large deals
ADD_ONS = ("Analytics", "Services")             # what a seeded share of deals buy instead
ADD_ON_SHARE = 0.25
COMPLAINTS_PER_WON_DEAL = 0.8                   # mean complaints per deal an account won (seeded Poisson)
COMPLAINTS_BASE = 0.1                           # and for any account


def derived_fields(opp: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Product and account complaints for each deal, made up from the deal and the seed (see the module text).

    Deterministic: the same opportunities and seed give the same products and counts.
    """
    rng = np.random.default_rng([seed, 3])
    size = opp["first_estimate"].fillna(opp["amount"])
    band = np.searchsorted(np.nanquantile(size, [1 / 3, 2 / 3]), size.to_numpy(), side="right")
    band = np.where(np.isnan(size.to_numpy()), 0, band)
    product = np.array(PRODUCTS, dtype=object)[band]
    add_on = rng.random(len(opp)) < ADD_ON_SHARE
    product[add_on] = np.array(ADD_ONS, dtype=object)[rng.integers(0, len(ADD_ONS), int(add_on.sum()))]
    won = (opp["outcome"] == "won").groupby(opp["account_id"]).sum()
    rate = COMPLAINTS_BASE + COMPLAINTS_PER_WON_DEAL * won
    per_account = pd.Series(rng.poisson(rate.to_numpy()), index=rate.index)
    return pd.DataFrame({"product": product, "complaints": opp["account_id"].map(per_account).astype("int64"),
                         "fit_score": opp["fit_score"].round(2)}, index=opp.index)


def export_ids(opp: pd.DataFrame, crm: str) -> pd.Series:
    """Each simulated opportunity's id as the CRM's export writes it (Salesforce 18-character ids, HubSpot
    record ids, Pipedrive deal numbers)."""
    digits = opp["opportunity_id"].str.replace(r"\D", "", regex=True)
    if crm == "salesforce":
        return "006" + digits.str.zfill(12) + "AAA"
    if crm == "hubspot":
        return (9_000_000_000 + digits.astype("int64")).astype(str)
    return digits.astype("int64").astype(str)


def _add_reasons(frame: pd.DataFrame, opp: pd.DataFrame, headers: dict[str, str]) -> None:
    """Add the loss reason (as a picklist label) and competitor of each lost deal under the CRM's own `headers`
    ({"loss_reason": ..., "competitor": ...}), where the simulated run records them."""
    for col, header in headers.items():
        if col in opp and opp[col].notna().any():
            text = opp[col].where(opp["outcome"] == "lost")
            frame[header] = (text.str[:1].str.upper() + text.str[1:]).fillna("") if col == "loss_reason" else text.fillna("")


def salesforce(tables: Tables, extra: pd.DataFrame, quota: float | None = None) -> dict[str, tuple[pd.DataFrame, dict]]:
    opp, hist = tables.opportunities, tables.stage_history
    labels = export_labels(tables, "salesforce")
    sf_id = export_ids(opp, "salesforce")
    ids = dict(zip(opp["opportunity_id"], sf_id))
    account = "Account " + opp["account_id"].str.replace(r"\D", "", regex=True)
    n_stages = max(len(labels), 1)
    stage_no = opp["stage"].map({s: i for i, s in enumerate(labels)}).fillna(0)
    probability = (10 + 80 * stage_no / n_stages).round().where(opp["outcome"] == "open",
                                                                  np.where(opp["outcome"] == "won", 100, 0))
    frame = pd.DataFrame({
        "Opportunity ID": sf_id,
        "Opportunity Name": account + " - " + opp["segment"].fillna("") + " deal",
        "Account Name": account,
        "Opportunity Owner": opp["owner"],
        "Stage": _label(opp, labels, "salesforce"),
        "Amount": dollars(_signed_or_estimate(opp)),
        "Probability (%)": probability.astype(int).astype(str) + "%",
        "Created Date": us_date(opp["created_at"]),
        "Close Date": us_date(_expected_close(opp)),
        "Lead Source": opp["lead_source"],
        "Segment": opp["segment"],
        "Product Name": extra["product"],
        "Account Fit Score": extra["fit_score"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
        "Account Complaints": extra["complaints"].astype(str),
    })
    _add_reasons(frame, opp, {"loss_reason": "Loss Reason", "competitor": "Main Competitor(s)"})
    if quota is not None:
        frame["Owner Annual Quota"] = dollars(pd.Series(float(quota), index=opp.index))
    # history: one row per stage entered (amount = the first estimate), then the close with the signed amount
    first = opp.set_index("opportunity_id")["first_estimate"]
    stays = pd.DataFrame({
        "Opportunity ID": hist["opportunity_id"].map(ids),
        "Stage Name": hist["stage"].map(labels),
        "Amount": hist["opportunity_id"].map(first).round(2),
        "when": hist["entered_at"],
    })
    closed = opp[opp["outcome"] != "open"]
    ends = pd.DataFrame({
        "Opportunity ID": closed["opportunity_id"].map(ids),
        "Stage Name": _label(closed, labels, "salesforce"),
        "Amount": closed["amount"].round(2),
        "when": closed["closed_at"],
    })
    rows = pd.concat([stays, ends], ignore_index=True).sort_values(["Opportunity ID", "when"], kind="stable")
    history = pd.DataFrame({
        "Opportunity ID": rows["Opportunity ID"],
        "Stage Name": rows["Stage Name"],
        "Amount": dollars(rows["Amount"]),
        "Created Date": us_datetime(rows["when"]),
    })
    return {"opportunities.csv": (frame, {}), "opportunity_history.csv": (history.reset_index(drop=True), {})}


def hubspot(tables: Tables, extra: pd.DataFrame, quota: float | None = None) -> dict[str, tuple[pd.DataFrame, dict]]:
    opp = tables.opportunities
    labels = export_labels(tables, "hubspot")
    stamp = "%Y-%m-%d %H:%M"
    frame = pd.DataFrame({
        "Record ID": export_ids(opp, "hubspot"),
        "Deal Name": "Deal " + opp["opportunity_id"],
        "Associated Company": "Company " + opp["account_id"].str.replace(r"\D", "", regex=True),
        "Deal owner": opp["owner"],
        "Deal Stage": _label(opp, labels, "hubspot"),
        "Amount": _signed_or_estimate(opp).map(lambda v: f"{v:.2f}"),
        "Create Date": opp["created_at"].dt.strftime(stamp),
        "Close Date": _expected_close(opp).dt.strftime(stamp).fillna(""),
        "Original Traffic Source": opp["lead_source"],
        "Pipeline": "Sales Pipeline",
        "Product": extra["product"],
        "Company Fit Score": extra["fit_score"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
        "Company Complaints": extra["complaints"].astype(str),
    })
    _add_reasons(frame, opp, {"loss_reason": "Closed Lost Reason", "competitor": "Competitor"})
    return {"deals.csv": (frame, {"encoding": "utf-8-sig"})}


def pipedrive(tables: Tables, extra: pd.DataFrame, quota: float | None = None) -> dict[str, tuple[pd.DataFrame, dict]]:
    opp = tables.opportunities
    labels = export_labels(tables, "pipedrive")
    stamp = "%Y-%m-%d %H:%M:%S"
    outcome = opp["outcome"]
    frame = pd.DataFrame({
        "Deal - ID": export_ids(opp, "pipedrive"),
        "Deal - Title": "Deal " + opp["opportunity_id"],
        "Deal - Organization": "Org " + opp["account_id"].str.replace(r"\D", "", regex=True),
        "Deal - Owner": opp["owner"],
        "Deal - Stage": opp["stage"].map(labels),
        "Deal - Status": outcome.str.capitalize(),
        "Deal - Value": decimal_comma(_signed_or_estimate(opp)),
        "Deal - Currency of value": "USD",
        "Deal - Deal created": opp["created_at"].dt.strftime(stamp),
        "Deal - Won time": opp["closed_at"].where(outcome == "won").dt.strftime(stamp).fillna(""),
        "Deal - Lost time": opp["closed_at"].where(outcome == "lost").dt.strftime(stamp).fillna(""),
        "Deal - Expected close date": _expected_close(opp).where(outcome == "open").dt.strftime("%Y-%m-%d").fillna(""),
        "Deal - Source channel": opp["lead_source"],
        "Deal - Product name": extra["product"],
        "Organization - Fit Score": decimal_comma(extra["fit_score"]),
        "Organization - Complaints": extra["complaints"].astype(str),
        "Deal - Last stage change": opp["opportunity_id"].map(
            tables.stage_history.groupby("opportunity_id")["entered_at"].max()).dt.strftime(stamp).fillna(""),
    })
    _add_reasons(frame, opp, {"loss_reason": "Deal - Lost reason", "competitor": "Deal - Competitor"})
    return {"deals.csv": (frame, {"sep": ";"})}


WRITERS = {"salesforce": salesforce, "hubspot": hubspot, "pipedrive": pipedrive}
ACTIVITY_CRMS = ("salesforce", "hubspot")   # the CRMs whose activity files the loader reads


def breakable(rows: int) -> int:
    """How many rows of a file with `rows` data rows `break_rows` can damage: all but the first (a duplicate
    id copies the row above it)."""
    return max(rows - 1, 0)


def break_rows(frame: pd.DataFrame, file: str, crm: str, n: int, rng: np.random.Generator,
               closed: np.ndarray) -> tuple[pd.DataFrame, list[Damage]]:
    """Damage `n` distinct rows of the main file in known ways; returns the damaged copy and what was done.

    `closed` tells which rows are won or lost deals (only those can close before they were created).
    """
    from .formats import PRESETS

    spec = PRESETS[crm].spec("opportunities")
    cols = spec.resolve(list(frame.columns))
    frame = frame.copy()
    n = min(n, breakable(len(frame)))
    if n <= 0:
        return frame, []
    rows = np.sort(rng.choice(np.arange(1, len(frame)), size=n, replace=False))
    id_col, amount_col, created_col = cols["opportunity_id"], cols["amount"], cols["created_at"]
    kinds = [
        ("no opportunity id", "rejected", lambda r: _set(frame, r, id_col, "")),
        ("duplicate opportunity id", "rejected", lambda r: _set(frame, r, id_col, frame.iat[r - 1, frame.columns.get_loc(id_col)])),
        ("formula in the amount", "repaired", lambda r: _set(frame, r, amount_col, f"=C{r + 2}*2")),
        ("words in the amount", "repaired", lambda r: _set(frame, r, amount_col, "about 5k")),
        ("impossible date", "repaired", lambda r: _set(frame, r, created_col, "31/31/2026")),
        ("closed before created", "rejected", lambda r: _set(frame, r, created_col, FAR_FUTURE[crm])),
    ]
    damages = []
    for k, r in enumerate(rows):
        what, expect, act = kinds[k % len(kinds)]
        if what == "closed before created" and not closed[r]:
            what, expect, act = kinds[0]    # only a closed deal can close before it was created
        if what == "duplicate opportunity id" and r - 1 in set(rows):
            what, expect, act = kinds[2]    # the row above is damaged too: duplicate an intact id only
        act(r)
        damages.append(Damage(file, int(r) + 2, what, expect))
    return frame, damages


def _set(frame: pd.DataFrame, r: int, col: str, value: str) -> bool:
    frame.iat[r, frame.columns.get_loc(col)] = value
    return True


def write_export(tables: Tables, crm: str, folder: str | Path, seed: int = 0, broken: int = 0,
                 blank_tail: int = 2, quota: float | None = None, history: str | None = None) -> list[Path]:
    """Write `tables` as `crm` exports them into `folder`; with `broken` rows damaged (and listed). Returns the paths.

    `quota` is each rep's yearly quota (the scenario's `reps.quota`), written as a per-owner column where the
    CRM's preset reads one (Salesforce). The run's activities go in the CRM's activity files (Salesforce and
    HubSpot; see `sim.crm.activities.export_files`). `history` writes the stage history in another layout the
    CRM exports (`sim.crm.history_formats.LAYOUTS`: HubSpot's wide 'Date entered' columns, Salesforce's field history).
    """
    if crm not in WRITERS:
        raise ValueError(f"crm: {crm!r} is not one of {', '.join(WRITERS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = WRITERS[crm](tables, derived_fields(tables.opportunities, seed), quota)
    if history is not None:
        ids = dict(zip(tables.opportunities["opportunity_id"], export_ids(tables.opportunities, crm)))
        files = history_formats.synth_layout(files, tables, crm, history, export_labels(tables, crm),
                                             CLOSED_LABELS.get(crm, ("Won", "Lost")), ids, us_datetime)
    acts = tables.activities
    if crm in ACTIVITY_CRMS and len(acts) and acts["opportunity_id"].notna().any():
        ids = dict(zip(tables.opportunities["opportunity_id"], export_ids(tables.opportunities, crm)))
        files.update(activities.export_files(acts, crm, ids))
    damages: list[Damage] = []
    paths = []
    for i, (name, (frame, how)) in enumerate(files.items()):
        main = i == 0
        if main and broken:
            closed = (tables.opportunities["outcome"] != "open").to_numpy()
            frame, damages = break_rows(frame, name, crm, broken, np.random.default_rng([seed, 2]), closed)
        sep = how.get("sep", ",")
        path = folder / name
        with atomic_file(path, "w", encoding=how.get("encoding", "utf-8"), newline="") as fh:   # whole or not at all
            frame.to_csv(fh, index=False, sep=sep, lineterminator="\r\n")
            if main and broken and blank_tail:
                fh.write((sep * (frame.shape[1] - 1) + "\r\n") * blank_tail)
                damages += [Damage(name, len(frame) + 2 + k, "blank trailing row", "rejected") for k in range(blank_tail)]
        paths.append(path)
    if broken:
        manifest = folder / "broken_rows.json"
        write_text(manifest, json.dumps([d.__dict__ for d in damages], indent=1) + "\n")
        paths.append(manifest)
    return paths
