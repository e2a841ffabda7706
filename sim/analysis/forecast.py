"""Forecast accuracy: how close each forecast came to what was booked, by horizon, owner and category.

Works on the canonical tables, so the same numbers come out of a CRM's forecast history and of a
simulated run (`sim.policies.forecast.ForecastPolicy`):

- `forecast_accuracy(tables)`: for every finished period and every horizon (weeks before the period
  ended), the forecast the team was holding then (the latest snapshot) against the bookings that came;
  error, absolute percentage error, signed bias; for the team and per owner; per category level
  (closed, + commit = the call, + best case, + pipeline).
- `accuracy_summary(acc)`: MAPE, mean absolute error and signed bias per horizon (or any grouping).

For exports without forecast history, `sim.analysis.snapshots` rebuilds what the pipeline looked like;
`sim.crm.forecasts.read_forecasts` reads a CRM's forecast history file; the simulated experiment of
principle 05 is `sim.experiments.forecast_discipline`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..core.forecast_categories import LADDER, normalise_categories
from ..core.periods import period_bounds
from ..core.schema import require

CALL = "commit"                 # the level a team calls: closed + commit
TEAM = "(team)"
HORIZONS = (0, 1, 2, 4, 8, 13)


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


def scored_source(tables) -> str:
    """What the accuracy on an export scores, in words for its headline: the team's own forecast history when the
    export has one, else a stage-weighted forecast rebuilt from the stage history, or from creation and close
    dates where there is no stage history (one stage: each open deal at the win rate)."""
    if not tables.forecasts.empty:
        return "your team's forecast"
    if tables.stage_history.empty:
        return "a stage-weighted forecast rebuilt from creation and close dates (the export has no stage history)"
    return "a stage-weighted forecast rebuilt from the stage history"


def data_headline(summary: pd.DataFrame, horizon: int = 4, source: str = "the team's forecast") -> str:
    """An `accuracy_summary` by horizon in one sentence: how far off the call was `horizon` weeks out, and which way."""
    if horizon not in summary.index or not summary.loc[horizon, "forecasts"]:
        raise ValueError(f"no finished period has a forecast {horizon} weeks before its end")
    row = summary.loc[horizon]
    way = "promised more than came in" if row["bias_pct"] > 0 else "promised less than came in"
    return (f"{horizon} weeks before quarter end, {source} was off by {row['mape']:.0%} of bookings on average "
            f"over {row['forecasts']:.0f} quarter(s), and {way} (signed bias {row['bias_pct']:+.0%}).")


def levels_used(forecasts: pd.DataFrame, category_names: Mapping[str, str] | None = None) -> list[str]:
    """The ladder levels a forecast table actually holds (a level nobody used would only repeat the one before)."""
    if "category" not in forecasts:
        return [CALL]
    used = set(normalise_categories(forecasts["category"], category_names))
    return [level for level in LADDER if level in used]
