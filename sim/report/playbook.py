"""The playbook in the report: every page of `playbook/`, told with this export's numbers, for new reps.

Each principle page (`playbook/NN-slug.md`) becomes `playbook/NN-slug.html`: the page's own text, then
"In your data", the card of the notebook with the same stem as this report ran it. `playbook/README.md`
becomes the start page and decides the reading order (see `reading_order`); pages it does not list follow
in number order, so a new page/notebook pair shows up with no change here. A page without a notebook says
so; a notebook without a page is listed on the start page. Markdown is rendered with mistune (raw HTML
escaped) and sanitised like the notebook pages (`clean_html`). A small search index goes into `search.js`,
which every page loads from disk: searching sends nothing anywhere.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mistune
from mistune.util import striptags
from markupsafe import Markup

from .cards import Card
from .links import PAGE_GLOB, START, SiteLinks, offsite, repo_path
from .pages import clean_html, render, script_json

README = "README.md"


def principle_pages(folder: str | Path | None) -> list[Path]:
    """The principle pages in `folder`: `NN-slug.md`, in number order (none when there is no such folder)."""
    if folder is None or not Path(folder).is_dir():
        return []
    return sorted(Path(folder).glob(f"{PAGE_GLOB}.md"))


@dataclass(frozen=True)
class Page:
    """One page of the playbook, rendered: `slug` is the file stem (`index` for the start page)."""

    slug: str
    title: str
    body: Markup     # the page's Markdown as sanitised HTML
    text: str        # the same as plain text, for the search index


class _Renderer(mistune.HTMLRenderer):
    """mistune's HTML with links mapped to the site's pages and an id on every heading (for anchors)."""

    def __init__(self, links: SiteLinks) -> None:
        super().__init__(escape=True)
        self._links = links
        self._ids: Counter[str] = Counter()

    def link(self, text: str, url: str, title: str | None = None) -> str:
        target = self._links.href(url, "playbook")
        return offsite(text, repo_path(url, "playbook")) if target is None else super().link(text, target, title)

    def heading(self, text: str, level: int, **attrs: Any) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", html.unescape(striptags(text)).lower()).strip("-") or "section"
        n = self._ids[base]
        self._ids[base] += 1
        return super().heading(text, level, id=base if n == 0 else f"{base}-{n}")


def render_markdown(source: str, links: SiteLinks) -> Markup:
    """A playbook page's Markdown as HTML that is safe to show: raw HTML in it stays text."""
    md = mistune.create_markdown(renderer=_Renderer(links), plugins=["table", "strikethrough"])
    return Markup(clean_html(md(source)))


def _title(source: str, slug: str) -> str:
    """The page's first `# ` heading, without Markdown emphasis; else a title made from the file name."""
    m = re.search(r"^#\s+(.+?)\s*#*\s*$", source, flags=re.MULTILINE)
    return re.sub(r"[*_`]", "", m.group(1)) if m else slug.split("-", 1)[-1].replace("-", " ").capitalize()


def _plain(body: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def read_page(path: Path, links: SiteLinks, slug: str | None = None) -> Page:
    """The Markdown file at `path` as a rendered page, named `slug` (default: the file's stem)."""
    source = path.read_text(encoding="utf-8")
    slug = slug or path.stem
    body = render_markdown(source, links)
    return Page(slug, _title(source, slug), body, _plain(body))


def reading_order(readme: str | None, slugs: Iterable[str]) -> list[str]:
    """The principle pages in the order a new rep reads them.

    The order is the order in which the README's "reading order" section (any heading containing those
    words; the whole README when there is none) links to `NN-slug.md` pages; pages it does not link to
    follow in number order.
    """
    slugs = sorted(slugs)
    text = readme or ""
    heading = re.search(r"^(#+)\s.*reading order.*$", text, flags=re.IGNORECASE | re.MULTILINE)
    if heading:
        rest = text[heading.end():]
        end = re.search(rf"^#{{1,{len(heading.group(1))}}}\s", rest, flags=re.MULTILINE)
        text = rest[:end.start()] if end else rest
    listed = re.findall(r"\]\(\s*(?:\./)?([0-9][0-9]-[^)\s#/]+)\.md(?:#[^)\s]*)?\s*\)", text)
    order = list(dict.fromkeys(s for s in listed if s in slugs))
    return order + [s for s in slugs if s not in order]


@dataclass(frozen=True)
class Step:
    """A page's place in the reading order: the pages before and after it (None at either end)."""

    number: int
    of: int
    prev: Page | None
    next: Page | None


def write_playbook(site: Path, playbook: Path | None, cards: list[Card], figures: dict[str, str | None],
                   links: SiteLinks, **context: Any) -> list[Page]:
    """Write `site/playbook/` (start page and one page per principle) and `site/search.js`; returns the pages
    in reading order, start page first. `context` is what every page's header shows (data, generated...)."""
    folder = site / "playbook"
    folder.mkdir(parents=True, exist_ok=True)
    sources = {p.stem: p for p in principle_pages(playbook)}
    readme = playbook / README if playbook is not None and (playbook / README).is_file() else None
    order = reading_order(readme.read_text(encoding="utf-8") if readme else None, sources)
    start = read_page(readme, links, START) if readme else Page(START, "The playbook", Markup(""), "")
    chain = [start] + [read_page(sources[s], links) for s in order]
    by_slug = {c.slug: c for c in cards}
    without_page = [c for c in cards if c.slug not in sources]
    for i, page in enumerate(chain):
        step = Step(i, len(chain) - 1, chain[i - 1] if i else None, chain[i + 1] if i + 1 < len(chain) else None)
        common = dict(page=page, step=step, figures=figures, root="../", here="playbook", **context)
        if page.slug == START:
            render("playbook-start.html.j2", folder / f"{START}.html", principles=chain[1:], cards=by_slug,
                   without_page=without_page, **common)
        else:
            render("playbook-page.html.j2", folder / f"{page.slug}.html", card=by_slug.get(page.slug), **common)
    render("search.js.j2", site / "search.js", index_json=script_json(search_index(chain, cards)))
    return chain


def search_index(pages: list[Page], cards: list[Card]) -> list[dict[str, str]]:
    """What the search box searches: each page's title and text (with its card's headline, so a number
    from the export is found too), and the notebooks that have no page yet. URLs are relative to the site."""
    headlines = {c.slug: c.headline or "" for c in cards}
    entries = [{"title": p.title, "url": f"playbook/{p.slug}.html", "text": f"{p.text} {headlines.get(p.slug, '')}".strip()}
               for p in pages]
    slugs = {p.slug for p in pages}
    entries += [{"title": c.title, "url": f"notebooks/{c.slug}.html", "text": c.headline or ""} for c in cards if c.slug not in slugs]
    return entries


def site_links(playbook: Path | None, notebooks: Iterable[str]) -> SiteLinks:
    """The links of a site holding the pages in `playbook` and the notebooks named `notebooks` (stems)."""
    return SiteLinks(frozenset(p.stem for p in principle_pages(playbook)), frozenset(notebooks))
