"""The report's Forecast: a card first on the front page and a page of its own (forecast.html).

The card: this period's P10 / P50 / P90 (and the chance of the target, when given), and the scorecard of the
forecasting methods on the export's own history (`sim.forecast_backtest`). The page: the same, the
per-owner table, every open deal with its chance and why, and the backtest figure.

A forecast that cannot be made (too short an export, no dates) leaves a sentence saying why in the card; an
error inside it is shown the way a failed notebook is, and the rest of the report is built all the same.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.tables import Tables
from ..experiments.forecast_backtest import ForecastBacktest, forecast_backtest
from ..experiments.pipeline_forecast import Forecast, _money, forecast
from .pages import render
from .shared import computed_once

REPORT_CUTOFFS = 6          # the report's backtest: six cutoffs ...
REPORT_DRAWS, REPORT_RUNS = 20, 2   # ... of 40 simulated runs each, as the forecast (the command's default: 8 cutoffs)

SETTINGS = {"cutoffs": REPORT_CUTOFFS, "draws": REPORT_DRAWS, "runs": REPORT_RUNS}   # what `playbook report` uses


FORECAST_PARAMETERS = set(SETTINGS)   # a notebook declaring these parameters is the forecast notebook


@dataclass
class ForecastSection:
    """What the front page's Forecast card and the forecast page show."""

    summary: dict[str, Any] | None = None
    lines: list[str] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = ""
    note: str = ""              # why there is no forecast (or no backtest)
    error: str = ""
    figure: str | None = None
    backtest_figure: str | None = None
    owners: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    assumed: list[str] = field(default_factory=list)
    backtest_runs: int = REPORT_DRAWS * REPORT_RUNS

    def money(self, x: Any) -> str:
        return _money(x if isinstance(x, (int, float)) else None)


def forecast_section(tables: Tables, folder: Path, *, target: float | None = None, seed: int = 0,
                     progress: bool | None = None, cutoffs: int = REPORT_CUTOFFS, draws: int = REPORT_DRAWS,
                     runs: int = REPORT_RUNS, shared: str | None = None) -> ForecastSection:
    """Forecast this period and backtest the methods on `tables`; write the figures into `folder/figures`.

    `shared`: the report's shared-tables entry (`report.shared`): the forecast and backtest the forecast notebook
    already made on the same tables and settings are read, not made again."""
    section = ForecastSection(backtest_runs=draws * runs)
    try:
        fc = computed_once(forecast, tables, entry=shared, target=target, seed=seed, draws=draws, runs=runs,
                           progress=progress)
    except ValueError as err:       # the export cannot give a forecast: say why
        section.note = str(err)
        return section
    except Exception as err:  # noqa: BLE001 - shown on the page like a failed notebook, the report goes on
        section.error = _error(err)
        return section
    _fill_forecast(section, fc, folder)
    try:
        bt = computed_once(forecast_backtest, tables, entry=shared, cutoffs=cutoffs, draws=draws, runs=runs, seed=seed,
                           progress=progress)
    except Exception as err:  # noqa: BLE001
        section.error = _error(err)
        return section
    _fill_backtest(section, bt, folder)
    return section


def _error(err: BaseException) -> str:
    last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
    return f"{type(err).__name__}: {err}{where}"


def _fill_forecast(section: ForecastSection, fc: Forecast, folder: Path) -> None:
    section.summary = fc.summary()
    section.lines = fc.lines()
    section.assumed = fc.assumed
    section.figure = _save(fc.figure(), folder, "forecast.png")
    opp = fc.known.opportunities
    if "owner" in opp and opp["owner"].notna().any():
        section.owners = _records(fc.by("owner"))
    section.deals = _records(fc.deals().drop(columns=["stage_rate", "model_chance"], errors="ignore"))


def _fill_backtest(section: ForecastSection, bt: ForecastBacktest, folder: Path) -> None:
    section.backtest_figure = _save(bt.figure(), folder, "forecast-backtest.png")
    if bt.rows.empty:
        section.note = bt.note
        return
    section.verdict = bt.verdict()
    scores = bt.scores()
    section.scores = [{"method": name, **{k: (None if pd.isna(v) else v) for k, v in row.items()}}
                      for name, row in scores.iterrows()]


def _save(fig, folder: Path, name: str) -> str:
    target = folder / "figures"
    target.mkdir(parents=True, exist_ok=True)
    fig.savefig(target / name, dpi=110)
    return f"figures/{name}"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def write_forecast_page(section: ForecastSection, folder: Path, **common: Any) -> Path:
    """forecast.html: the forecast, per owner, every open deal, and the backtest."""
    return render("forecast.html.j2", folder / "forecast.html", forecast=section, root="", here="forecast", **common)
