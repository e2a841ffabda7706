"""Principle 05, forecast discipline, in the simulator: forecasting habits (cadence x inclusion rule) on calm
and volatile markets, scored at every horizon with the same accuracy analysis an export gets."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ..analysis.forecast import accuracy_summary, forecast_accuracy
from ..core import schema
from ..core.stats import mean_ci, paired_diff_ci, verdict
from ..core.tables import Tables
from ..scenario import Scenario
from .replicate import replicate_each, scenario_key
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

RULE_SEP = "\t"     # between an inclusion rule and a measured name in `replicate_forecasts`' own runs


def replicate_forecasts(scenarios: Mapping[str, Scenario], n: int, seed: int = 0,
                        measure: Callable[[SimResult], Mapping[str, float]] = forecast_measure, **kwargs) -> pd.DataFrame:
    """`sim.replicate_each(scenarios, n, seed, measure=measure)` with one run for the scenarios that differ only in
    their forecast's inclusion rule: the same rows, in the same order, with the same numbers.

    A rule changes the call written, never a deal (`ForecastPolicy.also_score`), so each such group is run once
    with its other rules scored beside the first: notebook 05's grid of five habits on two cadences is two runs per
    market and seed instead of five. `n` is a fixed count (with `n="auto"` use `replicate_each`)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise ValueError(f"n: {n!r} is not allowed here, must be a number of replications (use sim.replicate_each "
                         "for n='auto')")
    groups: dict[str, list[str]] = {}
    for name, sc in scenarios.items():
        groups.setdefault(_run_key(sc), []).append(name)
    runners: dict[str, Scenario] = {}
    ran_as: dict[str, tuple[str, str]] = {}      # scenario -> (the run it is read from, its rule there)
    for names in groups.values():
        first = scenarios[names[0]]
        rules = list(dict.fromkeys(_rule(scenarios[name]) for name in names))
        runners[names[0]] = first.replace({"policies.forecast.also_score": rules[1:]}) if len(rules) > 1 else first
        ran_as.update({name: (names[0], _rule(scenarios[name])) for name in names})
    by_rule = functools.partial(_measured_by_rule, measure=measure)
    runs = replicate_each(runners, n, seed, measure=by_rule, **kwargs)
    by_runner = {runner: part.drop(columns="scenario").to_dict("records")
                 for runner, part in runs.groupby("scenario", sort=False)}
    rows = [{"scenario": name, **_for_rule(row, ran_as[name][1])} for name in scenarios
            for row in by_runner[ran_as[name][0]]]
    return pd.DataFrame(rows)


def _rule(scenario: Scenario) -> str:
    """The inclusion rule of the scenario's forecast ("-": it does not forecast)."""
    policy = getattr(scenario.policies, "forecast", None)
    return "-" if policy is None else policy.inclusion


def _run_key(scenario: Scenario) -> str:
    """What a run of `scenario` depends on: every field but its name and its forecast's inclusion rule."""
    if _rule(scenario) == "-":
        return scenario_key(scenario)
    return scenario_key(scenario.replace({"policies.forecast.inclusion": "stage_weighted",
                                          "policies.forecast.also_score": []}))


def _for_rule(row: Mapping[str, float], rule: str) -> dict[str, float]:
    """A row of `_measured_by_rule`'s runs as `rule`'s scenario reads it: its own ``rule<TAB>name`` columns by name,
    and the run's columns without a rule (the replication, `with_metrics`); other rules' columns left out."""
    out = {}
    for column, value in row.items():
        of, sep, key = column.partition(RULE_SEP)
        if not sep:
            out[column] = value
        elif of == rule:
            out[key] = value
    return out


def _measured_by_rule(result: SimResult, measure: Callable[[SimResult], Mapping[str, float]]) -> dict[str, float]:
    """`measure` of the run under its forecast's own rule and under each rule of `also_score`, the latter read from
    the `forecast_calls` table as the `forecasts` a run with that rule writes; keys are ``rule<TAB>name``."""
    out = {f"{_rule(result.scenario)}{RULE_SEP}{k}": v for k, v in measure(result).items()}
    policy = getattr(result.scenario.policies, "forecast", None)
    if policy is None or not policy.also_score:
        return out
    calls = result.tables.forecast_calls
    for rule in policy.also_score:
        own = calls[calls["rule"] == rule].drop(columns="rule").reset_index(drop=True)
        seen = Tables(**(dict(result.tables.items()) | {"forecasts": schema.conform(own, "forecasts")}))
        got = measure(SimResult(result.scenario, result.seed, result.metrics, tables=seen))
        out.update({f"{rule}{RULE_SEP}{k}": v for k, v in got.items()})
    return out


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


