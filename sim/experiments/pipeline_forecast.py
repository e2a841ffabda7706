"""`forecast(tables)`: this period's bookings from the leader's own pipeline, simulated, with honest bands.

    fc = sim.forecast(tables, as_of=None, horizon="quarter", target=2_400_000)
    fc.summary()      # closed so far, P10 / P50 / P90 of the period's bookings, P(reaching the target)
    fc.by("owner")    # the same per owner (or "segment")
    fc.deals()        # each open deal: its chance to close won in the period, expected amount, and why
    fc.figure()

The forecast is what already closed in the period, plus the pipeline open at `as_of` resumed in the
simulator calibrated on the export up to that day (`sim.calibrate`; every open deal put back in its stage for
as long as it has been there, `sim.policies.open_pipeline`), plus the deals the fitted arrivals say will be
created and won before the period ends.

How unsure the fit is goes into the bands: the forecast runs the simulator on `draws` scenarios, each with
the main fitted values (lead arrivals, deal sizes, each stage's loss chance and time, the signed share of
the estimate, repeat business) drawn from their 95% intervals (a split normal around the fitted value: the
interval's lower and upper halves are each 1.96 standard deviations), and `runs` simulations of each.
So the P10-P90 band holds both the simulation's noise and the fit's uncertainty. Values of one kind move
together (one draw for all stages' loss chances, say: see `parameter_draws`); the backtest
(`sim.forecast_backtest`) measures how often the band held the actual.

The methods teams use today (`sim.analysis.forecast_baselines`) are computed at the same as-of, beside it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from tqdm.auto import tqdm

from ..analysis import fit
from ..analysis import forecast_baselines as fb
from ..analysis import snapshots
from ..analysis.forecast import data_end
from ..analysis.plots import new_figure
from ..core.schema import MissingColumns
from ..core.tables import Tables
from ..scenario import Scenario, ScenarioError
from ..world.world import SHORTEST_DAYS
from .backtest import _customers
from .calibrate import CalibratedScenario, _shift_dates, calibrate
from .replicate import PARALLEL_FROM, _run_chunk, stop_pool, worker_start
from .simulate import SimResult

DAY = pd.Timedelta(days=1)
MIN_DAYS_BEFORE = 90           # a forecast needs a quarter of history to learn from
DRAWS, RUNS = 20, 2            # parameter draws, and simulations of each: 40 runs (a 10,000-deal export in ~20 s)
UNCERTAIN = ("market.leads_per_month", "segments.*.deal_size", "stages.*.loss_chance", "stages.*.median_days",
             "deal_value.realisation_median", "accounts.repeat_per_year")
TEAM = "(team)"


# ---- what is known, and the fit's uncertainty --------------------------------------------------------------------
def cut_of(tables: Tables, as_of: Any) -> pd.Timestamp:
    """The first day not known: the day after `as_of` (default: the export's last date), checked against the data."""
    end = data_end(tables)
    if pd.isna(end):
        raise ValueError("the export has no readable dates: nothing to forecast from")
    win = fit.window(tables)
    day = pd.Timestamp(end).normalize() if as_of is None else pd.Timestamp(as_of).normalize()
    if day > win.end - DAY:
        raise ValueError(f"as_of: {day:%Y-%m-%d} is after the export's last date ({win.end - DAY:%Y-%m-%d}); "
                         "it knows nothing about the days after it")
    if day + DAY < win.start + pd.Timedelta(days=MIN_DAYS_BEFORE):
        raise ValueError(f"as_of: {day:%Y-%m-%d} leaves less than {MIN_DAYS_BEFORE} days of history to learn from; "
                         f"the export starts on {win.start:%Y-%m-%d}, so choose {win.start + pd.Timedelta(days=MIN_DAYS_BEFORE - 1):%Y-%m-%d} "
                         "or later")
    return day + DAY


def uncertainty(sc: CalibratedScenario, known: Tables | None = None,
                cut: pd.Timestamp | None = None) -> dict[str, tuple[float, float, float]]:
    """The fitted values the forecast draws (see `UNCERTAIN`), each as (value, low, high): its 95% interval.

    From the calibration's evidence where it has an interval. A calibration without the simulated stage fit
    gives none for the stages' loss chance and median time: they are then the export's own loss rate and
    median stay, and carry the intervals of those statistics (Wilson; order statistics) from `known`.
    """
    evidence = sc.calibration.evidence
    out: dict[str, tuple[float, float, float]] = {}
    for path, e in evidence.items():
        if _family(path) in UNCERTAIN and e.fitted and e.has_range and e.low is not None and e.high is not None:
            out[path] = (float(e.value), float(e.low), float(e.high))
    if known is None or cut is None or not len(known.opportunities):
        return out
    stays = fit.stays(known, cut, None if sc.stage_names == [fit.ONE_STAGE] else sc.stage_names)
    for i, st in enumerate(sc.stages):
        stats = fit.stage_stats(stays[stays["stage"] == st.name])
        loss, med = f"stages.{i}.loss_chance", f"stages.{i}.median_days"
        if loss not in out and all(math.isfinite(x) for x in stats.loss):
            v, est, lo, hi = st.loss_chance, *stats.loss
            out[loss] = (v, max(0.0, v + lo - est), min(0.99, v + hi - est))
        if med not in out and all(math.isfinite(x) and x > 0 for x in stats.median):
            v, est, lo, hi = st.median_days, *stats.median
            out[med] = (v, v * lo / est, v * hi / est)
    return out


SPREAD_YEARS = 1.0            # the history the period-to-period spread is measured on
SPREAD_MAX = 0.5              # at most 50% from period to period: more is a broken window, not a market
SPREAD_FAMILIES = {"arrivals": "market.leads_per_month", "deal size": "segments.*.deal_size",
                   "win rate": "stages.*.loss_chance"}


def period_spread(known: Tables, cut: pd.Timestamp, days: float) -> dict[str, float]:
    """How much lead arrivals, won deal sizes and the win rate moved from one period to the next beyond chance,
    in the last year before `cut`: each a relative standard deviation (0.1 = 10%), by `SPREAD_FAMILIES` name.

    The calibrated simulator holds them still; a quarter's real bookings do not. Windows of `days` (the
    forecast's horizon; 30-day windows when fewer than three fit in the year) back from the cutoff; for each:
    deals created, the mean amount of the deals won, and the share of the deals closed that were won. Their
    variance across windows less what chance alone gives (Poisson counts, the mean of n amounts, a binomial
    share) is the variation the fit's intervals do not hold. Windows starting within two median won-deal
    cycles of the export's first deal count for arrivals only (the first closes are the quick ones, mostly
    losses). Each spread is at most `SPREAD_MAX`.
    Zero where the export moved no more than chance;
    empty where the export has fewer than three windows of history.
    """
    opp = known.opportunities
    if not {"created_at", "closed_at", "outcome", "amount"} <= set(opp.columns):
        return {}
    first = opp["created_at"].min()
    span = min(SPREAD_YEARS * 365.25, (cut - first) / DAY) if pd.notna(first) else 0.0
    length = days if span >= 3 * days else 30.0
    n = int(span // length)
    if n < 3:
        return {}
    edges = [cut - pd.Timedelta(days=length * k) for k in range(n, -1, -1)]
    counts, sizes, size_var, wins, win_var = [], [], [], [], []
    closed = opp[opp["outcome"].isin(["won", "lost"])]
    won = closed[closed["outcome"] == "won"]
    cycle = (won["closed_at"] - won["created_at"]).median()
    settled = first + 2 * (cycle if pd.notna(cycle) else pd.Timedelta(0))
    for lo, hi in zip(edges[:-1], edges[1:]):
        counts.append(int(((opp["created_at"] >= lo) & (opp["created_at"] < hi)).sum()))
        if lo < settled:        # the first deals to close are the quick ones, mostly losses: no fair window yet
            continue
        c = closed[(closed["closed_at"] >= lo) & (closed["closed_at"] < hi)]
        won = c.loc[c["outcome"] == "won", "amount"].dropna()
        if len(won) >= 2:
            sizes.append(float(won.mean()))
            size_var.append(float(won.var(ddof=1)) / len(won))
        if len(c) >= 5:
            p = float((c["outcome"] == "won").mean())
            wins.append(p)
            win_var.append(p * (1 - p) / len(c))
    out = {}
    counts = np.asarray(counts, dtype=float)
    if counts.mean() > 0:
        out["arrivals"] = _beyond_chance(counts, counts.mean() * np.ones_like(counts))
    if len(sizes) >= 3:
        out["deal size"] = _beyond_chance(np.asarray(sizes), np.asarray(size_var))
    if len(wins) >= 3 and np.mean(wins) > 0:
        out["win rate"] = _beyond_chance(np.asarray(wins), np.asarray(win_var))
    return out


def _beyond_chance(values: np.ndarray, chance_var: np.ndarray) -> float:
    """Relative sd of `values` across windows beyond the variance chance alone gives each (`chance_var`)."""
    mean = float(values.mean())
    extra = float(values.var(ddof=1)) - float(chance_var.mean())
    return min(SPREAD_MAX, math.sqrt(max(extra, 0.0)) / mean) if mean > 0 else 0.0


RECENT_DAYS = 91              # the arrivals of the last quarter before the as-of set the forecast's lead flow


def recent_arrivals(known: Tables, cut: pd.Timestamp, sc: CalibratedScenario) -> dict[str, tuple[float, float, int]]:
    """The deal flow of the `RECENT_DAYS` before `cut`, as values of the scenario: {path: (value, ratio to the
    fitted value, deals counted)} for the lead rate (`market.leads_per_month`, scaled by the recent rate of
    new-logo deals over the rate on the whole history; of every deal when the calibration simulates no repeat
    business) and the repeat business
    (`accounts.repeat_per_year`: the repeat deals of the last days per customer-year then). Empty when the
    history is under twice that long; a path is left out when no deal of its kind was created lately.

    The calibration fits one flow over the whole export; a team that grew (or whose market dried up) is then
    forecast at its average, not at what it is now. A forecast resumes today's pipeline, so it takes today's
    flow; its interval is that of the recent Poisson count.
    """
    opp = known.opportunities
    created = opp["created_at"]
    if created.dropna().empty or (cut - created.min().normalize()) / DAY < 2 * RECENT_DAYS:
        return {}
    since = cut - pd.Timedelta(days=RECENT_DAYS)
    # repeat deals are leads too when the calibration simulates no repeat business (it counted every deal)
    repeat = fit.repeat_business(opp) if sc.accounts.repeat_per_year > 0 else pd.Series(False, index=opp.index)
    out = {}
    new = created[~repeat & (created < cut)]
    recent = int((new >= since).sum())
    if recent and len(new):
        days = (cut - new.min().normalize()) / DAY
        ratio = (recent / RECENT_DAYS) / (len(new) / days)
        out["market.leads_per_month"] = (sc.market.leads_per_month * ratio, ratio, recent)
    again = int((repeat & (created >= since) & (created < cut)).sum())
    if again and sc.accounts.repeat_per_year > 0:
        won = opp[(opp["outcome"] == "won") & opp["account_id"].notna() & (opp["closed_at"] < cut)]
        first = won.groupby("account_id")["closed_at"].min()
        years = float(((cut - first.clip(lower=since)) / DAY).sum()) / 365.25
        if years > 0:
            rate = again / years
            out["accounts.repeat_per_year"] = (rate, rate / sc.accounts.repeat_per_year, again)
    return out


def _recent_rate(ranges: dict[str, tuple[float, float, float]],
                 recent: dict[str, tuple[float, float, int]]) -> dict[str, tuple[float, float, float]]:
    """The flow's values moved to the recent flow, each with the 95% interval of its recent Poisson count
    (1.96 / sqrt(count) either side, relative)."""
    out = dict(ranges)
    for path, (v, _, count) in recent.items():
        half = 1.96 / math.sqrt(count)
        out[path] = (v, v * max(0.0, 1 - half), v * (1 + half))
    return out


def widen(ranges: dict[str, tuple[float, float, float]], spread: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """Each interval of a family in `spread` widened by its period-to-period variation (added in quadrature:
    a 95% half-width of 1.96 x the relative sd x the value). The win rate's spread is shared out over the
    stages' loss chances, which move together: S stages each passing deals r/S more (or less) often move the
    win rate by r, so a loss chance l moves by (1 - l) x r / S."""
    fam_of = {pattern: name for name, pattern in SPREAD_FAMILIES.items()}
    stages = sum(1 for path in ranges if path.endswith("loss_chance")) or 1
    out = {}
    for path, (v, lo, hi) in ranges.items():
        r = spread.get(fam_of.get(_family(path), ""), 0.0)
        extra = 1.96 * r * ((1 - v) / stages if path.endswith("loss_chance") else abs(v))
        out[path] = (v, v - math.hypot(v - lo, extra), v + math.hypot(hi - v, extra)) if extra > 0 else (v, lo, hi)
    return out


def uncertain_paths(sc: CalibratedScenario, known: Tables | None = None, cut: pd.Timestamp | None = None) -> list[str]:
    """The paths of the values the forecast draws."""
    return list(uncertainty(sc, known, cut))


def _family(path: str) -> str:
    return ".".join("*" if part.isdigit() else part for part in path.split("."))


def parameter_draws(sc: CalibratedScenario, k: int, rng: np.random.Generator, known: Tables | None = None,
                    cut: pd.Timestamp | None = None, spread: dict[str, float] | None = None,
                    recent: dict[str, tuple[float, float, int]] | None = None) -> list[dict[str, float]]:
    """`k` sets of the uncertain values, each from a split normal on its 95% interval (clipped to 2.5 sd).

    Values of one kind (every stage's loss chance, every segment's deal size...) move together: one normal
    draw per kind, each value at that many standard deviations of its own interval. The export cannot say
    how their errors go together; drawing them together is the wider assumption (independent draws would
    cancel out across stages and make the band too narrow). The first set is the fitted values themselves
    (with the recent flow, when given).
    Loss chances stay in [0, 0.99]; everything else positive; whole numbers stay whole. `spread`
    (`period_spread`) widens the intervals by how much those values moved from period to period beyond chance;
    `recent` (`recent_arrivals`) moves the lead rate to the recent flow (the first set holds it too).
    """
    ranges = widen(_recent_rate(uncertainty(sc, known, cut), recent or {}), spread or {})
    families = sorted({_family(p) for p in ranges})
    whole = {p for p, e in sc.calibration.evidence.items() if isinstance(e.value, int) and not isinstance(e.value, bool)}
    sets: list[dict[str, float]] = [{path: v for path, (v, _, _) in (recent or {}).items()}]
    for _ in range(k - 1):
        shock = dict(zip(families, np.clip(rng.standard_normal(len(families)), -2.5, 2.5)))
        values = {}
        for path, (v, low, high) in ranges.items():
            u = shock[_family(path)]
            half = (v - low) if u < 0 else (high - v)
            x = v + u * half / 1.96
            x = min(max(x, 0.0), 0.99) if path.endswith("loss_chance") else max(x, 1e-6 * max(abs(v), 1.0))
            values[path] = int(round(x)) if path in whole else x
        sets.append(values)
    return sets


# ---- the simulated period ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeriodFigures:
    """A replication's measure: bookings in [start, end), from resumed deals (one figure per deal) and new ones."""

    start: pd.Timestamp
    end: pd.Timestamp
    n_open: int
    segments: tuple[str, ...]

    def __call__(self, result: SimResult) -> dict[str, float]:
        opp = result.tables.opportunities
        won = opp[(opp["outcome"] == "won") & (opp["closed_at"] >= self.start) & (opp["closed_at"] < self.end)]
        old = won["created_at"] < self.start
        out = {"pipeline": float(won.loc[old, "amount"].sum()), "new": float(won.loc[~old, "amount"].sum())}
        new = won[~old]
        for seg in self.segments:
            out[f"new/{seg}"] = float(new.loc[new["segment"] == seg, "amount"].sum())
        resumed = opp[opp["created_at"] < self.start]
        if len(resumed) == self.n_open:     # resumed in order: the i-th is the i-th open deal
            booked = np.where((resumed["outcome"] == "won") & (resumed["closed_at"] < self.end), resumed["amount"], 0.0)
            out.update({f"deal/{i}": float(v) for i, v in enumerate(booked)})
        return out


def open_deal_data(live: pd.DataFrame, known: Tables, sc: Scenario) -> list[dict]:
    """The open pipeline (`forecast_baselines.open_pipeline`) as `sim.policies.open_pipeline.OpenDeal` data."""
    stages = sc.stage_names
    stage = live["stage"].where(live["stage"].isin(stages), stages[0])
    info = known.opportunities.set_index("opportunity_id")
    estimate = live["opportunity_id"].map(info["first_estimate"]) if "first_estimate" in info else pd.Series(np.nan, index=live.index)
    if "amount" in live.attrs.get("dated", []) or estimate.isna().all():
        estimate = live["amount"]
    estimate = estimate.where(estimate > 0, live["amount"])
    segments, sources = {s.name for s in sc.segments}, {s.name for s in sc.lead_sources}
    source = live["opportunity_id"].map(info["lead_source"]) if "lead_source" in info else pd.Series(None, index=live.index)
    fit_score = live["opportunity_id"].map(info["fit_score"]) if "fit_score" in info else pd.Series(np.nan, index=live.index)
    segment = live["segment"] if "segment" in live else pd.Series(None, index=live.index)
    out = []
    for i in live.index:
        age = float(live.at[i, "age_days"])
        out.append({
            "stage": stage[i], "days_in_stage": min(float(live.at[i, "days_in_stage"]), age), "age_days": age,
            "first_estimate": float(estimate[i]) if estimate[i] > 0 else None,
            "segment": segment[i] if segment[i] in segments else None,
            "lead_source": source[i] if source[i] in sources else None,
            "fit": float(fit_score[i]) if pd.notna(fit_score[i]) and 0 <= fit_score[i] <= 1 else None,
        })
    return out


def simulate_period(known: Tables, cut: pd.Timestamp, period: fb.Period, sc: CalibratedScenario, live: pd.DataFrame,
                    draws: int = DRAWS, runs: int = RUNS, seed: int = 0, executor: Any = None,
                    progress: bool | None = None) -> pd.DataFrame:
    """Simulate [cut, period end) from the open pipeline `live`, on `draws` fitted-value sets x `runs` each.

    Every run has its own random numbers (draw k's runs are the children of their own seed): common random
    numbers, right for comparing scenarios, would make the draws share their noise and the band too narrow.
    All draws go to the pool at once; the open pipeline is validated once and shared by the draws (a drawn
    value changes no stage, segment or source name, which is all the pipeline's check depends on).
    """
    deals = open_deal_data(live, known, sc)
    customers = _customers(known, sc) if sc.accounts.repeat_per_year > 0 else []
    data = _shift_dates(sc.to_dict(), cut.date() - sc.start)
    # a period ending sooner than a run's shortest calendar (an export taken in a quarter's last week) is simulated
    # that long and measured to its end
    data.update(start=cut.date(), days=max(SHORTEST_DAYS, int(math.ceil((period.end - cut) / DAY))))
    plain = Scenario.build(data, "forecast run")
    data["policies"]["open_pipeline"] = {"deals": deals, "customers": customers}
    forward = Scenario.build(data, "forecast run")
    measure = PeriodFigures(cut, period.end, len(deals), tuple(s.name for s in sc.segments))
    spread = period_spread(known, cut, (period.end - cut) / DAY)
    recent = recent_arrivals(known, cut, sc)
    sets = parameter_draws(sc, draws, np.random.default_rng([seed, 21]), known, cut, spread, recent)

    def scenario(values: dict[str, float]) -> Scenario:
        if not values:
            return forward
        try:
            drawn = plain.replace(values)
        except ScenarioError:       # a drawn set outside what a scenario allows: keep the fitted values for it
            return forward
        resumed = drawn.policies.model_copy(update={"open_pipeline": forward.policies.open_pipeline})
        return drawn.model_copy(update={"policies": resumed})

    def jobs(k: int) -> list[tuple[int, np.random.SeedSequence]]:
        draw_seed = int(np.random.SeedSequence([seed, 22, k]).generate_state(1)[0])
        return list(enumerate(np.random.SeedSequence(draw_seed).spawn(runs)))

    cores = os.cpu_count() or 1
    own = executor is None and cores > 1 and len(sets) * runs >= PARALLEL_FROM
    pool = ProcessPoolExecutor(max_workers=cores, initializer=worker_start) if own else \
        (None if executor in (None, "serial") else executor)
    show = (os.environ.get("PLAYBOOK_PROGRESS", "1") != "0") if progress is None else progress
    results: dict[int, list[tuple[int, dict]]] = {}
    bar = tqdm(total=len(sets) * runs, desc="simulating the fit's draws", unit="run", leave=False, disable=not show)
    futures = {}
    try:
        with bar:
            for k, values in enumerate(sets):
                if pool is None:
                    results[k] = _run_chunk(scenario(values), jobs(k), measure)
                    bar.update(runs)
                else:
                    futures[pool.submit(_run_chunk, scenario(values), jobs(k), measure)] = k
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update(runs)
    except BaseException:
        if pool is not None:
            stop_pool(pool, futures, owned=own)
        raise
    if own:
        pool.shutdown()
    out = pd.DataFrame([{"scenario": f"draw {k}", "replication": i, **numbers}
                        for k in range(len(sets)) for i, numbers in results[k]])
    out.attrs["open_deals"] = len(deals)
    out.attrs["spread"] = spread
    out.attrs["recent_arrivals"] = recent
    return out


# ---- the forecast ----------------------------------------------------------------------------------------------
@dataclass
class Forecast:
    """A period's bookings, simulated from the open pipeline, with the baselines at the same as-of."""

    as_of: pd.Timestamp                 # the last day known
    period: fb.Period
    closed: float                       # won in the period up to as_of
    totals: np.ndarray                  # the period's bookings in each simulated run
    runs: pd.DataFrame
    live: pd.DataFrame                  # the open pipeline at as_of, with per-deal chances
    methods: dict[str, fb.Estimate]     # the baselines at the same as-of
    target: float | None
    currency: str
    scenario: CalibratedScenario
    known: Tables = field(repr=False)
    assumed: list[str] = field(default_factory=list)
    undated: int = 0                    # deals open at as_of that are left out: the export gives no creation date

    def quantiles(self) -> tuple[float, float, float]:
        q = np.quantile(self.totals, fb.QUANTILES)
        return float(q[0]), float(q[1]), float(q[2])

    @property
    def p_target(self) -> float | None:
        return None if self.target is None else float((self.totals >= self.target).mean())

    def estimate(self) -> fb.Estimate:
        p10, p50, p90 = self.quantiles()
        return fb.Estimate("simulation", p10, p50, p90, {"closed": self.closed,
                                                        "pipeline": float(self.runs["pipeline"].mean()),
                                                        "new deals": float(self.runs["new"].mean())})

    def summary(self) -> dict[str, Any]:
        """Closed so far, P10 / P50 / P90 of the period's bookings, P(reaching the target), and the parts."""
        p10, p50, p90 = self.quantiles()
        return {"as_of": f"{self.as_of:%Y-%m-%d}", "period": self.period.label,
                "period_start": f"{self.period.start:%Y-%m-%d}", "period_end": f"{self.period.end - DAY:%Y-%m-%d}",
                "closed": self.closed, "p10": p10, "p50": p50, "p90": p90, "target": self.target,
                "p_target": self.p_target, "open_deals": int(len(self.live)),
                "from_pipeline": float(self.runs["pipeline"].mean()), "from_new_deals": float(self.runs["new"].mean()),
                "runs": int(len(self.runs)), "currency": self.currency, "undated": self.undated}

    def lines(self) -> list[str]:
        """The summary as sentences."""
        s = self.summary()
        span = "" if s["period_start"] in s["period"] else f" ({s['period_start']} to {s['period_end']})"
        out = [f"{s['period']}{span}, as of {s['as_of']}: closed so far "
               f"{_money(s['closed'])}; forecast P50 {_money(s['p50'])} (P10 {_money(s['p10'])} to P90 {_money(s['p90'])}) "
               f"{self.currency}",
               f"  from the {s['open_deals']:,} open deals {_money(s['from_pipeline'])} expected, from deals not yet "
               f"created {_money(s['from_new_deals'])}; {s['runs']} simulated runs over the fit's uncertainty"
               + (f"; {self.undated:,} more open deal(s) left out: the export gives no creation date, so how long "
                  "they have been open is unknown" if self.undated else "")]
        for path, (_, ratio, count) in (self.runs.attrs.get("recent_arrivals") or {}).items():
            kind = "leads" if path.startswith("market") else "repeat business"
            out.append(f"  {kind} at the flow of the last {RECENT_DAYS} days ({count:,} deals created then): "
                       f"{ratio:.2f} x the calibration's rate over the whole history")
        spread = self.runs.attrs.get("spread") or {}
        if spread:
            out.append("  the bands also hold how much these moved from period to period beyond chance in the last "
                       "year: " + ", ".join(f"{name} {r:.0%}" for name, r in spread.items()))
        if self.target is not None:
            out.append(f"  chance of reaching the target {_money(self.target)}: {s['p_target']:.0%}")
        for name, e in self.methods.items():
            out.append(f"  {name}: " + (f"P50 {_money(e.p50)} (P10 {_money(e.p10)} to P90 {_money(e.p90)})"
                                        if e.available else f"not available ({e.note})"))
        out += [f"  assumed: {a}" for a in self.assumed]
        return out

    def deals(self) -> pd.DataFrame:
        """Each open deal: owner, stage, days in it, amount, chance to close won in the period, expected amount, why."""
        d = self.live
        cols = [c for c in ("opportunity_id", "owner", "segment", "stage", "days_in_stage", "age_days", "amount") if c in d]
        out = d[cols].assign(chance=d["chance"], expected=d["expected"], stage_rate=d["stage_rate"],
                             model_chance=d["model_chance"], why=d["why"])
        return out.sort_values("expected", ascending=False, kind="stable").reset_index(drop=True)

    def by(self, what: str = "owner") -> pd.DataFrame:
        """Per owner (or segment): closed so far, and P10 / P50 / P90 of the period's bookings.

        Open deals count for their own owner / segment run by run; the new deals' bookings are shared out by
        each owner's share of the new business won in the last four windows (per segment: as simulated).
        """
        if what not in ("owner", "segment"):
            raise ValueError(f"by: {what!r} is not allowed, must be owner or segment")
        opp = self.known.opportunities
        if what not in opp or opp[what].isna().all():
            raise MissingColumns(f"the forecast by {what}", [what])
        won = opp[(opp["outcome"] == "won") & (opp["closed_at"] >= self.period.start)]
        closed = won.groupby(won[what].fillna(TEAM))["amount"].sum()
        groups = self.live[what].fillna(TEAM) if what in self.live else pd.Series(TEAM, index=self.live.index)
        deal_cols = [f"deal/{i}" for i in range(len(self.live))]
        have = all(c in self.runs for c in deal_cols) and not self.runs[deal_cols].isna().any().any() if deal_cols else False
        if have:
            per_deal = self.runs[deal_cols].to_numpy()
        else:   # a run could not place every deal: each deal's expected amount stands for it
            per_deal = np.tile(self.live["expected"].to_numpy(dtype=float), (len(self.runs), 1))
        names = sorted(set(closed.index) | set(groups) | set(self._new_shares(what)))
        shares = self._new_shares(what)
        rows = []
        for name in names:
            mask = (groups == name).to_numpy()
            pipe = per_deal[:, mask].sum(axis=1) if mask.any() else np.zeros(len(self.runs))
            new = self.runs[f"new/{name}"].to_numpy() if what == "segment" and f"new/{name}" in self.runs \
                else self.runs["new"].to_numpy() * shares.get(name, 0.0)
            total = float(closed.get(name, 0.0)) + pipe + new
            q = np.quantile(total, fb.QUANTILES)
            rows.append({what: name, "closed": float(closed.get(name, 0.0)), "open_deals": int(mask.sum()),
                         "p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2]), "expected": float(total.mean())})
        return pd.DataFrame(rows).sort_values("expected", ascending=False).reset_index(drop=True)

    def _new_shares(self, what: str) -> dict[str, float]:
        if what == "segment":
            return {c.split("/", 1)[1]: 0.0 for c in self.runs if c.startswith("new/")}
        windows = fb.past_windows(self.known, self.cut, (self.period.end - self.cut) / DAY)
        opp = self.known.opportunities
        if windows.empty:
            return {}
        lo = windows["start"].min()
        new_won = opp[(opp["outcome"] == "won") & (opp["created_at"] >= lo)]
        by = new_won.groupby(new_won["owner"].fillna(TEAM))["amount"].sum() if "owner" in new_won else pd.Series(dtype=float)
        return (by / by.sum()).to_dict() if by.sum() > 0 else {}

    @property
    def cut(self) -> pd.Timestamp:
        return self.as_of + DAY

    def figure(self) -> Figure:
        """The simulated distribution of the period's bookings, its P10-P90 band, the target, and the baselines."""
        fig, (ax, bx) = new_figure(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [3, 2]})
        p10, p50, p90 = self.quantiles()
        ax.hist(self.totals, bins=30, color="0.75", edgecolor="white")
        ax.axvspan(p10, p90, color="tab:blue", alpha=0.12, label="P10 to P90")
        ax.axvline(p50, color="tab:blue", lw=2, label=f"P50 {_money(p50)}")
        ax.axvline(self.closed, color="0.3", ls=":", label=f"closed so far {_money(self.closed)}")
        if self.target is not None:
            ax.axvline(self.target, color="tab:red", ls="--", label=f"target {_money(self.target)} ({self.p_target:.0%})")
        ax.set_xlabel(f"bookings in {self.period.label} [{self.currency}]")
        ax.set_ylabel("simulated runs")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))     # a count of runs: no 2.5 on the axis
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _money(v)))
        ax.set_title(f"{self.period.label} as of {self.as_of:%Y-%m-%d}: P50 {_money(p50)}, "
                     f"80% between {_money(p10)} and {_money(p90)}", fontsize=10)
        ax.legend(fontsize=8)
        ests = [self.estimate()] + [e for e in self.methods.values() if e.available]
        y = np.arange(len(ests))[::-1]
        for yi, e in zip(y, ests):
            bx.errorbar([e.p50], [yi], xerr=[[e.p50 - e.p10], [e.p90 - e.p50]], fmt="o", capsize=4,
                        color="tab:blue" if e.method == "simulation" else "0.35")
        bx.set_yticks(y, [e.method for e in ests])
        bx.set_xlabel(f"forecast P50 with P10-P90 [{self.currency}]")
        bx.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _money(v)))
        bx.set_title("the same period by each method", fontsize=10)
        bx.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig


