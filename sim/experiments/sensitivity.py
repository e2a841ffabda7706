"""`sensitivity(sc)`: which assumption behind the plan moves the year's bookings most — a tornado chart.

Each assumption (a scenario field path such as ``market.leads_per_month`` or ``stages.1.loss_chance``) is set
to the low and then the high end of its range, one at a time, everything else as it is; the scenario runs
`n` times at each end on common random numbers (replication i of every variant sees the same leads), so the
difference between the two ends is paired replication by replication and its interval measures the
assumption, not the noise. Ranges are the calibration's 95% intervals (`sim.calibrate`) or given; the
assumptions are ranked by the swing of the year's bookings between the two ends.

One at a time means what it says: it shows each assumption's own effect near the fitted scenario, not
what two assumptions do together, and it overstates assumptions whose intervals are tied to each other
(a stage's spread and its stalls: the export cannot tell them apart, so each interval is wide, but they
do not both sit at their ends at once). A global method would add what the tornado cannot: effects over
the whole ranges at once, curvature, and interactions. Morris screening (elementary effects along r random
one-at-a-time paths) needs r (k + 1) scenario points, with r = 10 to 20: for k = 15 assumptions, 160 to 320
points, each replicated n times; Sobol indices (Saltelli sampling) need N (2k + 2) points with N of 500 to
1,000: 16,000 to 32,000 points for k = 15, hours on this machine even at n = 10. Neither is built here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..analysis.plots import new_figure
from ..core.stats import mean_ci, paired_diff_ci
from ..scenario import Scenario, ScenarioError
from .calibrate import CalibratedScenario
from .replicate import replicate_each
from .simulate import SimResult


def bookings(result: SimResult) -> dict[str, float]:
    """The run's bookings (what the tornado measures)."""
    return {"bookings": float(result.metrics["bookings"])}


@dataclass
class Tornado:
    """Per assumption: its range, the year's bookings at each end, the paired swing with its CI, its rank."""

    table: pd.DataFrame
    base_bookings: tuple[float, float, float]   # mean and 95% CI of the scenario as it is
    n: int
    days: int
    currency: str
    runs: pd.DataFrame                          # bookings per variant ("path=low", "path=high", "as it is") and replication

    def ranking(self) -> list[str]:
        """The assumptions, the one that moves bookings most first."""
        return list(self.table.index)

    def figure(self, top: int | None = 15) -> Figure:
        """The tornado: bookings at the low and high end of each assumption, against the scenario as it is."""
        t = self.table.head(top) if top else self.table
        base = self.base_bookings[0]
        fig, ax = new_figure(figsize=(10, 0.5 * len(t) + 2.0))
        y = np.arange(len(t))
        for end, color in (("low", "tab:orange"), ("high", "tab:blue")):
            effect = t[f"effect_{end}"].to_numpy()
            ax.barh(y, effect, left=base, color=color, alpha=0.8, label=f"at the {end} end")
            ax.errorbar(base + effect, y, xerr=[effect - t[f"effect_{end}_ci_low"], t[f"effect_{end}_ci_high"] - effect],
                        fmt="none", color="black", capsize=3, lw=0.8)
        ax.axvline(base, color="black", lw=1)
        ax.set_yticks(y, [f"{r.label}  ({_num(r.low)} to {_num(r.high)})" for r in t.itertuples()], fontsize=8)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel(f"bookings in {self.days} days [{self.currency}] (mean of {self.n} runs; whiskers: 95% CI, paired)")
        ax.set_title("Which assumption moves bookings most: each at the ends of its range, one at a time")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig


def sensitivity(sc: Scenario, n: int = 40, paths: Sequence[str] | None = None,
                ranges: Mapping[str, tuple[float, float]] | None = None, seed: int = 0, *, days: int = 365,
                executor: Any = None, progress: bool | None = None) -> Tornado:
    """A tornado of the year's bookings over each assumption's range (see the module docstring).

    `paths`: scenario field paths to vary (default: every fitted value of a calibrated scenario that has a
    95% interval, and every path in `ranges`); `ranges`: path -> (low, high), for any assumption, fitted
    or not (rep hours, selling hours...); `days`: the horizon whose bookings count, from the scenario start.
    """
    ranges = dict(ranges or {})
    evidence = sc.calibration.evidence if isinstance(sc, CalibratedScenario) and sc._calibration is not None else {}
    if paths is None:
        paths = [p for p, e in evidence.items() if e.has_range] + [p for p in ranges if p not in evidence or not evidence[p].has_range]
    if not paths:
        raise ValueError("sensitivity needs assumptions to vary: give paths and ranges, or a calibrated scenario (sim.calibrate)")
    base = Scenario.build({**sc.to_dict(), "days": days}, "sensitivity")
    data = base.to_dict()
    variants: dict[str, Scenario] = {"as it is": base}
    rows = []
    for path in paths:
        value = _value(data, path)
        if path in ranges:
            low, high = ranges[path]
            basis = "given"
        elif path in evidence and evidence[path].has_range:
            low, high = evidence[path].low, evidence[path].high
            basis = "95% CI"
        else:
            raise ValueError(f"{path}: no range for it; give one in ranges={{'{path}': (low, high)}}")
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = int(math.floor(low)), int(math.ceil(high))
        if not low < high:
            raise ValueError(f"{path}: the range {low} to {high} is empty; give a low end below the high end")
        for end, x in (("low", low), ("high", high)):
            try:
                variants[f"{path}={end}"] = base.replace({path: x})
            except ScenarioError as err:
                raise ValueError(f"{path}: the {end} end {x} is not allowed ({'; '.join(err.problems)})") from None
        rows.append({"path": path, "label": _label(base, path), "low": low, "value": value, "high": high, "range": basis})
    runs = replicate_each(variants, n, seed, measure=bookings, executor=executor, progress=progress)
    by = {name: g.sort_values("replication")["bookings"].to_numpy() for name, g in runs.groupby("scenario", sort=False)}
    ref = by["as it is"]
    for r in rows:
        lo, hi = by[f"{r['path']}=low"], by[f"{r['path']}=high"]
        r["bookings_low"], r["bookings_high"] = float(lo.mean()), float(hi.mean())
        r["swing"], r["swing_ci_low"], r["swing_ci_high"] = paired_diff_ci(hi, lo)
        for end, x in (("low", lo), ("high", hi)):
            r[f"effect_{end}"], r[f"effect_{end}_ci_low"], r[f"effect_{end}_ci_high"] = paired_diff_ci(x, ref)
    table = pd.DataFrame(rows).set_index("path")
    table = table.reindex(table["swing"].abs().sort_values(ascending=False).index)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return Tornado(table, mean_ci(ref), n, days, sc.currency, runs)


def _value(data: dict, path: str) -> Any:
    target: Any = data
    for part in path.split("."):
        if isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        elif isinstance(target, dict) and part in target:
            target = target[part]
        else:
            raise ValueError(f"{path}: there is no such field in the scenario")
    if not isinstance(target, (int, float)) or isinstance(target, bool):
        raise ValueError(f"{path}: is not a number ({target!r}); vary a numeric field")
    return target


def _label(sc: Scenario, path: str) -> str:
    """A reader's name for an assumption: ``stages.1.loss_chance`` -> ``Evaluation of Options: loss chance``."""
    parts = path.split(".")
    if len(parts) == 3 and parts[0] in ("stages", "segments", "lead_sources") and parts[1].isdigit():
        item = getattr(sc, parts[0])[int(parts[1])]
        return f"{item.name}: {parts[2].replace('_', ' ')}"
    return " ".join(p.replace("_", " ") for p in parts)


def _num(x: float) -> str:
    if isinstance(x, (int, np.integer)) or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"
