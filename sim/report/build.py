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
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..crm.outputs import write_csv
from .cards import Card, card_from_run, save_downloads, save_figure
from .errors import ReportError
from .data import ReportData, load_export, simulated
from .links import SiteLinks
from .pages import fallback_page, notebook_html, render, rows_json
from .playbook import principle_pages, site_links, write_playbook
from .run import Run, principle_notebooks, run_notebook
from .shared import remove as remove_shared
from .shared import share

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"   # the repository's notebooks/


@dataclass
class Report:
    """A finished report: where it is, its cards, and how long each part took (seconds)."""

    path: Path
    cards: list[Card]
    timings: dict[str, float] = field(default_factory=dict)

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
        parts.append(f"{partial} skipped an analysis for missing columns")
    if failed := sum(c.status == "failed" for c in cards):
        parts.append(f"{failed} failed")
    return "; ".join(parts) + "."


def _write_pages(folder: Path, data: ReportData, cards: list[Card], crm: str | None, mapping: str | None,
                 playbook: Path | None = None) -> float:
    """index.html, data-quality.html, the figures, the notebooks' downloads, rejected.csv and the playbook (the
    pages in `playbook`), from the data and the cards; returns the seconds the playbook took."""
    figures = {c.slug: save_figure(c, folder / "figures") for c in cards}
    for c in cards:
        save_downloads(c, folder / "downloads")
    common = dict(data=data, crm=crm, mapping=mapping, generated=f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    skipped = [(c, s) for c in cards for s in c.skipped]
    pages = {p.stem for p in principle_pages(playbook)}
    render("index.html.j2", folder / "index.html", cards=cards, figures=figures, all_ran=all(c.ran for c in cards),
           status_line=_status_line(cards), skipped_count=len(skipped), pages=pages, root="", here="report", **common)
    render("data-quality.html.j2", folder / "data-quality.html", skipped=skipped, failed=[c for c in cards if c.error],
           rejected_json=rows_json(data.rejected), repaired_json=rows_json(data.repaired), root="", here="data-quality", **common)
    write_csv(data.rejected, folder / "rejected.csv")   # formula-like cells neutralised (CSV injection)
    start = time.perf_counter()
    write_playbook(folder, playbook, cards, figures, site_links(playbook, (c.slug for c in cards)), **common)
    return time.perf_counter() - start


def _write_json(path: Path, data: ReportData, cards: list[Card], timings: dict[str, float]) -> None:
    """report.json: each card's status, headline, skips and error, and the timings, for scripts and benchmarks."""
    path.write_text(json.dumps({
        "data": data.label, "complete": all(c.ran for c in cards), "timings_s": timings,
        "cards": [{"slug": c.slug, "title": c.title, "status": c.status, "headline": c.headline, "whatif": c.whatif,
                   "skipped": [{"analysis": s.analysis, "missing": list(s.missing)} for s in c.skipped],
                   "error": c.error, "seconds": c.seconds, "evidence": c.evidence} for c in cards],
    }, indent=2) + "\n")


def _move_into_place(tmp: Path, out: Path) -> None:
    """Replace `out` by `tmp` with renames only, so `out` is never a half-built report."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(old / out.name)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


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
) -> Report:
    """Run every principle notebook in `notebooks` on `export` (None: simulated data) and write the report to `out`.

    The report's playbook is made of the pages in `playbook`, by default the `playbook/` folder beside
    `notebooks` (where the notebooks' own `../playbook/NN-slug.md` links point).

    `seed` and `reps` are passed to notebooks that declare them when given (fewer replications for the
    what-ifs make a faster report); otherwise each notebook keeps its own. With no export, the notebooks
    all simulate with `seed` (0 when not given), so the report's summary describes the data they used.
    `timeout` bounds each notebook cell, in seconds.
    """
    out = Path(out)
    if out.exists() and not force:
        raise ReportError(f"{out} already exists; pass --force to replace it")
    sources = principle_notebooks(notebooks)
    if not sources:
        raise ReportError(f"no principle notebooks (NN-slug.ipynb) in {notebooks}")
    playbook = Path(notebooks).resolve().parent / "playbook" if playbook is None else Path(playbook)
    links = site_links(playbook, (src.stem for src in sources))
    if progress is None:
        progress = os.environ.get("PLAYBOOK_PROGRESS", "1") != "0"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        timings = {}
        start = time.perf_counter()
        if export is None and seed is None:
            seed = 0
        data = load_export(export, crm, mapping) if export is not None else simulated(seed)
        env = share(data.tables, tmp, export, crm, mapping) if export is not None else {}
        timings["loading"] = time.perf_counter() - start

        start = time.perf_counter()
        parameters = {"export": None if export is None else str(Path(export).resolve()), "crm": crm,
                      "mapping": None if mapping is None else str(Path(mapping).resolve())}
        parameters.update({k: v for k, v in (("seed", seed), ("reps", reps)) if v is not None})
        (tmp / "notebooks").mkdir()
        jobs = [(src.resolve(), tmp / "notebooks" / src.name, parameters, timeout, env, links) for src in sources]
        results = {run.source.name: (run, html_s) for run, html_s in _run_all(jobs, workers, progress)}
        runs = [results[src.name][0] for src in sources]
        timings["notebooks"] = time.perf_counter() - start
        timings["notebook_html"] = sum(html_s for _, html_s in results.values())

        start = time.perf_counter()
        cards = [card_from_run(run) for run in runs]
        timings["playbook"] = _write_pages(tmp, data, cards, crm, None if mapping is None else str(mapping), playbook)
        timings["pages"] = time.perf_counter() - start
        timings["total"] = timings["loading"] + timings["notebooks"] + timings["pages"]
        _write_json(tmp / "report.json", data, cards, timings)
        remove_shared(tmp)   # the notebooks' shared input, not part of the report
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Report(out, cards, timings)
