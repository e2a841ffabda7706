"""The report's HTML: the front page, the data-quality page and each executed notebook as a page.

Pages are Jinja templates with autoescaping on, so every value that comes from an export (an account
called ``<script>``, a reason quoting a cell) is shown as text. Nothing is fetched from the internet:
styles are inline, the notebook pages drop nbconvert's CDN scripts, and the report opens from disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bleach
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


# What a notebook's Markdown and HTML may use on its page: text formatting, headings, tables and links.
# Anything else (a <script>, an <img onerror=...> quoted from an export) is shown as text, not run.
NOTEBOOK_TAGS = sorted({*bleach.ALLOWED_TAGS, "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "div", "span", "pre",
                        "table", "thead", "tbody", "tfoot", "caption", "tr", "th", "td", "sup", "sub", "dl", "dt", "dd", "del"})
NOTEBOOK_ATTRIBUTES = {**bleach.ALLOWED_ATTRIBUTES, "*": ["class", "id", "title"], "th": ["colspan", "rowspan"], "td": ["colspan", "rowspan"]}


def clean_html(html: str | bytes) -> str:
    """Keep a notebook output's formatting, escape every other tag (nbconvert's own list escapes even <p>)."""
    html = html.decode() if isinstance(html, bytes) else str(html)
    return bleach.clean(html, tags=NOTEBOOK_TAGS, attributes=NOTEBOOK_ATTRIBUTES)


def notebook_html(executed: Path, dest: Path) -> Path:
    """Render an executed notebook as a standalone page that works offline and links back to the report.

    Outputs are sanitised: a Markdown or HTML output quoting an export value (an owner named
    ``<img onerror=...>``) is shown as text, never run as markup.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", sanitize_html=True, filters={"clean_html": clean_html}, extra_template_paths=[str(TEMPLATES)], template_file="notebook.html.j2")
    body, _ = exporter.from_filename(str(executed), resources={"metadata": {"name": executed.stem}})
    dest.write_text(body, encoding="utf-8")
    return dest


def fallback_page(dest: Path, slug: str, error: str) -> Path:
    """The page of a notebook that could not be rendered: what went wrong and the way back."""
    return render("notebook-missing.html.j2", dest, slug=slug, error=error)
