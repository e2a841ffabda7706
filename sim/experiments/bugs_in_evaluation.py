"""Principle 06, bugs in evaluation, in the simulator: what pre-release testing, disclosure and fast support buy.

Every scenario here runs `BugPolicy` on the same market (common random numbers, and each deal's bug draws
come from its own stream), so a lower bug chance removes bugs from the same deals and differences are
paired. Results are judged on bookings, win rate and the mean days from creation to win of won deals, with
95% paired intervals.

Each run goes on `FOLLOW_DAYS` past the scenario's end and is measured on the deals created within the
scenario's own days, so the year's deals can close: a bug that delays a deal past the year's end is then
a delay, not a loss, and the truncation noise of a hard year-end stays out of the comparison.

- `release_choices`: no testing, field testing, plus a friendly beta, plus disclosing known issues, plus
  fast support — each step added to the one before;
- `what_if`: those, plus the ablation (the same releases with buyers who shrug bugs off, while the rep still
  spends the hours) and the near-zero end (thorough testing against a product with no bugs at all);
  `COMPARISONS` names the pairs, `effects` measures them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.plots import new_figure
from ..core.metrics import pipeline_metrics
from ..core.stats import paired_diff_ci
from ..policies.bugs import LOSS_REASON
from ..scenario import Scenario
from .replicate import replicate_each
from .simulate import SimResult

NO_TESTING = "no pre-release testing"
FIELD = "field testing"
BETA = "field testing + friendly beta"
DISCLOSE = "+ disclose known issues"
FAST = "+ fast support"
SHRUG = ", buyer shrugs (ablation)"
THOROUGH = "thorough testing + beta"
NO_BUGS = "no bugs at all"
FOLLOW_DAYS = 180   # days each run goes on after the scenario's end, so the year's deals can close


def with_bugs(scenario: Scenario, **settings: Any) -> Scenario:
    """`scenario` with the bug policy on, its current settings (if any) changed by `settings`."""
    current = scenario.policies.bugs
    base = current.model_dump() if current is not None else {}
    return scenario.replace({"policies.bugs": {**base, **settings}})


def release_choices(scenario: Scenario, testing_hours: float = 40.0, response_hours: float = 4.0) -> dict[str, Scenario]:
    """The release choices, each adding to the one before: no testing, field testing, a friendly beta,
    disclosing known issues, support that answers in `response_hours`."""
    steps = [
        (NO_TESTING, {"testing_hours": 0.0, "beta": False, "disclose": False}),
        (FIELD, {"testing_hours": testing_hours}),
        (BETA, {"beta": True}),
        (DISCLOSE, {"disclose": True}),
        (FAST, {"response_hours": response_hours}),
    ]
    out, settings = {}, {}
    for name, change in steps:
        settings = {**settings, **change}
        out[name] = with_bugs(scenario, **settings)
    return out


def what_if(scenario: Scenario, testing_hours: float = 40.0, response_hours: float = 4.0,
            thorough_hours: float = 120.0) -> dict[str, Scenario]:
    """The release choices, the ablation (no testing and testing + beta with buyers who shrug bugs off; the
    rep still spends the hours) and the near-zero end (thorough testing + beta, and a product with no bugs)."""
    out = release_choices(scenario, testing_hours, response_hours)
    out[NO_TESTING + SHRUG] = with_bugs(out[NO_TESTING], buyer_reacts=False)
    out[BETA + SHRUG] = with_bugs(out[BETA], buyer_reacts=False)
    out[THOROUGH] = with_bugs(out[BETA], testing_hours=thorough_hours)
    out[NO_BUGS] = with_bugs(scenario, bug_chance=0.0)
    return out


# label -> (scenario, reference): what `what_if` compares, in the order the notebook shows it
COMPARISONS = {
    "field testing vs none": (FIELD, NO_TESTING),
    "field testing + beta vs none (the claim)": (BETA, NO_TESTING),
    "disclosing known issues, on top": (DISCLOSE, BETA),
    "fast support, on top": (FAST, DISCLOSE),
    "ablation: testing + beta vs none, buyer shrugs": (BETA + SHRUG, NO_TESTING + SHRUG),
    "near zero: no bugs vs thorough testing + beta": (NO_BUGS, THOROUGH),
}


def bug_measure(result: SimResult, follow_days: int = 0) -> dict[str, float]:
    """Pipeline metrics of the deals created before the last `follow_days` of the run (the year's deals,
    followed until most have closed), their mean days from creation to win (`mean_cycle_days`), the bugs
    their customers met, the losses and stalls those bugs caused (read from the tables, as on an export), and
    the residual bug chance."""
    out = dict(result.metrics)
    opp = result.tables.opportunities
    cutoff = pd.Timestamp(result.scenario.start) + pd.Timedelta(days=result.scenario.days - follow_days)
    cohort = opp[opp["created_at"] < cutoff]
    out.update(pipeline_metrics(cohort))
    won = cohort[cohort["outcome"] == "won"]
    days = (won["closed_at"] - won["created_at"]).dt.total_seconds() / 86400
    out["mean_cycle_days"] = float(days.mean()) if len(won) else np.nan
    act = result.tables.activities
    bugs = act[(act["kind"] == "bug") & act["opportunity_id"].isin(set(cohort["opportunity_id"]))]
    out["bugs"] = float(len(bugs))
    out["bug_losses"] = float((cohort["loss_reason"] == LOSS_REASON).sum()) if "loss_reason" in cohort else 0.0
    out["bug_stalls"] = float((bugs["outcome"] == "stalled").sum())
    policy = result.scenario.policies.bugs
    out["bug_chance"] = policy.chance if policy is not None else 0.0
    return out


def run(scenarios: Mapping[str, Scenario], n: int = 8, seed: int = 0, follow_days: int = FOLLOW_DAYS,
        **kwargs: Any) -> pd.DataFrame:
    """Replicate each scenario on common seeds, each run `follow_days` longer than the scenario and measured on
    the deals created within the scenario's own days (`bug_measure`): one row per (scenario, replication)."""
    longer = {name: sc.replace(days=sc.days + follow_days) for name, sc in scenarios.items()}
    return replicate_each(longer, n, seed, measure=partial(bug_measure, follow_days=follow_days), **kwargs)