# ---- the grid: horizon x market x cadence x inclusion -------------------------------------------------
GRID_HORIZONS = (13, 8, 4, 2)
HABITS = {   # cadence and inclusion separated (a 2 x 2), plus the rep's own judgement
    "quarterly, stage-weighted": ("quarterly", "stage_weighted"),
    "quarterly, evidence-gated": ("quarterly", "evidence_gated"),
    "weekly, stage-weighted": ("weekly", "stage_weighted"),
    "weekly, evidence-gated": ("weekly", "evidence_gated"),
    "weekly, rep judgement": ("weekly", "rep_judgement"),
}
CONTRASTS = {   # name -> (a, b): the paired difference a - b isolates one change
    "review weekly instead of quarterly (stage-weighted both)": ("weekly, stage-weighted", "quarterly, stage-weighted"),
    "gate on evidence instead of stage weights (weekly both)": ("weekly, evidence-gated", "weekly, stage-weighted"),
    "both: weekly evidence-gated vs quarterly stage-weighted": ("weekly, evidence-gated", "quarterly, stage-weighted"),
}
NO_TRUTH = {"truth": {"on_budget": 0.0, "on_power": 0.0, "on_competitor": 0.0}}   # the evidence decides nothing


def grid_table(runs: pd.DataFrame, horizons: Iterable[int] = GRID_HORIZONS, metric: str = "mape") -> pd.DataFrame:
    """Mean `metric` (``mape`` or ``bias``) per market and habit (rows) and weeks before quarter end (columns)."""
    runs = _by_market_habit(runs)
    g = runs.groupby(["market", "habit"], sort=False)
    return pd.DataFrame({f"{h} weeks": g[f"{metric}_{h}w"].mean() for h in horizons})


def contrasts(runs: pd.DataFrame, pairs: Mapping[str, tuple[str, str]] = CONTRASTS,
              horizons: Iterable[int] = GRID_HORIZONS, metric: str = "mape") -> pd.DataFrame:
    """Per contrast, market and horizon: the paired difference a - b in `metric` with its 95% CI.

    Negative MAPE differences mean `a` was closer to what was booked. ``verdict`` reads the interval:
    "a closer", "a further off", or "not shown" when it includes zero.
    """
    runs = _by_market_habit(runs)
    rows = []
    for name, (a, b) in pairs.items():
        for market, g in runs.groupby("market", sort=False):
            if not {a, b} <= set(g["habit"]):
                continue
            for h in horizons:
                x, y = (g[g["habit"] == k].sort_values("replication")[f"{metric}_{h}w"].to_numpy() for k in (a, b))
                diff, lo, hi = paired_diff_ci(x, y)
                rows.append({"contrast": name, "market": market, "weeks": h, "diff": diff, "diff_low": lo,
                             "diff_high": hi, "verdict": verdict(lo, hi, below="closer", above="further off")})
    return pd.DataFrame(rows).set_index(["contrast", "market", "weeks"])


def where_it_holds(table: pd.DataFrame, contrast: str) -> str:
    """One sentence per market from `contrasts`: at which horizons `a` was closer, further off, or not shown."""
    parts = []
    for market, g in table.loc[contrast].groupby(level="market", sort=False):
        g = g.droplevel("market")
        said = [f"{word} at {', '.join(str(w) for w in weeks)} weeks"
                for word in ("closer", "not shown", "further off")
                if (weeks := list(g.index[g["verdict"] == word]))]
        parts.append(f"{market}: {'; '.join(said)}")
    return f"{contrast}: " + ". ".join(parts) + "."


def grid_headline(runs: pd.DataFrame, a: str = "weekly, evidence-gated", b: str = "quarterly, stage-weighted") -> str:
    """The article's habit against the usual one, where it helps most (volatile, 4 weeks out) and where it
    reverses (calm, 13 weeks out), each a paired MAPE difference with its 95% CI."""
    table = contrasts(runs, {"x": (a, b)}, horizons=(4, 13)).loc["x"]
    means = grid_table(runs, horizons=(4, 13))
    v, c = table.loc[("volatile", 4)], table.loc[("calm", 13)]

    def ci(row) -> str:
        return f"{row['diff']:+.0%}, 95% CI {row['diff_low']:+.0%} to {row['diff_high']:+.0%}"

    name_a, name_b = a.replace(", ", " "), b.replace(", ", " ")
    return (f"Volatile market, 4 weeks before quarter end: the {name_a} call was off by "
            f"{means.loc[('volatile', a), '4 weeks']:.0%} against {means.loc[('volatile', b), '4 weeks']:.0%} for the "
            f"{name_b} one ({ci(v)}); at the quarter's start (13 weeks) in a calm market it was further off ({ci(c)}).")
