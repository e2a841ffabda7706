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
- `read_forecasts(path)`: a CRM's forecast history file as the `forecasts` table.
- `forecast_scenarios`, `forecast_measure`, `horizon_curves`, `gap_at`, `habit_table`: the simulated
  experiment of principle 05 (forecasting habits on calm and volatile markets) and its summaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import pandas as pd

from .. import schema
from ..schema import require
from ..stats import mean_ci, paired_diff_ci

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
    actual = bookings(tables.opportunities, labels)
    ladder = _ladder(fc[fc["period"].astype(str).isin(labels)].assign(period=lambda d: d["period"].astype(str)))

    held = []   # (period, horizon, as_of of the snapshot held then)
    for label in labels:
        dates = np.sort(ladder.loc[label].index.get_level_values("as_of").unique()) if label in ladder.index else []
        for h in horizons:
            cutoff = bounds[label][1] - pd.Timedelta(weeks=h)
            i = np.searchsorted(dates, np.datetime64(cutoff), side="right")
            if i > 0:
                held.append((label, h, dates[i - 1]))
    columns = ["period", "horizon_weeks", "as_of", "owner", "category", "forecast", "actual"]
    if not held:
        return pd.DataFrame(columns=columns + ["error", "pct_error"])
    picked = pd.DataFrame(held, columns=["period", "horizon_weeks", "as_of"])
    long = ladder.reset_index().melt(id_vars=["period", "as_of", "owner"], var_name="category", value_name="forecast")
    out = picked.merge(long, on=["period", "as_of"]).merge(actual, on=["period", "owner"], how="left")
    out["actual"] = out["actual"].fillna(0.0)
    out["category"] = pd.Categorical(out["category"], LADDER)
    out = out.sort_values(["period", "horizon_weeks", "owner", "category"], key=_team_first, kind="stable")
    out["category"] = out["category"].astype(str)
    out = out[columns].reset_index(drop=True)
    out["error"] = out["forecast"] - out["actual"]
    out["pct_error"] = np.where(out["actual"] > 0, out["error"] / out["actual"].where(out["actual"] > 0), np.nan)
    return out


def _team_first(col: pd.Series) -> pd.Series:
    """Sort key: the team's rows before the owners' (and otherwise natural order)."""
    return col.map(lambda o: (0, "") if o == TEAM else (1, o)) if col.name == "owner" else col


def _ladder(fc: pd.DataFrame) -> pd.DataFrame:
    """Cumulative forecast per ladder level, indexed by (period, as_of, owner), with the team's total.

    The team's total is the sum of the owners' forecasts where a snapshot has them, else its team rows.
    """
    wide = fc.pivot_table(index=["period", "as_of", "owner"], columns="level", values="amount", aggfunc="sum",
                          fill_value=0.0)
    wide = wide.reindex(columns=list(LADDER), fill_value=0.0).cumsum(axis=1)
    wide.columns = list(LADDER)
    owners = wide[wide.index.get_level_values("owner") != TEAM]
    team = owners.groupby(level=["period", "as_of"]).sum()
    if (wide.index.get_level_values("owner") == TEAM).any():
        team = team.combine_first(wide.xs(TEAM, level="owner"))
    team = team.assign(owner=TEAM).set_index("owner", append=True)
    return pd.concat([team, owners]).sort_index()


def accuracy_summary(
    acc: pd.DataFrame, by: Iterable[str] = ("horizon_weeks",), category: str | None = CALL, owner: str | None = TEAM
) -> pd.DataFrame:
    """Mean absolute error, MAPE and signed bias (mean error, mean % error) per group, for one level.

    `category`: the ladder level (default the call), None for all levels (group by ``category`` then).
    `owner`: `TEAM` (default) for the team's forecast, None for every owner's own forecast pooled.
    Positive bias means the forecast promised more than was booked.
    """
    rows = acc if category is None else acc[acc["category"] == category]
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


