"""The report's HTML: the front page, the data-quality page and each executed notebook as a page.

Pages are Jinja templates with autoescaping on, so every value that comes from an export (an account
called ``<script>``, a reason quoting a cell) is shown as text. Nothing is fetched from the internet:
styles are inline, the notebook pages drop nbconvert's CDN scripts, and the report opens from disk.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import bleach
import jinja2
from jinja2 import pass_context
import pandas as pd
from markupsafe import Markup

from .links import SiteLinks, rewrite_links

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 100   # rows per page of the data-quality tables

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)


def render(template: str, dest: Path, **context: Any) -> Path:
    """Render `template` with `context` into `dest`."""
    dest.write_text(_env.get_template(template).render(page_size=PAGE_SIZE, **context), encoding="utf-8")
    return dest


def script_json(value: Any) -> Markup:
    """`value` as JSON that is safe inside a <script> element or a script file."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    # "<" could close the script element, "&" could start an entity: JSON's \u escapes mean the same. U+2028
    # and U+2029 are line ends to older JavaScript parsers.
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return Markup(text)


def rows_json(frame: pd.DataFrame) -> Markup:
    """`frame`'s rows as a JSON array of arrays that is safe inside a <script> element."""
    return script_json(frame.astype(object).where(frame.notna(), None).values.tolist())


# What a notebook's Markdown and HTML may use on its page: text formatting, headings, tables and links.
# Anything else (a <script>, an <img onerror=...> quoted from an export) is shown as text, not run.
NOTEBOOK_TAGS = sorted({*bleach.ALLOWED_TAGS, "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "div", "span", "pre",
                        "table", "thead", "tbody", "tfoot", "caption", "tr", "th", "td", "sup", "sub", "dl", "dt", "dd", "del"})
NOTEBOOK_ATTRIBUTES = {**bleach.ALLOWED_ATTRIBUTES, "*": ["class", "id", "title"], "th": ["colspan", "rowspan"], "td": ["colspan", "rowspan"]}


# The style block pandas puts before every DataFrame table: escaped, it would show as text above the table.
PANDAS_STYLE = re.compile(r"<style scoped>\s*\.dataframe [^<]*</style>")


def clean_html(html: str | bytes) -> str:
    """Keep a notebook output's formatting, escape every other tag (nbconvert's own list escapes even <p>)."""
    html = html.decode() if isinstance(html, bytes) else str(html)
    return bleach.clean(PANDAS_STYLE.sub("", html), tags=NOTEBOOK_TAGS, attributes=NOTEBOOK_ATTRIBUTES)


def notebook_html(executed: Path, dest: Path, links: SiteLinks | None = None) -> Path:
    """Render an executed notebook as a standalone page that works offline and links back to the report.

    Outputs are sanitised: a Markdown or HTML output quoting an export value (an owner named
    ``<img onerror=...>``) is shown as text, never run as markup. Links in its Markdown to the playbook
    (`../playbook/NN-slug.md`) and to other notebooks lead to their pages in the report (see `SiteLinks`).
    """
    from nbconvert import HTMLExporter

    links = links or SiteLinks(frozenset(), frozenset())

    class SiteExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            return rewrite_links(super().markdown2html(context, source), links, "notebooks")

    exporter = SiteExporter(template_name="lab", sanitize_html=True, filters={"clean_html": clean_html}, extra_template_paths=[str(TEMPLATES)], template_file="notebook.html.j2")
    body, _ = exporter.from_filename(str(executed), resources={"metadata": {"name": executed.stem}})
    dest.write_text(body, encoding="utf-8")
    return dest


def fallback_page(dest: Path, slug: str, error: str) -> Path:
    """The page of a notebook that could not be rendered: what went wrong and the way back."""
    return render("notebook-missing.html.j2", dest, slug=slug, error=error)
