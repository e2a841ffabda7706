"""What every principle notebook does the same way: get its data, mark its headline, figure and skips.

The report (`playbook report`) runs the notebooks with papermill and builds its cards from what these
helpers display: each output carries metadata ``{"playbook": {"role": ...}}`` with role ``headline``,
``main-figure``, ``skipped``, ``evidence`` (what a what-if rests on: `evidence`), ``scenario`` (what a what-if started from: the export's calibrated pipeline or a
preset) or ``download`` (a file to offer, e.g. the calibrated scenario's YAML), so a card's number and
figure are exactly what the notebook computed.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .experiments.calibrate import calibrate
from .experiments.replicate import remember_runs
from .experiments.forecast_backtest import ForecastBacktest
from .experiments.forecast_backtest import forecast_backtest as backtest_forecasts
from .experiments.pipeline_forecast import Forecast
from .experiments.pipeline_forecast import forecast as pipeline_forecast
from .experiments.evidence import evidence as compute_evidence, in_unit as _amount, verdict
from .experiments.simulate import simulate
from .experiments.validate import validate
from .scenario import Scenario
from .analysis.sufficiency import Sufficiency, missing_words, sufficiency
from .core.schema import MissingColumns
from .core.tables import Tables, tables_fingerprint, with_every_column  # noqa: F401 - re-exported

T = TypeVar("T")

if "ipykernel" in sys.modules:    # in a notebook's kernel: a what-if, its sweeps and its evidence share their runs
    remember_runs()


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

    if (tables := shared_tables(export, crm, mapping)) is None:
        from .crm import load  # the loader is only needed for real exports

        tables = load(export, crm=crm, mapping=mapping).tables
    tables = with_every_column(tables)
    show_gate(tables)
    _LOADED[0] = tables
    return tables


_LOADED: list[Tables | None] = [None]   # the export this notebook loaded: what a skip says is missing is read on it


def show_gate(tables: Tables) -> Sufficiency:
    """Say, before any number, what this export cannot show (`sim.analysis.sufficiency`), and what that
    switches off; the report reads the findings (role ``gate``) to keep degenerate numbers off the cards."""
    from IPython.display import Markdown

    gate = sufficiency(tables)
    if gate.findings or gate.notes:
        lines = [f"- {line}" for line in (*gate.notes, *gate.lines())]
        _show(Markdown("**What this export cannot show** (numbers below that rest on it are not findings):\n\n"
                       + "\n".join(lines)), "gate",
              findings=[{"key": f.key, "text": f.text, "off": list(f.off)} for f in gate.findings],
              notes=list(gate.notes), currency=gate.currency)
    return gate


def starting_scenario(preset: str, export: str | Path | None = None, tables: Tables | None = None) -> Scenario:
    """The scenario a notebook's what-if starts from, said out loud in the notebook.

    With an export (and its `tables`), it is the export's own pipeline: `sim.calibrate(tables, preset)`, with
    the preset's calendar (the what-if's horizon), policies and whatever the export cannot show (rep hours,
    say). Without one, it is the named preset. If the export cannot be calibrated, the preset is used and the
    note says why. The note it shows (role ``scenario``, with ``calibrated``) tells the reader, and the
    report's card, which one the what-if ran on.
    """
    from IPython.display import Markdown

    scenario = Scenario.preset(preset)
    if export is None:
        _show(Markdown(f"What-ifs below start from the preset **{preset}** ({scenario.reps.count} reps, "
                       f"{scenario.market.leads_per_month:g} new-logo leads a month)."), "scenario", preset=preset, calibrated=False)
        return scenario
    if tables is None:
        raise ValueError("starting_scenario needs the export's tables to calibrate: starting_scenario(preset, export, tables)")
    from .report.shared import once  # in a report, notebooks starting from the same preset share one calibration

    if (blocked := sufficiency(tables).calibration_blocked()) is not None:
        why = f"a calibration of this export would simulate nonsense ({blocked})"
        _show(Markdown(f"What-ifs below start from the preset **{preset}** ({scenario.reps.count} reps, "
                       f"{scenario.market.leads_per_month:g} new-logo leads a month, amounts in {scenario.currency}), "
                       f"not from your export's own pipeline: {why}."),
              "scenario", preset=preset, calibrated=False, fallback=why)
        return scenario
    fingerprint = tables_fingerprint(tables)
    try:
        fitted = once(f"calibrated-{preset}-{fingerprint}",
                      lambda: calibrate(tables, scenario, calendar="base", name=f"{Path(export).stem} (calibrated)"))
    except (ValueError, LookupError) as err:
        why = f"it could not be calibrated ({err})"
        _show(Markdown(f"What-ifs below start from the preset **{preset}**, not from your export's own pipeline: {why}."),
              "scenario", preset=preset, calibrated=False, fallback=why)
        return scenario
    check = once(f"validated-{preset}-{fingerprint}", lambda: quick_validation(fitted, tables))
    cal = fitted.calibration
    stages = "one stage (no stage history)" if cal.one_stage else f"{len(fitted.stages)} stages"
    verdict = (f" Checked against your export ({check['runs']} simulated runs), this calibration **{check['verdict']}**"
               + ("." if check["passed"] else ": read the what-ifs below as the preset's dynamics at your scale, not as "
                  "a forecast of your pipeline.")) if check["verdict"] else ""
    _show(Markdown(f"What-ifs below start from **your export's own pipeline**, calibrated from its {cal.deals:,} deals: "
                   f"{fitted.reps.count} reps, {fitted.market.leads_per_month:,.0f} new leads a month, {stages}, "
                   f"amounts in {fitted.currency}. What the export cannot show ({len(cal.not_fitted())} values, e.g. rep "
                   f"hours per stage) keeps the preset **{preset}**'s values; notebook 13 shows the fit and how well it "
                   f"matches.{verdict}"),
          "scenario", preset=preset, calibrated=True, passed=check["passed"], verdict=check["verdict"])
    return fitted


VALIDATION_RUNS = 8   # a quick check of a calibration a what-if runs on (notebook 13 runs the full one)


def quick_validation(fitted: Scenario, tables: Tables, n: int = VALIDATION_RUNS) -> dict[str, Any]:
    """Whether the calibrated scenario looks like the export (`sim.validate`, `n` runs): ``passed`` (None when
    it could not be checked), ``verdict`` in words ("fails 2 of 5 checks: deal size, ..."), ``runs``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            check = validate(fitted, tables, n=n, seed=0, progress=False)
    except (ValueError, LookupError) as err:
        return {"passed": None, "verdict": f"could not be checked against the export ({err})", "runs": 0}
    return {"passed": check.passed, "verdict": check.verdict(), "runs": n}


