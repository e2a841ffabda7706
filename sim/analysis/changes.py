"""What changed between two exports of one pipeline: the waterfall a forecast call starts from.

`changes(old, new)` takes the canonical tables of an earlier and a later export and puts every deal found in
either under exactly one heading, with its signed part of the change in open pipeline, so that

    open_before + sum(part of every heading) == open_after      (to the cent: parts are counted in cents)

where open pipeline is the summed amount of the deals open in an export (a deal without an amount counts 0).

Headings, decided in this order (the first that fits):

| heading | the deal | its part |
|---|---|---|
| created | is in the new export only and open there | + its amount |
| won / lost | was open before (or not there yet) and is won / lost now | - its earlier amount (0 if it was not there) |
| vanished | was in the old export, not in the new (deleted, merged, or filtered out of the export) | - its amount if it was open |
| pushed_out | open in both, its expected close date moved into a later `period` | its amount change |
| pulled_in | open in both, its expected close date moved into an earlier `period` | its amount change |
| amount_up / amount_down | open in both, its amount rose / fell | its amount change |
| stage_forward / stage_back | open in both, now in a later / earlier stage (or reopened: stage_back) | its amount change (0) |
| unchanged | none of these (closed in both, or open with the same stage, amount and period) | 0 (or its amount change below a cent) |

So a deal created and won between the two exports counts under won with part 0: it never was in either open
pipeline, and a leader asking "what did we win since last week" wants it there. The expected close date of an
open deal is `expected_close_at` (the loaders keep an open deal's close date there); a deal without one in either
export is never pushed or pulled. Stage order is the canonical one when the stage names are the default stages,
else the order deals pass the stages in the exports' stage history (`snapshots.stage_order`); without a history,
stages whose open deals are older (median age) come later; `stages=` gives the order outright. A move between
stages the order does not place counts as stage_forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..core.periods import PER_YEAR, Period
from ..core.schema import DEFAULT_STAGES, require
from ..core.tables import Tables
from .plots import new_figure
from .snapshots import stage_order

HEADINGS = ("created", "won", "lost", "pushed_out", "pulled_in", "amount_up", "amount_down", "stage_forward",
            "stage_back", "vanished", "unchanged")
_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}
_DEAL_COLUMNS = ("opportunity_id", "heading", "amount_before", "amount_after")


@dataclass
class Changes:
    """Every deal of two exports under one heading, with its part (in cents) of the change in open pipeline."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    deals: pd.DataFrame           # opportunity_id, heading, amount_before, amount_after, part_cents, owner, segment, ...
    currency: str | None = None

    @property
    def open_before(self) -> float:
        return _cents(self.deals["open_before_cents"].sum())

    @property
    def open_after(self) -> float:
        return _cents(self.deals["open_after_cents"].sum())

    def headings(self, deals: pd.DataFrame | None = None) -> pd.DataFrame:
        """count and amount (signed part of the change in open pipeline) per heading, every heading listed."""
        deals = self.deals if deals is None else deals
        g = deals.groupby("heading")
        out = pd.DataFrame({"count": g.size(), "part_cents": g["part_cents"].sum()}).reindex(list(HEADINGS))
        out = out.fillna(0).astype("int64")
        out["amount"] = out["part_cents"] / 100
        return out[["count", "amount"]]

    def by(self, column: str) -> dict[str, dict]:
        """The waterfall per value of `column` (owner, segment): open before and after and the headings of each."""
        if column not in self.deals:
            raise KeyError(f"{column}: neither export has this column")
        out = {}
        for key, part in self.deals.groupby(self.deals[column].fillna("(none)"), sort=True):
            out[str(key)] = _waterfall_json(_cents(part["open_before_cents"].sum()),
                                            _cents(part["open_after_cents"].sum()), self.headings(part))
        return out

    def to_json(self, by: str | None = None) -> dict:
        """{"from", "to", "open_before", "open_after", "headings": {name: {"count", "amount"}}, "deals": [...]};
        with `by`, also "by" and "groups": the same waterfall per owner or segment."""
        out = {"from": None if self.start is None else f"{self.start:%Y-%m-%d}",
               "to": None if self.end is None else f"{self.end:%Y-%m-%d}"}
        out.update(_waterfall_json(self.open_before, self.open_after, self.headings()))
        out["deals"] = [{"opportunity_id": str(r.opportunity_id), "heading": r.heading,
                         "amount_before": _amount(r.amount_before), "amount_after": _amount(r.amount_after)}
                        for r in self.deals[list(_DEAL_COLUMNS)].itertuples(index=False)]
        if by is not None:
            out["by"] = by
            out["groups"] = self.by(by)
        return out

    def figure(self) -> Figure:
        """The waterfall: open pipeline before, each heading's part, open pipeline after."""
        return waterfall_figure(self.open_before, self.open_after, self.headings(), self.start, self.end, self.currency)


