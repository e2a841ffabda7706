"""The forecasting methods teams use today, on an export at a cutoff: tables in, P10 / P50 / P90 out.

Each method sees only what was known at the cutoff `cut` (the first day not known: everything before it;
`sim.analysis.fit.as_of` gives those tables) and forecasts the bookings of a `Period` (won amount closed in
[start, end)), as the bookings already closed in it plus a forecast of the rest, [cut, end):

- `stage_weighted`: each open deal's amount times its stage's win rate (fitted on the deals closed before
  the cutoff: `snapshots.stage_win_rates`), for the deals expected to close inside the period (their close
  date where the history dates it, else the median time left in their stage plus the later stages', as
  measured before the cutoff), plus the new deals a window of the same length brought in the past (deals
  created and won inside it: the mean of the last four windows). Gong's projection is built the same way:
  closed + stage-weighted pipeline + expected new deals.
- `run_rate`: the bookings of the last four windows of the same length, averaged.
- `categories`: closed + Commit (the call) and + Best Case (the ceiling), from the deals' forecast category
  where the export knows it at the cutoff (dated by the history, or today's value for a forecast of today).
- `deal_model`: a logistic regression per deal (stage, log age, log days in stage, log amount) of winning
  within the window, fitted on the deals open at past dates whose window had ended by the cutoff, plus the
  same new-deal term as `stage_weighted`: a plain machine-learning comparison (numpy only).

Bands: pipelines are sums of independent wins (each open deal won with its probability: drawn), the new-deal
and run-rate terms vary as they did over the past windows (normal, from their spread); the categories'
band runs from the call (P10 and P50) to the best case (P90). `score` turns forecasts and actuals into
MAPE, bias, 80% coverage and pinball loss.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.forecast_categories import normalise_categories
from ..core.periods import label as period_label
from ..core.periods import period_bounds
from ..core.schema import require
from . import snapshots

DAY = pd.Timedelta(days=1)
QUANTILES = (0.1, 0.5, 0.9)
PAST_WINDOWS = 4            # run-rate and new-deal terms: the mean of the last four windows of the same length
DRAWS = 4000                # draws of a pipeline's wins for its band
Z80 = 1.2815515655446004    # the normal's 90% quantile: an 80% band is mean +/- Z80 sd
BASELINES = ("stage_weighted", "run_rate", "categories", "deal_model")
_DAYS = re.compile(r"^\s*(\d+)\s*-?\s*(?:d|days?)\s*$", re.I)


# ---- the period forecast -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """The period a forecast is for: bookings closed in [start, end)."""

    start: pd.Timestamp
    end: pd.Timestamp
    label: str

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY


def parse_horizon(horizon: str) -> str | int:
    """'quarter', 'month', or a number of days ('30-days', '30d', '45 days'); anything else is an error."""
    text = str(horizon).strip().lower()
    if text in ("quarter", "month"):
        return text
    if m := _DAYS.match(text):
        days = int(m[1])
        if 1 <= days <= 3650:
            return days
    raise ValueError(f"horizon: {horizon!r} is not allowed, must be quarter, month or a number of days such as 30-days "
                     "(1 to 3650)")


def period_of(cut: pd.Timestamp, horizon: str | int, start: pd.Timestamp | None = None) -> Period:
    """The period a forecast made with everything before `cut` is for.

    'quarter' and 'month': the calendar period holding `cut` (so a forecast in mid-quarter is for the quarter
    under way, with what closed in it so far; one made on a quarter's last day is for the next); N days: the
    N days from `cut`. With `start`, a
    rolling window of the horizon's length from `start` (what a backtest uses at a period start).
    """
    h = parse_horizon(horizon) if isinstance(horizon, str) else horizon
    if start is not None:
        end = start + (pd.DateOffset(months=3 if h == "quarter" else 1) if isinstance(h, str) else pd.Timedelta(days=h))
        label = period_label(start, h) if isinstance(h, str) and period_bounds(period_label(start, h))[0] == start \
            else f"{start:%Y-%m-%d} to {end - DAY:%Y-%m-%d}"
        return Period(start, end, label)
    if isinstance(h, int):
        end = cut + pd.Timedelta(days=h)
        return Period(cut, end, f"{cut:%Y-%m-%d} to {end - DAY:%Y-%m-%d}")
    label = period_label(cut, h)
    lo, hi = period_bounds(label)
    return Period(lo, hi, label)


@dataclass
class Estimate:
    """One method's forecast of a period's bookings: P10 / P50 / P90 and the parts it adds up."""

    method: str
    p10: float
    p50: float
    p90: float
    parts: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def available(self) -> bool:
        return math.isfinite(self.p50)

    @staticmethod
    def missing(method: str, why: str) -> "Estimate":
        return Estimate(method, math.nan, math.nan, math.nan, {}, why)


def won_between(opp: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    """Won amount closed in [lo, hi)."""
    won = opp[(opp["outcome"] == "won") & (opp["closed_at"] >= lo) & (opp["closed_at"] < hi)]
    return float(won["amount"].fillna(0.0).sum())


def past_windows(known, cut: pd.Timestamp, days: float, n: int = PAST_WINDOWS) -> pd.DataFrame:
    """The last `n` windows of `days` days before `cut` inside the data: bookings, and bookings of deals created in them.

    A window starting before the first deal was created is left out (it would count zero for want of data).
    """
    opp = known.opportunities
    first = opp["created_at"].min()
    rows = []
    for k in range(1, n + 1):
        hi = cut - pd.Timedelta(days=(k - 1) * days)
        lo = hi - pd.Timedelta(days=days)
        if lo < first:
            break
        new = opp[(opp["created_at"] >= lo) & (opp["created_at"] < hi)]
        rows.append({"start": lo, "end": hi, "bookings": won_between(opp, lo, hi), "new_won": won_between(new, lo, hi)})
    return pd.DataFrame(rows, columns=["start", "end", "bookings", "new_won"])


def _normal_term(values: pd.Series, rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """Mean of a past term, and draws of it (normal with the windows' spread, not below zero)."""
    x = values.to_numpy(dtype=float)
    mean = float(x.mean()) if len(x) else 0.0
    sd = float(x.std(ddof=1)) if len(x) >= 2 else mean
    return mean, np.clip(rng.normal(mean, sd, DRAWS), 0.0, None) if sd > 0 else np.full(DRAWS, mean)


def _from_draws(method: str, closed: float, draws: np.ndarray, parts: dict[str, float], note: str = "") -> Estimate:
    q = np.quantile(closed + draws, QUANTILES)
    return Estimate(method, float(q[0]), float(q[1]), float(q[2]), {"closed": closed, **parts}, note)


def wins_draws(amounts: np.ndarray, chances: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws of the won amount of deals that each win with its chance, independently."""
    if len(amounts) == 0:
        return np.zeros(DRAWS)
    out = np.zeros(DRAWS)
    for lo in range(0, DRAWS, 500):       # in blocks, so 10,000 deals do not need a 10,000 x 4,000 array at once
        won = rng.random((min(500, DRAWS - lo), len(amounts))) < chances
        out[lo:lo + won.shape[0]] = won @ amounts
    return out


# ---- the open pipeline at the cutoff --------------------------------------------------------------------------
def open_pipeline(known, cut: pd.Timestamp) -> pd.DataFrame:
    """The deals open at the cutoff (`snapshots.pipeline_at`), with an amount (the median deal's where unknown)
    and the close date expected then: dated by the history where it has one, else rebuilt from stage times."""
    hist = snapshots.stays(known)
    live = snapshots.pipeline_at(known, cut - pd.Timedelta(microseconds=1), hist)
    won = known.opportunities.loc[known.opportunities["outcome"] == "won", "amount"]
    typical = float(won.median()) if won.notna().any() else float(known.opportunities["amount"].median())
    unknown = int((~(live["amount"] > 0)).sum())
    live = live.assign(amount=live["amount"].where(live["amount"] > 0, typical if math.isfinite(typical) else 0.0))
    if unknown:
        live.attrs["assumed"] = [*live.attrs.get("assumed", []),
                                 f"amount: {unknown:,} of the {len(live):,} open deals have no amount; the median won "
                                 f"deal's ({typical:,.0f}) stands for each"]
    if "expected_close_at" not in live.attrs["dated"]:
        order = snapshots.stage_order(hist)
        days, later = snapshots._median_stage_days(hist, order)
        left = (live["stage"].map(days).fillna(0.0) - live["days_in_stage"]).clip(lower=0) + live["stage"].map(later).fillna(0.0)
        live["expected_close_at"] = cut + pd.to_timedelta(left, unit="D")
    return live


def stage_weighted(known, cut: pd.Timestamp, period: Period, seed: int = 0) -> Estimate:
    """Closed + each open deal expected in the period at amount x its stage's win rate + expected new deals."""
    require(known.opportunities, ["outcome", "closed_at", "amount", "created_at"], "stage-weighted forecast")
    rng = np.random.default_rng([seed, 11])
    closed = won_between(known.opportunities, period.start, cut)
    rates = snapshots.stage_win_rates(known)
    if rates.notna().sum() == 0:
        return Estimate.missing("stage_weighted", "no deal had closed before the cutoff: no stage win rates")
    live = open_pipeline(known, cut)
    due = live[live["expected_close_at"] < period.end]
    chance = due["stage"].map(rates).fillna(float(rates.mean())).to_numpy(dtype=float)
    amounts = due["amount"].to_numpy(dtype=float)
    new_mean, new_draws = _normal_term(past_windows(known, cut, (period.end - cut) / DAY)["new_won"], rng)
    draws = wins_draws(amounts, chance, rng) + new_draws
    return _from_draws("stage_weighted", closed, draws,
                       {"pipeline": float(amounts @ chance), "new deals": new_mean, "deals": float(len(due))})


def run_rate(known, cut: pd.Timestamp, period: Period, seed: int = 0) -> Estimate:
    """Closed + the mean bookings of the last four windows as long as what is left of the period."""
    require(known.opportunities, ["outcome", "closed_at", "amount", "created_at"], "run-rate forecast")
    rng = np.random.default_rng([seed, 12])
    windows = past_windows(known, cut, (period.end - cut) / DAY)
    if windows.empty:
        return Estimate.missing("run_rate", "no full window of this length before the cutoff")
    mean, draws = _normal_term(windows["bookings"], rng)
    closed = won_between(known.opportunities, period.start, cut)
    return _from_draws("run_rate", closed, draws, {"run rate": mean, "windows": float(len(windows))})


def categories(known, cut: pd.Timestamp, period: Period, *, today: bool = False,
               names: Mapping[str, str] | None = None) -> Estimate:
    """Closed + Commit (P10 and P50: the call) and + Best Case (P90), for the open deals expected in the period.

    The category of each deal at the cutoff comes from the history when it dates it; `today` (a forecast of
    the export's own last day) lets the deals' current category stand. Otherwise it is not known: missing.
    """
    live = open_pipeline(known, cut)
    if "forecast_category" not in live or live["forecast_category"].isna().all():
        return Estimate.missing("categories", "the export has no forecast category")
    if "forecast_category" not in live.attrs["dated"] and not today:
        return Estimate.missing("categories", "the history does not date the forecast category: its value at a past "
                                              "cutoff is not known")
    level = normalise_categories(live["forecast_category"], names)
    due = live["expected_close_at"] < period.end
    commit = float(live.loc[due & (level == "commit"), "amount"].sum())
    best = float(live.loc[due & (level == "best case"), "amount"].sum())
    closed = won_between(known.opportunities, period.start, cut)
    return Estimate("categories", closed + commit, closed + commit, closed + commit + best,
                    {"closed": closed, "commit": commit, "best case": best})


# ---- the per-deal model ----------------------------------------------------------------------------------------
TRAIN_STEP_DAYS = 14        # the deal model learns from the pipeline every two weeks before the cutoff
RIDGE = 1.0                 # L2 penalty on the coefficients (not the intercept): keeps rare stages finite


def deal_features(live: pd.DataFrame, stages: list[str]) -> np.ndarray:
    """Intercept, one column per stage after the first, log(1+age), log(1+days in stage), log(1+amount)."""
    onehot = np.column_stack([(live["stage"] == s).to_numpy(dtype=float) for s in stages[1:]]) if len(stages) > 1 \
        else np.empty((len(live), 0))
    numeric = np.column_stack([np.log1p(live["age_days"].to_numpy(dtype=float)),
                               np.log1p(live["days_in_stage"].to_numpy(dtype=float)),
                               np.log1p(live["amount"].fillna(0.0).to_numpy(dtype=float))])
    return np.column_stack([np.ones(len(live)), onehot, numeric])


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE, iterations: int = 50) -> np.ndarray:
    """Coefficients of a ridge-penalised logistic regression, by Newton's method (columns standardised inside)."""
    mu, sd = x[:, 1:].mean(axis=0), x[:, 1:].std(axis=0)
    sd[sd == 0] = 1.0
    z = np.column_stack([x[:, 0], (x[:, 1:] - mu) / sd])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], ridge)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (y - p) - penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    out = beta.copy()                       # back to the original columns' scale
    out[1:] = beta[1:] / sd
    out[0] = beta[0] - float(mu @ out[1:])
    return out


def predict_logistic(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x @ beta, -30, 30)))


