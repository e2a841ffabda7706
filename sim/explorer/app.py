"""The what-if explorer: controls for the levers, a paired comparison after every change, save and share.

`Explorer(folder).widget` is the whole page (ipywidgets); `notebooks/whatif.ipynb` shows it, and Voilà
serves that notebook as a page with no code (`make whatif`). Everything it computes comes from
`sim.explorer.levers` (what can change) and `sim.explorer.whatif` (the comparison), which are tested on
their own; this module only lays out controls and reacts to them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import os
import re
import threading
import time
from concurrent.futures import CancelledError, Executor
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..core.outputs import write_text
from ..experiments.replicate import RunCache, replicate_each
from ..scenario import Scenario, ScenarioError, field_of
from . import levers as L
from . import whatif
from .pool import Pool, Ticket
from .serve import FOLDER_VARIABLE
from .target import TargetPanel

HELP_STYLE = "color:#555;font-size:0.85em;margin:-4px 0 6px 0"
# While the leader reads an answer, or the levers of a start just picked (IDLE_SECONDS after it, with no move since), a
# page with a pool takes the starting scenario's runs on from its first round to SPARE, one run per core at a time: a
# later move whose interval needs a second round then runs only its own scenario's extra runs, not the start's as well
# (on `demo`, about a second less for a move that needs 14). A move made meanwhile cancels what is queued and waits for
# at most the runs in flight.
SPARE = 2 * whatif.FIRST
IDLE_SECONDS = 1.0


class Explorer:
    """One explorer page: pick a starting scenario, change levers, read the answer, save or share it.

    `executor="serial"` answers each move in the kernel before the page reacts again (simple, for tests and
    scripts). `executor="pool"` (the page, `notebooks/whatif.ipynb`) starts a process pool on all cores when
    the page opens (`sim.explorer.pool`: forkserver or spawn, warm before the first move, its workers end with
    the kernel) and answers in a background thread: the page stays responsive and says "Running…", and a
    newer move cancels the older one's queued runs, so the page only ever shows the answer to the last move.
    The starting scenario's first round of runs starts as soon as it is picked, and its later runs while the leader
    reads an answer or the levers (`SPARE`). Any `concurrent.futures` executor can be given instead of "pool". The
    numbers are the same in every mode (common random numbers: replication i runs on seed i wherever it runs). `wait()` blocks
    until the page shows its latest answer.
    """

    def __init__(self, folder: str | Path | None = None, seed: int = 7, precision: float = whatif.PRECISION,
                 max_n: int = whatif.MAX_N, executor: Executor | str = "serial"):
        self.folder = Path(folder if folder is not None else os.environ.get(FOLDER_VARIABLE, "."))
        self.seed, self.precision, self.max_n = seed, precision, max_n
        self.pool: Pool | None = None
        if executor == "pool":
            self.pool = Pool()
            self.executor: Executor | str = self.pool      # runs in the kernel until its workers are warm
        elif isinstance(executor, Executor) or executor == "serial":
            self.executor = executor
        else:
            raise ValueError(f"executor: {executor!r} is not allowed, must be 'serial', 'pool' or a concurrent.futures.Executor")
        self.known = RunCache(on=True)   # runs already made this session: the starting scenario is simulated once
        self._lock = threading.Lock()
        self._move = 0                                   # moves so far: a thread's answer is shown only if still the last
        self._ticket: Ticket | None = None               # the last move's share of the pool
        self._thread: threading.Thread | None = None     # the last move's thread
        self._prefetch: tuple[Ticket, threading.Thread] | None = None   # the starting scenario's first round
        self._spare: tuple[Ticket, threading.Event, threading.Thread] | None = None   # its later runs, while idle
        self.idle_seconds = IDLE_SECONDS
        self.start: Scenario | None = None
        self.current: Scenario | None = None
        self.levers: list[L.Lever] = []
        self.answer: whatif.Answer | None = None
        self.controls: dict[str, w.Widget] = {}
        self.picker = w.Dropdown(options=self._choices(), description="Start from", style={"description_width": "initial"},
                                 layout=w.Layout(width="28rem"))
        self.status = w.HTML()
        self.levers_box = w.VBox()
        self.result = w.HTML()
        self.chart = w.Output()
        self.changed = w.HTML()
        self.save_name = w.Text(value="my_whatif.yaml", description="File", layout=w.Layout(width="20rem"))
        self.save_button = w.Button(description="Save this scenario", icon="save", layout=w.Layout(width="12rem"))
        self.snapshot_button = w.Button(description="Save a shareable snapshot (HTML)", icon="camera",
                                        layout=w.Layout(width="20rem"))
        self.saved = w.HTML()
        self._listing = False    # True while the picker's list is refreshed: that is not a new pick
        self.picker.observe(lambda _: None if self._listing else self.load(), names="value")
        self.save_button.on_click(lambda _: self.save())
        self.snapshot_button.on_click(lambda _: self.snapshot())
        self.widget = w.VBox([
            w.HTML("<h2>What if…?</h2><p>Pick where to start, change a lever, and read what it does to "
                   "bookings, win rate, cycle and more, with its 95% confidence interval.</p>"),
            self.picker, self.status,
            w.HBox([w.VBox([self.levers_box], layout=w.Layout(width="42%")),
                    w.VBox([self.result, self.chart, w.HTML("<h4>What changed</h4>"), self.changed,
                            w.HBox([self.save_name, self.save_button]), self.snapshot_button, self.saved],
                           layout=w.Layout(width="58%"))]),
        ])
        self.load()
        self.target_mode = TargetPanel(self)    # "target" mode: P(hit) of a target and the options (target.py)
        self.widget.children += (self.target_mode.widget,)

    # ---- starting scenario ------------------------------------------------------------------------
    def _choices(self) -> list[tuple[str, str]]:
        presets = [(f"preset: {name}", f"preset:{name}") for name in Scenario.presets()]
        files = sorted(p for p in self.folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
        return presets + [(f"file: {p.name}", str(p)) for p in files]

    def load(self) -> None:
        """Start from the picked scenario: rebuild the controls at its values and show no change yet."""
        choice = self.picker.value
        try:
            self.start = (Scenario.preset(choice.split(":", 1)[1]) if choice.startswith("preset:")
                          else Scenario.from_yaml(choice))
        except ScenarioError as err:
            self.status.value = f"<p style='color:#a00'>{html.escape(str(err))}</p>"
            return
        self.current = self.start
        self.controls = {}
        self.levers = L.levers(self.start)       # the start's levers, listed once (every move greys some out)
        rows: list[w.Widget] = []
        section = None
        for lever in self.levers:
            if lever.section != section:
                section = lever.section
                rows.append(w.HTML(f"<h4 style='margin:10px 0 2px 0'>{html.escape(section)}</h4>"))
            control = self._control(lever)
            self.controls[lever.path] = control
            rows += [control, w.HTML(f"<div style='{HELP_STYLE}'>{html.escape(lever.help)}</div>")]
            control.observe(lambda _, self=self: self.rerun(), names="value")
        self.levers_box.children = rows
        self._enable()
        self.status.value = status_html(self.start)
        self.rerun()                             # "Nothing yet": a new move number, which the start's runs belong to
        self._start_prefetch()

    def _control(self, lever: L.Lever) -> w.Widget:
        value, style = L.current(self.start, lever), {"description_width": "12rem"}
        layout = w.Layout(width="95%")
        common = dict(description=lever.label, style=style, layout=layout, tooltip=lever.help)
        if lever.kind == "switch":
            return w.Checkbox(value=bool(value), indent=False, **common)
        if lever.kind == "choice":
            options = [(c.isoformat() if isinstance(c, dt.date) else str(c), c) for c in lever.choices]
            return w.Dropdown(options=options, value=value if value in lever.choices else lever.choices[0], **common)
        if lever.kind == "whole":
            if lever.slider:
                return w.IntSlider(value=int(value), min=int(lever.low), max=int(lever.high), continuous_update=False, **common)
            return w.BoundedIntText(value=int(value), min=int(lever.low or 0), max=int(lever.high or 10**9), **common)
        if lever.slider:
            return w.FloatSlider(value=float(value), min=lever.low, max=lever.high, step=lever.step or 0.01,
                                 continuous_update=False, readout_format=".2f", **common)
        return w.BoundedFloatText(value=float(value), min=lever.low or 0.0, max=lever.high or 1e12, **common)

    def _enable(self) -> None:
        """Levers under a switch that is off are greyed out."""
        for lever in self.levers:
            if lever.needs and lever.path in self.controls:
                self.controls[lever.path].disabled = not self.controls[lever.needs].value or \
                    (self.controls.get(lever.needs.rsplit(".", 1)[0]) is not None
                     and not self.controls[lever.needs.rsplit(".", 1)[0]].value)

    # ---- the answer ---------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The levers' values as {path: value}."""
        return {path: c.value for path, c in self.controls.items()}

    def rerun(self) -> None:
        """Apply the levers and compare with the start (or say which value is not allowed)."""
        self._enable()
        self._stop_spare()
        with self._lock:
            self._move += 1                        # whatever an older move was computing is no longer wanted
            move = self._move
            if self._ticket is not None:
                self._ticket.cancel()
                self._ticket = None
        try:
            self.current = L.apply(self.start, self.settings())
        except ScenarioError as err:
            self.result.value = f"<p style='color:#a00'>Not a scenario the model can run:<br>{html.escape(str(err))}</p>"
            return
        changes = [L.describe(c) for c in L.changes(self.start, self.current)]
        if not changes:
            self.changed.value = "<p>Nothing yet.</p>"
            self.result.value = "<p class='answer'>Change a lever on the left: the answer appears here.</p>"
            self.chart.outputs = ()
            self.answer = None
            return
        self.changed.value = "<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in changes) + "</ul>"
        self.result.value = "<p><em>Running…</em></p>"
        self.answer = None                         # the older answer is not this move's (a snapshot waits for it)
        if self.executor == "serial":
            self._show(move, whatif.answer(self.start, self.current, seed=self.seed, precision=self.precision,
                                           max_n=self.max_n, executor="serial", known=self.known))
            return
        ticket = Ticket(self.executor)
        with self._lock:
            self._ticket = ticket
        thread = threading.Thread(target=self._answer_in_background, name=f"whatif-move-{move}",
                                  args=(move, ticket, self.start, self.current, time.perf_counter()), daemon=True)
        self._thread = thread
        thread.start()

    def _answer_in_background(self, move: int, ticket: Ticket, start: Scenario, changed: Scenario,
                              began: float) -> None:
        """One move's answer, off the kernel's main thread; shown only if no newer move came meanwhile."""
        try:
            if self._prefetching(start):
                # the changed scenario's first round is needed whatever the start's runs say: queue it behind the
                # start's prefetched round now, so that no worker idles while the last of those finishes
                replicate_each({whatif.CHANGED: changed}, min(whatif.FIRST, self.max_n), self.seed, executor=ticket,
                               progress=False, known=self.known)
            self._wait_prefetch(start)
            got = whatif.answer(start, changed, seed=self.seed, precision=self.precision, max_n=self.max_n,
                                executor=ticket, known=self.known)
            got.seconds = time.perf_counter() - began   # what the leader waited, from the move
        except CancelledError:
            return                                        # a newer move replaced this one
        except Exception as err:                          # noqa: BLE001 - shown on the page, not lost in a thread
            with self._lock:
                if move == self._move:
                    self.result.value = (f"<p style='color:#a00'>The answer failed: "
                                         f"{html.escape(type(err).__name__)}: {html.escape(str(err))}</p>")
            return
        self._show(move, got)

    def _show(self, move: int, got: whatif.Answer) -> None:
        """Put an answer on the page, unless a newer move came while it was computed."""
        fig = whatif.figure(got)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        shown = ({"output_type": "display_data", "metadata": {},
                  "data": {"image/png": base64.b64encode(buf.getvalue()).decode(),
                           "text/plain": "What your changes do: each metric's change in percent with its 95% CI"}},)
        with self._lock:
            if move != self._move:
                return
            self.answer = got
            self.result.value = (f"<p class='answer'><strong>{html.escape(got.sentence())}</strong></p>"
                                 + whatif.table_html(got)
                                 + f"<p style='{HELP_STYLE}'>Answered in {got.seconds:.1f} s.</p>")
            self.chart.outputs = shown
        self._start_spare(move)

    def _start_spare(self, move: int) -> None:
        """With a pool, once the page has been idle `idle_seconds` after answering `move`: the starting scenario's
        runs taken on to `SPARE` (see there), a run per worker at a time, until a newer move or pick stops it."""
        if self.executor == "serial" or move != self._move:   # a newer move or pick came: its own runs come first
            return
        self._stop_spare()
        ticket, start, stop = Ticket(self.executor), self.start, threading.Event()
        spare, step = min(SPARE, self.max_n), ticket._max_workers

        def run() -> None:
            n, wait = whatif.FIRST, self.idle_seconds
            try:
                while n < spare and not stop.wait(wait) and move == self._move:
                    n, wait = min(spare, n + step), 0
                    replicate_each({whatif.START: start}, n, self.seed, executor=ticket, progress=False,
                                   known=self.known)
            except Exception:    # noqa: BLE001 - cancelled, or the page closed: idle work; a move makes what it needs
                pass

        thread = threading.Thread(target=run, name="whatif-spare", daemon=True)
        self._spare = (ticket, stop, thread)
        thread.start()

    def _stop_spare(self) -> None:
        """A move, a pick or the page's end: the idle runs stop (queued ones are cancelled; one in flight per
        worker finishes)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare[1].set()
            spare[0].cancel()

    def _start_prefetch(self) -> None:
        """With a pool: run the starting scenario's first round now, before any move asks for it; then, while the
        leader reads the levers before a first move, take the start's runs on as after an answer (`_start_spare`).
        Called on a pick, after `rerun` has stopped the older start's idle runs."""
        if self._prefetch is not None:
            self._prefetch[0].cancel()
            self._prefetch = None
        if self.executor == "serial":
            return
        ticket, start, picked = Ticket(self.executor), self.start, self._move

        def run() -> None:
            try:
                replicate_each({whatif.START: start}, min(whatif.FIRST, self.max_n), self.seed, executor=ticket,
                               progress=False, known=self.known)
            except CancelledError:
                return
            self._start_spare(picked)          # nothing if a move came meanwhile (a newer move number)

        thread = threading.Thread(target=run, name="whatif-start", daemon=True)
        self._prefetch = (ticket, thread)
        thread.start()

    def _prefetching(self, start: Scenario) -> bool:
        """Whether the start's first round is still being run for this very start."""
        prefetch = self._prefetch
        return prefetch is not None and start is self.start and prefetch[1].is_alive()

    def _wait_prefetch(self, start: Scenario) -> None:
        """A move on the same start needs the first round of the start's runs: wait for it rather than run it twice."""
        prefetch = self._prefetch
        if prefetch is not None and start is self.start:
            prefetch[1].join()

    def wait(self, timeout: float | None = None) -> whatif.Answer | None:
        """Block until the last move's answer is on the page (at once in serial mode); that answer."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.answer

    def close(self) -> None:
        """Cancel what is queued and, for the page's own pool, end its workers."""
        with self._lock:
            self._move += 1
            if self._ticket is not None:
                self._ticket.cancel()
        if self._prefetch is not None:
            self._prefetch[0].cancel()
        self._stop_spare()
        if self.pool is not None:
            self.pool.close()

    # ---- save and share -------------------------------------------------------------------------------
    def _target(self, suffix: str) -> Path:
        name = re.sub(r"[^\w.-]+", "_", self.save_name.value.strip()) or "my_whatif"
        return self.folder / (Path(name).stem + suffix)

    def save(self) -> Path:
        """Write the changed scenario as YAML, each changed value with a comment saying what it was."""
        notes = {path: f"changed in the what-if explorer from {self.start.name!r} (was {L.shown(path, old)})"
                 for path, old, _ in L.changes(self.start, self.current)}
        path = self._target(".yaml")
        self.current.replace(name=path.stem).to_yaml(path, notes=_to_fields(notes))
        self.saved.value = f"<p>Saved <code>{html.escape(str(path))}</code>; pick it under “Start from” to go on from it.</p>"
        picked = self.picker.value
        self._listing = True     # list the new file without starting over: the page keeps its levers and answer
        try:
            self.picker.options = self._choices()
            self.picker.value = picked
        finally:
            self._listing = False
        return path

    def snapshot(self) -> Path | None:
        """Write the current comparison as one self-contained HTML page."""
        if self.answer is None:
            self.saved.value = "<p>Change a lever first: there is no comparison to share yet.</p>"
            return None
        path = self._target(".html")
        fig = whatif.figure(self.answer)
        changes = [L.describe(c) for c in L.changes(self.start, self.current)]
        write_text(path, whatif.snapshot_html(self.answer, self.start.name, changes, fig))   # whole, or not at all
        self.saved.value = f"<p>Snapshot written to <code>{html.escape(str(path))}</code>.</p>"
        return path


FAILED_CALIBRATION = ("does not pass", "fails ", "cannot show:")   # what `playbook calibrate` writes when it failed


def status_html(scenario: Scenario) -> str:
    """What the explorer says about where it starts: the scenario's description, in red with a warning when it is
    a calibration that failed its validation or rests on what the export cannot show; and the amounts' currency."""
    text = scenario.description or scenario.name
    said = f"{html.escape(text)} Amounts in {html.escape(scenario.currency)}."
    if any(k in text for k in FAILED_CALIBRATION):
        return (f"<p style='color:#a00;border:2px solid #a00;padding:4px 8px'><strong>This calibration failed its "
                f"checks against the export: read answers as the preset's dynamics at your scale.</strong> {said}</p>")
    return f"<p>{said}</p>"


def _to_fields(notes: dict[str, str]) -> dict[str, str]:
    """Notes by the path the YAML writer uses: a change inside a list (a hire) is noted on the list."""
    out: dict[str, str] = {}
    for path, note in notes.items():
        out.setdefault(field_of(path), note)
    return out