def changes(old: Tables, new: Tables, start=None, end=None, period: Period = "quarter",
            stages: list[str] | None = None) -> Changes:
    """Every deal of `old` and `new` under one heading (see the module text); `start` and `end` are the two
    exports' as-of dates (for the labels), `period` what a pushed or pulled-in close date must cross."""
    if period not in PER_YEAR:
        raise ValueError(f"period: {period!r} is not allowed, must be one of {', '.join(PER_YEAR)}")
    a, b = _deals(old.opportunities, "old"), _deals(new.opportunities, "new")
    both = a.add_suffix("_before").join(b.add_suffix("_after"), how="outer")
    order = stages or _stage_order(old, new)
    rank = {s: i for i, s in enumerate(order)}
    here_a, here_b = both["outcome_before"].notna(), both["outcome_after"].notna()
    open_a = (both["outcome_before"] == "open").to_numpy()
    open_b = (both["outcome_after"] == "open").to_numpy()
    cents_a = np.where(open_a, _to_cents(both["amount_before"]), 0)
    cents_b = np.where(open_b, _to_cents(both["amount_after"]), 0)
    delta = _to_cents(both["amount_after"]) - _to_cents(both["amount_before"])
    freq = _FREQ[period]
    per_a = both["close_before"].dt.to_period(freq)
    per_b = both["close_after"].dt.to_period(freq)
    dated = (per_a.notna() & per_b.notna()).to_numpy()
    later = np.zeros(len(both), bool)
    earlier = np.zeros(len(both), bool)
    later[dated] = (per_b[dated] > per_a[dated]).to_numpy()
    earlier[dated] = (per_b[dated] < per_a[dated]).to_numpy()
    rank_a = both["stage_before"].map(rank).to_numpy(dtype=float)
    rank_b = both["stage_after"].map(rank).to_numpy(dtype=float)
    moved = (both["stage_before"].fillna("") != both["stage_after"].fillna("")).to_numpy()
    both_open = open_a & open_b
    won_b = (both["outcome_after"] == "won").to_numpy()
    lost_b = (both["outcome_after"] == "lost").to_numpy()
    closed_a = here_a.to_numpy() & ~open_a
    conditions = [
        ~here_a.to_numpy() & open_b,                                   # created
        ~closed_a & won_b | (closed_a & won_b & (both["outcome_before"] == "lost").to_numpy()),   # won
        ~closed_a & lost_b | (closed_a & lost_b & (both["outcome_before"] == "won").to_numpy()),  # lost
        both_open & later,                                             # pushed_out
        both_open & earlier,                                           # pulled_in
        both_open & (delta >= 1),                                      # amount_up
        both_open & (delta <= -1),                                     # amount_down
        both_open & moved & (rank_b > rank_a),                         # stage_forward
        both_open & moved & (rank_b < rank_a) | (closed_a & open_b),   # stage_back (reopened too)
        here_a.to_numpy() & ~here_b.to_numpy(),                        # vanished
    ]
    heading = np.select(conditions, HEADINGS[:-1], default="unchanged")
    unknown_move = both_open & moved & ~(rank_b > rank_a) & ~(rank_b < rank_a) & (heading == "unchanged")
    heading = np.where(unknown_move, "stage_forward", heading)   # a stage not in the order: a move all the same
    deals = pd.DataFrame({
        "opportunity_id": both.index.to_numpy(dtype=object),
        "heading": heading,
        "amount_before": both["amount_before"].to_numpy(dtype=float),
        "amount_after": both["amount_after"].to_numpy(dtype=float),
        "part_cents": cents_b - cents_a,
        "open_before_cents": cents_a,
        "open_after_cents": cents_b,
        "outcome_before": both["outcome_before"].to_numpy(dtype=object),
        "outcome_after": both["outcome_after"].to_numpy(dtype=object),
        "stage_before": both["stage_before"].to_numpy(dtype=object),
        "stage_after": both["stage_after"].to_numpy(dtype=object),
        "close_before": both["close_before"].to_numpy(),
        "close_after": both["close_after"].to_numpy(),
        "owner": both["owner_after"].fillna(both["owner_before"]).to_numpy(dtype=object),
        "segment": both["segment_after"].fillna(both["segment_before"]).to_numpy(dtype=object),
    })
    return Changes(None if start is None else pd.Timestamp(start), None if end is None else pd.Timestamp(end),
                   deals, _currency(new.opportunities) or _currency(old.opportunities))


