"""How strict to qualify: the threshold sweep, the death spiral and the market-size ceiling, in the simulator.

Each experiment replicates scenarios on common random numbers (`sim.replicate_each`), so every threshold
or rule meets the same leads and the differences are paired. Results come back as tidy DataFrames with
95% confidence intervals, and the figures that show them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..analysis.plots import new_figure
from ..core.amounts import in_words
from ..core.periods import labels
from ..core.stats import mean_ci, paired_diff_ci
from ..scenario import Scenario
from .replicate import replicate_each
from .simulate import SimResult


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


def sweep_headline(summary: pd.DataFrame, currency: str = "USD") -> str:
    """One sentence: the best threshold, its bookings and win rate, against taking every lead (threshold 0)."""
    best = best_threshold(summary)
    top, loose = summary.loc[best], summary.iloc[0]
    if best == summary.index[0] and len(summary) > 1:   # not "below fit 0.00 ... +0% against taking every lead"
        bars = summary.iloc[1:]
        nxt = bars.loc[best_threshold(bars)]
        return (f"Taking every lead books the most, {in_words(loose['bookings'])} {currency} a year: no fit bar from "
                f"{bars.index.min():.2f} to {bars.index.max():.2f} books more (the best of them, fit {best_threshold(bars):.2f}, "
                f"books {in_words(nxt['bookings'])}, {nxt['bookings'] / loose['bookings'] - 1:+.0%}, with a win rate of "
                f"{nxt['win_rate']:.0%} instead of {loose['win_rate']:.0%}).")
    return (f"Qualifying out leads below fit {best:.2f} books {in_words(top['bookings'])} {currency} a year, "
            f"{top['bookings'] / loose['bookings'] - 1:+.0%} against taking every lead "
            f"({in_words(loose['bookings'])}), with a win rate of {top['win_rate']:.0%} instead of {loose['win_rate']:.0%}.")


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


# ---- figures -----------------------------------------------------------------------------------------
def sweep_figure(summary: pd.DataFrame, currency: str = "USD"):
    """Bookings (with its 95% CI band), win rate and cycle against the qualification threshold."""
    fig, (top, mid, low) = new_figure(3, 1, figsize=(8, 8), sharex=True)
    x = summary.index.to_numpy()
    best = best_threshold(summary)
    top.plot(x, summary["bookings"] / 1e6, "o-", color="tab:blue", label="mean of the replications")
    top.fill_between(x, summary["bookings_low"] / 1e6, summary["bookings_high"] / 1e6, color="tab:blue", alpha=0.2,
                     label="95% CI")
    top.axvline(best, color="tab:green", ls="--", label=f"best threshold {best:.2f}")
    top.set_ylabel(f"bookings [million {currency}]")
    top.set_title("Qualification threshold vs bookings, win rate and cycle (rep time is scarce)")
    top.legend(loc="lower left", fontsize=8)
    for ax, metric, scale, unit in ((mid, "win_rate", 100, "win rate [%]"), (low, "median_cycle_days", 1, "median cycle [days]")):
        ax.plot(x, summary[metric] * scale, "o-", color="tab:gray")
        ax.fill_between(x, summary[f"{metric}_low"] * scale, summary[f"{metric}_high"] * scale, color="tab:gray", alpha=0.2)
        ax.axvline(best, color="tab:green", ls="--")
        ax.set_ylabel(unit)
    low.set_xlabel("qualification threshold [fit score below which leads are declined]")
    for ax in (top, mid, low):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def spiral_figure(runs: pd.DataFrame):
    """Team attainment per quota period, holding the line vs relaxing when behind, with 95% CIs."""
    att, below = per_period(runs, "attainment"), per_period(runs, "below bar")
    fig, (left, right) = new_figure(1, 2, figsize=(11, 4.2))
    for ax, table, scale, unit in ((left, att, 100, "team attainment [% of quota]"),
                                   (right, below, 100, "deals taken on below the bar [% of new deals]")):
        for i, (name, rows) in enumerate(table.groupby("scenario", sort=False)):
            x = np.arange(len(rows)) + (i - 0.5) * 0.3
            ax.bar(x, rows["mean"] * scale, width=0.3, label=name,
                   yerr=[(rows["mean"] - rows["ci_low"]) * scale, (rows["ci_high"] - rows["mean"]) * scale], capsize=3)
        ax.set_xticks(np.arange(len(rows)), rows["period"])
        ax.set_xlabel("quota period")
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
    left.axhline(100, color="black", lw=0.8, ls=":")
    left.legend(fontsize=8)
    left.set_title("Attainment per quarter (mean, 95% CI)")
    right.set_title("Poor-fit deals let in by the relaxed rule")
    fig.tight_layout()
    return fig


def ceiling_figure(summary: pd.DataFrame):
    """Bookings as a share of plan against the team's win rate, in a small and an unlimited market."""
    fig, ax = new_figure(figsize=(8, 4.5))
    for market, rows in summary.groupby("market", sort=False):
        rows = rows.sort_values("win_rate")
        ax.errorbar(rows["win_rate"] * 100, rows["attainment"] * 100, fmt="o-", capsize=4, label=f"{market} market",
                    yerr=[(rows["attainment"] - rows["attainment_low"]) * 100, (rows["attainment_high"] - rows["attainment"]) * 100])
    ax.axhline(100, color="black", ls=":", label="plan")
    ax.set_xlabel("win rate of the deals worked [%] (better selling moves right)")
    ax.set_ylabel("bookings [% of plan]")
    ax.set_title("Market-size ceiling: a better win rate cannot fill a market that is too small")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ---- the ceiling's arithmetic ----------------------------------------------------------------------
