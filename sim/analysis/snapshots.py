"""Pipeline snapshots rebuilt from the stage history, for exports that kept no forecast history.

- `rebuild_snapshots(tables)`: what a stage-weighted forecast would have said at each past review date
  (from the stage history, or from creation and close dates when there is none), as a `forecasts` table
  that `sim.analysis.forecast.forecast_accuracy` scores like a real one.
- `slippage(tables)`: how often and how far deals expected in a period closed after it.
- `pipeline_at(tables, as_of)`: the deals open at a past date, in the stage they were in then, with the amount,
  close date and forecast category of that date where the history dates them (what the forecast baselines and
  `sim.forecast` start from).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from ..core import schema
from ..core.periods import label as period_label
from ..core.periods import period_bounds, review_dates
from ..core.schema import require
from .forecast import TEAM, data_end


ONE_STAGE = "(open)"

def stays(tables) -> pd.DataFrame:
    """The stage history; for an export without one, one stay per deal from creation to close.

    With a single stay per deal the rebuilt forecast weights every open deal by the export's overall win
    rate and expects it to close after the median cycle: cruder than stage weighting, but available on
    any export that has creation and close dates.
    """
    hist = tables.stage_history
    if not hist.empty:
        return hist
    opp = tables.opportunities
    require(opp, ["opportunity_id", "created_at"], "rebuilt forecast")
    opp = opp[opp["created_at"].notna()]
    return schema.conform(pd.DataFrame({
        "opportunity_id": opp["opportunity_id"].to_numpy(dtype=object),
        "stage": ONE_STAGE,
        "entered_at": opp["created_at"].to_numpy(),
        "exited_at": opp["closed_at"].to_numpy(),
    }), "stage_history")

def stage_order(stage_history: pd.DataFrame) -> list[str]:
    """Stages in the order deals pass them: the canonical order when names match, else as the data shows."""
    names = list(dict.fromkeys(stage_history["stage"].dropna()))
    known = [s for s in schema.DEFAULT_STAGES if s in names]
    if len(known) == len(names):
        return known
    rank = (stage_history.sort_values("entered_at").groupby("opportunity_id").cumcount()
            .groupby(stage_history["stage"]).mean())
    return list(rank.sort_values(kind="stable").index)

def stage_win_rates(tables) -> pd.Series:
    """Per stage: the share of closed deals that reached the stage and were won (the CRM's stage probability)."""
    hist = stays(tables)
    outcome = tables.opportunities.set_index("opportunity_id")["outcome"]
    hist = hist.assign(outcome=hist["opportunity_id"].map(outcome))
    closed = hist[hist["outcome"].isin(["won", "lost"])].drop_duplicates(["opportunity_id", "stage"])
    rates = closed.groupby("stage")["outcome"].apply(lambda o: (o == "won").mean())
    return rates.reindex(stage_order(hist))

def _median_stage_days(hist: pd.DataFrame, order: list[str]) -> tuple[pd.Series, pd.Series]:
    """Median days per stay in each stage, and the median days of all the stages after it."""
    done = hist.dropna(subset=["exited_at"])
    days = ((done["exited_at"] - done["entered_at"]).dt.total_seconds() / 86400).groupby(done["stage"]).median()
    days = days.reindex(order).fillna(0.0)
    later = days[::-1].cumsum()[::-1].shift(-1, fill_value=0.0)
    return days, later

SNAPSHOT_FIELDS = ("amount", "expected_close_at", "forecast_category")   # deal fields a history can date


def pipeline_at(tables, as_of: pd.Timestamp, hist: pd.DataFrame | None = None) -> pd.DataFrame:
    """The deals open at `as_of`, each with the stage it was in then and since when (from the stage history).

    Snapshot-correct where the history allows: when the stage history carries a deal's `amount`, expected
    close date (`expected_close_at`) or `forecast_category` on its rows (Salesforce Opportunity History
    keeps them at each change), each open deal gets the values of its latest row on or before `as_of`, so
    an amount cut or a close date pushed out later does not leak into the past. Without them the deal's
    current values stand in; which of the three fields were dated is in ``attrs["dated"]`` and what was
    assumed in ``attrs["assumed"]`` (one sentence per field). Columns: opportunity_id, stage, entered_at,
    exited_at, owner, amount, created_at, segment (when the export has it), expected_close_at and
    forecast_category (when known), days_in_stage, age_days.
    """
    opp = tables.opportunities
    as_of = pd.Timestamp(as_of)
    hist = stays(tables) if hist is None else hist
    live = hist[(hist["entered_at"] <= as_of) & (hist["exited_at"].isna() | (hist["exited_at"] > as_of))]
    live = live.sort_values("entered_at").drop_duplicates("opportunity_id", keep="last")
    info = opp.set_index("opportunity_id")
    open_now = info["closed_at"].isna() | (info["closed_at"] > as_of)
    live = live[live["opportunity_id"].map(open_now).fillna(False).astype(bool)]
    ids = live["opportunity_id"]
    out = live[["opportunity_id", "stage", "entered_at", "exited_at"]].assign(
        owner=ids.map(info["owner"]) if "owner" in info else None,
        amount=ids.map(info["amount"]) if "amount" in info else np.nan,
        created_at=ids.map(info["created_at"]) if "created_at" in info else pd.NaT,
    )
    for column in ("segment", "expected_close_at", "forecast_category"):
        if column in info:
            out[column] = ids.map(info[column])
    dated, assumed = [], []
    for field in SNAPSHOT_FIELDS:
        if field in hist.columns and hist[field].notna().any():
            rows = hist[(hist["entered_at"] <= as_of) & hist[field].notna()]
            then = rows.sort_values("entered_at", kind="stable").groupby("opportunity_id")[field].last()
            out[field] = ids.map(then).where(ids.isin(then.index), out.get(field))
            dated.append(field)
        elif field in out:
            assumed.append(f"{field}: the history does not date it, so each deal's current value stands for its "
                           f"value on {as_of:%Y-%m-%d}")
    created = out["created_at"].fillna(out["entered_at"])
    out["age_days"] = ((as_of - created).dt.total_seconds() / 86400).clip(lower=0)
    out["days_in_stage"] = np.minimum(((as_of - out["entered_at"]).dt.total_seconds() / 86400).clip(lower=0),
                                      out["age_days"])
    out.attrs["dated"], out.attrs["assumed"] = dated, assumed
    return out


def rebuild_snapshots(
    tables,
    cadence: str = "weekly",
    period: Literal["quarter", "month"] = "quarter",
    probabilities: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """What a stage-weighted forecast would have said at each past review date, as a `forecasts` table.

    For exports without forecast history. Reviews start on the first day of the first period with a
    deal and follow `cadence` (every 7 days, or each month / quarter / year start). At each: deals already won in the period (``closed``);
    open deals expected to close in the current or next period, at amount x stage probability
    (``commit``) and the unweighted rest (``pipeline``). A deal's expected close is the median time
    left in its stage plus the median time of the later stages, measured on the export itself.
    Stage probabilities default to the export's own stage-to-win rates (`stage_win_rates`), which look
    ahead at how deals ended: this is the forecast a team calibrated on its own history would make.
    """
    opp = tables.opportunities
    require(opp, ["opportunity_id", "outcome", "created_at", "amount"], "rebuilt forecast")
    hist = stays(tables)
    order = stage_order(hist)
    prob = pd.Series(probabilities) if probabilities is not None else stage_win_rates(tables)
    prob = prob.reindex(order).fillna(0.0)
    days, later = _median_stage_days(hist, order)
    owners = opp["owner"].fillna(TEAM) if "owner" in opp else pd.Series(TEAM, index=opp.index)
    won = opp[opp["outcome"] == "won"].assign(owner=owners)

    first = period_bounds(period_label(opp["created_at"].min(), period))[0]
    names = sorted(set(owners))
    frames = []
    for as_of in review_dates(first, data_end(tables), cadence):
        live = pipeline_at(tables, as_of, hist)
        in_stage = (as_of - live["entered_at"]).dt.total_seconds() / 86400
        close = as_of + pd.to_timedelta(
            (live["stage"].map(days) - in_stage).clip(lower=0) + live["stage"].map(later), unit="D")
        weight = live["stage"].map(prob).fillna(0.0)
        live = live.assign(owner=live["owner"].fillna(TEAM), commit=live["amount"] * weight,
                           pipeline=live["amount"] * (1.0 - weight))
        now_label = period_label(as_of, period)
        for label in (now_label, period_label(period_bounds(now_label)[1], period)):
            start, end = period_bounds(label)
            due = live[(close >= start) & (close < end)].groupby("owner")[["commit", "pipeline"]].sum()
            booked = won[(won["closed_at"] >= start) & (won["closed_at"] < end) & (won["closed_at"] <= as_of)]
            snap = due.reindex(names, fill_value=0.0)
            snap.insert(0, "closed", booked.groupby("owner")["amount"].sum().reindex(names, fill_value=0.0))
            frames.append(snap.rename_axis("owner").reset_index().assign(as_of=as_of, period=label))
    df = pd.concat(frames).melt(id_vars=["as_of", "period", "owner"], var_name="category", value_name="amount")
    df = df.sort_values(["as_of", "period", "owner"], kind="stable").reset_index(drop=True)
    df["owner"] = df["owner"].where(df["owner"] != TEAM, None)
    return schema.conform(df[["as_of", "period", "owner", "amount", "category"]], "forecasts")

def slippage(tables, period: Literal["quarter", "month"] = "quarter") -> pd.DataFrame:
    """Per period: deals expected (at its start) to close in it, how many slipped out, and how far.

    Exports without a stage history are read as one stage per deal (see `stays`). A deal slips when it
    was still open at the period's end. `median_slip_days` is how long after the period's end the slipped
    deals that have closed since did close (NaN when none has: a slip not yet measured, never a zero);
    `still_open` counts slipped deals still open at the end of the data, whose slip is not known yet.
    The expected close is rebuilt from the stage history as in `rebuild_snapshots`.
    """
    opp = tables.opportunities
    require(opp, ["opportunity_id", "created_at"], "close-date slippage")
    hist = stays(tables)
    order = stage_order(hist)
    days, later = _median_stage_days(hist, order)
    closed_at = opp.set_index("opportunity_id")["closed_at"]
    last = data_end(tables)
    rows = []
    start = pd.Timestamp(period_bounds(period_label(opp["created_at"].min(), period))[1])
    while True:
        end = period_bounds(period_label(start, period))[1]
        if end > last + pd.Timedelta(days=1):
            break
        live = pipeline_at(tables, start, hist)
        in_stage = (start - live["entered_at"]).dt.total_seconds() / 86400
        close = start + pd.to_timedelta((live["stage"].map(days) - in_stage).clip(lower=0) + live["stage"].map(later), unit="D")
        expected = live[close < end]
        actual = expected["opportunity_id"].map(closed_at)
        slipped = actual.isna() | (actual >= end)           # still open at the end of the data, or closed late
        late = (actual[slipped].dropna() - end).dt.total_seconds() / 86400
        rows.append((period_label(start, period), len(expected), int(slipped.sum()),
                     float(slipped.mean()) if len(expected) else np.nan,
                     float(late.median()) if len(late) else np.nan, int(actual[slipped].isna().sum())))
        start = end
    return pd.DataFrame(rows, columns=["period", "expected", "slipped", "slipped_share", "median_slip_days", "still_open"])