def training_set(known, cut: pd.Timestamp, days: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Deals open at past dates whose next `days` had ended by the cutoff, and whether each was won inside them."""
    opp = known.opportunities.set_index("opportunity_id")
    hist = snapshots.stays(known)
    first = known.opportunities["created_at"].min()
    frames = []
    when = cut - pd.Timedelta(days=days)
    while when > first + pd.Timedelta(days=TRAIN_STEP_DAYS):
        live = snapshots.pipeline_at(known, when, hist)
        if len(live):
            closed = live["opportunity_id"].map(opp["closed_at"])
            won = live["opportunity_id"].map(opp["outcome"]).eq("won") & (closed < when + pd.Timedelta(days=days))
            frames.append(live.assign(won=won.to_numpy(dtype=float)))
        when -= pd.Timedelta(days=TRAIN_STEP_DAYS)
    if not frames:
        return pd.DataFrame(), np.empty(0)
    data = pd.concat(frames, ignore_index=True)
    return data, data["won"].to_numpy(dtype=float)


def deal_chances(known, cut: pd.Timestamp, period: Period) -> tuple[pd.DataFrame, str]:
    """The open deals at the cutoff with the deal model's chance of each being won before the period ends."""
    days = (period.end - cut) / DAY
    data, y = training_set(known, cut, days)
    live = open_pipeline(known, cut)
    if len(y) < 20 or y.sum() < 3 or y.sum() > len(y) - 3:
        return live.assign(chance=np.nan), (f"{len(y)} past deal-dates with {int(y.sum())} wins: too few to fit "
                                            "a model on")
    stages = snapshots.stage_order(snapshots.stays(known))
    median = float(data["amount"].median())
    fill = lambda d: d.assign(amount=d["amount"].where(d["amount"] > 0, median))  # noqa: E731 - local default
    beta = fit_logistic(deal_features(fill(data), stages), y)
    chance = predict_logistic(beta, deal_features(fill(live), stages)) if len(live) else np.empty(0)
    return live.assign(chance=chance), f"fitted on {len(y):,} past deal-dates ({int(y.sum()):,} won in the window)"


def deal_model(known, cut: pd.Timestamp, period: Period, seed: int = 0) -> Estimate:
    """Closed + each open deal's amount x its modelled chance of winning in time + expected new deals."""
    require(known.opportunities, ["outcome", "closed_at", "amount", "created_at"], "deal-model forecast")
    rng = np.random.default_rng([seed, 13])
    live, note = deal_chances(known, cut, period)
    if live["chance"].isna().any():
        return Estimate.missing("deal_model", note)
    amounts, chance = live["amount"].to_numpy(dtype=float), live["chance"].to_numpy(dtype=float)
    new_mean, new_draws = _normal_term(past_windows(known, cut, (period.end - cut) / DAY)["new_won"], rng)
    closed = won_between(known.opportunities, period.start, cut)
    return _from_draws("deal_model", closed, wins_draws(amounts, chance, rng) + new_draws,
                       {"pipeline": float(amounts @ chance), "new deals": new_mean, "deals": float(len(live))}, note)


def baseline(name: str, known, cut: pd.Timestamp, period: Period, *, today: bool = False, seed: int = 0) -> Estimate:
    """One baseline by name; missing (with the reason) when the tables lack what it needs."""
    try:
        if name == "stage_weighted":
            return stage_weighted(known, cut, period, seed)
        if name == "run_rate":
            return run_rate(known, cut, period, seed)
        if name == "categories":
            return categories(known, cut, period, today=today)
        if name == "deal_model":
            return deal_model(known, cut, period, seed)
    except (ValueError, LookupError) as err:     # e.g. no amounts known yet at an early cutoff
        return Estimate.missing(name, str(err))
    raise ValueError(f"method: {name!r} is not a baseline ({', '.join(BASELINES)})")


def baselines(known, cut: pd.Timestamp, period: Period, *, today: bool = False, seed: int = 0) -> dict[str, Estimate]:
    """Every baseline's forecast of `period` from the tables known before `cut`."""
    return {name: baseline(name, known, cut, period, today=today, seed=seed) for name in BASELINES}


# ---- scores ----------------------------------------------------------------------------------------------------
def pinball(actual: float, quantiles: Mapping[float, float]) -> float:
    """Mean pinball (quantile) loss of the forecast quantiles against what happened."""
    losses = [max(q * (actual - v), (q - 1) * (actual - v)) for q, v in quantiles.items()]
    return float(np.mean(losses))


def score(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method, from rows of (method, actual, p10, p50, p90): MAPE, bias, 80% coverage, pinball, rank, cutoffs.

    MAPE and bias are shares of the actual (periods with no bookings are left out of both); pinball is the
    mean pinball loss over P10, P50 and P90 divided by the mean actual, so exports of any size compare. Rank
    is by MAPE (1 = most accurate); a method with no forecast at any cutoff has no scores.
    """
    out = []
    for method, g in rows.groupby("method", sort=False):
        g = g[np.isfinite(g["p50"])]
        pos = g[g["actual"] > 0]
        err = (pos["p50"] - pos["actual"]) / pos["actual"]
        loss = [pinball(a, {0.1: lo, 0.5: mid, 0.9: hi}) for a, lo, mid, hi in zip(g["actual"], g["p10"], g["p50"], g["p90"])]
        mean_actual = float(g["actual"].mean()) if len(g) else math.nan
        out.append({"method": method, "mape": float(err.abs().mean()) if len(err) else math.nan,
                    "bias": float(err.mean()) if len(err) else math.nan,
                    "coverage80": float(((g["actual"] >= g["p10"]) & (g["actual"] <= g["p90"])).mean()) if len(g) else math.nan,
                    "pinball": float(np.mean(loss)) / mean_actual if len(g) and mean_actual > 0 else math.nan,
                    "cutoffs": len(g)})
    table = pd.DataFrame(out).set_index("method")
    table["rank"] = table["mape"].rank(method="min").astype("Int64")
    return table.sort_values(["rank"], na_position="last")