def pipeline_at(tables, as_of: pd.Timestamp, hist: pd.DataFrame | None = None) -> pd.DataFrame:
    """The deals open at `as_of`, each with the stage it was in then and since when (from the stage history)."""
    opp = tables.opportunities
    hist = stays(tables) if hist is None else hist
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
    was still open at the period's end; `median_slip_days` is how long after the
    period's end slipped deals closed (counting deals still open at the end of the data up to that day).
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
        late = (actual.fillna(max(last, end))[slipped] - end).dt.total_seconds() / 86400
        rows.append((period_label(start, period), len(expected), int(slipped.sum()),
                     float(slipped.mean()) if len(expected) else np.nan,
                     float(late.median()) if len(late) else np.nan))
        start = end
    return pd.DataFrame(rows, columns=["period", "expected", "slipped", "slipped_share", "median_slip_days"])


# ---- replications ---------------------------------------------------------------------------------
WARMUP_DAYS = 182        # a simulation starts with an empty pipeline: judge forecasts from the second half-year on
MEASURE_HORIZONS = (0, 4, 8, 13)
MEASURED = {"mape": "mape", "bias": "bias_pct", "abs_error": "mean_abs_error"}   # measure name -> summary column


def forecast_measure(result, horizons: Iterable[int] = MEASURE_HORIZONS) -> dict[str, float]:
    """Per replication: headline metrics plus the team call's MAPE, signed % bias and mean absolute error
    (``mape_4w``, ``bias_4w``, ``abs_error_4w``...) at a few horizons.

    A picklable `measure` for `sim.replicate_each` (use `functools.partial` for other `horizons`);
    periods of the warm-up half-year are skipped.
    """
    horizons = list(horizons)
    out = dict(result.metrics)
    if result.tables.forecasts.empty:   # no forecast policy: nothing to score
        return out | {f"{k}_{h}w": np.nan for h in horizons for k in MEASURED}
    since = pd.Timestamp(result.scenario.start) + pd.Timedelta(days=WARMUP_DAYS)
    acc = forecast_accuracy(result.tables, horizons, since=since)
    summary = accuracy_summary(acc)
    for h in horizons:
        got = summary.loc[h] if h in summary.index else None
        for key, column in MEASURED.items():
            out[f"{key}_{h}w"] = float(got[column]) if got is not None else np.nan
    return out


# ---- forecast history files -----------------------------------------------------------------------
HISTORY_COLUMNS = {   # canonical column -> headers that CRMs use for it (compared case-insensitively)
    "as_of": ("as_of", "as of", "snapshot date", "as of date", "date", "created date", "forecast date"),
    "period": ("period", "forecast period", "fiscal period", "quarter", "period name"),
    "owner": ("owner", "forecast owner", "opportunity owner", "user", "sales rep", "rep"),
    "category": ("category", "forecast category", "forecast type"),
    "amount": ("amount", "forecast amount", "total amount", "value"),
}


