"""`forecast_backtest(tables)`: how each forecasting method did on the export's own history, at rolling cutoffs.

    bt = sim.forecast_backtest(tables, cutoffs=8, horizon="quarter")
    bt.scores()     # per method: MAPE, bias, 80% interval coverage, pinball loss, rank
    bt.figure()     # forecast vs actual at each cutoff, every method, with its P10-P90 band

Rolling origin: cutoffs on month starts spread evenly over the export's span, each leaving 90 days before it
to learn from and a whole horizon after it to check. At each, every method forecasts the bookings of the
horizon that starts there (a quarter: the three months from the cutoff) from what was known then
(`sim.analysis.fit.as_of`: deals created later are invisible, stages as of the cutoff from the stage
history, deals closed later open again at their first estimate) — the simulator calibrated afresh on that
alone (`sim.experiments.pipeline_forecast`) and the baselines (`sim.analysis.forecast_baselines`). The
forecast is then scored against what the export shows was booked.

Cutoffs overlap when the horizon is longer than their spacing; their errors are then not independent, and
a coverage over a handful of cutoffs is a rough figure (its binomial interval is printed with it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from tqdm.auto import tqdm

from ..analysis import fit
from ..analysis import forecast_baselines as fb
from ..analysis.plots import new_figure
from ..core.stats import wilson_ci
from ..core.tables import Tables
from ..scenario import Scenario
from .pipeline_forecast import DRAWS, MIN_DAYS_BEFORE, RUNS, _money, forecast_at

DAY = pd.Timedelta(days=1)
METHODS = ("simulation", *fb.BASELINES)


def cutoff_dates(tables: Tables, cutoffs: int, horizon: str) -> tuple[list[pd.Timestamp], str]:
    """Up to `cutoffs` month starts spread over the span, and a sentence when there is no room for any."""
    win = fit.window(tables)
    first = (win.start + pd.Timedelta(days=MIN_DAYS_BEFORE)).to_period("M").start_time
    if first < win.start + pd.Timedelta(days=MIN_DAYS_BEFORE):
        first = first + pd.DateOffset(months=1)
    candidates = [d for d in pd.date_range(first, win.end, freq="MS") if fb.period_of(d, horizon, start=d).end <= win.end]
    if not candidates:
        need = fb.period_of(win.start, horizon, start=win.start).days
        return [], (f"the export runs from {win.start:%Y-%m-%d} to {win.end - DAY:%Y-%m-%d} ({win.days} days): a backtest "
                    f"needs {MIN_DAYS_BEFORE} days to learn from before a cutoff and a whole {horizon} ({need:.0f} days) "
                    f"after it to check, so there is no cutoff to test from; a shorter --horizon or a longer export "
                    "would give one")
    if len(candidates) <= cutoffs:
        return candidates, ""
    pick = np.unique(np.round(np.linspace(0, len(candidates) - 1, cutoffs)).astype(int))
    return [candidates[i] for i in pick], ""


@dataclass
class ForecastBacktest:
    """Every method's forecast at each cutoff beside what was booked; `note` says why there is none."""

    rows: pd.DataFrame              # cutoff, period, method, actual, p10, p50, p90
    horizon: str
    currency: str
    note: str = ""
    requested: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def cutoffs(self) -> list[pd.Timestamp]:
        return sorted(set(self.rows["cutoff"])) if len(self.rows) else []

    def scores(self) -> pd.DataFrame:
        """Per method: MAPE, bias, 80% coverage, pinball loss (share of the mean actual), rank by MAPE, cutoffs."""
        if self.rows.empty:
            return pd.DataFrame(columns=["mape", "bias", "coverage80", "pinball", "cutoffs", "rank"])
        return fb.score(self.common())

    def common(self) -> pd.DataFrame:
        """The rows of the cutoffs where every method that forecast at all had a forecast: methods are scored on
        the same periods (a method with no forecast anywhere, e.g. categories on an export without them, is
        left out of that choice and shows no scores)."""
        ok = self.rows.assign(ok=np.isfinite(self.rows["p50"].to_numpy(dtype=float)))
        some = ok.groupby("method")["ok"].any()
        used = ok[ok["method"].isin(some[some].index)]
        full = used.groupby("cutoff")["ok"].all()
        keep = set(full[full].index)
        return self.rows[self.rows["cutoff"].isin(keep)] if keep else self.rows

    def verdict(self) -> str:
        """One sentence: where the simulation ranks, and by how much it wins or loses against the best baseline."""
        if self.rows.empty:
            return self.note
        s = self.scores()
        base = s.drop(index="simulation", errors="ignore").dropna(subset=["mape"])
        if "simulation" not in s.index or not math.isfinite(s.loc["simulation", "mape"]) or base.empty:
            return "the simulation and the baselines could not all be scored on this export"
        sim, best = s.loc["simulation"], base.iloc[0]
        gap = sim["mape"] - best["mape"]
        n = int(sim["cutoffs"])
        covered = int(round(sim["coverage80"] * n))
        lo, hi = wilson_ci(covered, n)
        cover = f"its 80% band held the actual at {covered} of {n} cutoffs ({float(lo):.0%} to {float(hi):.0%} at 95%)"
        if gap <= 0:
            return (f"the simulation was the most accurate: MAPE {sim['mape']:.1%} against {best['mape']:.1%} for the best "
                    f"baseline ({best.name}); {cover}")
        return (f"the simulation LOST to {best.name} on this export: MAPE {sim['mape']:.1%} against {best['mape']:.1%} "
                f"({gap * 100:.1f} points worse, ranked {int(sim['rank'])} of {int(s['rank'].max())}); {cover}")

    def lines(self) -> list[str]:
        if self.rows.empty:
            return [f"no backtest: {self.note}"]
        cut = self.cutoffs
        scored = sorted(set(self.common()["cutoff"]))
        out = [f"backtest of {len(cut)} cutoffs from {cut[0]:%Y-%m-%d} to {cut[-1]:%Y-%m-%d}, each forecasting the "
               f"{self.horizon.replace('-', ' ')} from it with what was known then"
               + (f" (asked for {self.requested}; the export has room for {len(cut)})" if self.requested > len(cut) else "")]
        for when, why in self.details.get("skipped", {}).items():
            out.append(f"  at {when:%Y-%m-%d} the simulator could not be calibrated on what was known ({why}); "
                       "that cutoff is not scored")
        if len(scored) < len(cut):
            out.append(f"  scored on the {len(scored)} cutoffs where every method had a forecast "
                       f"(from {scored[0]:%Y-%m-%d}): a method that needs more history sat out the first")
        s = self.scores()
        out.append(f"  {'method':<15} {'MAPE':>7} {'bias':>7} {'cover80':>8} {'pinball':>8} {'rank':>5}")
        for name, r in s.iterrows():
            if not math.isfinite(r["mape"]):
                out.append(f"  {name:<15} not available at any cutoff")
                continue
            out.append(f"  {name:<15} {r['mape']:>7.1%} {r['bias']:>+7.1%} {r['coverage80']:>8.0%} {r['pinball']:>8.3f} "
                       f"{int(r['rank']):>5}")
        out.append(f"  {self.verdict()}")
        return out

    def figure(self) -> Figure:
        """Forecast vs actual at each cutoff: each method's P50 with its P10-P90 band, and what was booked."""
        fig, ax = new_figure(figsize=(11.5, 4.6))
        if self.rows.empty:
            ax.text(0.5, 0.5, self.note, ha="center", va="center", wrap=True, fontsize=9)
            ax.set_axis_off()
            ax.set_title("No backtest: the export has no span to test on")
            return fig
        cuts = self.cutoffs
        x = np.arange(len(cuts))
        methods = [m for m in METHODS if m in set(self.rows["method"])]
        width = 0.8 / max(len(methods), 1)
        colors = {"simulation": "tab:blue", "stage_weighted": "tab:orange", "run_rate": "tab:green",
                  "categories": "tab:purple", "deal_model": "tab:brown"}
        for j, m in enumerate(methods):
            g = self.rows[self.rows["method"] == m].set_index("cutoff").reindex(cuts)
            ok = np.isfinite(g["p50"].to_numpy(dtype=float))
            if not ok.any():
                continue
            xs = x[ok] - 0.4 + width * (j + 0.5)
            mid = g["p50"].to_numpy(dtype=float)[ok]
            ax.errorbar(xs, mid, yerr=[mid - g["p10"].to_numpy(dtype=float)[ok], g["p90"].to_numpy(dtype=float)[ok] - mid],
                        fmt="o", ms=4, capsize=3, color=colors.get(m, "0.4"), label=f"{m} (P50, P10-P90)")
        actual = self.rows.drop_duplicates("cutoff").set_index("cutoff").reindex(cuts)["actual"]
        ax.scatter(x, actual, marker="_", s=900, color="black", lw=2.5, label="booked", zorder=5)
        ax.set_xticks(x, [f"{c:%Y-%m-%d}" for c in cuts], rotation=30 if len(cuts) > 6 else 0)
        ax.set_xlabel(f"cutoff (each forecasts the {self.horizon} from it)")
        ax.set_ylabel(f"bookings in the {self.horizon} [{self.currency}]")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _money(v)))
        s = self.scores()
        sim = s.loc["simulation"] if "simulation" in s.index else None
        ax.set_title("Forecast vs booked at each cutoff" + (f": simulation MAPE {sim['mape']:.0%}, rank {int(sim['rank'])}"
                                                           if sim is not None and math.isfinite(sim["mape"]) else "")
                     + " (a black bar inside a band = the band held)", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        return fig


def forecast_backtest(tables: Tables, cutoffs: int = 8, horizon: str = "quarter", *, draws: int = DRAWS,
                      runs: int = RUNS, seed: int = 0, base: str | Scenario = "baseline", refine: bool = False,
                      executor: Any = None, progress: bool | None = None) -> ForecastBacktest:
    """Forecast the `horizon` from each of up to `cutoffs` past dates by every method; score against what was booked."""
    if not isinstance(cutoffs, int) or cutoffs < 1:
        raise ValueError(f"cutoffs: {cutoffs!r} is not allowed, must be a whole number >= 1")
    fb.parse_horizon(horizon)
    currency = "USD"
    dates, note = cutoff_dates(tables, cutoffs, horizon)
    columns = ["cutoff", "period", "method", "actual", "p10", "p50", "p90"]
    if not dates:
        return ForecastBacktest(pd.DataFrame(columns=columns), horizon, currency, note, cutoffs)
    opp = tables.opportunities
    rows = []
    skipped: dict[pd.Timestamp, str] = {}
    show = (os.environ.get("PLAYBOOK_PROGRESS", "1") != "0") if progress is None else progress
    for i, cut in enumerate(tqdm(dates, desc="backtest cutoffs", unit="cutoff", leave=False, disable=not show)):
        period = fb.period_of(cut, horizon, start=cut)
        known = fit.as_of(tables, cut)
        try:
            fc = forecast_at(known, cut, period, draws=draws, runs=runs, seed=seed + i, base=base, refine=refine,
                             executor=executor, progress=False)
            currency = fc.currency
            estimates = [fc.estimate(), *fc.methods.values()]
        except (ValueError, LookupError) as err:   # too little known then to calibrate on: the baselines still forecast
            skipped[cut] = str(err)
            estimates = [fb.Estimate.missing("simulation", str(err)), *fb.baselines(known, cut, period, seed=seed + i).values()]
        actual = fb.won_between(opp, period.start, period.end)
        for e in estimates:
            rows.append({"cutoff": cut, "period": period.label, "method": e.method, "actual": actual,
                         "p10": e.p10, "p50": e.p50, "p90": e.p90})
    return ForecastBacktest(pd.DataFrame(rows, columns=columns), horizon, currency, "", cutoffs, {"skipped": skipped})

