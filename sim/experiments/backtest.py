"""`backtest(tables, cutoff)`: the honest test of a simulator — predict what happened next, from before.

1. Take what was known at the cutoff (`sim.analysis.fit.as_of`): the deals created before it, closed only if
   they closed before it, their stage history up to it.
2. Calibrate on that alone (`sim.calibrate`, the window ending at the cutoff).
3. Simulate forward from the cutoff to the end of the export, `n` times, starting from the pipeline open at
   the cutoff — every open deal resumed in its stage for as long as it had been there
   (`sim.policies.open_pipeline`), customers already won bringing repeat business — with new leads
   arriving as fitted.
4. Compare with what the export shows happened after the cutoff: bookings per month, deals won and the win
   rate of deals closed, each against the simulation's 95% band (where one more run would fall 95% of the
   time: a prediction interval from the runs), and the share of months whose bookings fell inside their band
   (about 95% when the simulator is right and the fit is sure; less when it was fitted on little data, since
   the band holds the simulation's noise at the fitted values, not how unsure the fit is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..analysis import fit
from ..analysis.fit import DAY, ONE_STAGE
from ..analysis.plots import new_figure
from ..core.periods import label as period_label
from ..core.stats import prediction_interval
from ..core.tables import Tables
from ..scenario import Scenario
from .calibrate import CalibratedScenario, _shift_dates, calibrate
from .replicate import replicate_each
from .simulate import SimResult

MIN_DAYS_BEFORE, MIN_DAYS_AFTER = 90, 28   # a backtest needs a quarter to learn from and four weeks to check


def after_cutoff(tables: Tables, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, float]:
    """What happened in [start, end): bookings per month, deals won, bookings and win rate of deals closed."""
    opp = tables.opportunities
    closed = opp[(opp["closed_at"] >= start) & (opp["closed_at"] < end) & opp["outcome"].isin(["won", "lost"])]
    won = closed[closed["outcome"] == "won"]
    booked = won.groupby(won["closed_at"].dt.to_period("M"))["amount"].sum()
    out = {f"bookings/{period_label(m.start_time, 'month')}": float(booked.get(m, 0.0))
           for m in pd.period_range(start, end - DAY, freq="M")}
    out.update({"total/deals won": float(len(won)), "total/bookings": float(won["amount"].sum()),
                "total/win rate": len(won) / len(closed) if len(closed) else np.nan})
    return out


@dataclass(frozen=True)
class ForwardFigures:
    """A replication's measure: `after_cutoff` of the simulated run, and how many open deals it resumed."""

    start: pd.Timestamp
    end: pd.Timestamp

    def __call__(self, result: SimResult) -> dict[str, float]:
        return {**after_cutoff(result.tables, self.start, self.end),
                "resumed": result.metrics.get("open_deals_resumed", 0.0)}


