"""Principle 05, forecast discipline, in the simulator: forecasting habits (cadence x inclusion rule) on calm
and volatile markets, scored at every horizon with the same accuracy analysis an export gets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..analysis.forecast import accuracy_summary, forecast_accuracy
from ..core.stats import mean_ci, paired_diff_ci
from .simulate import SimResult


WARMUP_DAYS = 182        # a simulation starts with an empty pipeline: judge forecasts from the second half-year on

MEASURE_HORIZONS = (0, 4, 8, 13)

MEASURED = {"mape": "mape", "bias": "bias_pct", "abs_error": "mean_abs_error"}   # measure name -> summary column

def forecast_measure(result: SimResult, horizons: Iterable[int] = MEASURE_HORIZONS) -> dict[str, float]:
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