def paired(runs: pd.DataFrame, a: str, b: str, metric: str) -> tuple[float, float, float]:
    """Mean of `metric` in scenario `a` minus scenario `b`, replication by replication, with its 95% CI."""
    by = {name: g.sort_values("replication")[metric].to_numpy() for name, g in runs.groupby("scenario", sort=False)}
    return paired_diff_ci(by[a], by[b])


def effects(runs: pd.DataFrame, pairs: Mapping[str, tuple[str, str]],
            metrics: Sequence[str] = ("bookings", "win_rate", "mean_cycle_days")) -> pd.DataFrame:
    """Per labelled comparison (label -> (scenario, reference)): each metric's paired difference and 95% CI
    (columns `<metric>`, `<metric>_low`, `<metric>_high`), and the two residual bug chances."""
    chance = runs.groupby("scenario")["bug_chance"].first()
    rows = []
    for label, (a, b) in pairs.items():
        row: dict[str, Any] = {"comparison": label, "bug_chance": chance[a], "reference_chance": chance[b]}
        for m in metrics:
            row[m], row[f"{m}_low"], row[f"{m}_high"] = paired(runs, a, b, m)
        rows.append(row)
    return pd.DataFrame(rows).set_index("comparison")


def choices_table(runs: pd.DataFrame, metrics: Sequence[str] = ("bookings", "win_rate", "mean_cycle_days", "bugs",
                                                                 "bug_losses", "bug_stalls")) -> pd.DataFrame:
    """Per scenario: the residual bug chance and the mean of each metric over replications."""
    out = runs.groupby("scenario", sort=False)[["bug_chance", *metrics]].mean()
    return out


def effects_figure(table: pd.DataFrame, currency: str = "USD"):
    """Per comparison (rows of `effects`): bookings and days-to-win differences with 95% paired CIs."""
    fig, axes = new_figure(1, 2, figsize=(12, 0.55 * len(table) + 1.9), sharey=True)
    y = np.arange(len(table))
    colors = ["tab:gray" if label.startswith("ablation") else "tab:blue" for label in table.index]
    panels = (("bookings", 1e3, f"difference in bookings [thousand {currency}]"),
              ("mean_cycle_days", 1.0, "difference in days from creation to win [days]"))
    for ax, (metric, scale, label) in zip(axes, panels):
        for k, (row, color) in enumerate(zip(table.itertuples(), colors)):
            mid = getattr(row, metric) / scale
            lo, hi = getattr(row, f"{metric}_low") / scale, getattr(row, f"{metric}_high") / scale
            ax.errorbar([mid], [k], xerr=[[mid - lo], [hi - mid]], fmt="o", capsize=4, color=color)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, table.index)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("comparison (scenario vs reference)")
    axes[0].set_title("Bookings of the year's deals")
    axes[1].set_title("Sales cycle of won deals")
    fig.suptitle("What each release choice changes, paired on the same deals (95% CIs; gray = ablation)")
    fig.tight_layout()
    return fig


