"""Principle 02, customer orbits: what the notebook shows of `sim.experiments.customer_orbits`'s data — the
headline, the figures (comparison, cost-ratio map, the orbit diagram) and the sentences that state each
finding with its interval. The experiment returns data; everything written or drawn from it is here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..analysis.orbits import flows, occupancy
from ..analysis.plots import interval_rows, new_figure
from ..core.amounts import in_words
from ..core.stats import mean_ci, verdict, with_interval
from ..experiments.customer_orbits import METRIC


def headline(result: dict[str, float], currency: str = "USD") -> str:
    """One sentence: cost per new customer under each allocation, the ratio and the paired 95% CI."""
    return (f"Spreading the same money and rep hours over the whole orbit costs {result['a']:,.0f} {currency} per new "
            f"customer against {result['b']:,.0f} for acquisition only: {result['ratio']:.0%} of the cost "
            f"(difference {result['diff']:,.0f}, 95% CI {result['diff_low']:,.0f} to {result['diff_high']:,.0f}).")


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


# ---- sentences the notebook prints ------------------------------------------------------------------
def cost_of_sales_sentence(cost: dict[str, float], source: str) -> str:
    """The run's cost of sales per new customer and per unit booked (`sim.analysis.orbits.cost_of_sales`)."""
    return (f"cost of sales ({source}): {in_words(cost['cost'])} for {cost['new_customers']:,.0f} new customers "
            f"= {cost['cost_per_new_customer']:,.0f} per new customer; {cost['cost_per_booked']:.3f} per unit booked "
            f"(bookings {in_words(cost['bookings'])}, of which expansion {in_words(cost['expansion_bookings'])})")


def ratio_map_lines(ratio: pd.DataFrame, direction: dict[str, tuple[float, float, float]],
                    cost: dict[str, float] | None, hourly: float) -> str:
    """What the cost-ratio map shows: its range, its two edges, which way each axis moves it (with its 95% CI)
    and how much of the cost of sales is rep pay."""
    low, high = ratio.index.min(), ratio.columns.max()
    values = ratio.to_numpy()
    lines = [f"ratio from {values.min():.2f} to {values.max():.2f}; it "
             f"{'reaches' if values.min() <= 0.5 else 'never reaches'} 0.5 on this map",
             f"with no churn ({low:g}), from the fewest to the most referrals: " + " -> ".join(f"{v:.2f}" for v in ratio.loc[low]),
             f"with the most referrals ({high:g}), from no churn to the most: " + " -> ".join(f"{v:.2f}" for v in ratio[high])]
    lines += [f"on this map, the {axis} edge moves the ratio by {with_interval(d, lo, hi, '{:+.3f}')}"
              for axis, (d, lo, hi) in direction.items()]
    if cost is not None:
        lines.append(f"rep pay is {cost['rep_hours'] * hourly / cost['cost']:.0%} of the cost of sales in the simulated run")
    return "\n".join(lines)


def load_lines(load: pd.DataFrame) -> str:
    """Per market lead flow (`across`): is whole-orbit cheaper per new customer, by the paired 95% CI?"""
    return "\n".join(
        f"{leads:g} market leads a month (reps {row['utilisation_acquisition_only']:.0%} busy on acquisition only): "
        f"whole-orbit cost per new customer is "
        f"{verdict(row['diff_low'], row['diff_high'], below='lower, with a paired CI below zero', above='higher, with a paired CI above zero', neither='not different with confidence')}"
        f" (ratio {row['ratio']:.2f})"
        for leads, row in load.iterrows())


def time_between_sentence(what: str, first: str, then: str, t: dict[str, float]) -> str:
    """How many accounts went from orbit `first` to `then`, with the share's interval and the time it took."""
    return (f"{what}: {t['reached']:,} of {t['accounts']:,} accounts went from {first} to {then} "
            f"({t['share']:.0%}, 95% CI {t['share_low']:.0%} to {t['share_high']:.0%}), "
            f"median {t['median_days']:.0f} days (quartiles {t['p25_days']:.0f} to {t['p75_days']:.0f})")


def takeaway(reps: int, currency: str, result: dict[str, float], ratio: pd.DataFrame, load: pd.DataFrame) -> str:
    """The notebook's takeaway, in this run's numbers."""
    corner = ratio.stack().idxmin()
    lines = ["Takeaway, in numbers:",
             f"- with {reps} reps and the same money, whole-orbit allocation costs {result['ratio']:.0%} of "
             f"acquisition-only per new customer (paired difference {result['diff']:,.0f}, 95% CI {result['diff_low']:,.0f} to "
             f"{result['diff_high']:,.0f} {currency});",
             f"- across the map the ratio runs from {ratio.to_numpy().min():.2f} to {ratio.to_numpy().max():.2f}, lowest at "
             f"{corner[1]:g} referrals a year and churn {corner[0]:g};"]
    lines += [f"- with {leads:g} market leads a month (reps {row['utilisation_acquisition_only']:.0%} busy on acquisition "
              f"only) it {verdict(row['diff_low'], row['diff_high'], below='holds', above='reverses', neither='is not shown')}: "
              f"ratio {row['ratio']:.2f}"
              for leads, row in load.iterrows()]
    return "\n".join(lines)
