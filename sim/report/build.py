"""`build_report`: run every principle notebook on an export and write the report folder.

The report is built in a temporary folder next to the destination and moved into place only when it is
complete, so an interrupted run (Ctrl-C) leaves nothing half-written; an existing report is replaced only
when asked (`force`). A notebook that fails or skips an analysis never stops the others: its card says
why, and `Report.complete` tells the caller (and the exit status) that not everything ran.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..core.outputs import OutputError, OutputFolder, check_replaceable, move_into_place, write_text
from ..core.tables import with_every_column
from ..crm.outputs import write_csv
from .cards import Card, card_from_run, save_downloads, save_figure
from .errors import ReportError
from .gate import apply_gate, forecast_blocked
from .forecast_section import FORECAST_PARAMETERS, ForecastSection, forecast_section
from .forecast_section import SETTINGS as FORECAST_SETTINGS   # tests make it lighter
from .forecast_section import write_forecast_page
from .data import ReportData, load_export, simulated
from .links import SiteLinks
from .plan import report_plan
from .pages import fallback_page, notebook_html, render, rows_json
from .playbook import principle_pages, site_links, write_playbook
from .run import Run, longest_first, notebook_parameters, principle_notebooks, run_notebook
from .shared import remove as remove_shared
from .shared import ENV as SHARED_ENV
from .shared import share
from .since import Since, keep_and_compare

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"   # the repository's notebooks/


@dataclass
class Report:
    """A finished report: where it is, its cards, and how long each part took (seconds)."""

    path: Path
    cards: list[Card]
    timings: dict[str, float] = field(default_factory=dict)
    stored: str | None = None     # what the store of exports said of this export (None: not stored)

    @property
    def index(self) -> Path:
        return self.path / "index.html"

    @property
    def complete(self) -> bool:
        """True when every notebook ran through and skipped no analysis."""
        return all(c.ran for c in self.cards)


Job = tuple[Path, Path, dict[str, Any], int | None, dict[str, str], SiteLinks]   # source, executed, parameters, timeout, env, links


def _worker(job: Job) -> tuple[Run, float]:
    """In a pool process of its own: set the environment the kernel inherits, send the kernel's chatter
    (warnings on stderr) to a log beside the notebook instead of the terminal, run and render the notebook."""
    os.environ.update(job[4])
    log = job[1].with_suffix(".log")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    result = _run_and_render(job)
    if log.stat().st_size == 0:   # keep a log only when the kernel had something to say
        log.unlink()
    return result


def _run_and_render(job: Job) -> tuple[Run, float]:
    """Execute one notebook, then render its page; returns the run and the rendering seconds."""
    source, executed, parameters, timeout, _, links = job
    run = run_notebook(source, executed, parameters, timeout)
    start = time.perf_counter()
    page = executed.with_suffix(".html")
    try:
        notebook_html(executed, page, links)
    except Exception as err:  # not even a readable notebook: the card says why; the link still leads somewhere  # noqa: BLE001
        fallback_page(page, source.stem, run.error or f"{type(err).__name__}: {err}")
    return run, time.perf_counter() - start


def _parameters_of(source: Path, parameters: dict[str, Any], with_forecast: bool, seed: int | None,
                   target: float | None) -> dict[str, Any]:
    """`parameters`, and for the forecast notebook of a report with a Forecast section the section's own seed,
    target, cutoffs, draws and runs: its card and the front page's Forecast then give the same numbers."""
    if not with_forecast or not FORECAST_PARAMETERS <= notebook_parameters(source):
        return parameters
    return {**parameters, "seed": seed or 0, "target": target, **FORECAST_SETTINGS}


def _run_all(jobs: list[Job], workers: int, progress: bool) -> list[tuple[Run, float]]:
    """Run the jobs on `workers` processes with a progress bar; on any interruption stop them all."""
    pool = multiprocessing.get_context("fork").Pool(min(workers, len(jobs)), maxtasksperchild=1)
    try:
        done = []
        with tqdm(total=len(jobs), desc="notebooks", unit="nb", disable=not progress) as bar:
            for result in pool.imap_unordered(_worker, jobs):
                done.append(result)
                bar.set_postfix_str(result[0].source.stem)
                bar.update()
        pool.close()
        return done
    finally:
        pool.terminate()   # a no-op once closed and drained; kills the workers on Ctrl-C
        pool.join()


def _status_line(cards: list[Card]) -> str:
    ok = sum(c.status == "ok" for c in cards)
    parts = [f"{ok} of {len(cards)} notebooks ran with every analysis"]
    if partial := sum(c.status == "partial" for c in cards):
        parts.append(f"{partial} skipped an analysis for missing data")
    if failed := sum(c.status == "failed" for c in cards):
        parts.append(f"{failed} failed")
    return "; ".join(parts) + "."


