"""Principle 12, the fractal 80/20, in the simulator: rep time spent on the biggest deals first vs in arrival
order, when time is scarce."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.pareto import share_of_top
from ..analysis.plots import interval_rows, new_figure
from ..core.amounts import in_words
from ..core.stats import paired_diff_ci
from ..scenario import Scenario
from .replicate import replicate_each, summarise
from .simulate import SimResult


def allocation_measure(result: SimResult) -> dict[str, float]:
    """Bookings, wins, wins among the smaller half of deals (the growth accounts of tomorrow), top-20% share."""
    opp = result.tables.opportunities
    won = opp[opp["outcome"] == "won"]
    small = won["first_estimate"] < opp["first_estimate"].median()
    revenue = won.groupby("account_id")["amount"].sum()
    return {"bookings": float(won["amount"].sum()), "deals_won": float(len(won)),
            "small_deals_won": float(small.sum()),
            "top_20_share": share_of_top(revenue, 0.2) if len(revenue) else np.nan}

def time_allocation(base: Scenario, reps: int | None = None, replications: int = 40, seed: int = 0) -> pd.DataFrame:
    """Even (arrival order) vs top-first (largest first estimate first) rep time, on common random numbers.

    `reps` shrinks the team so that time is scarce (the principle is about a constraint; with idle reps
    the order does not matter). Returns mean, 95% CI and paired difference to 'even' for each measure.
    """
    even = base if reps is None else base.replace({"reps.count": reps})
    even = even.replace({"name": "even", "policies.allocation.rule": "first_come"})
    top = even.replace({"name": "top first", "policies.allocation.rule": "largest_first"})
    runs = replicate_each({"even": even, "top first": top}, replications, seed, measure=allocation_measure,
                          progress=False)
    return summarise(runs)


def by_team_size(base: Scenario, sizes: tuple[int, ...] = (5, 12), replications: int = 30, seed: int = 0,
                 **kwargs) -> pd.DataFrame:
    """Even vs top-first rep time for each team size in `sizes`, on common random numbers (the same leads for
    every size and rule); one row per run with `reps` and `rule` columns. The larger teams are the ablation:
    with time to spare the order in which deals get it should stop mattering."""
    scenarios = {}
    for size in sizes:
        team = base.replace({"reps.count": size})
        scenarios[f"{size}|even"] = team.replace({"policies.allocation.rule": "first_come"})
        scenarios[f"{size}|top first"] = team.replace({"policies.allocation.rule": "largest_first"})
    kwargs.setdefault("progress", False)
    runs = replicate_each(scenarios, replications, seed, measure=allocation_measure, **kwargs)
    parts = runs["scenario"].str.split("|", n=1, expand=True, regex=False)
    return runs.assign(reps=parts[0].astype(int), rule=parts[1]).drop(columns="scenario")


def gains(runs: pd.DataFrame, metrics: tuple[str, ...] = ("bookings", "deals_won", "small_deals_won")) -> pd.DataFrame:
    """Per team size and metric: mean with time even, mean top first, and the paired difference with its 95% CI."""
    rows = []
    for (size, metric) in [(s, m) for s in sorted(runs["reps"].unique()) for m in metrics]:
        team = runs[runs["reps"] == size]
        even, top = (team[team["rule"] == r].sort_values("replication")[metric].to_numpy() for r in ("even", "top first"))
        diff, lo, hi = paired_diff_ci(top, even)
        rows.append({"reps": int(size), "metric": metric, "even": float(np.nanmean(even)), "top first": float(np.nanmean(top)),
                     "diff": diff, "diff_low": lo, "diff_high": hi})
    return pd.DataFrame(rows).set_index(["reps", "metric"])


def gain_headline(gains: pd.DataFrame, scarce: int, roomy: int, currency: str = "USD") -> str:
    """The what-if in one sentence: top first against even with `scarce` reps, and the bookings gain with `roomy`."""
    money, small, spare = gains.loc[(scarce, "bookings")], gains.loc[(scarce, "small_deals_won")], gains.loc[(roomy, "bookings")]
    if (gains.loc[scarce, ["diff", "diff_low", "diff_high"]].to_numpy() == 0).all():   # not "+0.00 (95% CI +0.00 to +0.00)"
        return (f"Not measured on this pipeline: a {scarce}-rep team has time for every deal it gets here, so the order it "
                f"works them in changes nothing — largest first books exactly what taking deals as they come books "
                f"({in_words(money['even'])} {currency} over the run) and wins the same deals, in every run. The what-if needs "
                f"a team with more deals than hours (fewer reps, or more leads).")

    def m(row, key: str) -> str:
        return in_words(row[key], "+")

    roomy_part = (f"with {roomy} reps (time for every deal) the order changes nothing: the same bookings in every run"
                  if spare["diff"] == spare["diff_low"] == spare["diff_high"] == 0 else
                  f"with {roomy} reps the bookings gain is {m(spare, 'diff')} (95% CI {m(spare, 'diff_low')} to "
                  f"{m(spare, 'diff_high')})")
    return (f"A {scarce}-rep team that works the largest deals first books {m(money, 'diff')} {currency} "
            f"(95% CI {m(money, 'diff_low')} to {m(money, 'diff_high')}) against taking deals as they come, and wins "
            f"{abs(small['diff']):.1f} {'fewer' if small['diff'] < 0 else 'more'} of the smaller deals in the year "
            f"(95% CI {small['diff_low']:+.1f} to {small['diff_high']:+.1f}); {roomy_part}.")


def gains_figure(gains: pd.DataFrame, currency: str = "USD"):
    """Top first minus even (95% CI) per team size: bookings, and wins among the smaller deals."""
    fig, axes = new_figure(1, 2, figsize=(11, 3.4))
    sizes = sorted(gains.index.get_level_values("reps").unique())
    for ax, (metric, scale, label) in zip(axes, (("bookings", 1e6, f"bookings, top first minus even [million {currency}]"),
                                                  ("small_deals_won", 1, "smaller deals won, top first minus even [deals]"))):
        rows = gains.xs(metric, level="metric").reindex(sizes)
        interval_rows(ax, rows["diff"] / scale, rows["diff_low"] / scale, rows["diff_high"] / scale,
                      [f"{s} reps" for s in sizes], label)
        ax.axvline(0, color="black", lw=0.8)
    axes[0].set_ylabel("team size")
    fig.suptitle("Rep time on the largest deals first: the gain and who pays, with time scarce and with time to spare (95% CIs)")
    fig.tight_layout()
    return fig
