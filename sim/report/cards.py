"""A principle's card on the report's front page, read from its executed notebook.

The notebook marks what the card shows (`sim.notebook.headline`, `main_figure`, `guarded`): each such
output carries metadata ``{"playbook": {"role": ...}}``. The card takes those outputs as they are, so the
number on the card is the number the notebook computed, never recomputed or retyped here.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..core.schema import MissingColumns
from .run import Run


@dataclass(frozen=True)
class Skip:
    """An analysis the notebook skipped because the export lacks columns it needs."""

    analysis: str
    missing: tuple[str, ...]
    lacks: str | None = None      # what is really missing, in words ("stage history ..."), when the notebook said

    @property
    def said(self) -> str:
        return self.lacks or f"column(s) {', '.join(self.missing)}"


@dataclass
class Download:
    """A file a notebook offers (role ``download``): written into the report and linked from the card."""

    filename: str
    text: str
    path: str | None = None      # relative to the report, once written


@dataclass
class Card:
    """What the front page shows of one principle notebook."""

    slug: str                              # file stem, e.g. "12-pareto-fractal"
    title: str
    seconds: float
    headline: str | None = None            # measured on the data (the export, or its simulated stand-in)
    whatif: str | None = None              # the simulator's what-if, the same for every export
    figure_png: bytes | None = None
    skipped: list[Skip] = field(default_factory=list)
    error: str | None = None
    scenario: dict | None = None           # what the what-if started from: {"preset", "calibrated"} (role scenario)
    downloads: list[Download] = field(default_factory=list)
    gate: list[dict] = field(default_factory=list)    # what the export cannot show (role gate: key, text, off)
    gated: str | None = None    # the data headline's inputs fail the gate: said instead of the number
    example_data: str | None = None   # a bundled public data set the notebook showed (not the reader's), by name
    evidence: dict | None = None           # what the what-if rests on (role evidence): kind, parameters, holds_when, detectable

    @property
    def ran(self) -> bool:
        """True when the notebook ran through and skipped nothing: everything it offers is on the card."""
        return self.error is None and not self.skipped

    @property
    def status(self) -> str:
        return "failed" if self.error else ("partial" if self.skipped else "ok")


EVIDENCE_KEYS = ("kind", "parameters", "holds_when", "detectable", "dose_response", "says")


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's first Markdown heading (without the #s), or a title made from the file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#+\s+(.+?)\s*#*\s*$", cell.source, flags=re.MULTILINE)
            if m:
                return m.group(1)
    return fallback.split("-", 1)[-1].replace("-", " ").capitalize()


def _outputs(nb: nbformat.NotebookNode):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.get("outputs", [])


def _role(output) -> dict:
    return output.get("metadata", {}).get("playbook", {}) if output.get("output_type") in ("display_data", "execute_result") else {}


EXAMPLE_DATA = {"ravenstack": "RavenStack, a public synthetic SaaS data set"}   # bundled sets a notebook may show


NOT_FOUND = ("skipped", "not found", "no subscription data found", "not next to the repository")


def _example_data(nb: nbformat.NotebookNode) -> str | None:
    """The bundled public data set the notebook showed, if any (None: only the reader's data): a code cell that
    reads a bundled set (its name, or `public_data`, in the code) and printed or drew something other than a
    "not found, skipped" line; or an output naming the set."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(str(output.get("text", "")))
            elif output.get("output_type") in ("display_data", "execute_result"):
                texts.append(str(output.get("data", {}).get("text/plain", "")))
        shown = "\n".join(texts).lower()
        source = cell.source.lower()
        for key, name in EXAMPLE_DATA.items():
            reads = key in source or "public_data(" in source
            if key in shown or (reads and texts and not any(n in shown for n in NOT_FOUND)):
                return name
    return None


def card_from_run(run: Run) -> Card:
    """Build the card of one notebook run from what its executed copy displayed."""
    slug = run.source.stem
    if not run.executed.exists():   # papermill could not even start (bad JSON, no kernel)
        return Card(slug, _title(nbformat.v4.new_notebook(), slug), run.seconds, error=run.error or "the notebook did not run")
    nb = nbformat.read(run.executed, as_version=4)
    # a notebook stopped by data it cannot work without (no dates at all, say) skipped the rest: not a failure
    stopped = MissingColumns.from_message(run.error) if run.error else None
    card = Card(slug, _title(nb, slug), run.seconds, error=None if stopped else run.error)
    for output in _outputs(nb):
        meta = _role(output)
        role = meta.get("role")
        if role == "headline":
            field_ = "whatif" if meta.get("source") == "what-if" else "headline"
            if getattr(card, field_) is None:
                setattr(card, field_, str(meta.get("text", "")))
        elif role == "main-figure" and card.figure_png is None and "image/png" in output.get("data", {}):
            card.figure_png = base64.b64decode(output["data"]["image/png"])
        elif role == "skipped":
            card.skipped.append(Skip(str(meta.get("analysis", "an analysis")), tuple(map(str, meta.get("missing", []))),
                                     str(meta["lacks"]) if meta.get("lacks") else None))
        elif role == "gate" and not card.gate:
            card.gate = [{"key": str(f.get("key", "")), "text": str(f.get("text", "")), "off": list(map(str, f.get("off", [])))}
                         for f in meta.get("findings", []) if isinstance(f, dict)]
        elif role == "scenario" and card.scenario is None:
            card.scenario = {"preset": str(meta.get("preset", "")), "calibrated": bool(meta.get("calibrated")),
                             "passed": meta.get("passed"), "verdict": meta.get("verdict"), "fallback": meta.get("fallback")}
        elif role == "evidence" and card.evidence is None:
            card.evidence = {k: meta.get(k) for k in EVIDENCE_KEYS}
        elif role == "download" and isinstance(meta.get("text"), str):
            name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(meta.get("filename", "download.txt"))).name).lstrip(".") or "download.txt"
            card.downloads.append(Download(name, meta["text"]))
    card.example_data = _example_data(nb)
    if stopped is not None:
        card.skipped.append(Skip(f"{stopped.analysis}, and the rest of the notebook after it", tuple(stopped.missing)))
    return card


def save_figure(card: Card, folder: Path) -> str | None:
    """Write the card's figure as `folder/<slug>.png`; returns its path relative to the report, or None."""
    if card.figure_png is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{card.slug}.png").write_bytes(card.figure_png)
    return f"{folder.name}/{card.slug}.png"


def save_downloads(card: Card, folder: Path) -> None:
    """Write the card's downloads into `folder/<slug>/` and note each one's path relative to the report."""
    for d in card.downloads:
        target = folder / card.slug
        target.mkdir(parents=True, exist_ok=True)
        (target / d.filename).write_text(d.text, encoding="utf-8")
        d.path = f"{folder.name}/{card.slug}/{d.filename}"
