"""HubSpot's stage history as its deal export carries it: one "Date entered" and one "Date exited" column per stage
and pipeline, in the same file as the deals.

Two naming generations are read:
- the export's labels, `Date entered "Qualified To Buy (Sales Pipeline)"` / `Date exited "..."` (the quotes may be
  missing or typographic): the stage label and its pipeline in one header;
- the internal property names, `hs_date_entered_<stage id>` and the newer portals' `hs_v2_date_entered_<stage id>`
  (`..._exited_...` alike): stage ids are unique in a portal, so no pipeline is named; the default pipeline's ids
  (`qualifiedtobuy`, `closedwon`, ...) read as their labels, other ids stay as they are.
When an export has several generations, the labels win, then `hs_v2_`, then `hs_` (the others are said in the
notes, not mixed in: the same stay would count twice).

One column per stage holds one stay per deal and stage: a deal that went back to a stage shows its latest stay
only (HubSpot keeps one date per stage). A stay without an exit date ends where the deal's next stay begins; the
last one is open (or ends at the close). Stays in the won and lost stages are the close, not stays.

Pipelines: the same stage label in two pipelines is two stages. When labels repeat across pipelines, each stage
is named `Label (Pipeline)` — in the stage history and in the deals' current stage — so every pipeline's stages
are analysed apart; `pipeline=NAME` keeps the deals of one pipeline (the others are rejected, with that reason)
and its plain labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import parse
from .issues import IssueLog
from .parse import RawTable

LABEL = re.compile(r'^\s*date (?P<which>entered|exited)\s*["“”]?\s*(?P<stage>.*?)\s*\((?P<pipeline>[^()]*)\)\s*["“”]?\s*$',
                   re.IGNORECASE)
INTERNAL = re.compile(r"^\s*(?P<gen>hs_v2_|hs_)date_(?P<which>entered|exited)_(?P<id>[A-Za-z0-9_]+?)\s*$")
NOT_A_STAGE = {"current_stage"}     # hs_v2_date_entered_current_stage: the current stay, kept by its stage column
DEFAULT_IDS = {"appointmentscheduled": "Appointment Scheduled", "qualifiedtobuy": "Qualified To Buy",
               "presentationscheduled": "Presentation Scheduled", "decisionmakerboughtin": "Decision Maker Bought-In",
               "contractsent": "Contract Sent", "closedwon": "Closed Won", "closedlost": "Closed Lost"}
GENERATIONS = ("label", "hs_v2", "hs")


@dataclass(frozen=True)
class StageColumn:
    """One wide column: which header, entered or exited, the stage label, its pipeline (None for stage ids)."""

    header: str
    which: str
    stage: str
    pipeline: str | None
    generation: str


def stage_columns(header: list[str]) -> list[StageColumn]:
    """The "Date entered/exited" columns of a deals header, in the newest generation present."""
    found = []
    for h in header:
        m = LABEL.match(str(h))
        if m and m["stage"]:
            found.append(StageColumn(h, m["which"].lower(), m["stage"].strip(), m["pipeline"].strip(), "label"))
            continue
        m = INTERNAL.match(str(h))
        if m and m["id"] not in NOT_A_STAGE:
            gen = m["gen"].rstrip("_")
            found.append(StageColumn(h, m["which"], DEFAULT_IDS.get(m["id"], m["id"]), None, gen))
    if not found:
        return []
    first = next(g for g in GENERATIONS if any(c.generation == g for c in found))
    return [c for c in found if c.generation == first]


def ignored_generations(header: list[str]) -> list[str]:
    """Stage columns of older generations left out because a newer one is there (for the notes)."""
    chosen = {c.header for c in stage_columns(header)}
    every = [h for h in header if (LABEL.match(str(h)) or INTERNAL.match(str(h))) and h not in chosen]
    return every


def repeated_labels(columns: list[StageColumn], meaning) -> set[str]:
    """Stage labels (lower case) of open stages that stand in more than one pipeline (won and lost mean the same
    in every pipeline)."""
    pipes: dict[str, set] = {}
    for c in columns:
        if c.pipeline is not None and meaning(c.stage) not in ("won", "lost"):
            pipes.setdefault(c.stage.lower(), set()).add(c.pipeline)
    return {s for s, p in pipes.items() if len(p) > 1}


def qualified(stage: str, pipeline: str | None) -> str:
    return f"{stage} ({pipeline})" if pipeline else stage


def read_stays(raw: RawTable, log: IssueLog, ids: pd.Series, rows: pd.Series, pipeline_of: pd.Series | None,
               meaning, columns: list[StageColumn], repeated: set[str]) -> pd.DataFrame:
    """Stays (opportunity_id, stage, entered_at, exited_at) from the wide columns of the `rows` (a mask of the
    deals loaded), unreadable dates listed as repaired; `meaning` maps a label to won / lost / a stage."""
    parts = []
    by_stage: dict[tuple[str, str | None], dict[str, StageColumn]] = {}
    for c in columns:
        by_stage.setdefault((c.stage, c.pipeline), {})[c.which] = c
    for (stage, pipe), pair in by_stage.items():
        when = {}
        for which in ("entered", "exited"):
            if which not in pair:
                when[which] = pd.Series(pd.NaT, index=raw.frame.index, dtype="datetime64[ns]")
                continue
            text = raw.frame[pair[which].header]
            p = parse.parse_dates(text)
            log.flag("repaired", raw, (p.invalid | p.fallback) & rows, pair[which].header, text, p.why)
            when[which] = p.values
        has = rows & when["entered"].notna()
        if pipeline_of is not None and pipe is not None:
            has &= pipeline_of.fillna("").str.lower() == pipe.lower()   # a deal's stays in its own pipeline
        if not has.any():
            continue
        m = meaning(stage)
        name = m if m in ("won", "lost") else (qualified(m, pipe) if stage.lower() in repeated else m)
        parts.append(pd.DataFrame({"opportunity_id": ids[has], "stage": name,
                                   "entered_at": when["entered"][has], "exited_at": when["exited"][has]}))
    if not parts:
        return pd.DataFrame(columns=["opportunity_id", "stage", "entered_at", "exited_at"])
    stays = pd.concat(parts, ignore_index=True).sort_values(["opportunity_id", "entered_at"], kind="stable")
    same = stays["opportunity_id"].eq(stays["opportunity_id"].shift(-1))
    nxt = stays["entered_at"].shift(-1).where(same)
    stays["exited_at"] = stays["exited_at"].where(stays["exited_at"].notna(), nxt)
    stays = stays[~stays["stage"].isin(["won", "lost"])]
    early = stays["exited_at"] < stays["entered_at"]
    stays.loc[early, "exited_at"] = stays.loc[early, "entered_at"]
    return stays.reset_index(drop=True)


# ---- writing (playbook synth --history wide / hs_v2) -----------------------------------------------------------
def stage_id(label: str) -> str:
    """A HubSpot-style internal stage id for a label (the default pipeline's ids are its labels, squeezed)."""
    return re.sub(r"[^a-z0-9]", "", label.lower())


def wide_columns(opp: pd.DataFrame, hist: pd.DataFrame, labels: dict[str, str], closed: tuple[str, str],
                 pipeline: str, generation: str, stamp: str) -> pd.DataFrame:
    """One entered and one exited column per stage (and the won and lost stages) for the deals of `opp`, from
    the stage history (latest stay per stage, as HubSpot keeps it), in the naming `generation` ('label' or
    'hs_v2')."""
    def header(which: str, label: str) -> str:
        if generation == "label":
            return f'Date {which} "{label} ({pipeline})"'
        return f"hs_v2_date_{which}_{stage_id(label)}"

    latest = hist.sort_values("entered_at", kind="stable").drop_duplicates(["opportunity_id", "stage"], keep="last")
    out = {}
    ids = opp["opportunity_id"]
    for stage, label in labels.items():
        mine = latest[latest["stage"] == stage].set_index("opportunity_id")
        for which, col in (("entered", "entered_at"), ("exited", "exited_at")):
            out[header(which, label)] = ids.map(mine[col]).dt.strftime(stamp).fillna("").to_numpy()
    for outcome, label in zip(("won", "lost"), closed):
        at = opp["closed_at"].where(opp["outcome"] == outcome)
        out[header("entered", label)] = at.dt.strftime(stamp).fillna("").to_numpy()
        out[header("exited", label)] = np.full(len(opp), "", dtype=object)
    return pd.DataFrame(out, index=opp.index)
