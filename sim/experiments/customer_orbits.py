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

from ..analysis.orbits import cost_of_sales, flows, occupancy
from ..analysis.plots import interval_rows, new_figure
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


def headline(result: dict[str, float], currency: str = "USD") -> str:
    """One sentence: cost per new customer under each allocation, the ratio and the paired 95% CI."""
    return (f"Spreading the same money and rep hours over the whole orbit costs {result['a']:,.0f} {currency} per new "
            f"customer against {result['b']:,.0f} for acquisition only: {result['ratio']:.0%} of the cost "
            f"(difference {result['diff']:,.0f}, 95% CI {result['diff_low']:,.0f} to {result['diff_high']:,.0f}).")


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


def heatmap_figure(table: pd.DataFrame, level: float = 0.5):
    """The cost ratio over referral rate x churn rate, the `level` contour drawn where the ratio crosses it."""
    fig, ax = new_figure(figsize=(7.5, 5.2))
    x, y, z = table.columns.to_numpy(float), table.index.to_numpy(float), table.to_numpy(float)
    mesh = ax.pcolormesh(np.arange(len(x) + 1), np.arange(len(y) + 1), z, cmap="RdYlGn_r", vmin=min(0.4, np.nanmin(z)),
                         vmax=max(1.2, np.nanmax(z)), shading="flat")
    for i in range(len(y)):
        for j in range(len(x)):
            ax.text(j + 0.5, i + 0.5, f"{z[i, j]:.2f}", ha="center", va="center", fontsize=9)
    cx, cy = np.arange(len(x)) + 0.5, np.arange(len(y)) + 0.5
    crosses = np.nanmin(z) < level < np.nanmax(z)
    if crosses:
        ax.contour(cx, cy, z, levels=[level], colors="black", linewidths=2)
    ax.contour(cx, cy, z, levels=[1.0], colors="black", linewidths=1, linestyles="dashed")
    ax.set_xticks(cx, [f"{v:g}" for v in x])
    ax.set_yticks(cy, [f"{v:g}" for v in y])
    ax.set_xlabel("referrals a year from a customer in the referral orbits [accounts / customer / year]")
    ax.set_ylabel("churn no care prevents [share of customers / year]")
    note = (f"solid line: ratio {level:g} (the article's 'about half')" if crosses
            else f"the ratio never reaches {level:g} here (lowest {np.nanmin(z):.2f})")
    ax.set_title(f"Cost per new customer, whole-orbit / acquisition-only\n{note}; dashed: 1 (no gain)", fontsize=10)
    fig.colorbar(mesh, ax=ax, label="cost ratio (below 1: whole-orbit is cheaper)")
    return fig


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


def comparison_figure(runs: pd.DataFrame, currency: str = "USD"):
    """Cost per new customer and per booked unit for each allocation: means with 95% CIs."""
    fig, axes = new_figure(1, 2, figsize=(11, 3.0))
    names = list(dict.fromkeys(runs["scenario"]))
    for ax, (metric, label) in zip(axes, ((METRIC, f"cost per new customer [{currency}]"),
                                          ("cost_per_booked", f"cost per {currency} booked [{currency}]"))):
        mid, low, high = zip(*(mean_ci(runs.loc[runs["scenario"] == s, metric]) for s in names))
        interval_rows(ax, mid, low, high, names, label)
        ax.invert_yaxis()
    axes[0].set_ylabel("allocation")
    fig.suptitle("What selling costs under each allocation (means of the replications, 95% CIs)")
    fig.tight_layout()
    return fig


# ---- a year of orbits ---------------------------------------------------------------------------------
def orbit_diagram(orbit_history: pd.DataFrame, orbits: Sequence[str], start, end, title: str):
    """The orbits as rings (outermost first in `orbits`), with the accounts in each at `end` and the moves
    between neighbouring rings during [start, end): inward in green, outward in red, exits in grey."""
    moves = flows(orbit_history, start, end)
    occ = occupancy(orbit_history, "month", order=list(orbits), end=end).iloc[-1]
    fig, ax = new_figure(figsize=(8.6, 8.6))
    k = len(orbits)
    radius = {o: 1.0 + (k - 1 - i) for i, o in enumerate(orbits)}
    theta = np.linspace(0, 2 * np.pi, 200)
    for i, o in enumerate(orbits):
        r = radius[o]
        ax.plot(r * np.cos(theta), r * np.sin(theta), color="tab:blue", alpha=0.25 + 0.5 * i / k, lw=1)
        ax.text(0, r - 0.35, f"{o}\n{int(occ.get(o, 0)):,}", ha="center", va="center", fontsize=7.5)
    index = {o: i for i, o in enumerate(orbits)}
    biggest = max(1, int(moves["moves"].max()) if len(moves) else 1)
    for i in range(k - 1):
        outer, inner = orbits[i], orbits[i + 1]
        n_in = int(moves.loc[(moves["from"] == outer) & (moves["to"] == inner), "moves"].sum())
        n_out = int(moves.loc[(moves["from"] == inner) & (moves["to"] == outer), "moves"].sum())
        angle = np.radians(65 - 130 * i / max(1, k - 2))        # inward on the right, outward mirrored on the left
        for n, colour, a, r0, r1 in ((n_in, "tab:green", angle, radius[outer], radius[inner]),
                                     (n_out, "tab:red", np.pi - angle, radius[inner], radius[outer])):
            if not n:
                continue
            ax.annotate("", xy=(r1 * np.cos(a), r1 * np.sin(a)), xytext=(r0 * np.cos(a), r0 * np.sin(a)),
                        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8 + 6 * n / biggest, "mutation_scale": 12})
            rm = (r0 + r1) / 2
            ax.text(rm * np.cos(a), rm * np.sin(a) + 0.22, f"{n:,}", color=colour, fontsize=8, fontweight="bold",
                    ha="center")
    gone = moves[~moves["to"].isin(index) & moves["from"].isin(index)].groupby("to")["moves"].sum()
    lines = [f"left the orbits: {name} {int(v):,}" for name, v in gone.items()]
    new = moves[(moves["from"] == "(new)") & moves["to"].isin(index)]["moves"].sum()
    lines.insert(0, f"new accounts met: {int(new):,}")
    ax.text(0, -0.55 * radius[orbits[0]], "\n".join(lines), fontsize=8.5, ha="center", va="center", color="dimgray",
            bbox={"facecolor": "white", "edgecolor": "lightgray", "boxstyle": "round"})
    ax.set_aspect("equal")
    lim = radius[orbits[0]] + 0.3
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("rings: orbits, outermost first (accounts in each at the end of the period)")
    ax.set_ylabel("moves between neighbouring orbits in the period [accounts]:\ninward in green (right), outward in red (left)")
    ax.set_title(title)
    return fig