@dataclass
class Backtest:
    """Predicted (simulated from the cutoff) vs what happened, with bands, and the scenario it used."""

    cutoff: pd.Timestamp
    end: pd.Timestamp
    months: pd.DataFrame        # per month: actual bookings, simulated median, 95% band, inside
    totals: pd.DataFrame        # deals won, bookings, win rate: the same columns
    scenario: CalibratedScenario
    open_deals: int
    runs: pd.DataFrame

    @property
    def share_inside(self) -> float:
        """Share of months whose actual bookings fell inside the simulated 95% band."""
        return float(self.months["inside"].mean())

    def summary(self) -> list[str]:
        m = self.months
        lines = [f"backtest from {self.cutoff:%Y-%m-%d} to {self.end - DAY:%Y-%m-%d}: calibrated on what was known at the "
                 f"cutoff, {self.open_deals:,} deals open then; {int(m['inside'].sum())} of {len(m)} months' bookings "
                 f"inside the simulated 95% band ({self.share_inside:.0%})"]
        for name, r in self.totals.iterrows():
            lines.append(f"  {name}: actual {_num(r['actual'])}, simulated {_num(r['simulated'])} "
                         f"(95% band {_num(r['band_low'])} to {_num(r['band_high'])}){'' if r['inside'] else '  OUTSIDE'}")
        return lines

    def figure(self) -> Figure:
        """Bookings per month after the cutoff: the simulation's band and median, and what happened."""
        m = self.months
        fig, ax = new_figure(figsize=(9, 4.4))
        x = np.arange(len(m))
        ax.fill_between(x, m["band_low"], m["band_high"], color="0.82", label="simulated from the cutoff, 95% band")
        ax.plot(x, m["simulated"], color="0.35", lw=1.2, label="simulated, median")
        ax.plot(x, m["actual"], "o-", color="tab:blue", label="what happened")
        out = ~m["inside"].to_numpy()
        if out.any():
            ax.plot(x[out], m["actual"].to_numpy()[out], "o", color="tab:red", label="outside the band")
        ax.set_xticks(x, m.index, rotation=30 if len(m) > 8 else 0)
        ax.set_xlabel("month")
        ax.set_ylabel(f"bookings [{self.scenario.currency}]")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_title(f"Backtest from {self.cutoff:%Y-%m-%d}: {int(m['inside'].sum())} of {len(m)} months inside the band")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig


def backtest(tables: Tables, cutoff: Any, n: int = 40, seed: int = 0, base: str | Scenario = "baseline", *,
             carry_pipeline: bool = True, calibrated: CalibratedScenario | None = None, executor: Any = None,
             progress: bool | None = None) -> Backtest:
    """Calibrate on what was known at `cutoff`, simulate forward from the open pipeline, compare with what happened.

    `carry_pipeline=False` starts the forward runs from an empty pipeline instead (no open deals, no
    customers): what a simulator that ignores today's pipeline would predict. `calibrated`: the scenario
    an earlier backtest fitted at this cutoff (`Backtest.scenario`), to reuse instead of fitting again.
    """
    win = fit.window(tables)
    cutoff = pd.Timestamp(cutoff).normalize()
    if cutoff < win.start + pd.Timedelta(days=MIN_DAYS_BEFORE) or cutoff > win.end - pd.Timedelta(days=MIN_DAYS_AFTER):
        raise ValueError(f"cutoff: {cutoff:%Y-%m-%d} leaves too little to learn from or to check; the export runs from "
                         f"{win.start:%Y-%m-%d} to {win.end - DAY:%Y-%m-%d}, so choose a date from "
                         f"{win.start + pd.Timedelta(days=MIN_DAYS_BEFORE):%Y-%m-%d} to "
                         f"{win.end - pd.Timedelta(days=MIN_DAYS_AFTER):%Y-%m-%d}")
    known = fit.as_of(tables, cutoff)
    if calibrated is not None and calibrated.calibration.window.end != cutoff:
        raise ValueError(f"calibrated: that scenario was fitted up to {calibrated.calibration.window.end:%Y-%m-%d}, "
                         f"not up to the cutoff {cutoff:%Y-%m-%d}")
    try:
        sc = calibrated or calibrate(known, base, end=cutoff, seed=seed, name=f"known at {cutoff:%Y-%m-%d}")
    except ValueError as err:   # say it is the cutoff's share of the export that falls short, not the export
        raise ValueError(f"backtest at {cutoff:%Y-%m-%d}: what was known before the cutoff cannot be calibrated: {err}; "
                         "a later cutoff, or a longer export, leaves more to learn from") from None
    deals = open_deals(known, cutoff, sc) if carry_pipeline else []
    customers = _customers(known, sc) if carry_pipeline and sc.accounts.repeat_per_year > 0 else []
    data = _shift_dates(sc.to_dict(), cutoff.date() - sc.start)
    data.update(start=cutoff.date(), days=int((win.end - cutoff) / DAY))
    data["policies"]["open_pipeline"] = {"deals": deals, "customers": customers}
    forward = Scenario.build(data, "backtest run")
    runs = replicate_each({"forward": forward}, n, seed, measure=ForwardFigures(cutoff, win.end), executor=executor,
                          progress=progress).drop(columns="scenario")
    actual = after_cutoff(tables, cutoff, win.end)
    rows = []
    for key, value in actual.items():
        lo, mid, hi = prediction_interval(runs[key], log="bookings" in key)
        rows.append({"key": key, "actual": value, "simulated": mid, "band_low": lo, "band_high": hi,
                     "inside": bool(np.isfinite(value) and np.isfinite(lo) and lo <= value <= hi)})
    table = pd.DataFrame(rows)
    months = table[table["key"].str.startswith("bookings/")].assign(month=lambda t: t["key"].str.split("/").str[1])
    totals = table[table["key"].str.startswith("total/")].assign(figure=lambda t: t["key"].str.split("/").str[1])
    return Backtest(cutoff, win.end, months.set_index("month").drop(columns="key"),
                    totals.set_index("figure").drop(columns="key"), sc, len(deals), runs)


