"""Principle 04, remain aggressive, in the simulator. The downturn what-if: bookings, cost and time to recover for each staffing policy.

A downturn scenario (a `market.shock` with a recovery) is run under several `StaffingPolicy` choices and
once without the shock, as the reference of what the market would have given. Each policy is judged on
total bookings, the cost of its team (`Costs`), bookings per unit of cost, and the months from the start
of the shock until its bookings are back to `level` x the reference's (3-month rolling), with a bootstrap
CI over replications.

The ablations (`ablations`) switch off one mechanism each, on the same leads: refocus without the hunting,
refocus without declining poor fit, and a cut team that re-hires when the trough ends with reps who need no
ramp. `causes` reads them against the choices they stand in for, with paired intervals, so the notebook
can say which mechanism carries each result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analysis.plots import interval_rows, new_figure
from ..core.periods import labels
from ..core.stats import mean_ci, paired_diff_ci
from ..scenario import Scenario
from ..world.costs import ASSUMED
from .replicate import replicate_each
from .simulate import SimResult

REFERENCE = "no downturn"
PREFIX = "bookings "


@dataclass(frozen=True)
class Costs:
    """What the team costs: a rep's fully loaded year (the same assumed default as a scenario's
    `costs.rep_per_year`, `sim.world.costs`), hiring one rep, and severance for one let go."""

    rep_per_year: float = ASSUMED["rep_per_year"].value
    hire: float = 30_000.0
    severance_months: float = 3.0

    def of(self, metrics: Mapping[str, float]) -> float:
        """Cost of one run's team, from its `rep_years`, `reps_hired` and `reps_left` metrics."""
        return (metrics["rep_years"] * self.rep_per_year + metrics["reps_hired"] * self.hire
                + metrics["reps_left"] * self.severance_months / 12 * self.rep_per_year)


def staffing_choices(
    scenario: Scenario, at: dt.date, cut_share: float = 0.5, rehire_at: dt.date | None = None,
    focus_threshold: float = 0.55, prospects_per_week: float = 2.0,
) -> dict[str, Scenario]:
    """The what-if: the reference market without the shock, then hold / cut / hold and refocus in the downturn."""
    if scenario.market.shock is None:
        raise ValueError("staffing_choices needs a scenario with a market.shock (try the 'remain-aggressive' preset)")
    policy = lambda **kw: {"policies.staffing": {"at": at, **kw}}  # noqa: E731 - tiny local builder
    return {
        REFERENCE: scenario.replace({"market.shock": None, **policy(action="hold")}),
        "hold": scenario.replace(policy(action="hold")),
        f"cut {cut_share:.0%}": scenario.replace(policy(action="cut", cut_share=cut_share, rehire_at=rehire_at)),
        "hold and refocus": scenario.replace(policy(action="refocus", focus_threshold=focus_threshold,
                                                    prospects_per_week=prospects_per_week)),
    }


NO_HUNT, NO_DECLINE, EARLY_CUT = ("refocus without hunting", "refocus without declining",
                                  "cut, re-hired at the trough's end, no ramp")


def ablations(scenario: Scenario, at: dt.date, cut_share: float = 0.5, focus_threshold: float = 0.55,
              prospects_per_week: float = 2.0) -> dict[str, Scenario]:
    """One mechanism off each: refocus without prospecting, refocus that declines nothing, and a cut whose
    re-hires start on the day the trough ends at full speed (no months short-handed, no ramp)."""
    if scenario.market.shock is None:
        raise ValueError("ablations need a scenario with a market.shock (try the 'remain-aggressive' preset)")
    shock = scenario.market.shock
    trough_end = max(shock.start + dt.timedelta(days=shock.trough_days), at + dt.timedelta(days=1))
    refocus = {"action": "refocus", "at": at, "focus_threshold": focus_threshold, "prospects_per_week": prospects_per_week}
    return {
        NO_HUNT: scenario.replace({"policies.staffing": {**refocus, "prospects_per_week": 0.0}}),
        NO_DECLINE: scenario.replace({"policies.staffing": {**refocus, "focus_threshold": 0.0}}),
        EARLY_CUT: scenario.replace({"reps.ramp_days": 0, "policies.staffing": {
            "action": "cut", "at": at, "cut_share": cut_share, "rehire_at": trough_end}}),
    }


