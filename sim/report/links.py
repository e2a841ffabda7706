"""Where a link written in the repository leads inside the report folder.

Playbook pages and notebooks link to each other as files in the repository (`11-sweet-spot.md`,
`../notebooks/11-sweet-spot.ipynb`, `../playbook/11-sweet-spot.md`). The report lays the same folders out
as a site, so each such link is mapped to the site's page for that file: `playbook/NN-slug.html`,
`playbook/index.html` for the playbook's README, `notebooks/NN-slug.html` for an executed notebook. A link
to a repository file the site does not hold (the tour notebook, a page not written yet, source code) is
kept as text, so no link in the report leads nowhere.
"""

from __future__ import annotations

import html
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

PAGE_GLOB = "[0-9][0-9]-*"   # a principle's page and notebook share this stem: NN-slug.md, NN-slug.ipynb
START = "index"              # the site's name for the playbook's README.md: its start page


@dataclass(frozen=True)
class SiteLinks:
    """The principle pages (`playbook/NN-slug.md`) and notebooks (`notebooks/NN-slug.ipynb`) the site holds."""

    pages: frozenset[str]
    notebooks: frozenset[str]

    def site_path(self, repo_path: str) -> str | None:
        """The site's page for a repository file (`playbook/01-x.md` -> `playbook/01-x.html`), or None."""
        folder, name = posixpath.split(repo_path)
        stem, ext = posixpath.splitext(name)
        if folder == "playbook" and ext == ".md":
            if name == "README.md":
                return f"playbook/{START}.html"
            return f"playbook/{stem}.html" if stem in self.pages else None
        if folder == "notebooks" and ext == ".ipynb" and stem in self.notebooks:
            return f"notebooks/{stem}.html"
        return None

    def href(self, url: str, folder: str) -> str | None:
        """`url` as written in a document in the repository folder `folder` (`playbook` or `notebooks`), as a
        link from the same folder in the site. Links to the web, mail and anchors on the page are kept as they
        are; a relative link to a file the site lacks gives None."""
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path:
            return url
        target = self.site_path(repo_path(url, folder))
        if target is None:
            return None
        return posixpath.relpath(target, folder) + (f"#{parts.fragment}" if parts.fragment else "")


def repo_path(url: str, folder: str) -> str:
    """The repository file a relative `url` in a document in `folder` names (`../notebooks/x.ipynb` -> `notebooks/x.ipynb`)."""
    return posixpath.normpath(posixpath.join(folder, urlsplit(url).path))


_ANCHOR = re.compile(r'<a\s+href="([^"]*)"([^>]*)>(.*?)</a>', re.DOTALL)


def rewrite_links(markup: str, links: SiteLinks, folder: str) -> str:
    """Map every `<a href>` in rendered Markdown from repository paths to site pages (see `SiteLinks.href`)."""
    def one(m: re.Match) -> str:
        url = html.unescape(m.group(1))
        target = links.href(url, folder)
        if target is None:
            return offsite(m.group(3), repo_path(url, folder))
        return f'<a href="{html.escape(target)}"{m.group(2)}>{m.group(3)}</a>'
    return _ANCHOR.sub(one, markup)


def offsite(text: str, path: str) -> str:
    """A link to a repository file the report does not hold: its text, saying where the file is."""
    return f'<span class="offsite" title="{html.escape(f"in the project repository: {path}")}">{text}</span>'