def headline(table: pd.DataFrame, runs: pd.DataFrame, claim: str = "field testing + beta vs none (the claim)",
             currency: str = "USD") -> str:
    """One sentence: what the claim's comparison books and saves in cycle time, with 95% CIs."""
    row = table.loc[claim]
    a, b = COMPARISONS[claim]
    base = runs.loc[runs["scenario"] == b, "bookings"].mean()
    return (f"Field testing and a friendly beta cut the chance an evaluation meets a bug from {row['reference_chance']:.0%} "
            f"to {row['bug_chance']:.0%}, and the year's deals book {row['bookings'] / 1e3:,.0f} thousand {currency} more "
            f"({row['bookings'] / base:+.1%}; 95% CI {row['bookings_low'] / 1e3:,.0f} to {row['bookings_high'] / 1e3:,.0f} "
            f"thousand) and are won {-row['mean_cycle_days']:.1f} days sooner (95% CI {-row['mean_cycle_days_high']:.1f} "
            f"to {-row['mean_cycle_days_low']:.1f}).")


def _range(low: float, high: float, scale: float = 1.0, fmt: str = ",.0f") -> str:
    return f"95% CI {low / scale:{fmt}} to {high / scale:{fmt}}"


def findings(table: pd.DataFrame, runs: pd.DataFrame, currency: str = "USD") -> list[str]:
    """Where the claim holds and where it stops, one sentence per comparison of `COMPARISONS`, numbers from `table`."""
    k = 1e3
    base = runs.loc[runs["scenario"] == NO_TESTING, "bookings"].mean()
    out = []
    rows = {label: table.loc[label] for label in table.index}
    field, claim = rows.get("field testing vs none"), rows.get("field testing + beta vs none (the claim)")
    if field is not None and claim is not None:
        out.append(f"Field testing alone takes the bug chance from {field['reference_chance']:.0%} to {field['bug_chance']:.0%} "
                   f"and adds {field['bookings'] / k:,.0f} thousand {currency} ({_range(field['bookings_low'], field['bookings_high'], k)}); "
                   f"with the beta ({claim['bug_chance']:.0%}) the gain is {claim['bookings'] / k:,.0f} thousand "
                   f"({claim['bookings'] / base:+.1%} of bookings).")
    shrug = rows.get("ablation: testing + beta vs none, buyer shrugs")
    if shrug is not None:
        cycle = _range(-shrug["mean_cycle_days_high"], -shrug["mean_cycle_days_low"], fmt=".1f")
        sooner = (f"Won deals still close {-shrug['mean_cycle_days']:.1f} days sooner ({cycle}): that part is the rep's "
                  "hours no longer spent fighting bugs." if shrug["mean_cycle_days_high"] < 0 else
                  f"The cycle changes by {-shrug['mean_cycle_days']:.1f} days ({cycle}), not shown either.")
        out.append(f"Ablation — buyers who shrug bugs off: the same testing changes bookings by {shrug['bookings'] / k:,.0f} "
                   f"thousand ({_range(shrug['bookings_low'], shrug['bookings_high'], k)}) and the win rate by "
                   f"{100 * shrug['win_rate']:+.1f} points: the bookings gain is the buyer's reaction. " + sooner)
    disclose = rows.get("disclosing known issues, on top")
    if disclose is not None:
        out.append(f"Disclosing known issues, on top: {disclose['bookings'] / k:+,.0f} thousand "
                   f"({_range(disclose['bookings_low'], disclose['bookings_high'], k)}), when telling buyers costs nothing.")
    fast = rows.get("fast support, on top")
    if fast is not None:
        out.append(f"Support that answers fast, on top: {fast['bookings'] / k:+,.0f} thousand "
                   f"({_range(fast['bookings_low'], fast['bookings_high'], k)}).")
    zero = rows.get("near zero: no bugs vs thorough testing + beta")
    if zero is not None:
        out.append(f"Near zero: going from a {zero['reference_chance']:.1%} bug chance to none adds only "
                   f"{zero['bookings'] / k:,.0f} thousand ({zero['bookings'] / base:+.1%} of bookings; "
                   f"{_range(zero['bookings_low'], zero['bookings_high'], k)}) and "
                   f"{-zero['mean_cycle_days']:.1f} days: the claim still points the same way, but there is little left to win.")
    return out


def disclosure_check(scenario: Scenario, disclosure_loss: float = 0.04, known_share: float = 0.7,
                     thorough_hours: float = 120.0) -> dict[str, Scenario]:
    """Disclosure that puts `disclosure_loss` of evaluating buyers off, on an untested release and on a clean one
    (thorough testing + beta), with `known_share` of the bugs buyers hit already known: where the advice to
    disclose holds and where it reverses."""
    buggy = with_bugs(scenario, testing_hours=0.0, beta=False, disclose=False, known_share=known_share)
    clean = with_bugs(buggy, testing_hours=thorough_hours, beta=True)
    return {"untested release": buggy, "untested release, disclosed": with_bugs(buggy, disclose=True, disclosure_loss=disclosure_loss),
            "clean release": clean, "clean release, disclosed": with_bugs(clean, disclose=True, disclosure_loss=disclosure_loss)}
