"""Principle 02, customer orbits, in the simulator: acquisition-only against whole-orbit allocation, the cost
ratio over referral rate x churn rate, and where the claim stops holding.

Every scenario runs the `OrbitAllocation` policy (``policies.orbits``); the allocations differ only in how
the same marketing money and the same reps' hours are spread, so runs pair on common random numbers. Cost of
sales comes from the run's tables (`sim.analysis.orbits.cost_of_sales`): all money spent plus every paid rep
hour at the fully loaded rep cost, per new customer (referred accounts count) and per booked currency unit
(expansions count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..analysis.orbits import cost_of_sales
from ..core.stats import mean_ci, paired_diff_ci
from ..scenario import Scenario
from .remain_aggressive import Costs
from .replicate import replicate_each
from .simulate import SimResult

ACQUISITION, WHOLE = "acquisition-only", "whole-orbit"
METRIC = "cost_per_new_customer"


def hourly_cost(scenario: Scenario, rep_per_year: float = Costs().rep_per_year) -> float:
    """A rep's fully loaded cost per paid selling hour (the yearly cost of principle 04 over the selling hours)."""
    return rep_per_year / (scenario.reps.selling_hours_per_week * 365.25 / 7)


def orbiting(scenario: Scenario, allocation: str | None = None, **model: object) -> Scenario:
    """`scenario` with the orbits on (the engine's plain repeat business and referrals off), its allocation
    set and any `OrbitModel` fields changed (``churn_per_year=0.3``)."""
    current = scenario.policies.orbits
    policy = current.model_dump(mode="python") if current is not None else {}
    if allocation is not None:
        policy["allocation"] = allocation
    if model:
        policy["model"] = {**policy.get("model", {}), **model}
    return scenario.replace({"accounts.repeat_per_year": 0.0, "accounts.referrals_per_year": 0.0,
                             "policies.orbits": policy})


def allocations(scenario: Scenario, **model: object) -> dict[str, Scenario]:
    """The what-if: the same money and reps spent on acquisition only, and over the whole orbit."""
    return {ACQUISITION: orbiting(scenario, "acquisition", **model), WHOLE: orbiting(scenario, "whole", **model)}


def orbit_measure(result: SimResult) -> dict[str, float]:
    """Headline metrics plus cost of sales from the run's `costs` and `opportunities` tables."""
    out = dict(result.metrics)
    out.update(cost_of_sales(result.tables.costs, result.tables.opportunities, hourly_cost(result.scenario),
                             existing_sources=(result.scenario.accounts.repeat_source,)))
    return out


def recost(runs: pd.DataFrame, hourly: float) -> pd.DataFrame:
    """The runs' cost of sales again at another hourly rep cost (from their money, paid hours, new customers
    and bookings), so a notebook's rep cost applies without running again."""
    cost = runs["marketing"] + hourly * runs["rep_hours"]
    return runs.assign(cost=cost, cost_per_new_customer=cost / runs["new_customers"].where(runs["new_customers"] > 0),
                       cost_per_booked=cost / runs["bookings"].where(runs["bookings"] > 0))


def run(scenarios: Mapping[str, Scenario], n: int = 8, seed: int = 0, **kwargs) -> pd.DataFrame:
    """Replicate each scenario on common seeds; one row per run with cost of sales and the headline metrics."""
    return replicate_each(scenarios, n, seed, measure=orbit_measure, **kwargs)


def compare(runs: pd.DataFrame, metric: str = METRIC, a: str = WHOLE, b: str = ACQUISITION) -> dict[str, float]:
    """`a` against `b` on `metric`: both means, the paired difference a - b with its 95% CI, and the ratio a / b."""
    x, y = (runs[runs["scenario"] == s].sort_values("replication")[metric].to_numpy() for s in (a, b))
    d, lo, hi = paired_diff_ci(x, y)
    return {"a": float(np.nanmean(x)), "b": float(np.nanmean(y)), "diff": d, "diff_low": lo, "diff_high": hi,
            "ratio": float(np.nanmean(x) / np.nanmean(y))}


