"""Principle 10, free trials, in the simulator: no trial, a free trial or a paid pilot, and the support behind it.

Every scenario runs `TrialPolicy` on the same market (common random numbers; each buyer's engagement and
luck come from its own stream), so the offers meet the same buyers and differences are paired. A trial is
judged on its conversion (won / closed deals that had one), on bookings, and on bookings net of its cost:
bookings + pilot fees kept (not credited to a purchase) - support hours x the loaded cost of an hour. Each
run goes on `FOLLOW_DAYS` past the scenario's end and is measured on the deals created within the
scenario's own days, read from the tables (`activities` trial rows) exactly as an export would be.

- `offers`: none / free / paid on one scenario;
- `investment_check`: the claim and its ablation — free trial and paid pilot with the investment effect on,
  and the paid pilot with it off;
- `support_sweep`: each offer across the support hours per trial (where the claim stops paying).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.plots import new_figure
from ..analysis.trials import TRIAL_TYPES
from ..analysis.trials import trials as trial_rows
from ..core.metrics import pipeline_metrics
from ..core.stats import mean_ci, paired_diff_ci
from ..scenario import Scenario
from .replicate import replicate_each
from .simulate import SimResult

OFFERS = {"no trial": "none", "free trial": "free", "paid pilot": "paid"}
PAID_NO_INVESTMENT = "paid pilot, no investment effect"
FOLLOW_DAYS = 180   # days each run goes on after the scenario's end, so the year's deals can close


@dataclass(frozen=True)
class Costs:
    """What a trial costs us: the loaded cost of one hour of support, whoever gives it."""

    support_hour: float = 75.0

    def net(self, runs: pd.DataFrame) -> pd.Series:
        """Bookings + pilot fees kept - support hours x cost, per run."""
        return runs["bookings"] + runs["trial_fees_kept"] - runs["trial_support_hours"] * self.support_hour


def with_trials(scenario: Scenario, **settings: Any) -> Scenario:
    """`scenario` with the trial policy on, its current settings (if any) changed by `settings`."""
    current = scenario.policies.trials
    base = current.model_dump() if current is not None else {}
    return scenario.replace({"policies.trials": {**base, **settings}})


def offers(scenario: Scenario, **settings: Any) -> dict[str, Scenario]:
    """No trial, a free trial and a paid pilot on `scenario`, with the same other trial settings."""
    return {name: with_trials(scenario, offer=offer, **settings) for name, offer in OFFERS.items()}


def investment_check(scenario: Scenario, **settings: Any) -> dict[str, Scenario]:
    """The offers, plus the paid pilot with no investment effect (the ablation: paying changes nothing)."""
    out = offers(scenario, **settings)
    out[PAID_NO_INVESTMENT] = with_trials(scenario, offer="paid", **{**settings, "investment_effect": 0.0})
    return out


def trial_measure(result: SimResult, follow_days: int = 0) -> dict[str, float]:
    """Pipeline metrics and trial numbers of the deals created before the last `follow_days` of the run (the
    year's deals, followed until most have closed), read from the tables as on an export: trials, conversion
    (converted / decided), hands-on hours, support hours given, pilot fees kept, and the support hours set."""
    out = dict(result.metrics)
    tables, sc = result.tables, result.scenario
    cutoff = pd.Timestamp(sc.start) + pd.Timedelta(days=sc.days - follow_days)
    opp = tables.opportunities
    cohort = opp[opp["created_at"] < cutoff]
    out.update(pipeline_metrics(cohort))
    ids = set(cohort["opportunity_id"])
    act = tables.activities
    act = act[act["opportunity_id"].isin(ids)]
    rows = trial_rows(act) if act["kind"].isin(list(TRIAL_TYPES)).any() else None
    policy = sc.policies.trials
    out["support_hours_set"] = policy.support_hours if policy is not None else 0.0
    out["trials"] = float(len(rows)) if rows is not None else 0.0
    out["trial_conversion"] = float(rows["converted"].mean()) if rows is not None else np.nan
    out["trial_engagement_hours"] = float(rows["engagement_hours"].mean()) if rows is not None else np.nan
    out["trial_support_hours"] = float(act.loc[act["kind"] == "support", "duration_minutes"].sum() / 60.0)
    out["trial_fees_kept"] = 0.0
    if rows is not None and policy is not None and policy.offer == "paid":
        deals = cohort.set_index("opportunity_id").loc[rows["opportunity_id"]]
        fees = (policy.pilot_fee * deals["first_estimate"]).round(2)
        kept = ~(deals["outcome"] == "won") if policy.fee_credited else pd.Series(True, index=deals.index)
        out["trial_fees_kept"] = float(fees[kept.to_numpy()].sum())
    return out


def run(scenarios: Mapping[str, Scenario], n: int = 8, seed: int = 0, costs: Costs = Costs(),
        follow_days: int = FOLLOW_DAYS, **kwargs: Any) -> pd.DataFrame:
    """Replicate each scenario on common seeds, each run `follow_days` longer than the scenario and measured on
    the deals created within its own days (`trial_measure`); one row per run, with `net_bookings`."""
    longer = {name: sc.replace(days=sc.days + follow_days) for name, sc in scenarios.items()}
    runs = replicate_each(longer, n, seed, measure=partial(trial_measure, follow_days=follow_days), **kwargs)
    runs["net_bookings"] = costs.net(runs)
    return runs


def paired(runs: pd.DataFrame, a: str, b: str, metric: str) -> tuple[float, float, float]:
    """Mean of `metric` in scenario `a` minus scenario `b`, replication by replication, with its 95% CI."""
    by = {name: g.sort_values("replication")[metric].to_numpy() for name, g in runs.groupby("scenario", sort=False)}
    return paired_diff_ci(by[a], by[b])


def offers_table(runs: pd.DataFrame, reference: str = "no trial") -> pd.DataFrame:
    """Per scenario: trials, conversion with its CI, engagement, support on time, bookings and net bookings
    with their paired difference to `reference` (95% CIs)."""
    rows = []
    for name, g in runs.groupby("scenario", sort=False):
        row: dict[str, Any] = {"scenario": name, "trials": g["trials"].mean()}
        row["conversion"], row["conversion_low"], row["conversion_high"] = mean_ci(g["trial_conversion"])
        row["hands_on_hours"] = g["trial_engagement_hours"].mean()
        row["support_hours"] = g["trial_support_hours"].mean()
        row["support_on_time"] = g["trial_support_on_time"].mean()
        for m in ("bookings", "net_bookings"):
            row[m] = g[m].mean()
            row[f"{m}_diff"], row[f"{m}_diff_low"], row[f"{m}_diff_high"] = paired(runs, name, reference, m)
        rows.append(row)
    return pd.DataFrame(rows).set_index("scenario")


# ---- where it holds: across the support we give ---------------------------------------------------------
def support_sweep(scenario: Scenario, hours: Sequence[float] = (0.0, 2.0, 6.0, 12.0), n: int = 6, seed: int = 0,
                  costs: Costs = Costs(), settings: Mapping[str, Any] | None = None, **kwargs: Any) -> pd.DataFrame:
    """Free trial and paid pilot at each number of support hours per trial (other trial `settings` as given),
    and no trial once (it gives no support). Columns `offer` and `support_hours_set` say which."""
    settings = dict(settings or {})
    variants = {"no trial": with_trials(scenario, offer="none", **settings)}
    for h in hours:
        for name, offer in list(OFFERS.items())[1:]:
            variants[f"{name} | {h:g} h"] = with_trials(scenario, offer=offer, support_hours=h, **settings)
    runs = run(variants, n, seed, costs, **kwargs)
    runs["offer"] = runs["scenario"].str.split(" | ", regex=False).str[0]
    return runs


def sweep_curves(runs: pd.DataFrame, metric: str, against_none: bool = False) -> pd.DataFrame:
    """Per offer and support hours: `metric` (or its paired difference to no trial), mean and 95% CI."""
    none = runs[runs["offer"] == "no trial"].set_index("replication")[metric]
    rows = []
    for (offer, hours), g in runs[runs["offer"] != "no trial"].groupby(["offer", "support_hours_set"], sort=True):
        values = g.set_index("replication")[metric]
        if against_none:
            mean, lo, hi = paired_diff_ci(values.to_numpy(), none.reindex(values.index).to_numpy())
        else:
            mean, lo, hi = mean_ci(values)
        rows.append({"offer": offer, "support_hours": hours, "mean": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def gap_curve(runs: pd.DataFrame, metric: str = "trial_conversion", a: str = "paid pilot", b: str = "free trial") -> pd.DataFrame:
    """Per support hours: `metric` of offer `a` minus offer `b`, paired by replication, mean and 95% CI."""
    rows = []
    for hours, g in runs[runs["offer"].isin([a, b])].groupby("support_hours_set", sort=True):
        by = {o: x.set_index("replication")[metric] for o, x in g.groupby("offer")}
        mean, lo, hi = paired_diff_ci(by[a].to_numpy(), by[b].reindex(by[a].index).to_numpy())
        rows.append({"support_hours": hours, "mean": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def sweep_figure(runs: pd.DataFrame, who: str = "the reps'"):
    """Left: how much better a paid pilot converts than a free trial, across support hours (paired). Right: the
    win rate of all deals under each offer against offering no trial."""
    fig, (left, right) = new_figure(1, 2, figsize=(11, 4.2))
    gap = gap_curve(runs)
    left.plot(gap["support_hours"], 100 * gap["mean"], marker="o", color="tab:blue", label="paid pilot - free trial")
    left.fill_between(gap["support_hours"], 100 * gap["ci_low"], 100 * gap["ci_high"], color="tab:blue", alpha=0.18, lw=0)
    left.set_ylabel("conversion, paid pilot minus free trial [points]")
    left.set_title("What paying adds to conversion")
    colors = {"free trial": "tab:orange", "paid pilot": "tab:blue"}
    for offer, g in sweep_curves(runs, "win_rate", against_none=True).groupby("offer"):
        right.plot(g["support_hours"], 100 * g["mean"], marker="o", color=colors[offer], label=offer)
        right.fill_between(g["support_hours"], 100 * g["ci_low"], 100 * g["ci_high"], color=colors[offer], alpha=0.18, lw=0)
    right.set_ylabel("win rate of all deals vs no trial [points]")
    right.set_title("Win rate, against offering no trial")
    for ax in (left, right):
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel(f"support per trial [hours of {who} time]")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Free trial or paid pilot, by the support we give each one (paired, 95% CIs)")
    fig.tight_layout()
    return fig


def check_figure(runs: pd.DataFrame, reference: str = "free trial"):
    """What paying adds to trial conversion, paired on the same buyers: each other trial offer minus `reference`."""
    offers_ = [name for name in dict.fromkeys(runs["scenario"]) if name not in ("no trial", reference)]
    diffs = [paired(runs, name, reference, "trial_conversion") for name in offers_]
    fig, ax = new_figure(figsize=(8, 0.7 * len(offers_) + 1.6))
    for k, (name, (d, lo, hi)) in enumerate(zip(offers_, diffs)):
        color = "tab:gray" if name == PAID_NO_INVESTMENT else "tab:blue"
        ax.errorbar([100 * d], [k], xerr=[[100 * (d - lo)], [100 * (hi - d)]], fmt="o", capsize=4, color=color)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(offers_)), offers_)
    ax.invert_yaxis()
    ax.set_ylim(len(offers_) - 0.5, -0.5)
    ax.set_xlabel(f"trial conversion minus the {reference}'s [points]")
    ax.set_ylabel("offer")
    ax.set_title("What paying adds to trial conversion, on the same buyers (95% CIs; gray = ablation)", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return fig


def headline(runs: pd.DataFrame) -> str:
    """One sentence: how much better a paid pilot converts than a free trial, with and without the investment effect."""
    d, lo, hi = paired(runs, "paid pilot", "free trial", "trial_conversion")
    d0, lo0, hi0 = paired(runs, PAID_NO_INVESTMENT, "free trial", "trial_conversion")
    return (f"A paid pilot converts {100 * d:+.1f} points better than a free trial (95% CI {100 * lo:+.1f} to "
            f"{100 * hi:+.1f}) when paying makes buyers engage more; with no investment effect the difference is "
            f"{100 * d0:+.1f} points (95% CI {100 * lo0:+.1f} to {100 * hi0:+.1f}).")


def _ci(low: float, high: float, scale: float = 1.0, fmt: str = "+,.0f") -> str:
    return f"95% CI {low / scale:{fmt}} to {high / scale:{fmt}}"


def findings(runs: pd.DataFrame, sweep: pd.DataFrame | None = None, currency: str = "USD") -> list[str]:
    """Where the claim holds and where it stops, one sentence each, numbers from `runs` (`investment_check`)
    and `sweep` (`support_sweep`)."""
    k, out = 1e3, []
    for offer in ("free trial", "paid pilot"):
        w, wlo, whi = paired(runs, offer, "no trial", "win_rate")
        n, nlo, nhi = paired(runs, offer, "no trial", "net_bookings")
        out.append(f"{offer.capitalize()} against no trial: win rate {100 * w:+.1f} points ({_ci(100 * wlo, 100 * whi, fmt='+.1f')}), "
                   f"bookings net of trial cost {n / k:+,.0f} thousand {currency} ({_ci(nlo, nhi, k)}).")
    hours = runs.groupby("scenario")["trial_engagement_hours"].mean()
    out.append(f"Buyers put {hours['free trial']:.0f} hands-on hours into a free trial, {hours['paid pilot']:.0f} into a paid "
               f"pilot, and {hours[PAID_NO_INVESTMENT]:.0f} into a pilot when paying changes nothing.")
    if sweep is not None:
        gap = gap_curve(sweep).set_index("support_hours")
        low, high = gap.index.min(), gap.index.max()
        out.append(f"With {low:g} hours of support per trial a paid pilot converts {100 * gap.loc[low, 'mean']:+.1f} points "
                   f"better than a free trial ({_ci(100 * gap.loc[low, 'ci_low'], 100 * gap.loc[low, 'ci_high'], fmt='+.1f')}); "
                   f"with {high:g} hours, {100 * gap.loc[high, 'mean']:+.1f} points "
                   f"({_ci(100 * gap.loc[high, 'ci_low'], 100 * gap.loc[high, 'ci_high'], fmt='+.1f')}): "
                   "what the buyer puts in pays only when we help them succeed.")
    return out


def screening_check(scenario: Scenario, screening: float = 0.8, **settings: Any) -> dict[str, Scenario]:
    """A free trial against a paid pilot that changes nothing in the buyer (no investment effect) but that only
    buyers with a real budget tend to accept (`screening`): what an export's 'pilots convert better' can be."""
    return {"free trial": with_trials(scenario, offer="free", **settings),
            "paid pilot, screening only": with_trials(scenario, offer="paid", investment_effect=0.0, screening=screening, **settings)}
