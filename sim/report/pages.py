"""The report's HTML: the front page, the data-quality page and each executed notebook as a page.

Pages are Jinja templates with autoescaping on, so every value that comes from an export (an account
called ``<script>``, a reason quoting a cell) is shown as text. Nothing is fetched from the internet:
styles are inline, the notebook pages drop nbconvert's CDN scripts, and the report opens from disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 100   # rows per page of the data-quality tables

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)


def render(template: str, dest: Path, **context: Any) -> Path:
    """Render `template` with `context` into `dest`."""
    dest.write_text(_env.get_template(template).render(page_size=PAGE_SIZE, **context), encoding="utf-8")
    return dest


def rows_json(frame: pd.DataFrame) -> Markup:
    """`frame`'s rows as a JSON array of arrays that is safe inside a <script> element."""
    values = frame.astype(object).where(frame.notna(), None).values.tolist()
    text = json.dumps(values, default=str, ensure_ascii=False)
    # "<" could close the script element, "&" could start an entity: JSON's \u escapes mean the same.
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def notebook_html(executed: Path, dest: Path) -> Path:
    """Render an executed notebook as a standalone page that works offline and links back to the report.

    Outputs are sanitised: a Markdown or HTML output quoting an export value (an owner named
    ``<img onerror=...>``) is shown as text, never run as markup.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", sanitize_html=True, extra_template_paths=[str(TEMPLATES)], template_file="notebook.html.j2")
    body, _ = exporter.from_filename(str(executed), resources={"metadata": {"name": executed.stem}})
    dest.write_text(body, encoding="utf-8")
    return dest
