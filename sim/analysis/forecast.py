"""Forecast accuracy: how close each forecast came to what was booked, by horizon, owner and category.

Works on the canonical tables, so the same numbers come out of a CRM's forecast history and of a
simulated run (`sim.forecasting.ForecastPolicy`):

- `forecast_accuracy(tables)`: for every finished period and every horizon (weeks before the period
  ended), the forecast the team was holding then (the latest snapshot) against the bookings that came;
  error, absolute percentage error, signed bias; for the team and per owner; per category level
  (closed, + commit = the call, + best case, + pipeline).
- `accuracy_summary(acc)`: MAPE, mean absolute error and signed bias per horizon (or any grouping).
- `rebuild_snapshots(tables)`: for exports without forecast history, what the pipeline looked like at
  each past date (from the stage history) and what a stage-weighted forecast would have said.
- `slippage(tables)`: how often and how far deals expected in a period closed after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import pandas as pd

from .. import schema
from ..schema import require

LADDER = ("closed", "commit", "best case", "pipeline")
CALL = "commit"                 # the level a team calls: closed + commit
TEAM = "(team)"
HORIZONS = (0, 1, 2, 4, 8, 13)
SYNONYMS = {
    "closed won": "closed", "won": "closed", "closed": "closed",
    "commit": "commit", "committed": "commit", "forecast": "commit",
    "best case": "best case", "bestcase": "best case", "upside": "best case",
    "pipeline": "pipeline", "open": "pipeline",
    "omitted": "omitted", "closed lost": "omitted", "lost": "omitted",
}


# ---- periods and categories -----------------------------------------------------------------------
_QUARTER = re.compile(r"^\s*(?:FY)?(\d{4})\s*-?\s*Q([1-4])\s*$", re.I)
_QUARTER_FIRST = re.compile(r"^\s*Q([1-4])\s*[- ]?\s*(?:FY)?(\d{4})\s*$", re.I)
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


def period_bounds(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day and the day after the last of a period label: '2026-Q1', '2026Q1', 'Q1 2026' or '2026-01'."""
    text = str(label)
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
    elif m := _QUARTER_FIRST.match(text):
        year, q = int(m[2]), int(m[1])
    elif m := _MONTH.match(text):
        start = pd.Timestamp(int(m[1]), int(m[2]), 1)
        return start, start + pd.DateOffset(months=1)
    else:
        raise ValueError(f"forecasts: period {label!r} is not a period this analysis reads; "
                         "use quarters like '2026-Q1' or months like '2026-01'")
    start = pd.Timestamp(year, 3 * q - 2, 1)
    return start, start + pd.DateOffset(months=3)


def period_label(when: pd.Timestamp, kind: Literal["quarter", "month"] = "quarter") -> str:
    """'2026-Q1' for a quarter, '2026-01' for a month (the labels the simulator writes)."""
    return f"{when.year}-Q{(when.month - 1) // 3 + 1}" if kind == "quarter" else f"{when.year}-{when.month:02d}"


def normalise_categories(categories: pd.Series, mapping: Mapping[str, str] | None = None) -> pd.Series:
    """CRM forecast categories to the ladder names (closed, commit, best case, pipeline, omitted).

    Case, spaces and underscores do not matter; `mapping` adds a team's own names. An unknown name is
    an error that lists it, so no forecast amount is silently dropped.
    """
    table = {**SYNONYMS, **{k.lower(): v for k, v in (mapping or {}).items()}}
    key = categories.fillna("pipeline").astype(str).str.strip().str.lower().str.replace(r"[_\s]+", " ", regex=True)
    out = key.map(table)
    unknown = sorted(set(key[out.isna()]))
    if unknown:
        raise ValueError(f"forecasts: unknown category {', '.join(map(repr, unknown))}; known are "
                         f"{', '.join(sorted(set(table)))} (pass mapping={{'yours': 'commit'}} to name your own)")
    return out


# ---- actuals and accuracy -------------------------------------------------------------------------
def data_end(tables) -> pd.Timestamp:
    """The last moment the tables know about (the latest date in any of them)."""
    dates = [tables.opportunities.get(c) for c in ("created_at", "closed_at")]
    dates += [tables.stage_history.get(c) for c in ("entered_at", "exited_at")]
    dates.append(tables.forecasts.get("as_of"))
    stamps = [s.max() for s in dates if s is not None and s.notna().any()]
    return max(stamps) if stamps else pd.NaT


