"""Figures shared by the notebooks and the report. Every figure has a title and labelled axes with units.

Figures are made with `new_figure`, which detaches them from pyplot's global state: a figure shows exactly
once in a notebook (as a cell's value or through `sim.notebook.main_figure`) and never leaks memory when
the report draws hundreds of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (8, 4.5), **kwargs):
    """A (figure, axes) pair that pyplot does not keep: display it or save it, nothing else holds it."""
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, **kwargs)
    plt.close(fig)
    return fig, axes


def interval_rows(ax, mid, low, high, labels: Sequence[str] | None = None, xlabel: str | None = None, **style) -> None:
    """One dot per row at `mid` with a bar from `low` to `high` (its 95% CI), row 0 at the bottom; `labels` names
    the rows and `xlabel` the axis (with its unit). `style` goes to `errorbar` (e.g. `color`)."""
    mid = np.asarray(mid, dtype=float)
    y = np.arange(len(mid))
    ax.errorbar(mid, y, xerr=[mid - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - mid],
                fmt="o", capsize=4, **style)
    if labels is not None:
        ax.set_yticks(y, labels)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)


def comparison(summary: pd.DataFrame, metric: str, unit: str, title: str | None = None) -> Figure:
    """Means with 95% CIs of one metric per scenario (the output of `sim.compare` / `sim.summarise`)."""
    rows = summary.xs(metric, level="metric")
    fig, ax = new_figure(figsize=(7, 0.6 * len(rows) + 1.6))
    interval_rows(ax, rows["mean"], rows["ci_low"], rows["ci_high"], rows.index,
                  f"{metric.replace('_', ' ')} [{unit}] — mean and 95% CI", color="tab:blue")
    ax.invert_yaxis()
    ax.set_ylabel("scenario")
    ax.set_title(title or f"{metric.replace('_', ' ').capitalize()} by scenario")
    return fig


def stage_funnel(summary: pd.DataFrame, title: str = "Where deals go and how long each stage takes") -> Figure:
    """Two panels from `sim.analysis.pipeline.stage_summary`: deals per stage by fate, and days per stage."""
    fig, (left, right) = new_figure(1, 2, figsize=(11, 4.2))
    stages = list(summary.index)
    y = range(len(stages))
    left.barh(y, summary["moved_on"], color="tab:green", label="moved on")
    left.barh(y, summary["open_here"], left=summary["moved_on"], color="tab:gray", label="still open here")
    left.barh(y, summary["lost_here"], left=summary["moved_on"] + summary["open_here"], color="tab:red",
              label="lost here")
    left.set_yticks(list(y), stages)
    left.invert_yaxis()
    left.set_xlabel("deals that entered the stage [count]")
    left.set_title("Deals per stage")
    left.legend(loc="lower right", fontsize=8)
    right.barh(y, summary["median_days"], color="tab:blue", label="median")
    right.scatter(summary["p90_days"], list(y), color="black", marker="|", s=200, label="90th percentile")
    right.set_yticks(list(y), [""] * len(stages))
    right.invert_yaxis()
    right.set_xlabel("days in stage [days]")
    right.set_title("Time per stage")
    right.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def bands(curves: pd.DataFrame, x: str, line: str, facet: str, xlabel: str, ylabel: str, title: str,
          invert_x: bool = False, percent: bool = False) -> Figure:
    """Means with 95% CI bands along `x`: one panel per `facet` value, one line per `line` value.

    `curves` has columns `x`, `line`, `facet`, ``mean``, ``ci_low``, ``ci_high`` (e.g.
    `sim.analysis.forecast.horizon_curves`).
    """
    facets = list(dict.fromkeys(curves[facet]))
    fig, axes = new_figure(1, len(facets), figsize=(5.4 * len(facets), 4.4), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], facets):
        part = curves[curves[facet] == name]
        for i, (label, g) in enumerate(part.groupby(line, sort=False)):
            g = g.sort_values(x)
            ax.plot(g[x], g["mean"], marker="o", markersize=3, color=f"C{i}", label=label)
            ax.fill_between(g[x], g["ci_low"], g["ci_high"], color=f"C{i}", alpha=0.18, linewidth=0)
        ax.set_title(str(name))
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if invert_x:
            ax.invert_xaxis()
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
