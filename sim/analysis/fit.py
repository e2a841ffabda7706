"""What an export says about its pipeline, measured the same way on an export and on a simulated run.

These are the numbers a calibration fits (`sim.experiments.calibrate`): when the observation window is,
how many leads arrive each month, which deals are repeat business, who is active, how long each stay in a
stage lasts and how it ends, and a few statistics of those stays. Tables in, numbers out; every function
states the columns it needs (`require`), and nothing here knows the simulator.

Intervals: shares use the one Wilson interval (`sim.core.stats.wilson_ci`); quantiles use distribution-free
order-statistic intervals (`quantile_ci`); counts per unit of time use exact Poisson intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..core.schema import require
from ..core.stats import wilson_ci
from ..core.tables import Tables

DAY = pd.Timedelta(days=1)
MONTH_DAYS = 365.25 / 12
ONE_STAGE = "Open deal"          # the one stage of an export without stage history
Z90 = float(stats.norm.ppf(0.9))  # a lognormal's median / 10th percentile = exp(Z90 * spread)


# ---- intervals ------------------------------------------------------------------------------------
def quantile_ci(values, q: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """The `q` quantile of `values` and a distribution-free interval from order statistics.

    The number of values below the true quantile is binomial(n, q), so the order statistics at ranks
    n q -/+ z sqrt(n q (1 - q)) bound it with the stated confidence, whatever the distribution.
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    half = z * math.sqrt(n * q * (1 - q))
    lo = x[max(int(math.floor(n * q - half)), 1) - 1]
    hi = x[min(int(math.ceil(n * q + half)), n) - 1]
    return (float(np.quantile(x, q)), float(lo), float(hi))