def bookings(opportunities: pd.DataFrame, periods: Iterable[str]) -> pd.DataFrame:
    """Won amount per period and owner (owner `TEAM` for the whole team): the actuals a forecast meets."""
    require(opportunities, ["outcome", "closed_at", "amount"], "forecast accuracy")
    won = opportunities[opportunities["outcome"] == "won"]
    owner = won["owner"] if "owner" in won else pd.Series(None, index=won.index, dtype=object)
    rows = []
    for label in periods:
        start, end = period_bounds(label)
        inside = won[(won["closed_at"] >= start) & (won["closed_at"] < end)]
        rows.append((label, TEAM, float(inside["amount"].sum())))
        for name, amount in inside.groupby(owner[inside.index].fillna(TEAM))["amount"].sum().items():
            if name != TEAM:
                rows.append((label, name, float(amount)))
    return pd.DataFrame(rows, columns=["period", "owner", "actual"])


def forecast_accuracy(
    tables,
    horizons: Iterable[int] = HORIZONS,
    since: str | pd.Timestamp | None = None,
    category_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Each finished period's forecast at each horizon against its bookings; one row per owner and level.

    The forecast at horizon h is the latest snapshot taken at least h weeks before the period ended: the
    number the team was holding then (a quarterly cadence holds its quarter-start number all quarter).
    Levels are cumulative: ``closed``, ``commit`` (closed + commit: the call), ``best case``,
    ``pipeline``. Owner `TEAM` is the whole team. `since`: only periods starting on or after this date
    (skip a simulation's warm-up). Periods that had not ended by the last date in the data are left out.
    """
    fc = tables.forecasts
    require(fc, ["as_of", "period", "amount"], "forecast accuracy")
    fc = fc.assign(level=normalise_categories(fc["category"] if "category" in fc else pd.Series("commit", index=fc.index),
                                              category_names))
    fc = fc.assign(owner=fc["owner"].fillna(TEAM) if "owner" in fc else TEAM)
    end_of_data = data_end(tables)
    labels = sorted(set(fc["period"].astype(str)), key=lambda p: period_bounds(p)[0])
    bounds = {p: period_bounds(p) for p in labels}
    floor = pd.Timestamp(since) if since is not None else pd.Timestamp.min
    labels = [p for p in labels if bounds[p][1] <= end_of_data + pd.Timedelta(days=1) and bounds[p][0] >= floor]
    actual = bookings(tables.opportunities, labels).set_index(["period", "owner"])["actual"]

    rows = []
    for label in labels:
        snaps = fc[fc["period"].astype(str) == label]
        for h in horizons:
            cutoff = bounds[label][1] - pd.Timedelta(weeks=h)
            held = snaps[snaps["as_of"] <= cutoff]
            if held.empty:
                continue
            as_of = held["as_of"].max()
            rows.extend(_levels(held[held["as_of"] == as_of], label, h, as_of, actual))
    out = pd.DataFrame(rows, columns=["period", "horizon_weeks", "as_of", "owner", "category", "forecast", "actual"])
    out["error"] = out["forecast"] - out["actual"]
    out["pct_error"] = np.where(out["actual"] > 0, out["error"] / out["actual"].where(out["actual"] > 0), np.nan)
    return out


def _levels(snapshot: pd.DataFrame, label: str, h: int, as_of, actual: pd.Series) -> list[tuple]:
    """Cumulative forecast per ladder level, per owner and for the team, of one snapshot."""
    by = snapshot.groupby(["owner", "level"])["amount"].sum().unstack(fill_value=0.0)
    by = by.reindex(columns=list(LADDER), fill_value=0.0).cumsum(axis=1)
    owners = [o for o in by.index if o != TEAM]
    team = by.loc[owners].sum() if owners else by.loc[TEAM]
    rows = []
    for owner, levels in [(TEAM, team), *((o, by.loc[o]) for o in owners)]:
        got = float(actual.get((label, owner), 0.0))
        rows.extend((label, h, as_of, owner, level, float(levels[level]), got) for level in LADDER)
    return rows


def accuracy_summary(
    acc: pd.DataFrame, by: Iterable[str] = ("horizon_weeks",), category: str = CALL, owner: str | None = TEAM
) -> pd.DataFrame:
    """Mean absolute error, MAPE and signed bias (mean error, mean % error) per group, for one level.

    `owner`: `TEAM` (default) for the team's forecast, None for every owner's own forecast pooled.
    Positive bias means the forecast promised more than was booked.
    """
    rows = acc[acc["category"] == category]
    rows = rows[rows["owner"] == owner] if owner is not None else rows[rows["owner"] != TEAM]
    grouped = rows.groupby(list(by))
    return pd.DataFrame({
        "forecasts": grouped.size(),
        "mean_abs_error": grouped["error"].apply(lambda e: e.abs().mean()),
        "mape": grouped["pct_error"].apply(lambda e: e.abs().mean()),
        "bias": grouped["error"].mean(),
        "bias_pct": grouped["pct_error"].mean(),
    })


# ---- pipeline snapshots rebuilt from the stage history --------------------------------------------
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
    require(tables.stage_history, ["opportunity_id", "stage", "entered_at"], "stage-weighted forecast")
    outcome = tables.opportunities.set_index("opportunity_id")["outcome"]
    hist = tables.stage_history.assign(outcome=tables.stage_history["opportunity_id"].map(outcome))
    closed = hist[hist["outcome"].isin(["won", "lost"])].drop_duplicates(["opportunity_id", "stage"])
    rates = closed.groupby("stage")["outcome"].apply(lambda o: (o == "won").mean())
    return rates.reindex(stage_order(tables.stage_history))


def _median_stage_days(hist: pd.DataFrame, order: list[str]) -> tuple[pd.Series, pd.Series]:
    """Median days per stay in each stage, and the median days of all the stages after it."""
    done = hist.dropna(subset=["exited_at"])
    days = ((done["exited_at"] - done["entered_at"]).dt.total_seconds() / 86400).groupby(done["stage"]).median()
    days = days.reindex(order).fillna(0.0)
    later = days[::-1].cumsum()[::-1].shift(-1, fill_value=0.0)
    return days, later


def pipeline_at(tables, as_of: pd.Timestamp) -> pd.DataFrame:
    """The deals open at `as_of`, each with the stage it was in then and since when (from the stage history)."""
    opp, hist = tables.opportunities, tables.stage_history
    live = hist[(hist["entered_at"] <= as_of) & (hist["exited_at"].isna() | (hist["exited_at"] > as_of))]
    live = live.sort_values("entered_at").drop_duplicates("opportunity_id", keep="last")
    info = opp.set_index("opportunity_id")
    open_now = info["closed_at"].isna() | (info["closed_at"] > as_of)
    live = live[live["opportunity_id"].map(open_now).fillna(False).astype(bool)]
    return live.assign(
        owner=live["opportunity_id"].map(info["owner"]) if "owner" in info else None,
        amount=live["opportunity_id"].map(info["amount"]) if "amount" in info else np.nan,
    )


def review_dates(start: pd.Timestamp, end: pd.Timestamp, cadence: str = "weekly") -> pd.DatetimeIndex:
    """Review dates from `start` to `end`: every 7 days, or every month / quarter start."""
    if cadence == "weekly":
        return pd.date_range(start.normalize(), end, freq="7D")
    freq = {"monthly": "MS", "quarterly": "QS", "yearly": "YS"}[cadence]
    return pd.date_range(start.normalize(), end, freq=freq)


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
    opp, hist = tables.opportunities, tables.stage_history
    require(opp, ["opportunity_id", "outcome", "created_at", "closed_at", "amount"], "rebuilt forecast")
    require(hist, ["opportunity_id", "stage", "entered_at"], "rebuilt forecast")
    order = stage_order(hist)
    prob = pd.Series(probabilities) if probabilities is not None else stage_win_rates(tables)
    prob = prob.reindex(order).fillna(0.0)
    days, later = _median_stage_days(hist, order)
    owners = opp["owner"].fillna(TEAM) if "owner" in opp else pd.Series(TEAM, index=opp.index)
    won = opp[opp["outcome"] == "won"].assign(owner=owners)

    first = period_bounds(period_label(opp["created_at"].min(), period))[0]
    rows = []
    for as_of in review_dates(first, data_end(tables), cadence):
        live = pipeline_at(tables, as_of)
        in_stage = (as_of - live["entered_at"]).dt.total_seconds() / 86400
        close = as_of + pd.to_timedelta(
            (live["stage"].map(days) - in_stage).clip(lower=0) + live["stage"].map(later), unit="D")
        live = live.assign(owner=live["owner"].fillna(TEAM), close=close, p=live["stage"].map(prob).fillna(0.0))
        now_label = period_label(as_of, period)
        nxt_label = period_label(period_bounds(now_label)[1], period)
        for label in (now_label, nxt_label):
            start, end = period_bounds(label)
            due = live[(live["close"] >= start) & (live["close"] < end)]
            booked = won[(won["closed_at"] >= start) & (won["closed_at"] < end) & (won["closed_at"] <= as_of)]
            for owner in sorted(set(owners)):
                mine, got = due[due["owner"] == owner], booked[booked["owner"] == owner]
                weighted = float((mine["amount"] * mine["p"]).sum())
                rows += [(as_of, label, owner, "closed", float(got["amount"].sum())),
                         (as_of, label, owner, "commit", weighted),
                         (as_of, label, owner, "pipeline", float(mine["amount"].sum()) - weighted)]
    df = pd.DataFrame(rows, columns=["as_of", "period", "owner", "category", "amount"])
    df["owner"] = df["owner"].where(df["owner"] != TEAM, None)
    return schema.conform(df, "forecasts")


def slippage(tables, period: Literal["quarter", "month"] = "quarter") -> pd.DataFrame:
    """Per period: deals expected (at its start) to close in it, how many slipped out, and how far.

    A deal slips when it was still open at the period's end; `median_slip_days` is how long after the
    period's end slipped deals closed (counting deals still open at the end of the data up to that day).
    The expected close is rebuilt from the stage history as in `rebuild_snapshots`.
    """
    opp, hist = tables.opportunities, tables.stage_history
    require(opp, ["opportunity_id", "closed_at", "created_at"], "close-date slippage")
    require(hist, ["opportunity_id", "stage", "entered_at"], "close-date slippage")
    order = stage_order(hist)
    days, later = _median_stage_days(hist, order)
    closed_at = opp.set_index("opportunity_id")["closed_at"]
    last = data_end(tables)
    rows = []
    start = pd.Timestamp(period_bounds(period_label(opp["created_at"].min(), period))[1])
    while True:
        end = period_bounds(period_label(start, period))[1]
        if end > last:
            break
        live = pipeline_at(tables, start)
        in_stage = (start - live["entered_at"]).dt.total_seconds() / 86400
        close = start + pd.to_timedelta((live["stage"].map(days) - in_stage).clip(lower=0) + live["stage"].map(later), unit="D")
        expected = live[close < end]
        actual = expected["opportunity_id"].map(closed_at).fillna(last)
        slipped = actual >= end
        late = (actual[slipped] - end).dt.total_seconds() / 86400
        rows.append((period_label(start, period), len(expected), int(slipped.sum()),
                     float(slipped.mean()) if len(expected) else np.nan,
                     float(late.median()) if len(late) else np.nan))
        start = end
    return pd.DataFrame(rows, columns=["period", "expected", "slipped", "slipped_share", "median_slip_days"])


# ---- replications ---------------------------------------------------------------------------------
WARMUP_DAYS = 182        # a simulation starts with an empty pipeline: judge forecasts from the second half-year on
MEASURE_HORIZONS = (0, 4, 8, 13)
MEASURED = {"mape": "mape", "bias": "bias_pct", "abs_error": "mean_abs_error"}   # measure name -> summary column


def forecast_measure(result) -> dict[str, float]:
    """Per replication: headline metrics plus the team call's MAPE, signed % bias and mean absolute error
    (``mape_4w``, ``bias_4w``, ``abs_error_4w``...) at a few horizons.

    A picklable `measure` for `sim.replicate_each`; periods of the warm-up half-year are skipped.
    """
    out = dict(result.metrics)
    if result.tables.forecasts.empty:   # no forecast policy: nothing to score
        return out | {f"{k}_{h}w": np.nan for h in MEASURE_HORIZONS for k in MEASURED}
    since = pd.Timestamp(result.scenario.start) + pd.Timedelta(days=WARMUP_DAYS)
    acc = forecast_accuracy(result.tables, MEASURE_HORIZONS, since=since)
    summary = accuracy_summary(acc)
    for h in MEASURE_HORIZONS:
        got = summary.loc[h] if h in summary.index else None
        for key, column in MEASURED.items():
            out[f"{key}_{h}w"] = float(got[column]) if got is not None else np.nan
    return out
