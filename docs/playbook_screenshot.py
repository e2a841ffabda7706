"""The README's screenshot of a playbook page: its header (navigation, search box) and, below a dashed cut,
its Monday list and "In your data" with the figure. Small on purpose: 800 px wide, 256 colours.

    .venv/bin/playbook report /work/shared/data/maven-crm/sales_pipeline.csv --mapping examples/maven-crm.yaml -o /tmp/maven-report
    .venv/bin/python docs/playbook_screenshot.py /tmp/maven-report/playbook/12-pareto-fractal.html docs/playbook-page.png

Needs Debian's chromium (as the report's browser test does) and Pillow (which matplotlib brings).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import sync_playwright

WIDTH, SHOWN_WIDTH, GAP = 1000, 800, 18


def _bottom(page, selector: str) -> float:
    return page.evaluate(f"document.querySelector({selector!r}).getBoundingClientRect().bottom + window.scrollY")


def _top(page, selector: str) -> float:
    return page.evaluate(f"document.querySelector({selector!r}).getBoundingClientRect().top + window.scrollY")


def screenshot(page_path: Path, dest: Path) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 1200})
        page.goto(page_path.as_uri())
        head = _bottom(page, "header") + 8
        top, bottom = _top(page, "#what-i-would-do-on-monday") - 16, _bottom(page, "nav.prevnext") + 16
        parts = [Image.open(io.BytesIO(page.screenshot(clip={"x": 0, "y": y, "width": WIDTH, "height": h}, full_page=True)))
                 for y, h in ((0, head), (top, bottom - top))]
        browser.close()
    img = Image.new("RGB", (WIDTH, parts[0].height + GAP + parts[1].height), "white")
    img.paste(parts[0], (0, 0))
    img.paste(parts[1], (0, parts[0].height + GAP))
    draw, y = ImageDraw.Draw(img), parts[0].height + GAP // 2
    for x in range(0, WIDTH, 12):   # where the page's own text is left out
        draw.line([(x, y), (x + 6, y)], fill=(150, 150, 150), width=1)
    img = img.resize((SHOWN_WIDTH, round(img.height * SHOWN_WIDTH / WIDTH)), Image.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(dest, optimize=True)
    print(f"{dest}: {dest.stat().st_size / 1000:.0f} kB, {img.width}x{img.height}")


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
