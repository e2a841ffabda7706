"""Confidence intervals for replicated simulation results (Student t; paired for common random numbers)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values` and its two-sided t confidence interval; NaNs are ignored."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, np.nan, np.nan)
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return (mean, mean - half, mean + half)


def paired_diff_ci(values, baseline, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values - baseline`, replication by replication, with its t interval.

    Pairing is right when replication i of both used the same seed (common random numbers): the shared
    noise cancels and the interval is much narrower than comparing two independent means.
    """
    a, b = np.asarray(values, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs equal numbers of replications, got {len(a)} and {len(b)}")
    return mean_ci(a - b, confidence)


def wilson_ci(successes, trials, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion successes/trials, element-wise (NaN where trials is 0).

    Well behaved for small counts and for rates near 0 or 1, where the usual normal interval is not.
    """
    k, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def prediction_interval(values, confidence: float = 0.95, log: bool = False) -> tuple[float, float, float]:
    """Where one more draw of `values` falls with the given confidence: (low, median, high).

    The band a simulated figure's runs give for an export's figure. The runs' own 2.5% and 97.5% quantiles
    would be too narrow with few runs (from 20 runs they hold a new draw less than 90% of the time); the
    normal-theory interval mean +/- t s sqrt(1 + 1/n) holds it at the stated confidence. With `log`, it is
    taken on the log scale (for amounts, which are skewed), when every value is positive. NaNs are ignored.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 3:
        return (np.nan, float(np.median(x)) if len(x) else np.nan, np.nan)
    use_log = log and bool((x > 0).all())
    y = np.log(x) if use_log else x
    half = float(stats.t.ppf(0.5 + confidence / 2, len(y) - 1) * y.std(ddof=1) * np.sqrt(1 + 1 / len(y)))
    lo, hi = y.mean() - half, y.mean() + half
    if use_log:
        lo, hi = np.exp(lo), np.exp(hi)
    elif (x >= 0).all():
        lo = max(lo, 0.0)
    return (float(lo), float(np.median(x)), float(hi))


def excludes_zero(low: float, high: float) -> bool:
    """Whether an interval (low, high) for a difference lies wholly on one side of zero: an effect is shown."""
    return bool(low > 0 or high < 0)


def verdict(low: float, high: float, below: str = "lower", above: str = "higher", neither: str = "not shown") -> str:
    """What an interval for a difference says, in the words the caller gives: `below` when it lies wholly below
    zero, `above` when wholly above, `neither` (by default "not shown") when it includes zero or is unknown."""
    if high < 0:
        return below
    if low > 0:
        return above
    return neither


def with_interval(value: float, low: float, high: float, fmt: str = "{:+,.0f}", label: str = "95% CI") -> str:
    """A number with its interval, as written in every headline: ``+1,200 (95% CI +300 to +2,100)``."""
    return f"{fmt.format(value)} ({label} {fmt.format(low)} to {fmt.format(high)})"