def _write_pages(folder: Path, data: ReportData, cards: list[Card], crm: str | None, mapping: str | None,
                 playbook: Path | None = None, since: Since | None = None, plan_section: str | None = None,
                 forecast: ForecastSection | None = None) -> float:
    """index.html, data-quality.html, the figures, the notebooks' downloads, rejected.csv and the playbook (the
    pages in `playbook`), from the data and the cards; returns the seconds the playbook took."""
    figures = {c.slug: save_figure(c, folder / "figures") for c in cards}
    for c in cards:
        save_downloads(c, folder / "downloads")
    common = dict(data=data, crm=crm, mapping=mapping, generated=f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    skipped = [(c, s) for c in cards for s in c.skipped]
    pages = {p.stem for p in principle_pages(playbook)}
    if since is not None:   # the "Since your last export" card's waterfall
        (folder / "figures").mkdir(exist_ok=True)
        since.changes.figure().savefig(folder / "figures" / "since-last-export.png", dpi=110)
        since.figure = "figures/since-last-export.png"
    if forecast is not None:
        write_forecast_page(forecast, folder, **common)
    render("index.html.j2", folder / "index.html", forecast=forecast, cards=cards, figures=figures,
           all_ran=all(c.ran for c in cards), since=since, status_line=_status_line(cards), skipped_count=len(skipped),
           pages=pages, root="", here="report", plan_section=plan_section, **common)
    render("data-quality.html.j2", folder / "data-quality.html", skipped=skipped, failed=[c for c in cards if c.error],
           rejected_json=rows_json(data.rejected), repaired_json=rows_json(data.repaired), root="", here="data-quality", **common)
    write_csv(data.rejected, folder / "rejected.csv")   # formula-like cells neutralised (CSV injection)
    start = time.perf_counter()
    write_playbook(folder, playbook, cards, figures, site_links(playbook, (c.slug for c in cards)), **common)
    return time.perf_counter() - start


def _write_json(path: Path, data: ReportData, cards: list[Card], timings: dict[str, float],
                since: Since | None = None) -> None:
    """report.json: each card's status, headline, skips and error, and the timings, for scripts and benchmarks;
    with a "since" card, what changed since the last export (`sim.analysis.changes` JSON, without the deals)."""
    extra = {} if since is None else {"since_last_export": {
        k: v for k, v in since.changes.to_json().items() if k != "deals"}}
    write_text(path, json.dumps({
        "data": data.label, "complete": all(c.ran for c in cards), "timings_s": timings, "currency": data.currency,
        "gate": [] if data.gate is None else [{"key": f.key, "text": f.text, "off": list(f.off)} for f in data.gate.findings],
        "cards": [{"slug": c.slug, "title": c.title, "status": c.status, "headline": c.headline, "whatif": c.whatif,
                   "gated": c.gated, "scenario": c.scenario,
                   "skipped": [{"analysis": s.analysis, "missing": list(s.missing), "lacks": s.said} for s in c.skipped],
                   "error": c.error, "seconds": c.seconds, "evidence": c.evidence} for c in cards],
        **extra,
    }, indent=2) + "\n")


_move_into_place = move_into_place   # renames only, so `out` is never a half-built report (sim.core.outputs)


def build_report(
    export: str | Path | None,
    out: str | Path,
    *,
    crm: str | None = None,
    mapping: str | Path | None = None,
    notebooks: str | Path = NOTEBOOKS,
    seed: int | None = None,
    reps: int | None = None,
    workers: int = 2,
    force: bool = False,
    progress: bool | None = None,
    timeout: int | None = None,
    playbook: str | Path | None = None,
    open_as_lost: int | str | None = None,
    store: str | Path | None = None,
    store_wait: float = 30.0,
    pipeline: str | None = None,
    plan: dict | None = None,
    forecast: bool | None = None,
    target: float | None = None,
) -> Report:
    """Run every principle notebook in `notebooks` on `export` (None: simulated data) and write the report to `out`.

    The report's playbook is made of the pages in `playbook`, by default the `playbook/` folder beside
    `notebooks` (where the notebooks' own `../playbook/NN-slug.md` links point).

    `seed` and `reps` are passed to notebooks that declare them when given (fewer replications for the
    what-ifs make a faster report; `reps` also sets `side_reps`, the replications of a notebook's what-ifs beside
    its headline); otherwise each notebook keeps its own. With no export, the notebooks
    all simulate with `seed` (0 when not given), so the report's summary describes the data they used.
    `timeout` bounds each notebook cell, in seconds. `open_as_lost` ("auto" or a number of days) applies the
    gate's open-as-lost rule to the export before anything runs (`sim.analysis.sufficiency.open_as_lost`); the
    deals it turns lost are listed with the repaired values.

    With `store` (a store of exports, `sim.crm.store`) the export is kept there as a snapshot, and the front
    page says what changed since the snapshot before it. `pipeline` keeps the deals of one pipeline of a
    HubSpot export (the notebooks get the tables loaded here). `plan`: the arguments of
    `sim.report.plan.report_plan` (target, within, confidence, levers) for a Plan section on the front page.
    `forecast`: put the Forecast card first on the front page
    and write its page (`sim.report.forecast_section`), with the chance of reaching `target` when given; by
    default on for an export and off for the simulated data (whose quarter nobody has to forecast).
    """
    out = Path(out)
    inputs = [export, mapping, notebooks]
    try:   # never replaces the export, a folder above it, or a folder of files this tool did not write
        check_replaceable(out, "out", kind="report", force=force, protect=inputs)
    except OutputError as err:
        raise ReportError(str(err)) from None
    sources = principle_notebooks(notebooks)
    if not sources:
        raise ReportError(f"no principle notebooks (NN-slug.ipynb) in {notebooks}")
    playbook = Path(notebooks).resolve().parent / "playbook" if playbook is None else Path(playbook)
    links = site_links(playbook, (src.stem for src in sources))
    if progress is None:
        progress = os.environ.get("PLAYBOOK_PROGRESS", "1") != "0"
    try:
        with OutputFolder(out, "out", kind="report", force=force, protect=inputs) as tmp:
            return _build(tmp, out, export, crm, mapping, sources, links, playbook, seed, reps, workers, progress,
                          timeout, open_as_lost, store, store_wait, pipeline, plan, forecast, target)
    except OutputError as err:
        raise ReportError(str(err)) from None


def _build(tmp: Path, out: Path, export, crm, mapping, sources, links, playbook, seed, reps, workers, progress,
           timeout, open_as_lost, store, store_wait, pipeline, plan, forecast, target) -> Report:
    """The report's content, written into `tmp` (moved to `out` by the caller when complete)."""
    timings = {}
    start = time.perf_counter()
    if export is None and seed is None:
        seed = 0
    data = load_export(export, crm, mapping, pipeline) if export is not None else simulated(seed)
    if open_as_lost is not None and export is not None:
        data = data.with_open_as_lost(None if open_as_lost == "auto" else int(open_as_lost))
    env = share(data.tables, tmp, export, crm, mapping) if export is not None else {}
    stored, since = (keep_and_compare(Path(store), data.tables, data.details, str(export), store_wait)
                     if store is not None and export is not None else (None, None))
    timings["loading"] = time.perf_counter() - start

    start = time.perf_counter()
    parameters = {"export": None if export is None else str(Path(export).resolve()), "crm": crm,
                  "mapping": None if mapping is None else str(Path(mapping).resolve())}
    parameters.update({k: v for k, v in (("seed", seed), ("reps", reps), ("side_reps", reps)) if v is not None})
    (tmp / "notebooks").mkdir()
    with_forecast = forecast or (forecast is None and export is not None)
    jobs = [(src.resolve(), tmp / "notebooks" / src.name, _parameters_of(src, parameters, with_forecast, seed, target),
             timeout, env, links) for src in longest_first(sources)]
    results = {run.source.name: (run, html_s) for run, html_s in _run_all(jobs, workers, progress)}
    runs = [results[src.name][0] for src in sources]
    timings["notebooks"] = time.perf_counter() - start
    timings["notebook_html"] = sum(html_s for _, html_s in results.values())

    section = None
    if with_forecast:
        start = time.perf_counter()
        blocked = forecast_blocked(data.gate)
        # the tables as the notebooks read them (`load_tables`): the forecast notebook's forecast is then read, not redone
        section = ForecastSection(note=blocked) if blocked else forecast_section(
            with_every_column(data.tables), tmp, target=target, seed=seed or 0, progress=progress,
            shared=env.get(SHARED_ENV), **FORECAST_SETTINGS)
        timings["forecast"] = time.perf_counter() - start
    plan_html = None
    if plan is not None:
        start = time.perf_counter()
        plan_html = report_plan(data.tables, seed=seed or 0, progress=progress, **plan)
        timings["plan"] = time.perf_counter() - start
    start = time.perf_counter()
    cards = [card_from_run(run) for run in runs]
    apply_gate(cards, data.gate)
    timings["playbook"] = _write_pages(tmp, data, cards, crm, None if mapping is None else str(mapping), playbook,
                                       since, plan_html, section)
    timings["pages"] = time.perf_counter() - start
    timings["total"] = (timings["loading"] + timings["notebooks"] + timings["pages"] + timings.get("forecast", 0.0)
                         + timings.get("plan", 0.0))
    _write_json(tmp / "report.json", data, cards, timings, since)
    remove_shared(tmp)   # the notebooks' shared input, not part of the report
    return Report(out, cards, timings, stored)