def _why(row: dict, medians: pd.Series) -> str:
    med = medians.get(row["stage"], math.nan)
    parts = [f"{row['stage']} for {row['days_in_stage']:.0f} days" + (f" (median stay {med:.0f})" if math.isfinite(med) else "")]
    if math.isfinite(row["stage_rate"]):
        parts.append(f"{row['stage_rate']:.0%} of the deals that reached {row['stage']} were won")
    if math.isfinite(row["model_chance"]):
        parts.append(f"deal model {row['model_chance']:.0%}")
    if math.isfinite(row["chance"]):
        parts.append(f"won inside the period in {row['chance']:.0%} of simulated runs")
    return "; ".join(parts)


def forecast(tables: Tables, as_of: Any = None, horizon: str = "quarter", target: float | None = None, *,
             draws: int = DRAWS, runs: int = RUNS, seed: int = 0, base: str | Scenario = "baseline",
             refine: bool = False, executor: Any = None, progress: bool | None = None) -> Forecast:
    """Forecast the bookings of the period holding the day after `as_of` (default: the export's last date).

    `horizon`: quarter, month or 'N-days' (the N days after as_of). `target`: a number to give the chance of
    reaching. `draws` x `runs` simulated runs (see the module text); `refine`: let the calibration set the
    stage settings by simulation (slower, closer to the export's stays).
    """
    if target is not None and not (isinstance(target, (int, float)) and math.isfinite(target) and target >= 0):
        raise ValueError(f"target: {target!r} is not allowed, must be a number >= 0")
    for name, value in (("draws", draws), ("runs", runs)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {value!r} is not allowed, must be a whole number >= 1")
    cut = cut_of(tables, as_of)
    period = fb.period_of(cut, horizon)
    known = fit.as_of(tables, cut)
    today = cut > fit.window(tables).end - DAY
    result = forecast_at(known, cut, period, target, today=today, draws=draws, runs=runs, seed=seed, base=base,
                         refine=refine, executor=executor, progress=progress)
    result.undated = undated_open(tables, cut)
    return result


def undated_open(tables: Tables, cut: pd.Timestamp) -> int:
    """Deals without a creation date that were open at `cut` (open in the export, or closed on or after `cut`):
    `fit.as_of` cannot place them in time, so a forecast leaves them out and says how many."""
    opp = tables.opportunities
    closed = opp.get("closed_at", pd.Series(pd.NaT, index=opp.index))
    return int((opp["created_at"].isna() & ((opp["outcome"] == "open") | (closed >= cut))).sum())


def forecast_at(known: Tables, cut: pd.Timestamp, period: fb.Period, target: float | None = None, *, today: bool = False,
                draws: int = DRAWS, runs: int = RUNS, seed: int = 0, base: str | Scenario = "baseline",
                refine: bool = False, executor: Any = None, progress: bool | None = None,
                methods: Sequence[str] = fb.BASELINES) -> Forecast:
    """`forecast` on tables already cut at `cut` (what a backtest calls at each cutoff)."""
    show = (os.environ.get("PLAYBOOK_PROGRESS", "1") != "0") if progress is None else progress
    steps = tqdm(total=3, desc="forecast: calibrating", unit="step", leave=False, disable=not show)
    with steps:
        sc = calibrate(known, base, end=cut, seed=seed, refine=refine, name=f"known at {cut - DAY:%Y-%m-%d}")
        live = fb.open_pipeline(known, cut)
        assumed = list(live.attrs.get("assumed", []))
        steps.update()
        steps.set_description("forecast: simulating")
        sim_runs = simulate_period(known, cut, period, sc, live, draws, runs, seed, executor, progress)
        steps.update()
        steps.set_description("forecast: baselines")
        result = _finish(known, cut, period, target, today, seed, methods, sc, live, assumed, sim_runs)
        steps.update()
    return result


def _finish(known: Tables, cut: pd.Timestamp, period: fb.Period, target: float | None, today: bool, seed: int,
            methods: Sequence[str], sc: CalibratedScenario, live: pd.DataFrame, assumed: list[str],
            sim_runs: pd.DataFrame) -> Forecast:
    """Per-deal chances and reasons, and the baselines at the same as-of, around the simulated runs."""
    closed = fb.won_between(known.opportunities, period.start, cut)
    totals = closed + sim_runs["pipeline"].to_numpy() + sim_runs["new"].to_numpy()
    deal_cols = [f"deal/{i}" for i in range(len(live))]
    if deal_cols and all(c in sim_runs for c in deal_cols):
        won = sim_runs[deal_cols]
        chance = (won > 0).mean().to_numpy()
        expected = won.mean().to_numpy()
    else:
        chance = np.full(len(live), np.nan)
        expected = np.full(len(live), np.nan)
    rates = snapshots.stage_win_rates(known)
    chances = None
    try:
        chances = fb.deal_chances(known, cut, period) if "deal_model" in methods else None
        model = chances[0] if chances is not None else live.assign(chance=np.nan)
    except (ValueError, LookupError):
        model = live.assign(chance=np.nan)
    live = live.assign(chance=chance, expected=expected, stage_rate=live["stage"].map(rates).astype(float),
                       model_chance=model["chance"].to_numpy(dtype=float))
    hist = snapshots.stays(known)
    medians, _ = snapshots._median_stage_days(hist, snapshots.stage_order(hist))
    live["why"] = [_why(r, medians) for r in live.to_dict("records")] if len(live) else []
    ests = {name: fb.baseline(name, known, cut, period, today=today, seed=seed, chances=chances) for name in methods}
    if not fit.has_history(known):
        assumed.append("stages: the export has no stage history, so every open deal is resumed in one stage, for "
                       "as long as it has been open")
    return Forecast(cut - DAY, period, closed, totals, sim_runs, live, ests, target, sc.currency, sc, known, assumed)


def _money(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a >= 1e9:
        return f"{x / 1e9:.2f}B"
    if a >= 1e6:
        return f"{x / 1e6:.2f}M"
    if a >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:,.0f}"