def poisson_ci(count: float, exposure: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """A rate `count / exposure` with its exact (Garwood) Poisson interval."""
    a = 1 - confidence
    lo = stats.chi2.ppf(a / 2, 2 * count) / 2 if count > 0 else 0.0
    hi = stats.chi2.ppf(1 - a / 2, 2 * count + 2) / 2
    return (count / exposure, float(lo) / exposure, float(hi) / exposure)


def share_ci(successes: float, trials: float) -> tuple[float, float, float]:
    """A share with its Wilson interval (NaN when there are no trials)."""
    if trials <= 0:
        return (math.nan, math.nan, math.nan)
    lo, hi = wilson_ci(successes, trials)
    return (successes / trials, float(lo), float(hi))


# ---- the window and the lead flow -------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """The days an export covers: from the first deal's creation to the day after its last date."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def days(self) -> int:
        return int((self.end - self.start) / DAY)

    def months(self) -> pd.DataFrame:
        """Each calendar month touching the window, with the days of it inside the window (exposure)."""
        periods = pd.period_range(self.start, self.end - DAY, freq="M")
        first = np.maximum(periods.start_time, self.start)
        after = np.minimum((periods + 1).start_time, self.end)
        return pd.DataFrame({"month": periods, "days": (after - first) / DAY}).set_index("month")

    def full_months(self) -> pd.PeriodIndex:
        """The calendar months wholly inside the window."""
        m = self.months()
        return m.index[m["days"] >= m.index.days_in_month]


def window(tables: Tables) -> Window:
    """The observation window of the tables: every creation, close and stage change lies inside it."""
    opp = tables.opportunities
    require(opp, ["created_at"], "observation window")
    dates = [opp["created_at"], opp.get("closed_at", pd.Series(dtype="datetime64[ns]"))]
    hist = tables.stage_history
    dates += [hist["entered_at"], hist["exited_at"]]
    every = pd.concat([d for d in dates if len(d)]).dropna()
    return Window(opp["created_at"].min().normalize(), every.max().normalize() + DAY)


def arrival_window(opp: pd.DataFrame, win: Window) -> Window:
    """The days leads were seen arriving: from the first creation to the day after the last one (at most
    `win`'s end). Counting leads up to the last *close* would spread them over days when none could be seen
    arriving, and underestimate the flow."""
    created = opp["created_at"].dropna()
    if not len(created):
        return win
    return Window(win.start, min(win.end, created.max().normalize() + DAY))


def repeat_business(opp: pd.DataFrame) -> pd.Series:
    """True for a deal whose account had already signed (another won deal closed on or before its creation).

    That is how the simulator makes repeat business (a customer comes back after its first win), and how
    an export shows it when its deals carry account ids. Without account ids every deal is new business.
    """
    if "account_id" not in opp or opp["account_id"].isna().all() or "closed_at" not in opp:
        return pd.Series(False, index=opp.index)
    won = opp[(opp["outcome"] == "won") & opp["account_id"].notna() & opp["closed_at"].notna()]
    if won.empty:   # no account has signed yet (mapping an empty date index would fail)
        return pd.Series(False, index=opp.index)
    won = won.sort_values(["closed_at", "created_at"], kind="stable")
    first = won.drop_duplicates("account_id").set_index("account_id")
    # the account's first win is new business: a deal closed the day it opened (an order line) is not its own earlier win
    first_win = opp["account_id"].map(first["closed_at"])
    is_first = opp["opportunity_id"] == opp["account_id"].map(first["opportunity_id"])
    return first_win.notna() & ~is_first & (first_win <= opp["created_at"])


def customer_days(opp: pd.DataFrame, end: pd.Timestamp) -> float:
    """Days accounts were customers within the window: from each account's first win to `end`, summed."""
    if "account_id" not in opp or opp["account_id"].isna().all():
        return 0.0
    won = opp[(opp["outcome"] == "won") & opp["account_id"].notna()]
    first_win = won.groupby("account_id")["closed_at"].min()
    return float(((end - first_win) / DAY).clip(lower=0).sum())


def monthly_counts(created: pd.Series, win: Window) -> pd.DataFrame:
    """Deals created per calendar month of the window, with the month's days inside the window."""
    months = win.months()
    counts = created.dropna().dt.to_period("M").value_counts()
    months["count"] = counts.reindex(months.index).fillna(0).astype(int)
    return months


def trend(months: pd.DataFrame) -> tuple[float, float, float]:
    """Monthly growth of the lead flow (0.05 = 5% more each month) with its 95% interval.

    A Poisson regression of the full months' counts on the month number, its interval widened by the
    counts' overdispersion (quasi-Poisson), so a bumpy but flat series is not read as a trend.
    """
    full = months[months["days"] >= months.index.days_in_month]
    y = full["count"].to_numpy(dtype=float)
    if len(y) < 4 or y.sum() == 0:
        return (math.nan, math.nan, math.nan)
    t = np.arange(len(y), dtype=float) - (len(y) - 1) / 2
    beta = np.array([math.log(max(y.mean(), 1e-9)), 0.0])
    for _ in range(50):   # Newton steps of the Poisson log-likelihood
        mu = np.exp(beta[0] + beta[1] * t)
        grad = np.array([(y - mu).sum(), ((y - mu) * t).sum()])
        hess = np.array([[mu.sum(), (mu * t).sum()], [(mu * t).sum(), (mu * t * t).sum()]])
        step = np.linalg.solve(hess, grad)
        beta += step
        if abs(step).max() < 1e-10:
            break
    mu = np.exp(beta[0] + beta[1] * t)
    dispersion = max(1.0, float(((y - mu) ** 2 / mu).sum() / (len(y) - 2)))
    cov = np.linalg.inv(np.array([[mu.sum(), (mu * t).sum()], [(mu * t).sum(), (mu * t * t).sum()]])) * dispersion
    half = float(stats.t.ppf(0.975, len(y) - 2)) * math.sqrt(cov[1, 1])
    return (math.expm1(beta[1]), math.expm1(beta[1] - half), math.expm1(beta[1] + half))


def active_owners(opp: pd.DataFrame, win: Window) -> pd.DataFrame:
    """Per full month: owners with a deal created or closed in it, and the deals they closed."""
    require(opp, ["owner", "created_at"], "owners per month")
    touched = pd.concat([
        pd.DataFrame({"owner": opp["owner"], "month": opp["created_at"].dt.to_period("M")}),
        pd.DataFrame({"owner": opp["owner"], "month": opp.get("closed_at", pd.Series(pd.NaT, index=opp.index)).dt.to_period("M")}),
    ]).dropna()
    months = win.full_months()
    owners = touched.groupby("month")["owner"].nunique().reindex(months).fillna(0).astype(int)
    closed_at = opp.get("closed_at", pd.Series(pd.NaT, index=opp.index))
    closed = closed_at.dropna().dt.to_period("M").value_counts().reindex(months).fillna(0).astype(int)
    return pd.DataFrame({"owners": owners, "closed": closed}, index=months)


# ---- stages and stays --------------------------------------------------------------------------------
def has_history(tables: Tables) -> bool:
    """Whether the tables carry stage history for their deals (else a calibration fits one stage)."""
    return len(tables.stage_history) > 0


def stage_order(tables: Tables) -> list[str]:
    """The stages in pipeline order: by the average position at which deals first enter them."""
    hist = tables.stage_history
    require(hist, ["opportunity_id", "stage", "entered_at"], "stage order")
    first = hist.sort_values("entered_at", kind="stable").drop_duplicates(["opportunity_id", "stage"])
    position = first.groupby("opportunity_id").cumcount()
    rank = position.groupby(first["stage"]).mean()
    seen = {s: i for i, s in enumerate(dict.fromkeys(first["stage"]))}
    return sorted(rank.index, key=lambda s: (rank[s], seen[s]))


def stays(tables: Tables, end: pd.Timestamp, stages: list[str] | None = None) -> pd.DataFrame:
    """One row per stay of a deal in a stage, in pipeline terms.

    Columns: opportunity_id, stage, index (position in `stages`), entered_at, days (to the stay's end, or
    to `end` while it is still open), fate: ``passed`` (moved to a later stage, or won from it), ``back``
    (moved to an earlier stage), ``lost`` (the deal was lost there) or ``open`` (still there at `end`).
    Without stage history each deal is one stay in the stage `ONE_STAGE`, from creation to close.
    """
    opp = tables.opportunities
    require(opp, ["opportunity_id", "outcome", "created_at"], "stays in stages")
    outcome = opp.set_index("opportunity_id")["outcome"]
    if not has_history(tables):
        closed = opp.get("closed_at", pd.Series(pd.NaT, index=opp.index))
        known = opp["created_at"].notna()
        fate = opp["outcome"].map({"won": "passed", "lost": "lost", "open": "open"})
        exit_ = closed.where(opp["outcome"] != "open")
        out = pd.DataFrame({"opportunity_id": opp["opportunity_id"], "stage": ONE_STAGE, "index": 0,
                            "entered_at": opp["created_at"], "exited_at": exit_, "fate": fate})[known]
    else:
        stages = stages or stage_order(tables)
        hist = tables.stage_history
        hist = hist[hist["stage"].isin(stages)].sort_values(["opportunity_id", "entered_at"], kind="stable")
        index = hist["stage"].map({s: i for i, s in enumerate(stages)}).astype(int)
        nxt = index.shift(-1)
        same_deal = hist["opportunity_id"].eq(hist["opportunity_id"].shift(-1))
        last_outcome = hist["opportunity_id"].map(outcome)
        fate = np.where(same_deal, np.where(nxt > index, "passed", "back"),
                        np.where(last_outcome == "won", "passed", np.where(last_outcome == "lost", "lost", "open")))
        out = pd.DataFrame({"opportunity_id": hist["opportunity_id"], "stage": hist["stage"], "index": index,
                            "entered_at": hist["entered_at"], "exited_at": hist["exited_at"], "fate": fate})
        out.loc[out["exited_at"].isna(), "fate"] = "open"
    out = out.reset_index(drop=True)
    until = out["exited_at"].fillna(end)
    out["days"] = ((until - out["entered_at"]) / DAY).clip(lower=0.0)
    return out.drop(columns="exited_at")


@dataclass(frozen=True)
class StageStats:
    """The statistics of one stage's stays that a calibration matches and reports (see `stage_stats`)."""

    entered: int
    passed: int
    lost: int
    open: int
    finished: int                       # stays whose time counts (see `stage_stats`)
    loss: tuple[float, float, float]    # lost / (lost + passed), Wilson interval
    median: tuple[float, float, float]  # median days of the finished stays, order-statistic interval
    p10: tuple[float, float, float]
    p90: tuple[float, float, float]
    p95: tuple[float, float, float]

    @property
    def low_spread(self) -> float:
        """The spread (log scale) the lower half of the stays shows: ln(median / p10) / z(0.9)."""
        return math.log(self.median[0] / self.p10[0]) / Z90 if self.p10[0] > 0 and self.median[0] > 0 else math.nan


def stage_stats(stay: pd.DataFrame) -> StageStats:
    """Counts, loss rate and time quantiles of the stays of one stage.

    Times are those of finished stays (moved on, moved back or lost there); in a one-stage fit (no history)
    only won deals' times count, since they set when bookings land.
    """
    fate = stay["fate"]
    passed, lost, open_ = int((fate == "passed").sum()), int((fate == "lost").sum()), int((fate == "open").sum())
    timed = stay["days"][_timed(stay)].to_numpy(dtype=float)
    return StageStats(
        entered=int(stay["opportunity_id"].nunique()), passed=passed, lost=lost, open=open_, finished=len(timed),
        loss=share_ci(lost, lost + passed), median=quantile_ci(timed, 0.5), p10=quantile_ci(timed, 0.1),
        p90=quantile_ci(timed, 0.9), p95=quantile_ci(timed, 0.95),
    )


def _timed(stay: pd.DataFrame) -> np.ndarray:
    """Which stays' times count: finished ones; in a one-stage fit, won deals only."""
    fate = stay["fate"].to_numpy()
    one_stage = len(stay) > 0 and bool((stay["stage"] == ONE_STAGE).all())
    return np.isin(fate, ["passed", "back"]) | ((fate == "lost") & (not one_stage))


STAGE_STATISTICS = ("loss rate", "log median days", "log(median / 10th percentile)", "log(90th percentile / median)",
                    "log(95th percentile / median)")


def stage_vector(st: StageStats) -> np.ndarray:
    """The five statistics a stage is fitted to (`STAGE_STATISTICS`): the loss rate, and the stays' median
    with three ratios of percentiles that tell their spread (lower half) from their long tail (stalls)."""
    return _vector(st.loss[0], st.p10[0], st.median[0], st.p90[0], st.p95[0])


def _vector(loss: float, p10: float, p50: float, p90: float, p95: float) -> np.ndarray:
    if not (p10 > 0 and p50 > 0):
        return np.array([loss, np.nan, np.nan, np.nan, np.nan])
    return np.array([loss, math.log(p50), math.log(p50 / p10), math.log(p90 / p50), math.log(p95 / p50)])


def bootstrap_stage(stay: pd.DataFrame, b: int = 300, seed: int = 0) -> np.ndarray:
    """`stage_vector` of `b` resamples (with replacement) of one stage's stays: their sampling spread.

    Rows are resamples; a statistic a resample cannot compute is NaN.
    """
    rng = np.random.default_rng(seed)
    fate = stay["fate"].to_numpy()
    days = stay["days"].to_numpy(dtype=float)
    lost, passed, timed = fate == "lost", fate == "passed", _timed(stay)
    out = np.full((b, 5), np.nan)
    n = len(stay)
    for k in range(b if n else 0):
        i = rng.integers(0, n, n)
        closed = lost[i].sum() + passed[i].sum()
        x = days[i][timed[i]]
        q = np.quantile(x, [0.1, 0.5, 0.9, 0.95]) if len(x) >= 2 else [np.nan] * 4
        out[k] = _vector(lost[i].sum() / closed if closed else np.nan, *q)
    return out


def two_lognormals(days, iterations: int = 200) -> tuple[float, float, float, float, float]:
    """A mixture of two lognormals fitted to `days` by EM: (share of the slow part, log-median and spread of
    the fast part, log-median and spread of the slow part). Stays that are quick or else slow (a stage where
    some deals stall) show two humps; the fit finds them."""
    x = np.log(np.asarray(days, dtype=float)[np.asarray(days, dtype=float) > 0])
    if len(x) < 20:
        return (math.nan,) * 5
    p, m1, m2 = 0.3, float(np.quantile(x, 0.25)), float(np.quantile(x, 0.9))
    s1 = s2 = max(float(x.std()) / 2, 0.05)
    for _ in range(iterations):
        a = (1 - p) * stats.norm.pdf(x, m1, s1)
        b = p * stats.norm.pdf(x, m2, s2)
        w = b / np.maximum(a + b, 1e-300)
        p = float(np.clip(w.mean(), 1e-3, 1 - 1e-3))
        m1, m2 = float(np.average(x, weights=1 - w)), float(np.average(x, weights=w))
        s1 = max(math.sqrt(float(np.average((x - m1) ** 2, weights=1 - w))), 0.05)
        s2 = max(math.sqrt(float(np.average((x - m2) ** 2, weights=w))), 0.05)
    return (p, m1, s1, m2, s2)


def source_win_rates(opp: pd.DataFrame, new_business: pd.Series) -> pd.DataFrame:
    """Per lead source, the new-business deals, their closed deals, wins and win rate (Wilson interval)."""
    require(opp, ["lead_source", "outcome"], "win rate by lead source")
    new = opp[new_business.reindex(opp.index, fill_value=True) & opp["lead_source"].notna()]
    closed = new[new["outcome"].isin(["won", "lost"])]
    g = pd.DataFrame({"deals": new.groupby("lead_source").size(),
                      "closed": closed.groupby("lead_source").size(),
                      "won": closed.assign(w=closed["outcome"] == "won").groupby("lead_source")["w"].sum()}).fillna(0)
    rates = [share_ci(w, c) for w, c in zip(g["won"], g["closed"])]
    g["win_rate"], g["ci_low"], g["ci_high"] = zip(*rates) if rates else ((), (), ())
    return g.sort_values("deals", ascending=False)


def log_moments(values) -> tuple[float, float, int]:
    """Mean and standard deviation of the logs of the positive `values`, and how many there were."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if len(x) < 2:
        return (math.nan, math.nan, len(x))
    logs = np.log(x)
    return (float(logs.mean()), float(logs.std(ddof=1)), len(x))


# ---- what was known at a date ------------------------------------------------------------------------
def as_of(tables: Tables, cutoff: pd.Timestamp) -> Tables:
    """The tables as they stood at `cutoff`: deals created before it, closed only if closed before it.

    A deal closed on or after the cutoff is open again, in the stage it was in at the cutoff, valued at
    its first estimate (its signed amount was not known yet; empty when the export has no first estimate);
    stage stays are cut at the cutoff; accounts keep the revenue won before it; dated rows of other tables
    after the cutoff are left out.
    """
    cutoff = pd.Timestamp(cutoff)
    opp = tables.opportunities
    require(opp, ["opportunity_id", "created_at", "outcome"], "the pipeline at a date")
    opp = opp[opp["created_at"] < cutoff].copy()
    closed_at = opp.get("closed_at", pd.Series(pd.NaT, index=opp.index))
    reopened = (opp["outcome"] != "open") & ~(closed_at < cutoff)
    opp.loc[reopened, "outcome"] = "open"
    if "closed_at" in opp:
        opp.loc[reopened, "closed_at"] = pd.NaT
    if "amount" in opp:
        estimate = opp["first_estimate"] if "first_estimate" in opp else pd.Series(np.nan, index=opp.index)
        opp.loc[reopened, "amount"] = estimate[reopened]
    hist = tables.stage_history
    if len(hist):
        hist = hist[(hist["entered_at"] < cutoff) & hist["opportunity_id"].isin(opp["opportunity_id"])].copy()
        hist.loc[~(hist["exited_at"] < cutoff), "exited_at"] = pd.NaT
        if "stage" in opp:
            at_cutoff = hist.sort_values("entered_at", kind="stable").groupby("opportunity_id")["stage"].last()
            opp.loc[reopened, "stage"] = opp.loc[reopened, "opportunity_id"].map(at_cutoff)
    out = {"opportunities": opp.reset_index(drop=True), "stage_history": hist.reset_index(drop=True)}
    accounts = tables.accounts
    if len(accounts) and "account_id" in opp:
        accounts = accounts[accounts["account_id"].isin(opp["account_id"])].copy()
        if "revenue" in accounts and "amount" in opp:
            won = opp[opp["outcome"] == "won"].groupby("account_id")["amount"].sum()
            accounts["revenue"] = accounts["account_id"].map(won).fillna(0.0)
        out["accounts"] = accounts.reset_index(drop=True)
    for name, df in tables.items():
        if name in out:
            continue
        when = next((c for c in ("as_of", "at", "period_start") if c in df.columns), None)
        out[name] = df[df[when] < cutoff].reset_index(drop=True) if when is not None else df
    return Tables(**out)