def forecast(tables: Tables, **kwargs: Any) -> Forecast:
    """`sim.forecast`, computed once per report (`report.shared.computed_once`): the report's Forecast card shows this very one."""
    from .report.shared import computed_once

    return computed_once(pipeline_forecast, tables, **kwargs)


def forecast_backtest(tables: Tables, **kwargs: Any) -> ForecastBacktest:
    """`sim.forecast_backtest`, computed once per report (`report.shared.computed_once`)."""
    from .report.shared import computed_once

    return computed_once(backtest_forecasts, tables, **kwargs)


def download(filename: str, text: str, what: str) -> None:
    """Offer a file the notebook made (e.g. the calibrated scenario's YAML); the report links it on the card."""
    from IPython.display import Markdown

    name = Path(filename).name
    lines = text.count("\n")
    _show(Markdown(f"**{name}** ({lines} lines): {what}. In the report, download it from this notebook's card."),
          "download", filename=name, text=text)


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
        tables = next((a for a in (*args, *kwargs.values()) if isinstance(a, Tables)), _LOADED[0])
        lacks = missing_words(err.missing, tables)
        _show(Markdown(f"*Skipped {analysis}: needs {lacks}, which this data lacks.*"), "skipped",
              analysis=analysis, missing=err.missing, lacks=None if lacks.startswith("column(s)") else lacks)
        return None


KINDS = ("emergent", "input", "mixed")


