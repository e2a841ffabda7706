"""How strict to qualify: the threshold sweep, the death spiral and the market-size ceiling, in the simulator.

Each experiment replicates scenarios on common random numbers (`sim.replicate_each`), so every threshold
or rule meets the same leads and the differences are paired. Results come back as tidy DataFrames with
95% confidence intervals, ready for the figures in `sim.analysis.strictness_plots`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..model import SimResult
from ..quota import labels
from ..replicate import replicate_each
from ..scenario import Scenario
from ..stats import mean_ci


# ---- scenario changes -----------------------------------------------------------------------------
def qualifying(scenario: Scenario, threshold: float, relax_to: float | None = None, margin: float = 0.2) -> Scenario:
    """`scenario` qualifying at `threshold`; with `relax_to`, reps behind plan by `margin` drop to it."""
    current = scenario.policies.qualification
    policy = {"threshold": threshold, "decline_hours": current.decline_hours if current else 0.5,
              "relax_when_behind": None if relax_to is None else {"threshold": relax_to, "margin": margin}}
    return scenario.replace({"policies.qualification": policy})


def sharper_selling(scenario: Scenario, loss_scale: float) -> Scenario:
    """`scenario` with every stage's loss chance multiplied by `loss_scale` (below 1 = a better sales team)."""
    stages = [s.model_copy(update={"loss_chance": s.loss_chance * loss_scale}) for s in scenario.stages]
    return scenario.replace(stages=stages)


def market_of(scenario: Scenario, accounts: int | None) -> Scenario:
    """`scenario` with `accounts` accounts in the whole market, split by segment share (None = unlimited)."""
    shares = np.array([s.share for s in scenario.segments])
    counts = [None] * len(shares) if accounts is None else [max(1, int(round(accounts * w))) for w in shares / shares.sum()]
    segments = [s.model_copy(update={"accounts": c}) for s, c in zip(scenario.segments, counts)]
    return scenario.replace(segments=segments)


# ---- measures (module level, so process pools can pickle them) -------------------------------------
def plan_measure(result: SimResult) -> dict[str, float]:
    """Headline metrics, the plan (quota x rep-years) and the share of the market's accounts won.

    In an unlimited market the share is of the accounts the team met, since the market has no total.
    """
    out = dict(result.metrics)
    quota = result.scenario.reps.quota
    out["plan"] = quota * out["rep_years"] if quota is not None else np.nan
    sizes = [s.accounts for s in result.scenario.segments]
    market = sum(sizes) if None not in sizes else len(result.tables.accounts)
    out["accounts_won_share"] = float((result.tables.accounts["revenue"] > 0).sum()) / market if market else np.nan
    return out


def spiral_measure(result: SimResult) -> dict[str, float]:
    """Headline metrics, plus per quota period the team's attainment and the share of deals below the bar."""
    out = dict(result.metrics)
    att = result.tables.attainment
    by_period = att.groupby("period", sort=True)[["bookings", "quota"]].sum()
    for period, row in by_period.iterrows():
        out[f"attainment {period}"] = row["bookings"] / row["quota"] if row["quota"] > 0 else np.nan
    policy = result.scenario.policies.qualification
    bar = policy.threshold if policy is not None else 0.0
    opp = result.tables.opportunities
    periods = labels(opp["created_at"], result.scenario.reps.quota_period)
    below = (opp["fit_score"] < bar).groupby(periods.to_numpy()).mean()
    for period, share in below.items():
        out[f"below bar {period}"] = float(share)
    return out


# ---- experiments -----------------------------------------------------------------------------------
def threshold_sweep(scenario: Scenario, thresholds: Sequence[float], n: int = 50, seed: int = 0, **kwargs) -> pd.DataFrame:
    """Replicate `scenario` at each threshold; one row per (threshold, replication) with the run's metrics."""
    scenarios = {f"{t:.4f}": qualifying(scenario, float(t)) for t in thresholds}
    runs = replicate_each(scenarios, n, seed, **kwargs)
    runs.insert(0, "threshold", runs.pop("scenario").astype(float))
    return runs


def by_threshold(runs: pd.DataFrame, metrics: Sequence[str] = ("bookings", "win_rate", "median_cycle_days")) -> pd.DataFrame:
    """Mean and 95% CI of each metric per threshold: columns `<metric>`, `<metric>_low`, `<metric>_high`."""
    rows = []
    for t, group in runs.groupby("threshold", sort=True):
        row = {"threshold": t}
        for m in metrics:
            row[m], row[f"{m}_low"], row[f"{m}_high"] = mean_ci(group[m])
        rows.append(row)
    return pd.DataFrame(rows).set_index("threshold")


def best_threshold(summary: pd.DataFrame, metric: str = "bookings") -> float:
    """The threshold with the highest mean `metric` in a `by_threshold` summary."""
    return float(summary[metric].idxmax())


def death_spiral(
    scenario: Scenario, relax_to: float = 0.0, margin: float = 0.2, n: int = 40, seed: int = 0, **kwargs
) -> pd.DataFrame:
    """Hold the scenario's threshold vs relax it for reps behind plan: per-period attainment, every run."""
    policy = scenario.policies.qualification
    if policy is None or scenario.reps.quota is None:
        raise ValueError("death_spiral needs a scenario with policies.qualification and reps.quota set")
    scenarios = {"hold the line": qualifying(scenario, policy.threshold),
                 "relax when behind": qualifying(scenario, policy.threshold, relax_to, margin)}
    return replicate_each(scenarios, n, seed, measure=spiral_measure, **kwargs)


def per_period(runs: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Mean and 95% CI per scenario and period of the `<prefix> <period>` columns of `death_spiral` runs."""
    rows = []
    for name, group in runs.groupby("scenario", sort=False):
        for col in sorted(c for c in runs.columns if c.startswith(prefix + " ")):
            mean, lo, hi = mean_ci(group[col])
            rows.append({"scenario": name, "period": col[len(prefix) + 1:], "mean": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def market_ceiling(
    scenario: Scenario, loss_scales: Sequence[float], markets: dict[str, int | None], n: int = 30, seed: int = 0, **kwargs
) -> pd.DataFrame:
    """Bookings and plan for each market size x selling skill; one row per run with `market` and `loss_scale`."""
    scenarios, keys = {}, {}
    for market, accounts in markets.items():
        for scale in loss_scales:
            name = f"{market} | {scale:.3f}"
            scenarios[name] = sharper_selling(market_of(scenario, accounts), scale)
            keys[name] = (market, scale)
    runs = replicate_each(scenarios, n, seed, measure=plan_measure, **kwargs)
    runs.insert(0, "market", [keys[s][0] for s in runs["scenario"]])
    runs.insert(1, "loss_scale", [keys[s][1] for s in runs["scenario"]])
    runs["attainment"] = runs["bookings"] / runs["plan"]
    return runs.drop(columns="scenario")


def ceiling_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per market and selling skill: mean win rate, and bookings / plan with its 95% CI."""
    rows = []
    for (market, scale), group in runs.groupby(["market", "loss_scale"], sort=False):
        att, lo, hi = mean_ci(group["attainment"])
        rows.append({"market": market, "loss_scale": scale, "win_rate": group["win_rate"].mean(),
                     "bookings": group["bookings"].mean(), "attainment": att, "attainment_low": lo, "attainment_high": hi})
    return pd.DataFrame(rows)
