"""The explorer's answer: a paired comparison of the changed scenario against the one it started from.

`answer(start, changed, ...)` replicates both on common random numbers (`sim.compare`) and returns the
headline metrics with their 95% confidence intervals and the paired difference; `figure` draws the
differences in percent with their intervals; `snapshot_html` writes the whole comparison as one
self-contained HTML page to share (no script, no network).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analysis.plots import interval_rows, new_figure
from ..core.stats import excludes_zero
from ..experiments.replicate import RunCache, replicate_each, summarise
from ..scenario import Scenario

# metric -> (label, unit, how to show a value, +1 if more is better / -1 if less is better); shown when runs report it
SHOWN = {
    "bookings": ("bookings", "currency", "{:,.0f}", +1),
    "win_rate": ("win rate", "share", "{:.1%}", +1),
    "median_cycle_days": ("median sales cycle", "days", "{:.0f}", -1),
    "deals_won": ("deals won", "count", "{:.0f}", +1),
    "cost_of_sales": ("cost of sales", "currency", "{:,.0f}", -1),
    "attainment": ("quota attainment", "share", "{:.0%}", +1),
}
PER_YEAR = ("bookings", "deals_won", "cost_of_sales")   # sums over a run: shown per year, whatever the run's length
DAYS_A_YEAR = 365.25
START, CHANGED = "as it was", "with your changes"
PRECISION = 0.05   # replicate until the bookings difference's 95% CI is within +-5% of the starting bookings ...
MAX_N = 200        # ... or this many paired replications (a slow scenario stops here and says so)
# The first round: 10 paired replications, then as many more as the interval needs. Law's sequential procedure for
# a relative precision (Law, "Simulation Modeling and Analysis", 5th ed., 2015, sec. 9.4.1) starts from n0 >= 10
# replications, which his experiments found enough for the interval's coverage at a relative error of 0.15 or less
# (ours: 0.05). `sim.compare`'s default first round is 20; the explorer must answer a move in a second or two, and
# on a two-year scenario with every policy (`demo`) 10 already meet the +-5% (measured: half-width 4.5% at 10).
FIRST = 10
# A later round adds what the interval needs if its spread stays as it is (+10% to spare), and at least STEP: Law's
# procedure adds one replication at a time and checks again, so a smaller step only stops nearer the target. On two
# cores 4 more is two runs a core: a move that just misses at 10 answers about a second later, not after 10 more.
STEP = 4


@dataclass
class Answer:
    """One comparison: per metric the two means with CIs and the paired difference with its CI."""

    table: pd.DataFrame        # index metric; columns start, start_low, start_high, changed, ..., diff, diff_low, diff_high
    replications: int
    seconds: float
    currency: str
    precise: bool = True       # False: stopped at the cap of replications before the bookings CI was as narrow as asked
    days: int = 365            # days one run covers; amounts and counts in `table` are per year already

    def text(self, metric: str, column: str) -> str:
        value = self.table.loc[metric, column]
        if pd.isna(value):
            return "–"
        fmt = SHOWN[metric][2]
        return fmt.format(value)

    def sentence(self) -> str:
        """The answer in words: what happens to bookings, and how sure we are."""
        row = self.table.loc["bookings"]
        d, lo, hi = row["diff"], row["diff_low"], row["diff_high"]
        base = row["start"]
        pct = lambda v: f"{v / base:+.1%}" if base else "n/a"  # noqa: E731
        if excludes_zero(lo, hi):
            sure = "the 95% interval excludes no change"
        else:
            sure = "the 95% interval includes no change: not shown to differ"
        capped = "" if self.precise else "; stopped at the cap before the interval was as narrow as asked"
        return (f"Bookings change by {d:+,.0f} {self.currency} a year ({d / 4:+,.0f} a quarter; {pct(d)}; 95% CI "
                f"{lo:+,.0f} to {hi:+,.0f} a year), {sure} ({self.replications} paired replications of "
                f"{self.days:,} days each{capped}).")


def answer(start: Scenario, changed: Scenario, seed: int = 7, precision: float = PRECISION, max_n: int = MAX_N,
           executor: Executor | str | None = "serial", metrics: Sequence[str] | None = None,
           known: RunCache | None = None, first: int = FIRST, step: int = STEP) -> Answer:
    """Replicate `start` and `changed` on the same seeds and compare them metric by metric.

    Replications are added (`n="auto"`, from a first round of `first`, at least `step` a round) until the 95% CI
    of the bookings difference is within `precision` of the starting scenario's mean bookings, or `max_n` per
    scenario. `known` (a `RunCache`) keeps runs between calls, so the starting scenario is simulated once for a
    session of changes.
    """
    began = time.perf_counter()
    runs = replicate_each({START: start, CHANGED: changed}, "auto", seed, precision=precision, max_n=max_n,
                          executor=executor, progress=False, known=known, first=first, step=step)
    wanted = [m for m in (metrics or SHOWN) if m in runs.columns and runs[m].notna().any()]
    summary = summarise(runs, wanted)
    rows = {}
    for m in wanted:
        a, b = summary.loc[(START, m)], summary.loc[(CHANGED, m)]
        rows[m] = {"start": a["mean"], "start_low": a["ci_low"], "start_high": a["ci_high"],
                   "changed": b["mean"], "changed_low": b["ci_low"], "changed_high": b["ci_high"],
                   "diff": b["diff"], "diff_low": b["diff_low"], "diff_high": b["diff_high"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    per_year = [m for m in table.index if m in PER_YEAR]
    table.loc[per_year] = table.loc[per_year] * (DAYS_A_YEAR / start.days)   # whatever the run's length
    status = runs.attrs["precision"]
    return Answer(table, status["n"], time.perf_counter() - began, start.currency, status["reached"], start.days)


def figure(result: Answer):
    """Each metric's change in percent of its starting value, with the 95% CI of the paired difference."""
    t = result.table
    base = t["start"].replace(0, np.nan)
    pct, lo, hi = 100 * t["diff"] / base, 100 * t["diff_low"] / base, 100 * t["diff_high"] / base
    fig, ax = new_figure(figsize=(7.5, 0.55 * len(t) + 1.6))
    y = np.arange(len(t))
    better = [SHOWN[m][3] for m in t.index]
    colours = ["tab:gray" if lo_ <= 0 <= hi_ else "tab:green" if (lo_ > 0) == (sign > 0) else "tab:red"
               for lo_, hi_, sign in zip(lo, hi, better)]
    ax.barh(y, pct, color=colours, alpha=0.35)
    interval_rows(ax, pct, lo, hi, [SHOWN[m][0] for m in t.index],
                  "change against the starting scenario [% of its value] — mean and 95% CI of the paired difference",
                  color="black")
    ax.axvline(0, color="black", lw=1)
    ax.invert_yaxis()
    ax.set_title("What your changes do (green: better, red: worse, grey: not shown to differ)")
    return fig


