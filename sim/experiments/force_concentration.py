"""Principle 01, force concentration, in the simulator: how fast a new team wins its first customers when it
concentrates on one segment instead of spreading its time over every lead — and which part of the gain
comes from concentrating at all, and which from the fit of the segment chosen.

The ablations switch each mechanism off on the same leads (common random numbers):

- **time to spare**: a team large enough for every lead (`roomy_reps`): if concentration works because it
  decides who gets scarce hours first, the gain must vanish here;
- **fit has no effect**: every fit effect set to 0 (`NO_FIT`), so the best-fit segment wins no more often
  and closes no faster than any other: what is left of the gain is not about fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd

from ..analysis.pipeline import DAY
from ..analysis.plots import new_figure
from ..core.stats import paired_diff_ci
from ..scenario import Scenario
from .replicate import replicate_each, summarise
from .simulate import SimResult

SEP = " · "
SPREAD = "spread"
AS_MODELLED = "as modelled"
NO_FIT_VARIANT = "fit has no effect"
NO_FIT = {"fit_effects": {"on_loss": 0.0, "on_size": 0.0, "on_duration": 0.0}}


def new_team(base: Scenario, reps: int = 2, leads_per_month: float = 30.0) -> Scenario:
    """A new team: a few fully productive founders/reps, no customers yet, flat lead flow, one year."""
    return base.replace({
        "name": f"new team of {reps}", "reps.count": reps, "reps.ramp_days": 0, "reps.hires": [],
        "market.leads_per_month": leads_per_month, "accounts.repeat_per_year": 0.0, "market.seasonality": None,
    })


def days_to_customers(result: SimResult, n: int = 5, segment: str | None = None) -> dict[str, float]:
    """Days from the start until the n-th won deal (NaN if fewer), with won deals and bookings of the year."""
    opp = result.tables.opportunities
    won = opp[opp["outcome"] == "won"].sort_values("closed_at")
    if segment is not None:
        won = won[won["segment"] == segment]
    days = ((won["closed_at"] - pd.Timestamp(result.scenario.start)) / DAY).to_numpy()
    return {f"days_to_{n}_customers": float(days[n - 1]) if len(days) >= n else np.nan,
            "customers": float(len(won)), "bookings": float(won["amount"].sum())}


def focused(team: Scenario, segment: str) -> Scenario:
    """`team` putting every deal of `segment` first in each rep's queue."""
    return team.replace({"name": f"focus on {segment}", "policies.allocation.focus_segments": [segment]})


def first_customers(base: Scenario, focus: str, n_customers: int = 5, reps: int = 2,
                    leads_per_month: float = 30.0, replications: int = 40, seed: int = 0) -> pd.DataFrame:
    """Spread vs concentrate: a new team works every lead in arrival order, or puts `focus` segment deals first.

    Both run on the same seeds (common random numbers); returns per scenario the mean and 95% CI of the
    days to the first `n_customers` customers, customers won in the year and bookings, plus the paired
    difference to spreading.
    """
    spread = new_team(base, reps, leads_per_month).replace({"name": SPREAD})
    runs = replicate_each({SPREAD: spread, f"focus on {focus}": focused(spread, focus)}, replications, seed,
                          measure=partial(days_to_customers, n=n_customers), progress=False)
    return summarise(runs)


def variants(base: Scenario, segments: Sequence[str], focus: str, reps: int = 2, roomy_reps: int = 4,
             leads_per_month: float = 30.0) -> dict[str, Scenario]:
    """The what-if and its ablations, named 'variant · policy'.

    As modelled and with fit switched off: spread, and a focus on each of `segments`. With a team of
    `roomy_reps` (time to spare): spread and the focus on `focus`.
    """
    team = new_team(base, reps, leads_per_month)
    roomy = f"{roomy_reps} reps, time to spare"
    worlds = {AS_MODELLED: (team, segments), NO_FIT_VARIANT: (team.replace(NO_FIT), segments),
              roomy: (new_team(base, roomy_reps, leads_per_month), [focus])}
    out = {}
    for variant, (world, focus_on) in worlds.items():
        out[f"{variant}{SEP}{SPREAD}"] = world.replace({"name": SPREAD})
        for segment in focus_on:
            out[f"{variant}{SEP}focus on {segment}"] = focused(world, segment)
    return out