def market_value(scenario: Scenario, accounts: int, threshold: float | None = None) -> dict[str, float]:
    """What a market of `accounts` accounts is worth at most, against the team's plan: no simulation, arithmetic.

    Accounts are split by segment share as `market_of` splits them. Each account is counted as won once, in
    full, at the expected signed amount of a first deal (segment deal size, its spread, the fit effect on
    size, the median realisation). `threshold` (default: the scenario's qualification bar) leaves out the
    accounts whose fit is below it, as the bar declines them. Plan = quota x reps x years of the run.
    """
    if scenario.reps.quota is None:
        raise ValueError("market_value needs reps.quota: the ceiling is read against the plan")
    policy = scenario.policies.qualification
    bar = (policy.threshold if policy is not None else 0.0) if threshold is None else threshold
    shares = np.array([s.share for s in scenario.segments])
    counts = [max(1, int(round(accounts * w))) for w in shares / shares.sum()]
    value = scenario.deal_value
    realised = value.realisation_median * np.exp(value.realisation_spread ** 2 / 2)
    on_size = scenario.fit_effects.on_size
    total = above = kept = 0.0
    for seg, n in zip(scenario.segments, counts):
        m, v = seg.fit_mean, seg.fit_sd ** 2
        k = m * (1 - m) / v - 1
        fit = stats.beta(m * k, (1 - m) * k)
        per_deal = seg.deal_size * np.exp(seg.size_spread ** 2 / 2) * realised
        size = lambda f: np.exp(on_size * (f - 0.5))  # noqa: E731 - the fit effect on deal size
        total += n * per_deal * fit.expect(size)
        above += n * per_deal * (fit.expect(size, lb=bar) if bar > 0 else fit.expect(size))
        kept += n * fit.sf(bar)
    plan = scenario.reps.quota * scenario.reps.count * scenario.days / 365.25
    return {"accounts": float(sum(counts)), "accounts_at_or_above_bar": float(kept), "bar": float(bar),
            "value_all": float(total), "value_at_or_above_bar": float(above), "plan": float(plan),
            "ceiling_all": float(total / plan), "ceiling_at_or_above_bar": float(above / plan)}


# ---- ablations: the same experiments with one mechanism off --------------------------------------------
AS_MODELLED = "as modelled"
NO_FIT_WORLD = "fit has no effect"
NO_FIT = {"fit_effects": {"on_loss": 0.0, "on_size": 0.0, "on_duration": 0.0}}


def worlds(scenario: Scenario, roomy_reps: int = 8) -> dict[str, Scenario]:
    """The scenario as modelled, with every fit effect off (fit decides nothing), and with `roomy_reps` reps
    (rep time no longer scarce): the ablations of the strictness and death-spiral claims."""
    return {AS_MODELLED: scenario, NO_FIT_WORLD: scenario.replace(NO_FIT),
            f"{roomy_reps} reps, time to spare": scenario.replace({"reps.count": roomy_reps})}