def open_deals(known: Tables, cutoff: pd.Timestamp, sc: Scenario) -> list[dict]:
    """The deals open at the cutoff, as `sim.policies.open_pipeline.OpenDeal` data for the scenario `sc`."""
    opp = known.opportunities
    live = opp[opp["outcome"] == "open"]
    stages = sc.stage_names
    if fit.has_history(known) and stages != [ONE_STAGE]:
        hist = known.stage_history.sort_values("entered_at", kind="stable").groupby("opportunity_id").last()
        stage = live["opportunity_id"].map(hist["stage"])
        entered = live["opportunity_id"].map(hist["entered_at"]).fillna(live["created_at"])
    else:
        stage = pd.Series(stages[0], index=live.index)
        entered = live["created_at"]
    stage = stage.where(stage.isin(stages), stages[0])
    estimate = live["first_estimate"] if "first_estimate" in live else pd.Series(np.nan, index=live.index)
    if "amount" in live:
        estimate = estimate.where(estimate > 0, live["amount"])
    segments, sources = {s.name for s in sc.segments}, {s.name for s in sc.lead_sources}
    out = []
    for i in live.index:
        age = max((cutoff - live.at[i, "created_at"]) / DAY, 0.0)
        out.append({
            "stage": stage[i], "days_in_stage": min(max((cutoff - entered[i]) / DAY, 0.0), age), "age_days": age,
            "first_estimate": float(estimate[i]) if estimate[i] > 0 else None,
            "segment": _known(live, i, "segment", segments), "lead_source": _known(live, i, "lead_source", sources),
            "fit": float(live.at[i, "fit_score"]) if "fit_score" in live and pd.notna(live.at[i, "fit_score"]) else None,
        })
    return out


def _known(frame: pd.DataFrame, i, column: str, allowed: set[str]) -> str | None:
    if column not in frame:
        return None
    value = frame.at[i, column]
    return value if isinstance(value, str) and value in allowed else None


def _customers(known: Tables, sc: Scenario) -> list[dict]:
    """Accounts with a win before the cutoff, with their segment (if a scenario segment) and revenue so far."""
    opp = known.opportunities
    if "account_id" not in opp:
        return []
    won = opp[(opp["outcome"] == "won") & opp["account_id"].notna() & (opp["amount"] > 0)]
    segments = {s.name for s in sc.segments}
    by = won.groupby("account_id")
    seg = by["segment"].first() if "segment" in won else pd.Series(None, index=by.size().index)
    return [{"segment": s if isinstance(s, str) and s in segments else None, "revenue": float(r)}
            for s, r in zip(seg.reindex(by.size().index), by["amount"].sum())]


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.1%}" if 0 < abs(x) < 1 else f"{x:,.0f}"