def table_html(result: Answer) -> str:
    """The comparison as an HTML table (values escaped)."""
    head = ("<tr><th>metric</th><th>as it was</th><th>with your changes</th><th>difference</th>"
            "<th>95% CI of the difference</th></tr>")
    body = []
    for m in result.table.index:
        label, unit, _, _ = SHOWN[m]
        unit = result.currency if unit == "currency" else unit
        if m in PER_YEAR:
            unit += " a year"
        body.append(
            f"<tr><td>{html.escape(label)} [{html.escape(unit)}]</td>"
            f"<td>{result.text(m, 'start')}</td><td>{result.text(m, 'changed')}</td>"
            f"<td>{_signed(result, m, 'diff')}</td>"
            f"<td>{_signed(result, m, 'diff_low')} to {_signed(result, m, 'diff_high')}</td></tr>")
    return f"<table class='whatif'>{head}{''.join(body)}</table>"


def _signed(result: Answer, metric: str, column: str) -> str:
    text = result.text(metric, column)
    value = result.table.loc[metric, column]
    return text if text.startswith("-") or pd.isna(value) or value == 0 else "+" + text


def snapshot_html(result: Answer, start_name: str, changes: Sequence[str], fig) -> str:
    """A self-contained page with the comparison, the figure and what changed: to share as one file."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    png = base64.b64encode(buf.getvalue()).decode()
    items = "".join(f"<li>{html.escape(c)}</li>" for c in changes) or "<li>nothing yet</li>"
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>What-if: {html.escape(start_name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}.muted{{color:#666}}</style></head>
<body><h1>What-if on {html.escape(start_name)}</h1>
<p><strong>{html.escape(result.sentence())}</strong></p>
<h2>What changed</h2><ul>{items}</ul>
<h2>The comparison</h2>{table_html(result)}
<img alt="Change of each metric in percent, with 95% confidence intervals" src="data:image/png;base64,{png}">
<p class="muted">Snapshot taken {stamp}; {result.replications} paired replications per scenario, common random numbers.</p>
</body></html>
"""