def summary(runs: pd.DataFrame, metrics: Sequence[str] = (METRIC, "cost_per_booked", "new_customers", "bookings",
                                                          "marketing", "customers_churned", "referral_leads",
                                                          "rep_utilisation")) -> pd.DataFrame:
    """Per allocation and metric: mean with its 95% CI."""
    rows = []
    for name, g in runs.groupby("scenario", sort=False):
        for m in metrics:
            mean, lo, hi = mean_ci(g[m])
            rows.append({"scenario": name, "metric": m, "mean": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows).pivot(index="metric", columns="scenario", values="mean").reindex(list(metrics))


# ---- the cost ratio over referral rate x churn rate --------------------------------------------------
def grid(scenario: Scenario, referral_rates: Sequence[float], churn_rates: Sequence[float], n: int = 2,
         seed: int = 0, **kwargs) -> pd.DataFrame:
    """Both allocations at every (referral rate, churn rate); one row per run with the two rates as columns."""
    scenarios, keys = {}, {}
    for r in referral_rates:
        for c in churn_rates:
            for name, sc in allocations(scenario, referrals_per_year=float(r), churn_per_year=float(c)).items():
                label = f"{name} r={r:g} c={c:g}"
                scenarios[label], keys[label] = sc, (name, float(r), float(c))
    runs = run(scenarios, n=n, seed=seed, **kwargs)
    parts = pd.DataFrame([keys[s] for s in runs["scenario"]], columns=["allocation", "referral_rate", "churn_rate"])
    return pd.concat([runs.reset_index(drop=True), parts], axis=1)


def ratios(runs: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per replication and cell: whole-orbit / acquisition-only `metric` (same seed, so paired)."""
    wide = runs.pivot_table(index=["referral_rate", "churn_rate", "replication"], columns="allocation", values=metric)
    return (wide[WHOLE] / wide[ACQUISITION]).rename("ratio").reset_index()


def ratio_table(runs: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """The cost ratio per cell (rows: churn rate, columns: referral rate): mean whole-orbit cost over mean
    acquisition-only cost."""
    means = runs.groupby(["referral_rate", "churn_rate", "allocation"])[metric].mean().unstack("allocation")
    return (means[WHOLE] / means[ACQUISITION]).unstack("referral_rate")


def direction(runs: pd.DataFrame, metric: str = METRIC) -> dict[str, tuple[float, float, float]]:
    """How the ratio moves along each axis of the grid, with paired 95% CIs over replications.

    Each axis is read where the other does not mask it: ``referral`` is the ratio at the highest referral
    rate minus at the lowest, at the lowest churn rate (customers stay long enough to refer); ``churn`` is the
    ratio at the highest churn rate minus at the lowest, at the highest referral rate (referrals are what
    whole-orbit money buys there).
    """
    r = ratios(runs, metric)
    out = {}
    for axis, other, at in (("referral_rate", "churn_rate", "min"), ("churn_rate", "referral_rate", "max")):
        line = r[r[other] == getattr(r[other], at)()]
        per = line.pivot(index="replication", columns=axis, values="ratio")
        out[axis.split("_")[0]] = paired_diff_ci(per[per.columns.max()].to_numpy(), per[per.columns.min()].to_numpy())
    return out


# ---- where it holds ----------------------------------------------------------------------------------
def across(scenario: Scenario, field: str, values: Sequence[float], n: int = 4, seed: int = 0,
           hourly: float | None = None, **kwargs) -> pd.DataFrame:
    """The allocation what-if at each value of a scenario `field` (dotted path, e.g. 'market.leads_per_month'):
    per value, both costs per new customer (at `hourly` rep cost, default the fully loaded rep), the paired
    difference with its 95% CI, the ratio, and each allocation's rep utilisation."""
    scenarios, keys = {}, {}
    for v in values:
        for name, sc in allocations(scenario.replace({field: v})).items():
            scenarios[f"{name} {v:g}"], keys[f"{name} {v:g}"] = sc, (name, v)
    runs = run(scenarios, n=n, seed=seed, **kwargs)
    if hourly is not None:
        runs = recost(runs, hourly)
    runs[["allocation", "value"]] = pd.DataFrame([keys[s] for s in runs["scenario"]], index=runs.index)
    rows = []
    for v in values:
        part = runs[runs["value"] == v].assign(scenario=lambda d: d["allocation"])
        c = compare(part)
        util = part.groupby("allocation")["rep_utilisation"].mean()
        rows.append({field: v, "acquisition_only": c["b"], "whole_orbit": c["a"], "ratio": c["ratio"],
                     "diff": c["diff"], "diff_low": c["diff_low"], "diff_high": c["diff_high"],
                     "utilisation_acquisition_only": util[ACQUISITION], "utilisation_whole_orbit": util[WHOLE]})
    return pd.DataFrame(rows).set_index(field)