def with_reference(main: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """`extra` runs (ablations, maybe fewer replications) together with the `main` runs of the same
    replications: replication i of every run set has the same seed, so they pair."""
    return pd.concat([main[main["replication"].isin(extra["replication"])], extra], ignore_index=True)


def causes(main: pd.DataFrame, extra: pd.DataFrame, cut: str, shock_start: dt.date, costs: Costs = Costs(),
           boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """What carries each result: paired differences with 95% CIs, as modelled and with one mechanism off.

    Bookings per unit of team cost against holding, for refocus and its two ablations; months to recover
    against holding, for the cut and the cut without the short-handed months. Ablation rows use the
    replications the ablations ran (the first ones of `main`).
    """
    both = with_reference(main, extra)
    rows = []
    for frame, name in ((main, "hold and refocus"), (both, NO_HUNT), (both, NO_DECLINE)):
        if name not in set(frame["scenario"]):
            continue
        per = {k: (g["bookings"] / [costs.of(r) for r in g.to_dict("records")]).to_numpy()
               for k, g in frame.sort_values("replication").groupby("scenario", sort=False)}
        diff, lo, hi = paired_diff_ci(per[name], per["hold"])
        rows.append({"measure": "bookings per unit of cost, against holding", "choice": name,
                     "replications": len(per[name]), "diff": diff, "diff_low": lo, "diff_high": hi})
    for frame, name in ((main, cut), (both, EARLY_CUT)):
        if name not in set(frame["scenario"]):
            continue
        diff, lo, hi = recovery_difference(frame, name, "hold", shock_start, boot=boot, seed=seed)
        rows.append({"measure": "months longer to recover than holding", "choice": name,
                     "replications": int(frame["replication"].nunique()), "diff": diff, "diff_low": lo, "diff_high": hi})
    return pd.DataFrame(rows).set_index(["measure", "choice"])


def downturn_measure(result: SimResult) -> dict[str, float]:
    """Headline metrics plus the bookings of every calendar month of the run (`bookings YYYY-MM`)."""
    out = dict(result.metrics)
    out.update({PREFIX + month: amount for month, amount in monthly_bookings(result).items()})
    return out


def monthly_bookings(result: SimResult) -> pd.Series:
    """Won amount by month of closing, for every month of the run (zero where nothing closed)."""
    sc = result.scenario
    months = labels(pd.Series(pd.date_range(sc.start, sc.end - dt.timedelta(days=1), freq="MS")), "month")
    opp = result.tables.opportunities
    won = opp[opp["outcome"] == "won"]
    booked = won["amount"].groupby(labels(won["closed_at"], "month").to_numpy()).sum()
    return booked.reindex(list(months), fill_value=0.0)


def run(scenarios: Mapping[str, Scenario], n: int = 20, seed: int = 0, **kwargs) -> pd.DataFrame:
    """Replicate each staffing choice on common seeds; one row per run with monthly bookings."""
    return replicate_each(scenarios, n, seed, measure=downturn_measure, **kwargs)


def curves(runs: pd.DataFrame, window: int = 3) -> pd.DataFrame:
    """Mean monthly bookings per scenario (rows: months, columns: scenarios), rolled over `window` months."""
    cols = [c for c in runs.columns if c.startswith(PREFIX)]
    mean = runs.groupby("scenario", sort=False)[cols].mean().T
    mean.index = [c[len(PREFIX):] for c in cols]
    return mean.rolling(window, min_periods=1).mean()


def months_to_recover(curve: pd.Series, reference: pd.Series, shock_start: dt.date, level: float = 0.8) -> float:
    """Months from the shock's start until `curve` first gets back to `level` x `reference` after the trough.

    The search starts at the curve's lowest point after the shock, so a slow slide into the trough does not
    count as recovered. NaN when it never gets back within the run.
    """
    months = list(curve.index)
    first = months.index(shock_start.strftime("%Y-%m"))
    after = curve.iloc[first:]
    bottom = first + int(np.argmin(after.to_numpy()))
    ok = curve.iloc[bottom:] >= level * reference.iloc[bottom:]
    return float(bottom + int(np.argmax(ok.to_numpy())) - first) if ok.any() else np.nan


def summary(
    runs: pd.DataFrame, shock_start: dt.date, costs: Costs = Costs(), level: float = 0.8,
    boot: int = 200, seed: int = 0,
) -> pd.DataFrame:
    """Per scenario: bookings, cost, bookings per cost (mean and 95% CI) and months to recover (bootstrap CI)."""
    runs = runs.assign(cost=[costs.of(row) for row in runs.to_dict("records")])
    runs["bookings_per_cost"] = runs["bookings"] / runs["cost"]
    recover = recovery(runs, shock_start, level, boot, seed)
    rows = []
    for name, group in runs.groupby("scenario", sort=False):
        row = {"scenario": name}
        for m in ("bookings", "cost", "bookings_per_cost"):
            row[m], row[f"{m}_low"], row[f"{m}_high"] = mean_ci(group[m])
        row.update(recover.loc[name].to_dict())
        rows.append(row)
    return pd.DataFrame(rows).set_index("scenario")


def recovery_draws(
    runs: pd.DataFrame, shock_start: dt.date, level: float = 0.8, boot: int = 200, seed: int = 0,
) -> tuple[pd.Series, pd.DataFrame]:
    """Months to recover per scenario on the mean curves, and the same for `boot` bootstrap resamples.

    Each resample draws replications with replacement, the same ones for every scenario (keeping the
    pairing of common random numbers), and recomputes every curve, the reference's included.
    """
    cols = [c for c in runs.columns if c.startswith(PREFIX)]
    months = [c[len(PREFIX):] for c in cols]
    reps = np.sort(runs["replication"].unique())
    monthly = {name: g.set_index("replication").loc[reps, cols].to_numpy()
               for name, g in runs.groupby("scenario", sort=False)}
    rng = np.random.default_rng(seed)

    def once(rows: np.ndarray) -> dict[str, float]:
        c = {name: pd.Series(m[rows].mean(axis=0), index=months).rolling(3, min_periods=1).mean()
             for name, m in monthly.items()}
        return {s: months_to_recover(c[s], c[REFERENCE], shock_start, level) for s in c if s != REFERENCE}

    everything = np.arange(len(reps))
    draws = pd.DataFrame([once(rng.integers(0, len(reps), len(reps))) for _ in range(boot)])
    return pd.Series(once(everything)), draws


def recovery(runs: pd.DataFrame, shock_start: dt.date, level: float = 0.8, boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Months to recover per scenario, with a bootstrap 95% CI and the share of resamples that recovered."""
    point, draws = recovery_draws(runs, shock_start, level, boot, seed)
    out = pd.DataFrame({"months_to_recover": point})
    out["months_to_recover_low"] = draws.quantile(0.025)
    out["months_to_recover_high"] = draws.quantile(0.975)
    out["recovered_share_of_draws"] = draws.notna().mean()
    return out.reindex([s for s in dict.fromkeys(runs["scenario"]) if s != REFERENCE] + [REFERENCE])


def recovery_difference(
    runs: pd.DataFrame, a: str, b: str, shock_start: dt.date, level: float = 0.8, boot: int = 200, seed: int = 0,
) -> tuple[float, float, float]:
    """Months to recover of scenario `a` minus `b`, with a paired bootstrap 95% CI (a curve that never
    recovers counts as recovering at the end of the run, so the difference is a lower bound)."""
    point, draws = recovery_draws(runs, shock_start, level, boot, seed)
    horizon = float(len([c for c in runs.columns if c.startswith(PREFIX)]))
    diff = draws[a].fillna(horizon) - draws[b].fillna(horizon)
    return (float(np.nan_to_num(point[a], nan=horizon) - np.nan_to_num(point[b], nan=horizon)),
            float(diff.quantile(0.025)), float(diff.quantile(0.975)))


def headline(table: pd.DataFrame, cut: str, difference: tuple[float, float, float], currency: str = "USD") -> str:
    """One sentence: bookings per unit of team cost for each policy, and how much later the cut recovers."""
    per_cost = table["bookings_per_cost"]
    diff, lo, hi = difference
    text = (f"Holding and refocusing books {per_cost['hold and refocus']:.2f} {currency} per {currency} of team cost, "
            f"against {per_cost['hold']:.2f} for holding and {per_cost[cut]:.2f} for the {cut.split()[-1]} cut; ")
    if diff == lo == hi:      # every resample gives the same months: say what that means, not "(95% CI 0 to 0)"
        months = table["months_to_recover"] if "months_to_recover" in table else pd.Series(dtype=float)
        if months.reindex([cut, "hold"]).isna().all():
            return text + ("neither the cut team nor the held one gets back to 80% of normal bookings within the run, "
                           "so how much later the cut recovers is not measured here.")
        same = ": on this pipeline the cut does not change when bookings recover" if diff == 0 else ""
        return text + (f"the cut team gets back to 80% of normal bookings {_months_later(diff)} in every resample of the "
                       f"runs (so no interval to show){same}.")
    return text + (f"the cut team takes {diff:.0f} months longer to get back to 80% of normal bookings "
                   f"(95% CI {lo:.0f} to {hi:.0f}).")


def _months_later(diff: float) -> str:
    return "in the same month as the held one" if diff == 0 else f"{diff:.0f} months {'later' if diff > 0 else 'sooner'} than the held one"


# ---- figures -----------------------------------------------------------------------------------------
def curves_figure(runs: pd.DataFrame, scenario: Scenario, at: dt.date, rehire_at: dt.date | None = None):
    """Monthly bookings (3-month rolling mean over replications) per staffing choice, through the downturn."""
    c = curves(runs) / 1e3
    fig, ax = new_figure(figsize=(10, 4.8))
    x = pd.to_datetime(c.index)
    for name in c.columns:
        style = {"color": "black", "ls": ":", "lw": 1.5} if name == REFERENCE else {"lw": 2}
        ax.plot(x, c[name], label=name, **style)
    shock = scenario.market.shock
    if shock is not None:
        trough_end = shock.start + dt.timedelta(days=shock.trough_days)
        ax.axvspan(shock.start, trough_end, color="tab:red", alpha=0.10, label="trough")
        ax.axvspan(trough_end, trough_end + dt.timedelta(days=shock.recovery_days), color="tab:orange", alpha=0.08,
                   label="market recovering")
    ax.axvline(at, color="tab:gray", ls="--", lw=1)
    ax.annotate("decision", (at, ax.get_ylim()[1]), fontsize=8, ha="left", va="top")
    if rehire_at is not None:
        ax.axvline(rehire_at, color="tab:gray", ls="--", lw=1)
        ax.annotate("re-hire", (rehire_at, ax.get_ylim()[1]), fontsize=8, ha="left", va="top")
    ax.set_xlabel("month")
    ax.set_ylabel(f"bookings [thousand {scenario.currency} / month, 3-month mean]")
    ax.set_title("Bookings through the downturn and the recovery, by staffing choice")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    return fig


def policy_figure(table: pd.DataFrame, currency: str = "USD"):
    """Per staffing choice: total bookings, bookings per unit of cost, months to recover, with 95% CIs."""
    rows = table.drop(index=REFERENCE, errors="ignore")
    fig, axes = new_figure(1, 3, figsize=(12, 3.2), sharey=True)
    y = np.arange(len(rows))
    panels = (("bookings", 1e6, f"bookings over the run [million {currency}]"),
              ("bookings_per_cost", 1, f"bookings per {currency} of team cost"),
              ("months_to_recover", 1, "months from the shock back to 80% of normal"))
    for ax, (metric, scale, label) in zip(axes, panels):
        interval_rows(ax, rows[metric] / scale, rows[f"{metric}_low"] / scale, rows[f"{metric}_high"] / scale,
                      xlabel=label)
    axes[0].set_yticks(y, rows.index)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("staffing choice")
    fig.suptitle("Staffing choices in the downturn: what they book, what it costs, how fast they recover (95% CIs)")
    fig.tight_layout()
    return fig


def causes_sentence(table: pd.DataFrame, cut: str) -> str:
    """`causes` in words: what refocus and the cut look like with each mechanism switched off."""
    per, rec = table.loc["bookings per unit of cost, against holding"], table.loc["months longer to recover than holding"]

    def d(row, unit: str = "", digits: int = 2) -> str:
        return f"{row['diff']:+.{digits}f}{unit} (95% CI {row['diff_low']:+.{digits}f} to {row['diff_high']:+.{digits}f})"

    parts = [f"Per unit of team cost, holding and refocusing books {d(per.loc['hold and refocus'])} against holding"]
    if NO_HUNT in per.index:
        parts.append(f"without the hunting {d(per.loc[NO_HUNT])}")
    if NO_DECLINE in per.index:
        parts.append(f"hunting without declining poor fit {d(per.loc[NO_DECLINE])}")
    text = "; ".join(parts) + "."
    text += f" The {cut.split()[-1]} cut takes {d(rec.loc[cut], ' months', 0)} longer than holding to recover"
    if EARLY_CUT in rec.index:
        text += f"; re-hired when the trough ends, at full speed, {d(rec.loc[EARLY_CUT], ' months', 0)}"
    return text + "."
