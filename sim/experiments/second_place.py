"""Principle 09, the strong second place, in the simulator: nurturing lost deals against letting them go,
across the rate at which the winners' first implementations fail, and the break-even failure rate.

Both arms run the `SecondPlace` policy (``policies.nurture``): every loss gets its competitor and the same
failures on the same days; only the nurturing differs (``nurture: none`` against the scenario's choice), so
the difference in two-year bookings is paired on common random numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..analysis.plots import new_figure
from ..core.stats import paired_diff_ci
from ..scenario import Scenario
from .replicate import replicate_each
from .simulate import SimResult

NONE, NURTURE = "let it go", "nurture"


def nurturing(scenario: Scenario, nurture: str | None = None, **settings: object) -> Scenario:
    """`scenario` with the second-place policy on, whom it nurtures (`nurture`) and any other setting changed."""
    current = scenario.policies.nurture
    policy = current.model_dump(mode="python") if current is not None else {}
    policy.update(settings)
    if nurture is not None:
        policy["nurture"] = nurture
    return scenario.replace({"policies.nurture": policy})


def choices(scenario: Scenario, **settings: object) -> dict[str, Scenario]:
    """The what-if: let lost deals go, or nurture them as the scenario says (every loss to a competitor unless
    it says otherwise)."""
    chosen = scenario.policies.nurture.nurture if scenario.policies.nurture is not None else "competitor_losses"
    return {NONE: nurturing(scenario, "none", **settings),
            NURTURE: nurturing(scenario, chosen if chosen != "none" else "competitor_losses", **settings)}


def nurture_measure(result: SimResult) -> dict[str, float]:
    """Headline metrics, with the policy's own (win-back deals, nurture touches): what the what-if compares.
    It reads no table, so a run builds none (a quarter of a two-year run's time)."""
    return dict(result.metrics)


def sweep(scenario: Scenario, failure_rates: Sequence[float], n: int = 6, seed: int = 0, **kwargs) -> pd.DataFrame:
    """Both arms at every failure rate; one row per run, with `failure_rate` and `arm` columns."""
    scenarios, keys = {}, {}
    for f in failure_rates:
        for arm, sc in choices(scenario, failure_rate=float(f)).items():
            scenarios[f"{arm} {f:g}"], keys[f"{arm} {f:g}"] = sc, (arm, float(f))
    runs = replicate_each(scenarios, n, seed, measure=nurture_measure, **kwargs)
    runs[["arm", "failure_rate"]] = pd.DataFrame([keys[s] for s in runs["scenario"]], index=runs.index)
    return runs


def gains(runs: pd.DataFrame, metric: str = "bookings") -> pd.DataFrame:
    """Per failure rate: nurture minus let-go on `metric` (paired over replications) with its 95% CI, both
    means, the win-back deals of each arm and the nurture hours."""
    rows = []
    for f, part in runs.groupby("failure_rate"):
        a = part[part["arm"] == NURTURE].sort_values("replication")
        b = part[part["arm"] == NONE].sort_values("replication")
        d, lo, hi = paired_diff_ci(a[metric].to_numpy(), b[metric].to_numpy())
        rows.append({"failure_rate": f, "let_go": b[metric].mean(), "nurture": a[metric].mean(), "gain": d,
                     "gain_low": lo, "gain_high": hi, "winbacks_let_go": b["winback_deals"].mean(),
                     "winbacks_nurture": a["winback_deals"].mean(), "nurture_touches": a["nurture_touches"].mean()})
    return pd.DataFrame(rows).set_index("failure_rate")


def break_even(table: pd.DataFrame) -> dict[str, float]:
    """The failure rate where the mean gain crosses zero (linear between swept rates), and where the 95% CI's
    bounds cross zero: from `sure_above` on nurturing pays with confidence, below `sure_below` it costs with
    confidence. NaN where a curve does not cross within the swept range."""
    x = table.index.to_numpy(float)

    def crossing(y: np.ndarray) -> float:
        for i in range(len(x) - 1):
            if y[i] < 0 <= y[i + 1] or (y[i] <= 0 < y[i + 1]):
                return float(x[i] + (x[i + 1] - x[i]) * (0 - y[i]) / (y[i + 1] - y[i]))
        return np.nan

    return {"break_even": crossing(table["gain"].to_numpy(float)),
            "sure_above": crossing(table["gain_low"].to_numpy(float)),
            "sure_below": crossing(table["gain_high"].to_numpy(float))}


def refine_break_even(scenario: Scenario, table: pd.DataFrame, n: int = 20, seed: int = 0, steps: int = 3,
                      **kwargs) -> tuple[pd.DataFrame, dict[str, float]]:
    """The break-even failure rate found by bisection on common random numbers, not read off a coarse grid.

    `table` is a `gains` table over a grid of failure rates run with `n` replications. Each curve that crosses
    zero between two grid rates (the mean gain, and its 95% CI's low and high bounds) is bisected `steps` times
    between them, running both arms `n` times at each new rate on the same seeds; every rate run joins the
    table. Returns the finer table and `break_even` on it: the break-even rate and, around it, the rates from
    which nurturing pays with confidence (`sure_above`) and below which it costs with confidence (`sure_below`):
    the failure rates between those two are where the data from these runs cannot tell gain from loss.
    """
    out = table.copy()
    for column in ("gain", "gain_low", "gain_high"):
        y = out[column].to_numpy(float)
        x = out.index.to_numpy(float)
        cross = next((i for i in range(len(x) - 1) if (y[i] < 0) != (y[i + 1] < 0)), None)
        if cross is None:
            continue
        lo, hi, lo_negative = x[cross], x[cross + 1], y[cross] < 0
        for _ in range(steps):
            mid = round((lo + hi) / 2, 4)
            if mid not in out.index:
                out = pd.concat([out, gains(sweep(scenario, [mid], n=n, seed=seed, **kwargs))]).sort_index()
            if (out.loc[mid, column] < 0) == lo_negative:
                lo = mid
            else:
                hi = mid
    return out, break_even(out)


def headline(table: pd.DataFrame, even: dict[str, float], currency: str = "USD") -> str:
    """One sentence: the break-even failure rate, and the gain at the highest rate swept with its CI."""
    top = table.iloc[-1]
    at = "not within the rates swept" if np.isnan(even["break_even"]) else f"at about {even['break_even']:.0%}"
    if not np.isnan(even["break_even"]):
        low = f"{even['sure_below']:.0%}" if not np.isnan(even["sure_below"]) else "none of the rates swept"
        high = f"{even['sure_above']:.0%}" if not np.isnan(even["sure_above"]) else "beyond the rates swept"
        at += f" (between {low} and {high} these runs cannot tell gain from loss)"
    small = max(abs(top["gain_low"]), abs(top["gain_high"])) < 1e3     # a pipeline of small orders: not "0 thousand"
    scale, unit = (1.0, "") if small else (1e3, " thousand")
    return (f"Nurturing lost deals pays once the winners' first implementations fail often enough: break-even {at}; "
            f"at {table.index[-1]:.0%} failures it adds {top['gain'] / scale:,.0f}{unit} {currency} of two-year bookings "
            f"(95% CI {top['gain_low'] / scale:,.0f} to {top['gain_high'] / scale:,.0f}).")


def sweep_figure(table: pd.DataFrame, even: dict[str, float], currency: str = "USD"):
    """Gain in two-year bookings from nurturing, by the competitors' implementation failure rate, with its CI."""
    fig, ax = new_figure(figsize=(8.5, 4.4))
    x = table.index.to_numpy(float) * 100
    ax.fill_between(x, table["gain_low"] / 1e3, table["gain_high"] / 1e3, color="tab:blue", alpha=0.2,
                    label="95% CI (paired replications)")
    ax.plot(x, table["gain"] / 1e3, marker="o", color="tab:blue", label="mean gain")
    ax.axhline(0, color="black", lw=1)
    if not np.isnan(even["break_even"]):
        ax.axvline(even["break_even"] * 100, color="tab:red", ls="--", lw=1.2,
                   label=f"break-even ≈ {even['break_even']:.0%}")
    ax.set_xlabel("competitors' first implementations that fail [% of the deals they won from us]")
    ax.set_ylabel(f"two-year bookings, nurture − let go [thousand {currency}]")
    ax.set_title("Nurturing lost deals: it costs rep hours now and pays when the winner fails")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig
