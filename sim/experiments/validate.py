"""`validate(sc, tables)`: does the simulated pipeline look like the export? Figures side by side, with bands.

The scenario is run `n` times over the export's own window (on common seeds, from an empty pipeline, as the
export began), and each run is measured exactly as the export is (`sim.analysis.validation`): win rate,
cycle-time quantiles, the median time in each stage, quantiles of won deal sizes and the bookings of each
month. The simulation's 95% band of each figure is where one more run's figure would fall 95% of the time
(a prediction interval from the runs, on the log scale for amounts); the export's figure is inside or not. A measure passes when its figures are inside (for a measure of four or more figures, at
least three in four: one in twenty falls outside a 95% band by chance); the scenario passes when every
measure does.

Beside it, the Markov check: the export's stage history as an absorbing chain gives a closed-form win
probability and expected cycle (`sim.analysis.markov`, with a bootstrap interval over the export's deals);
the simulation's own (the deals created in the window, followed until they close) should fall inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from ..analysis import fit, markov
from ..analysis.fit import DAY, Window
from ..analysis.plots import new_figure
from ..analysis.validation import FAMILIES, UNITS, family, label, window_measures
from ..core.stats import mean_ci, prediction_interval
from ..core.tables import Tables
from ..scenario import Scenario
from .calibrate import CalibratedScenario, _shift_dates
from .replicate import replicate_each
from .simulate import SimResult

TAIL_DAYS = 270   # the simulation runs on past the window so the window's deals close (for the Markov check)


@dataclass(frozen=True)
class WindowFigures:
    """A replication's measure: the validation figures of the window, and the chain check of its deals."""

    start: pd.Timestamp
    end: pd.Timestamp
    stages: tuple[str, ...] | None

    def __call__(self, result: SimResult) -> dict[str, float]:
        tables = result.tables
        out = window_measures(fit.as_of(tables, self.end), self.start, self.end, list(self.stages) if self.stages else None)
        opp = tables.opportunities
        mine = opp[(opp["created_at"] < self.end) & opp["outcome"].isin(["won", "lost"])]
        won = mine[mine["outcome"] == "won"]
        out["chain/win_probability"] = len(won) / len(mine) if len(mine) else np.nan
        out["chain/expected_cycle_days"] = float(((won["closed_at"] - won["created_at"]) / DAY).mean()) if len(won) else np.nan
        return out


@dataclass
class Validation:
    """Simulated vs actual: every figure with its band, a verdict per measure, and the Markov check."""

    figures: pd.DataFrame      # per figure: measure, label, export, simulated median, band, inside
    measures: pd.DataFrame     # per measure: figures, inside, passed
    markov: pd.DataFrame       # closed form (export's chain) vs simulation (mean, 95% CI)
    runs: pd.DataFrame         # one row per replication
    window: Window
    currency: str

    @property
    def passed(self) -> bool:
        """True when every measure passed — and at least one could be checked (no comparison is no pass)."""
        return bool(len(self.measures)) and bool(self.measures["passed"].all())

    def failed(self) -> list[str]:
        """The measures that failed, by name (e.g. ``["win rate", "bookings per month"]``)."""
        return [str(name) for name, r in self.measures.iterrows() if not r.passed]

    def verdict(self) -> str:
        """In words: "fails 3 of 5 checks: win rate, cycle time, deal size" (or "passes all 5 checks")."""
        bad, n = self.failed(), len(self.measures)
        if n == 0:
            runs = len(self.runs)
            return (f"could not be checked: no figure had a 95% band to compare ({runs} simulated run(s); a band needs 3 "
                    "or more)" if runs < 3 else "could not be checked: the export shows no figure the simulation can match")
        return f"passes all {n} checks" if not bad else f"fails {len(bad)} of {n} checks: {', '.join(bad)}"

    def summary(self) -> list[str]:
        """One line per measure, and the Markov check, for a terminal."""
        lines = [f"{name}: {int(r.inside)} of {int(r.figures)} figures inside the simulated 95% bands "
                 f"({'pass' if r.passed else 'FAIL'})" for name, r in self.measures.iterrows()]
        for what, r in self.markov.iterrows():
            if what == "win probability" and (r["closed_low"] >= 1 or r["closed_high"] <= 0):
                lines.append(f"Markov check, win probability: not checked — the export has no "
                             f"{'lost' if r['closed_low'] >= 1 else 'won'} deal, so it shows no chance of "
                             f"{'losing' if r['closed_low'] >= 1 else 'winning'}")
                continue
            gap = r["simulated"] - r["closed_form"]
            way = "higher" if gap > 0 else "lower"
            said = ("agree" if r["agree"] else
                    f"DISAGREE: the simulation's is {_num(abs(gap))} {way} than the export's stage chain gives")
            lines.append(f"Markov check, {what}: closed form {_num(r['closed_form'])} (95% CI {_num(r['closed_low'])} to "
                         f"{_num(r['closed_high'])}), simulation {_num(r['simulated'])} (95% CI {_num(r['ci_low'])} to "
                         f"{_num(r['ci_high'])}): {said}")
        return lines

    def figure(self, measure: str | None = None) -> Figure:
        """The figure of one measure (e.g. ``"bookings per month"``), or all of them on one page."""
        if measure is not None:
            if measure not in UNITS and measure != "markov":
                raise ValueError(f"measure: {measure!r} is not one of {', '.join([*UNITS, 'markov'])}")
            fig, ax = new_figure(figsize=(8, 4.2))
            self._draw(ax, measure)
            fig.tight_layout()
            return fig
        fig, axes = new_figure(2, 3, figsize=(15, 8.4))
        for ax, name in zip(axes.flat, [*UNITS, "markov"]):
            self._draw(ax, name)
        verdict = "passes" if self.passed else "does not pass"
        fig.suptitle(f"Simulated vs actual, {self.window.start:%Y-%m-%d} to {self.window.end - DAY:%Y-%m-%d}: the "
                     f"scenario {verdict} (grey: simulation's 95% band; dot: the export)")
        fig.tight_layout()
        return fig

    def _draw(self, ax, name: str) -> None:
        if name == "markov":
            return self._draw_markov(ax)
        if name not in self.measures.index:   # no figure of it could be compared (the export or the runs show none)
            ax.text(0.5, 0.5, f"{name}: not checked —\nno figure of it to compare\n(the export or the simulation shows none)",
                    ha="center", va="center", transform=ax.transAxes, color="0.35")
            ax.set_title(f"{name.capitalize()}: not checked", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("figure")
            ax.set_ylabel(UNITS[name])
            return
        rows = self.figures[self.figures["measure"] == name]
        x = np.arange(len(rows))
        unit = UNITS[name] + (f" [{self.currency}]" if "amount" in UNITS[name] else "")
        if name == "bookings per month":
            ax.fill_between(x, rows["band_low"], rows["band_high"], color="0.8", label="simulation, 95% band")
            ax.plot(x, rows["simulated"], color="0.4", lw=1, label="simulation, median")
            ax.plot(x, rows["export"], "o-", color="tab:blue", label="export")
            ax.set_xticks(x[:: max(1, len(x) // 8)], rows["label"].iloc[:: max(1, len(x) // 8)], rotation=30)
            ax.set_xlabel("month closed")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.legend(fontsize=7)
        else:
            ax.vlines(x, rows["band_low"], rows["band_high"], color="0.6", lw=8, label="simulation, 95% band")
            ax.plot(x, rows["export"], "o", color="tab:blue", ms=7, label="export")
            out = ~rows["inside"].to_numpy()
            if out.any():
                ax.plot(x[out], rows["export"].to_numpy()[out], "o", color="tab:red", ms=7, label="export, outside the band")
            ax.legend(fontsize=7)
            ax.set_xticks(x, rows["label"], rotation=20 if name == "time per stage" else 0)
            ax.set_xlim(-0.6, len(rows) - 0.4)
            if name == "win rate":
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            elif name == "deal size":
                ax.set_yscale("log")
            ax.set_xlabel("stage" if name == "time per stage" else "figure")
        ax.set_ylabel(unit)
        verdict = self.measures.loc[name]
        ax.set_title(f"{name.capitalize()}: {int(verdict.inside)} of {int(verdict.figures)} inside "
                     f"({'pass' if verdict.passed else 'fail'})", fontsize=10)
        ax.grid(alpha=0.3)

    def _draw_markov(self, ax) -> None:
        m = self.markov
        x = np.arange(len(m))
        sim = m["simulated"].to_numpy()
        for offset, mid, lo, hi, color, name in (
                (-0.15, m["closed_form"], m["closed_low"], m["closed_high"], "tab:purple", "closed form of the export's chain"),
                (0.15, m["simulated"], m["ci_low"], m["ci_high"], "0.35", "simulation of the fitted scenario")):
            ax.errorbar(x + offset, mid / sim, yerr=[(mid - lo) / sim, (hi - mid) / sim], fmt="o", color=color,
                        capsize=4, label=name)
        ax.axhline(1.0, color="0.7", lw=1)
        ax.set_xticks(x, list(m.index))
        ax.set_xlim(-0.6, len(m) - 0.4)
        ax.set_ylabel("relative to the simulation's mean [ratio]")
        agree = int(m["agree"].sum())
        ax.set_title(f"Markov check: {agree} of {len(m)} agree (95% CIs)", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3, axis="y")


def validate(sc: Scenario, tables: Tables, n: int = 100, seed: int = 0, *, executor: Any = None,
             progress: bool | None = None, tail_days: int = TAIL_DAYS) -> Validation:
    """Simulate `sc` `n` times over the window of `tables` and compare with the export, figure by figure."""
    if isinstance(sc, CalibratedScenario) and sc._calibration is not None:
        win, one_stage = sc.calibration.window, sc.calibration.one_stage
    else:
        win, one_stage = fit.window(tables), not fit.has_history(tables)
    stages = None if one_stage else tuple(s.name for s in sc.stages)
    if not one_stage:
        missing = sorted(set(fit.stage_order(tables)) - set(stages))
        if missing:
            raise ValueError(f"the export's stages {', '.join(missing)} are not stages of the scenario "
                             f"({', '.join(stages)}): validate a scenario calibrated to this export")
    data = sc.to_dict()
    data = {**_shift_dates(data, win.start.date() - sc.start), "start": win.start.date(), "days": win.days + tail_days}
    run = Scenario.build(data, "validation run")
    measure = WindowFigures(win.start, win.end, stages)
    actual = window_measures(fit.as_of(tables, win.end), win.start, win.end, list(stages) if stages else None)
    runs = replicate_each({"simulated": run}, n, seed, measure=measure, executor=executor, progress=progress).drop(columns="scenario")
    rows = []
    for key, value in actual.items():
        sims = runs[key].to_numpy(dtype=float)
        lo, mid, hi = prediction_interval(sims, log=family(key) in ("deal size", "bookings per month"))
        inside = bool(np.isfinite(value) and np.isfinite(lo) and lo <= value <= hi)
        rows.append({"key": key, "measure": family(key), "label": label(key), "export": value, "simulated": mid,
                     "band_low": lo, "band_high": hi, "inside": inside, "usable": bool(np.isfinite(value) and np.isfinite(lo))})
    figures = pd.DataFrame(rows).set_index("key")
    usable = figures[figures["usable"]]
    measures = usable.groupby("measure", sort=False)["inside"].agg(figures="size", inside="sum")
    measures["passed"] = [r.inside >= (math.ceil(0.75 * r.figures) if r.figures >= 4 else r.figures)
                          for r in measures.itertuples()]
    measures = measures.reindex([m for m in FAMILIES.values() if m in measures.index])
    names = None if one_stage else list(stages)
    closed = markov.closed_form(markov.fit_chain(tables, names, win.end))
    closed_ci = markov.closed_form_ci(tables, names, win.end, seed=seed)
    check = []
    for what in ("win_probability", "expected_cycle_days"):
        mean, lo, hi = mean_ci(runs[f"chain/{what}"])
        c_lo, c_hi = closed_ci[what]
        check.append({"figure": what.replace("_", " "), "closed_form": closed[what], "closed_low": c_lo, "closed_high": c_hi,
                      "simulated": mean, "ci_low": lo, "ci_high": hi, "agree": bool(c_lo <= mean <= c_hi)})
    return Validation(figures.drop(columns="usable"), measures, pd.DataFrame(check).set_index("figure"), runs, win, sc.currency)


def _num(x: float) -> str:
    return f"{x:.1%}" if abs(x) < 1 else f"{x:,.1f}"