def evidence(kind: str, parameters: list[dict] | None = None, holds_when: str = "", detectable: list[dict] | None = None,
             dose_response: list[dict] | None = None, says: str = "", precision: str = "") -> None:
    """Show what the notebook's what-if rests on; the report puts it on the card and in report.json.

    `kind`: ``emergent`` (from the model's interactions), ``input`` (reads back an effect size put in) or
    ``mixed``. `parameters`: the values the answer depends on, each a dict with ``path``, ``value``,
    ``provenance`` (fitted / literature / assumed), ``low``, ``high`` and ``source``. `holds_when`: where the
    answer holds and reverses across team load, in words computed from runs. `detectable`: the data half's
    comparisons (`sim.core.stats.Detectable.to_dict()`). `dose_response`: the answer as each input effect runs
    over its range. `precision`: how far the runs behind `holds_when` can be read ("From 5 paired runs per point:
    a first reading, not a headline..."); the card's and report.json's ``holds_when`` carry it after the words
    (the notebook says it in the Markdown above its evidence cell). `sim.experiments.evidence` computes all of
    these for each principle.
    """
    from IPython.display import Markdown

    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not allowed, must be one of {', '.join(map(repr, KINDS))}")
    parameters, detectable, dose_response = list(parameters or []), list(detectable or []), list(dose_response or [])
    for p in parameters:
        missing = {"path", "value", "provenance"} - set(p)
        if missing:
            raise ValueError(f"parameters: {p!r} lacks {', '.join(sorted(missing))}")
    words = {"emergent": "emerges from the model's interactions", "input": "reads back an effect size put into the model",
             "mixed": "mixes effect sizes put into the model with what emerges from them"}[kind]
    claim = f"The claim: {says[0].upper() + says[1:]}. " if says else ""
    lines = [f"**What this what-if rests on.** {claim}The answer {words}."]
    if holds_when:
        lines.append(f"*Where it holds:* {holds_when}")
    for p in parameters:
        span = f" ({p['low']:g} to {p['high']:g})" if p.get("low") is not None and p.get("high") is not None else ""
        lines.append(f"- `{p['path']}` = {p['value']}: {p['provenance']}{span}" + (f", {p['source']}" if p.get("source") else ""))
    unit = next((d.get("unit") for d in dose_response if d.get("unit")), None)
    for path in dict.fromkeys(d["path"] for d in dose_response):
        rows = [d for d in dose_response if d["path"] == path]
        said = ", ".join(f"{_amount(r['diff'], r.get('unit', unit))} at {r['value']:g} "
                         f"({r.get('note') or verdict(r, r.get('better', True))})" for r in rows)
        lines.append(f"*As `{path}` runs over its range:* {said}.")
    for d in detectable:
        lines.append(f"*Your data:* {d.get('sentence', '')}")
    card_holds = " ".join(part for part in (holds_when, precision) if part)
    _show(Markdown("\n\n".join(lines)), "evidence", kind=kind, parameters=parameters, holds_when=card_holds,
          detectable=detectable, dose_response=dose_response, says=says)


def show_evidence(slug: str, start: Scenario, comparisons: tuple[Callable[[float | None], Any], ...] = (),
                  n: int = 5, seed: int = 0, **kwargs: Any) -> dict:
    """Compute what principle `slug`'s what-if rests on (`sim.experiments.evidence.evidence`) on `start` and show
    it with `evidence`. `comparisons`: the data half's group comparisons, each a function of the what-if's effect
    (in rate units when the claim is a rate, else None) returning a `Detectable` (or None); one the data lacks
    columns for is left out. `n` paired runs per point; `kwargs` go to `evidence` (loads, dose)."""
    found = compute_evidence(slug, start, n=n, seed=seed, **kwargs)
    target = found["answer"]["diff"] if found["unit"] == "points" else None
    detect = []
    for compare in comparisons:
        try:
            d = compare(target)
        except MissingColumns:
            continue
        if d is not None:
            detect.append(d.to_dict())
    found["detectable"] = detect
    evidence(found["kind"], found["parameters"], found["holds_when"], detect, found["dose_response"], found["says"],
             found["precision"])
    return found