def _paired(runs: pd.DataFrame, key: str, a, b, metric: str) -> tuple[float, float, float]:
    x, y = (runs[runs[key] == v].sort_values("replication")[metric].to_numpy() for v in (a, b))
    return paired_diff_ci(x, y)


def strictness_by_world(runs: pd.DataFrame, strict: float = 0.5, loose: float = 0.0) -> pd.DataFrame:
    """Per world (runs of `threshold_sweep` with a `world` column): the best threshold run, and strict minus
    loose in bookings, win rate and median cycle, each a paired difference with its 95% CI."""
    rows = []
    for world, g in runs.groupby("world", sort=False):
        best = best_threshold(by_threshold(g, ("bookings",)))
        row = {"world": world, "replications": int(g["replication"].nunique()), "best threshold": best}
        d, lo, hi = _paired(g, "threshold", best, loose, "bookings")
        row.update({"bookings, best minus loose": d, "bookings, best minus loose_low": lo,
                    "bookings, best minus loose_high": hi})
        for metric in ("bookings", "win_rate", "median_cycle_days"):
            d, lo, hi = _paired(g, "threshold", strict, loose, metric)
            row.update({metric: d, f"{metric}_low": lo, f"{metric}_high": hi})
        rows.append(row)
    return pd.DataFrame(rows).set_index("world")


def strictness_sentence(table: pd.DataFrame, strict: float = 0.5, loose: float = 0.0) -> str:
    """`strictness_by_world` in words: per world, the best threshold and what it and the strict bar change."""
    def ci(row, key: str, fmt: str) -> str:
        return f"{row[key]:{fmt}} (95% CI {row[key + '_low']:{fmt}} to {row[key + '_high']:{fmt}})"

    parts = []
    for world, row in table.iterrows():
        money = f"{in_words(row['bookings, best minus loose'], '+')} (95% CI " \
                f"{in_words(row['bookings, best minus loose_low'], '+')} to {in_words(row['bookings, best minus loose_high'], '+')})"
        best = (f"the best threshold run is {row['best threshold']:.1f}, booking {money} against taking every lead"
                if row["best threshold"] != loose else "the best threshold run is to take every lead")
        parts.append(f"{world}: {best}; the {strict} bar changes the win rate by {ci(row, 'win_rate', '+.3f')} and "
                     f"the median cycle by {ci(row, 'median_cycle_days', '+.0f')} days")
    return ". ".join(parts) + "."


def spiral_by_world(runs: pd.DataFrame) -> pd.DataFrame:
    """Per world (runs of `death_spiral` with a `world` column): relaxing minus holding the line, in the year's
    attainment and in each quarter's, paired differences with 95% CIs."""
    rows = []
    for world, g in runs.groupby("world", sort=False):
        for col in ["attainment"] + sorted(c for c in g.columns if c.startswith("attainment ")):
            d, lo, hi = _paired(g, "scenario", "relax when behind", "hold the line", col)
            rows.append({"world": world, "attainment of": "the year" if col == "attainment" else col.split()[-1],
                         "replications": int(g["replication"].nunique()), "diff": d, "diff_low": lo, "diff_high": hi})
    return pd.DataFrame(rows).set_index(["world", "attainment of"])


def ceiling_sentence(value: dict[str, float], summary: pd.DataFrame, small: str) -> str:
    """The market ceiling's arithmetic next to the simulated best attainment in the small market."""
    best = summary[summary["market"] == small].sort_values("win_rate").iloc[-1]
    return (f"{value['accounts']:.0f} accounts, each won in full at the expected size of a first deal, are worth "
            f"{value['ceiling_all']:.0%} of plan; the {value['bar']:.2f} bar turns away "
            f"{value['accounts'] - value['accounts_at_or_above_bar']:.0f} of them on average, which leaves a "
            f"ceiling of {value['ceiling_at_or_above_bar']:.0%}. Winning {best['win_rate']:.0%} of the deals it "
            f"works, the team books {best['attainment']:.0%} of plan (95% CI {best['attainment_low']:.0%} to "
            f"{best['attainment_high']:.0%}): below the ceiling, as the arithmetic says it must be.")
