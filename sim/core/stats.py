"""Confidence intervals for replicated simulation results (Student t; paired for common random numbers), and
what a comparison of two rates can detect at its sample size (80% power, 5% level)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri, stdtrit   # the normal's and Student t's quantiles (what scipy.stats' ppf
                                           # calls), without importing scipy.stats: a second per process


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values` and its two-sided t confidence interval; NaNs are ignored."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, np.nan, np.nan)
    half = float(stdtrit(len(x) - 1, 0.5 + confidence / 2) * x.std(ddof=1) / np.sqrt(len(x)))
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
    z = ndtri(0.5 + confidence / 2)
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
    half = float(stdtrit(len(y) - 1, 0.5 + confidence / 2) * y.std(ddof=1) * np.sqrt(1 + 1 / len(y)))
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


# ---- what a comparison of two proportions can detect ----------------------------------------------------------
POWER = 0.80        # chance of detecting a real difference of the stated size
LEVEL = 0.05        # two-sided significance level


def _z_sum(power: float = POWER, level: float = LEVEL) -> float:
    """z_{1-level/2} + z_{power}: 1.96 + 0.84 = 2.80 at the usual 80% power and 5% level."""
    return float(ndtri(1 - level / 2) + ndtri(power))


def min_detectable_difference(n1: int, n2: int, p: float, power: float = POWER, level: float = LEVEL) -> float:
    """The smallest difference between two proportions near `p` that groups of `n1` and `n2` would detect.

    Normal approximation, both groups at the rate `p` (the pooled rate): (z_{1-a/2} + z_power) *
    sqrt(p (1 - p) (1/n1 + 1/n2)). With 100 deals a side at 50% it is about 0.20: a 20-point gap.
    NaN when a group is empty.
    """
    if n1 <= 0 or n2 <= 0:
        return float("nan")
    p = min(max(float(p), 0.0), 1.0)
    return _z_sum(power, level) * math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))


def deals_needed(p1: float, p2: float, power: float = POWER, level: float = LEVEL) -> int:
    """Deals per group to detect rates `p1` against `p2` (equal groups): the textbook sample size.

    n = (z_{1-a/2} + z_power)^2 (p1 (1 - p1) + p2 (1 - p2)) / (p1 - p2)^2, rounded up; 385 a side for 50%
    against 60%. Raises ValueError when the rates are equal (no sample size detects no difference).
    """
    if p1 == p2:
        raise ValueError("deals_needed: the two rates are equal, no sample size can tell them apart")
    var = p1 * (1 - p1) + p2 * (1 - p2)
    return int(math.ceil(_z_sum(power, level) ** 2 * var / (p1 - p2) ** 2 - 1e-9))


@dataclass(frozen=True)
class Detectable:
    """What one comparison of two win (or show, or conversion) rates can and cannot tell.

    `difference` is rate a minus rate b with its 95% interval (normal approximation); `mdd` the smallest
    difference these group sizes would detect (80% power, 5% level); `target` the difference the what-if
    expects (or, without one, the observed difference) and `deals_needed` the deals, both groups together,
    it would take to detect it.
    """

    label_a: str
    label_b: str
    n_a: int
    n_b: int
    rate_a: float
    rate_b: float
    difference: float
    low: float
    high: float
    mdd: float
    target: float | None
    deals_needed: int | None

    @property
    def shown(self) -> bool:
        """True when the 95% interval of the difference excludes 0."""
        return bool(self.low > 0 or self.high < 0)

    def sentence(self) -> str:
        """One sentence for a reader: the difference and its interval, or what the data cannot tell apart."""
        gap = f"{self.label_a}: {self.rate_a:.0%} of {self.n_a:,} deals; {self.label_b}: {self.rate_b:.0%} of {self.n_b:,}"
        if self.rate_a == self.rate_b and self.rate_a in (0.0, 1.0):     # nothing varies: no spread to test against
            return (f"{gap}: every one of these deals {'won' if self.rate_a else 'was lost'}, so this data cannot "
                    "compare the two groups at all.")
        if self.shown:
            return (f"{gap}: a difference of {100 * self.difference:+.0f} points (95% CI {100 * self.low:+.0f} to "
                    f"{100 * self.high:+.0f}), which your data can show.")
        return f"{gap}: " + cannot_tell(self.mdd, self.deals_needed)

    def to_dict(self) -> dict:
        """Plain values for report.json (`cards[i].evidence.detectable`)."""
        return {"a": self.label_a, "b": self.label_b, "n_a": self.n_a, "n_b": self.n_b, "rate_a": self.rate_a,
                "rate_b": self.rate_b, "difference": self.difference, "ci_low": self.low, "ci_high": self.high,
                "mdd": self.mdd, "target": self.target, "deals_needed": self.deals_needed, "shown": self.shown,
                "sentence": self.sentence()}


def days_to_win_words(median: float) -> str:
    """" in a median N days to win" for a headline; "" when not known, and " in under a day (median)" where the median
    deal was won the day it was created (order lines, web orders), which "a median 0 days" would misstate."""
    if median != median:
        return ""
    if median < 0.5:
        return " in under a day (median)"
    return f" in a median {median:.0f} days to win"


def cannot_tell(mdd: float, needed: int | None) -> str:
    """"your data cannot tell apart a difference smaller than X points (you would need about N deals)"."""
    text = f"your data cannot tell apart a difference smaller than {100 * mdd:.0f} points"
    if needed is not None:
        text += f" (you would need about {needed:,} deals)"
    return text + "."


def detectable(won_a: int, n_a: int, won_b: int, n_b: int, label_a: str = "a", label_b: str = "b",
               target: float | None = None) -> Detectable:
    """Compare two rates `won_a / n_a` and `won_b / n_b`: the difference, its 95% interval and what is detectable.

    `target`: the difference worth detecting (e.g. the what-if's effect, in rate units); without it, the
    observed difference. `deals_needed` counts both groups together (equal halves), about the number of
    deals at the current rate it takes to detect `target`; None when the target is 0 or no deals were seen.
    """
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"detectable: both groups need deals, got {n_a} and {n_b}")
    pa, pb = won_a / n_a, won_b / n_b
    diff = pa - pb
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    z = float(ndtri(0.975))
    pooled = (won_a + won_b) / (n_a + n_b)
    mdd = min_detectable_difference(n_a, n_b, pooled)
    goal = diff if target is None else float(target)
    needed = None
    if goal != 0:
        base = min(max(pooled - goal / 2, 0.0), 1.0)
        other = min(max(base + abs(goal), 0.0), 1.0)
        if other != base:
            needed = 2 * deals_needed(base, other)
    return Detectable(label_a, label_b, int(n_a), int(n_b), pa, pb, diff, diff - z * se, diff + z * se, mdd,
                      None if target is None else float(target), needed)