def run(scenarios: dict[str, Scenario], n_customers: int = 5, replications: int = 40, seed: int = 0,
        **kwargs) -> pd.DataFrame:
    """Replicate every scenario on common seeds; one row per run with days to the first customers."""
    kwargs.setdefault("progress", False)
    runs = replicate_each(scenarios, replications, seed, measure=partial(days_to_customers, n=n_customers), **kwargs)
    parts = runs["scenario"].str.split(SEP, n=1, expand=True, regex=False)
    return runs.assign(variant=parts[0], policy=parts[1])


def _column(runs: pd.DataFrame, variant: str, policy: str, metric: str) -> np.ndarray:
    rows = runs[(runs["variant"] == variant) & (runs["policy"] == policy)]
    return rows.sort_values("replication")[metric].to_numpy()


def gains(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per variant and focus: mean `metric` and the paired difference to spreading in the same variant, 95% CI."""
    rows = []
    for (variant, policy), _ in runs.groupby(["variant", "policy"], sort=False):
        if policy == SPREAD:
            continue
        x, base = _column(runs, variant, policy, metric), _column(runs, variant, SPREAD, metric)
        diff, lo, hi = paired_diff_ci(x, base)
        rows.append({"variant": variant, "policy": policy, "mean": float(np.nanmean(x)),
                     "spread": float(np.nanmean(base)), "diff": diff, "diff_low": lo, "diff_high": hi})
    return pd.DataFrame(rows).set_index(["variant", "policy"])


def fit_part(runs: pd.DataFrame, best: str, worst: str, metric: str) -> pd.DataFrame:
    """How much of the focus gain is the fit of the segment chosen.

    Rows: the focus on `best` minus the focus on `worst` as modelled, the same with fit switched off, and
    the difference between the two (what fit adds), each a paired mean with its 95% CI.
    """
    pick = lambda variant, seg: _column(runs, variant, f"focus on {seg}", metric)  # noqa: E731
    modelled = pick(AS_MODELLED, best) - pick(AS_MODELLED, worst)
    no_fit = pick(NO_FIT_VARIANT, best) - pick(NO_FIT_VARIANT, worst)
    rows = {AS_MODELLED: paired_diff_ci(modelled, np.zeros_like(modelled)),
            NO_FIT_VARIANT: paired_diff_ci(no_fit, np.zeros_like(no_fit)),
            "fit's part (the difference of the two)": paired_diff_ci(modelled, no_fit)}
    table = pd.DataFrame(rows, index=["diff", "diff_low", "diff_high"]).T
    return table.rename_axis(f"{best} first minus {worst} first")


def _days(v: float) -> str:
    return f"{abs(v):.0f} days {'sooner' if v >= 0 else 'later'}"


NO_CHANGE = ("Not measured on this pipeline: putting one segment first changed nothing in any run (its deals reach "
             "the team in the same order either way, as with a single segment), so there is no gain to show.")


def focus_headline(summary: pd.DataFrame, focus: str, n_customers: int, reps: int = 2) -> str:
    """The what-if in one sentence: how much sooner (or later) the focused team reached its first customers."""
    row = summary.loc[(f"focus on {focus}", f"days_to_{n_customers}_customers")]
    if row["diff"] == row["diff_low"] == row["diff_high"] == 0:
        return NO_CHANGE
    sooner, low, high = -row["diff"], -row["diff_high"], -row["diff_low"]
    return (f"A new {reps}-rep team that works {focus} deals first reaches its first {n_customers} customers "
            f"{_days(sooner)} (95% CI from {_days(low)} to {_days(high)}) than a team that spreads its time over every lead.")


def segments_compared(table: pd.DataFrame) -> list[str]:
    """The segments a `gains` table puts first, as modelled (one row each)."""
    policies = table.xs(AS_MODELLED, level="variant").index if AS_MODELLED in table.index.get_level_values(0) else []
    return [p.removeprefix("focus on ") for p in policies]


def nothing_to_focus(table: pd.DataFrame) -> str | None:
    """Why the focus what-if measured nothing on this pipeline, or None when it measured something.

    With one segment ("All deals" when the export has no segment column) the team has nothing to put first:
    a focus on it is the same queue as spreading, so every paired difference is exactly 0 and a headline of
    "0 days sooner (95% CI 0 to 0)" would read as a finding. Said instead of the number."""
    segments = segments_compared(table)
    if len(segments) == 1:
        return (f"Not measured on this pipeline: it has one segment ({segments[0]}), so a team has nothing to put "
                f"first and a focus on it is the same queue as spreading. Map a segment column (industry, company "
                f"size, region) in your export to see which segment to concentrate on.")
    rows = table.xs(AS_MODELLED, level="variant") if segments else table
    if len(rows) and (rows[["diff", "diff_low", "diff_high"]].to_numpy() == 0).all():
        return NO_CHANGE
    return None


def gain_headline(table: pd.DataFrame, focus: str, n_customers: int, reps: int = 2) -> str:
    """The what-if in one sentence, from a `gains` table: days sooner for the `focus` segment first, as modelled
    (or why it measured nothing: `nothing_to_focus`)."""
    if (why := nothing_to_focus(table)) is not None:
        return why
    row = table.loc[(AS_MODELLED, f"focus on {focus}")]
    return (f"A new {reps}-rep team that works {focus} deals first reaches its first {n_customers} customers "
            f"{_days(-row['diff'])} (95% CI from {_days(-row['diff_high'])} to {_days(-row['diff_low'])}) than a team "
            f"that spreads its time over every lead.")


def gains_figure(table: pd.DataFrame, n_customers: int):
    """Days sooner than spreading (95% CI) for each focus, as modelled and with each mechanism switched off."""
    rows = table.iloc[::-1]
    fig, ax = new_figure(figsize=(8, 0.45 * len(rows) + 1.8))
    y = np.arange(len(rows))
    sooner = -rows["diff"]
    colours = [f"C{list(dict.fromkeys(table.index.get_level_values(0))).index(v)}" for v in rows.index.get_level_values(0)]
    ax.errorbar(sooner, y, xerr=[sooner + rows["diff_high"], -rows["diff_low"] - sooner], fmt="none", ecolor="gray", capsize=3)
    ax.scatter(sooner, y, c=colours, zorder=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{v}: {p}" for v, p in rows.index])
    ax.set_xlabel(f"days sooner than spreading, to the first {n_customers} customers [days] (mean, 95% CI)")
    ax.set_ylabel("team and policy")
    ax.set_title("Focus on one segment: the gain as modelled, with fit switched off, and with time to spare")
    ax.grid(axis="x", alpha=0.3)
    return fig


def cause_sentence(table: pd.DataFrame, fit: pd.DataFrame, focus: str, worst: str, roomy: str) -> str:
    """Where the gain comes from, in numbers: any one segment first, fit switched off, time to spare, fit's part
    (or why there is no gain to take apart: `nothing_to_focus`)."""
    if (why := nothing_to_focus(table)) is not None:
        return why
    g = lambda variant, seg: -table.loc[(variant, f"focus on {seg}")]  # noqa: E731 - days sooner; CI ends swap
    mod, low_fit, room, worst_row = g(AS_MODELLED, focus), g(NO_FIT_VARIANT, focus), g(roomy, focus), g(AS_MODELLED, worst)
    lead, lead_no_fit, adds = -fit.iloc[0], -fit.iloc[1], -fit.iloc[2]

    def ci(row) -> str:
        digits = 0 if min(abs(row["diff_high"]), abs(row["diff_low"])) >= 1 else 1
        return f"95% CI {row['diff_high']:.{digits}f} to {row['diff_low']:.{digits}f} days sooner"

    return (f"Putting {worst} (the worst-fit segment) first is also {_days(worst_row['diff'])} ({ci(worst_row)}), "
            f"and with fit switched off in the model the {focus} focus is still {_days(low_fit['diff'])} "
            f"({ci(low_fit)}) against {_days(mod['diff'])} as modelled. With {roomy} it is {_days(room['diff'])} "
            f"({ci(room)}). Against {worst} first, {focus} first is {_days(lead['diff'])} ({ci(lead)}) as modelled "
            f"and {_days(lead_no_fit['diff'])} ({ci(lead_no_fit)}) with fit switched off: fit's part is "
            f"{adds['diff']:.0f} days ({ci(adds)}), the rest is concentrating at all.")