def read_forecasts(path, columns: Mapping[str, str] | None = None, categories: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A CRM's forecast history (one row per snapshot, owner, period and category) as the `forecasts` table.

    Headers are matched to `HISTORY_COLUMNS` (Salesforce's forecast history report uses 'Snapshot Date',
    'Period', 'Owner', 'Forecast Category', 'Amount'); `columns` maps canonical names to your own headers.
    A cell that cannot be read is an error naming the file, row and column; nothing is dropped silently.
    """
    from ..crm import parse

    raw = parse.read_table(path)
    frame, lower = raw.frame, {h.strip().lower(): h for h in raw.frame.columns}
    mapping = {k: (columns or {}).get(k) or next((lower[h] for h in names if h in lower), None)
               for k, names in HISTORY_COLUMNS.items()}
    missing = [k for k in ("as_of", "period", "amount") if mapping[k] is None or mapping[k] not in frame.columns]
    if missing:
        raise parse.ExportError(f"{raw.path.name}: no column for {', '.join(missing)} (headers: "
                                f"{', '.join(frame.columns)}); pass columns={{'as_of': 'your header', ...}}")
    rows = pd.Series(raw.row_numbers(), index=frame.index)
    as_of = parse.parse_dates(frame[mapping["as_of"]])
    amount = parse.parse_amount(frame[mapping["amount"]])
    problems = []
    for col, parsed in (("as_of", as_of), ("amount", amount)):
        bad = parsed.invalid | parsed.values.isna()
        if bad.any():
            shown = ", ".join(f"row {r}: {v!r}" for r, v in zip(rows[bad].head(5), frame.loc[bad, mapping[col]].head(5)))
            problems.append(f"column {mapping[col]!r} ({col}) unreadable or empty at {shown}")
    period = parse.parse_text(frame[mapping["period"]])
    for label in sorted(set(period.dropna())):
        try:
            period_bounds(label)
        except ValueError as err:
            problems.append(f"column {mapping['period']!r}: {err}")
    if problems:
        raise parse.ExportError(f"{raw.path.name}: " + "; ".join(problems))
    out = pd.DataFrame({"as_of": as_of.values, "period": period, "amount": amount.values})
    for col in ("owner", "category"):
        if mapping[col] is not None:
            out[col] = parse.parse_text(frame[mapping[col]])
    if "category" in out:
        out["category"] = normalise_categories(out["category"], categories)
    return schema.validate(schema.conform(out, "forecasts"), "forecasts", raw.path.name)


# ---- experiments: forecasting habits on calm and volatile markets ---------------------------------
SEP = " · "


def forecast_scenarios(base, habits: Mapping[str, tuple[str, str]], markets: Mapping[str, float]) -> dict:
    """One scenario per market and habit, named 'market · habit'.

    `habits` maps a name to (cadence, inclusion); `markets` maps a name to the market volatility.
    """
    return {f"{market}{SEP}{habit}": base.replace({"market.volatility": vol,
                                                    "policies.forecast": {"cadence": cadence, "inclusion": inclusion}})
            for market, vol in markets.items() for habit, (cadence, inclusion) in habits.items()}


def _by_market_habit(runs: pd.DataFrame) -> pd.DataFrame:
    parts = runs["scenario"].str.split(SEP, n=1, expand=True, regex=False)
    return runs.assign(market=parts[0], habit=parts[1])


def horizon_curves(runs: pd.DataFrame, metric: str = "mape") -> pd.DataFrame:
    """Mean and 95% CI of `metric` (columns like ``mape_4w`` from `forecast_measure`) per market, habit, horizon."""
    runs = _by_market_habit(runs)
    found = {c: int(m[1]) for c in runs.columns if (m := re.fullmatch(rf"{metric}_(\d+)w", c))}
    rows = [(market, habit, h, *mean_ci(g[c]))
            for (market, habit), g in runs.groupby(["market", "habit"], sort=False) for c, h in found.items()]
    return pd.DataFrame(rows, columns=["market", "habit", "horizon_weeks", "mean", "ci_low", "ci_high"])


def gap_at(runs: pd.DataFrame, a: str, b: str, metric: str = "mape_4w") -> pd.DataFrame:
    """Per market: mean `metric` of habits `a` and `b` and their paired difference a - b with its 95% CI."""
    runs = _by_market_habit(runs)
    out = {}
    for market, g in runs.groupby("market", sort=False):
        x, y = (g[g["habit"] == h].sort_values("replication")[metric].to_numpy() for h in (a, b))
        diff, lo, hi = paired_diff_ci(x, y)
        out[market] = {"a": np.nanmean(x), "b": np.nanmean(y), "diff": diff, "diff_low": lo, "diff_high": hi}
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("market")


def habit_table(runs: pd.DataFrame, horizon: int = 4) -> pd.DataFrame:
    """Per market and habit (means over replications): MAPE and signed bias `horizon` weeks out,
    review hours per rep and bookings over the run."""
    runs = _by_market_habit(runs)
    g = runs.groupby(["market", "habit"], sort=False)
    return pd.DataFrame({
        f"MAPE {horizon}w": g[f"mape_{horizon}w"].mean(),
        f"bias {horizon}w": g[f"bias_{horizon}w"].mean(),
        "review hours per rep": (runs["forecast_review_hours"] / runs["reps_at_end"]).groupby([runs["market"], runs["habit"]], sort=False).mean(),
        "bookings": g["bookings"].mean(),
    })