def _deals(opp: pd.DataFrame, which: str) -> pd.DataFrame:
    """One row per deal of an export, indexed by id: outcome, stage, amount, expected close, owner, segment."""
    require(opp, ["opportunity_id", "outcome"], f"what changed ({which} export)")
    if opp["opportunity_id"].duplicated().any():
        raise ValueError(f"{which} export: opportunity ids repeat ({opp['opportunity_id'][opp['opportunity_id'].duplicated()].iloc[0]!r})")
    none = pd.Series(None, index=opp.index, dtype=object)
    close = opp["expected_close_at"] if "expected_close_at" in opp else pd.Series(pd.NaT, index=opp.index)
    out = pd.DataFrame({
        "outcome": opp["outcome"], "stage": opp.get("stage", none),
        "amount": opp["amount"].astype(float) if "amount" in opp else pd.Series(np.nan, index=opp.index),
        "close": pd.to_datetime(close).where(opp["outcome"] == "open"),
        "owner": opp.get("owner", none), "segment": opp.get("segment", none),
    })
    out.index = opp["opportunity_id"].astype(str).to_numpy()
    out.index.name = "opportunity_id"
    return out


def _stage_order(old: Tables, new: Tables) -> list[str]:
    """Stage order from the stage history when either export has one; else (HubSpot and Pipedrive deal lists)
    from the deals themselves: stages whose open deals are older come later in the pipeline."""
    hists = [t.stage_history for t in (old, new) if len(t.stage_history)]
    if hists:
        return stage_order(pd.concat(hists, ignore_index=True))
    opp = pd.concat([old.opportunities, new.opportunities], ignore_index=True)
    if "stage" not in opp:
        return []
    names = list(dict.fromkeys(opp["stage"].dropna()))
    if all(n in DEFAULT_STAGES for n in names):
        return [n for n in DEFAULT_STAGES if n in names]
    if "created_at" not in opp or opp["created_at"].isna().all():
        return names
    live = opp[(opp["outcome"] == "open") & opp["stage"].notna() & opp["created_at"].notna()]
    age = (opp["created_at"].max() - live["created_at"]).groupby(live["stage"]).median()
    rest = [n for n in names if n not in age.index]
    return list(age.sort_values(kind="stable").index) + rest


def _to_cents(amount: pd.Series) -> np.ndarray:
    return np.rint(amount.fillna(0).to_numpy(dtype=float) * 100).astype("int64")


def _cents(value) -> float:
    return round(int(value) / 100, 2)


def _amount(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), 2)


def _currency(opp: pd.DataFrame) -> str | None:
    if "currency" in opp and opp["currency"].notna().any():
        return str(opp["currency"].mode().iloc[0])
    return None


def _waterfall_json(open_before: float, open_after: float, headings: pd.DataFrame) -> dict:
    return {"open_before": open_before, "open_after": open_after,
            "headings": {h: {"count": int(r["count"]), "amount": round(float(r["amount"]), 2)}
                         for h, r in headings.iterrows()}}


def waterfall_figure(open_before: float, open_after: float, headings: pd.DataFrame, start=None, end=None,
                     currency: str | None = None) -> Figure:
    """Bars from the earlier open pipeline through each heading's part to the later one (headings with no deal
    left out); green adds to the pipeline, red takes from it, grey is a part of zero (deals that moved without
    changing the total: pushed, pulled in, moved a stage)."""
    shown = headings[(headings["count"] > 0)]
    unit = currency or "currency units"
    labels = ["open before"] + [f"{h.replace('_', ' ')}\n({int(r['count'])})" for h, r in shown.iterrows()] + ["open after"]
    fig, ax = new_figure(figsize=(max(7.0, 0.9 * len(labels) + 2), 4.6))
    level = top = open_before
    ax.bar(0, open_before, color="tab:blue")
    for i, (h, r) in enumerate(shown.iterrows(), start=1):
        part = float(r["amount"])
        color = "tab:green" if part > 0 else "tab:red" if part < 0 else "tab:gray"
        ax.bar(i, part if part else 0.002 * max(open_before, open_after, 1), bottom=level, color=color)
        level += part
        top = max(top, level)
    ax.bar(len(labels) - 1, open_after, color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel(f"open pipeline [{unit}]")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    span = "" if start is None or end is None else f" from {pd.Timestamp(start):%Y-%m-%d} to {pd.Timestamp(end):%Y-%m-%d}"
    ax.set_title(f"What changed in the open pipeline{span}\n"
                 f"{open_before:,.0f} -> {open_after:,.0f} {unit}: green added, red taken out, grey moved only")
    ax.set_xlabel("heading (deals)")
    ax.set_ylim(0, max(top, open_after, 1) * 1.08)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
