"""What every principle notebook does the same way: get its data, mark its headline, figure and skips.

The report (`playbook report`) runs the notebooks with papermill and builds its cards from what these
helpers display: each output carries metadata ``{"playbook": {"role": ...}}`` with role ``headline``,
``main-figure`` or ``skipped``, so a card's number and figure are exactly what the notebook computed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .experiments.simulate import simulate
from .scenario import Scenario
from .core.schema import MissingColumns
from .core.tables import Tables

T = TypeVar("T")


def load_tables(
    export: str | Path | None = None,
    crm: str | None = None,
    mapping: str | Path | None = None,
    seed: int = 0,
    scenario: str = "baseline",
) -> Tables:
    """The notebook's data: a CRM export when `export` is given, else a simulated run of `scenario`."""
    if export is None:
        return simulate(Scenario.load(scenario), seed=seed).tables
    from .report.shared import shared_tables  # run by `playbook report`: the export it already loaded

    if (tables := shared_tables(export, crm, mapping)) is not None:
        return tables
    from .crm import load  # the loader is only needed for real exports

    return load(export, crm=crm, mapping=mapping).tables


def starting_scenario(preset: str, export: str | Path | None = None, tables: Tables | None = None) -> Scenario:
    """The scenario a notebook's what-if starts from, said out loud in the notebook.

    Today it is the named preset, whatever the export; the calibration work turns an export's tables into
    the leader's own pipeline here, so every what-if that starts from this function follows. The note it
    shows (role ``scenario``) tells the reader, and the report's card, which one the what-if ran on.
    """
    from IPython.display import Markdown

    scenario = Scenario.preset(preset)
    note = (f"What-ifs below start from the preset **{preset}** ({scenario.reps.count} reps, "
            f"{scenario.market.leads_per_month:g} new-logo leads a month)"
            + (", not from your export's own pipeline: calibration is not available yet." if export is not None else "."))
    _show(Markdown(note), "scenario", preset=preset, calibrated=False)
    return scenario


def _show(obj: Any, role: str, **extra: Any) -> None:
    from IPython.display import display

    display(obj, metadata={"playbook": {"role": role, **extra}})


SOURCES = {"data": "", "what-if": "What-if in the simulator: "}


def headline(text: str, source: str = "data") -> None:
    """Show the number that matters, in a sentence; the report puts it on the principle's card.

    `source` says where it comes from: ``"data"`` (measured on the notebook's data: the export, or the
    simulated stand-in when there is none) or ``"what-if"`` (the simulator's experiment, the same for
    every export). A card shows one of each, the data's first, so it reads differently for each company.
    """
    from IPython.display import Markdown

    if source not in SOURCES:
        raise ValueError(f"source: {source!r} is not allowed, must be one of {', '.join(map(repr, SOURCES))}")
    _show(Markdown(f"**{SOURCES[source]}{text}**"), "headline", text=text, source=source)


def main_figure(fig) -> None:
    """Show the notebook's main figure; the report puts it on the card."""
    _show(fig, "main-figure")


def guarded(analysis: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run `fn`; if the data lacks columns it needs, say which and return None instead of failing."""
    from IPython.display import Markdown

    try:
        return fn(*args, **kwargs)
    except MissingColumns as err:
        _show(Markdown(f"*Skipped {analysis}: needs column(s) {', '.join(err.missing)}, "
                       "which this data lacks.*"), "skipped", analysis=analysis, missing=err.missing)
        return None
