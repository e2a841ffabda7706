"""End to end: a leader opens the what-if explorer page (Voilà, as `make whatif` serves it) in headless
Chromium, moves two controls — the number of reps and the qualification threshold — reads the effect on
bookings with its interval, checks it is `sim.compare`'s answer for the same scenarios and seed, and saves
the scenario. The page shows no code, logs no console error and requests nothing beyond localhost."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import sim
from sim.explorer import levers as L
from sim.explorer import serve, whatif

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SEED = 7                            # what notebooks/whatif.ipynb's parameters cell sets (precision and cap: whatif's)
PATIENCE_MS = 240_000               # a busy 2-core machine: kernel start, imports and the first answer

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whatif")
    port = free_port()
    env = serve.environment(folder)
    proc = subprocess.Popen(serve.command(port), cwd=serve.NOTEBOOK.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("Voilà did not start:\n" + (proc.stdout.read() if proc.stdout else ""))
            time.sleep(0.5)
    yield {"url": url, "folder": folder}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def page(server):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:"))
                else problems.append(f"request outside localhost: {r.url}"))
        page.goto(server["url"], wait_until="commit", timeout=PATIENCE_MS)
        page.get_by_text("Change a lever on the left").wait_for(timeout=PATIENCE_MS)
        yield page, problems
        browser.close()


def set_slider(page, label: str, value: str) -> None:
    """Type a value into a slider's readout, as a user can (click it, type, Enter)."""
    slider = page.locator(".widget-slider", has=page.locator(f"label:text-is('{label}')"))
    readout = slider.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def changed_line(page, text: str):
    """A line of the "what changed" list (the answer repeats it, so the search stays inside the list)."""
    return page.locator("li", has_text=text)


def answer_text(page) -> str:
    return page.locator(".answer").inner_text()


def test_a_leader_moves_two_controls_and_reads_the_answer_sim_compare_gives(page, server):
    page, problems = page
    assert "from sim.explorer" not in page.locator("body").inner_text()          # no code on the page

    set_slider(page, "reps at the start", "10")
    changed_line(page, "reps: 8 → 10").wait_for(timeout=PATIENCE_MS)
    page.wait_for_function("document.querySelector('.answer') && document.querySelector('.answer').innerText.includes('Bookings change')",
                           timeout=PATIENCE_MS)
    page.locator("label.widget-label-basic", has_text="use qualification").click()   # switch qualification on
    changed_line(page, "qualification: off → on").wait_for(timeout=PATIENCE_MS)
    set_slider(page, "threshold", "0.40")
    changed_line(page, "qualification: off → on (threshold 0.4)").wait_for(timeout=PATIENCE_MS)

    start = sim.Scenario.preset("baseline")
    changed = L.apply(start, {"reps.count": 10, "policies.qualification": True, "policies.qualification.threshold": 0.4})
    expected = sim.compare({whatif.START: start, whatif.CHANGED: changed}, n="auto", precision=whatif.PRECISION, first=whatif.FIRST,
                           max_n=whatif.MAX_N, seed=SEED, executor="serial", progress=False).loc[(whatif.CHANGED, "bookings")]
    per_year = whatif.DAYS_A_YEAR / start.days          # the page answers per year (and per quarter)
    want = [expected["diff"] * per_year, expected["diff_low"] * per_year, expected["diff_high"] * per_year]
    deadline = time.time() + PATIENCE_MS / 1000
    while True:   # the answer to the previous move may still be on the page for a moment: read until it is this one's
        page.wait_for_function(
            "document.querySelector('.answer') && document.querySelector('.answer').innerText.includes('Bookings change')"
            " && !document.body.innerText.includes('Running…')", timeout=PATIENCE_MS)
        shown = answer_text(page)
        found = [float(x.replace(",", "")) for x in re.findall(r"[+-][\d,]+(?=\s|\)|;| USD)", shown)]
        numbers = [found[0], *found[2:4]] if len(found) >= 4 else found   # a year, (a quarter), the CI's ends
        if numbers == pytest.approx(want, abs=1.0) or time.time() > deadline:
            break
        page.wait_for_timeout(500)
    assert numbers == pytest.approx(want, abs=1.0), shown

    page.locator(".widget-text", has=page.locator("label:text-is('File')")).locator("input").fill("leader test.yaml")
    page.get_by_role("button", name="Save this scenario").click()
    saved = server["folder"] / "leader_test.yaml"
    page.get_by_text("Saved").wait_for(timeout=60_000)
    assert sim.Scenario.from_yaml(saved).replace(name=changed.name) == changed
    assert "changed in the what-if explorer" in saved.read_text()
    page.screenshot(path=str(server["folder"] / "explorer.png"), full_page=True)   # docs/whatif.png is one of these
    assert not problems, problems


def test_two_quick_moves_show_the_second_moves_answer(page, server):
    """Issue 28: a leader moves one lever and, before its answer comes, another: the page says "Running…" and then
    shows the answer for both moves together (the first's was cancelled), never the first move's alone. Runs after
    the test above, on the same page (qualification on at threshold 0.4, 10 reps)."""
    page, problems = page
    set_slider(page, "reps at the start", "12")
    set_slider(page, "threshold", "0.30")          # at once: the first move's answer is not in yet
    changed_line(page, "reps: 8 → 12").wait_for(timeout=PATIENCE_MS)
    changed_line(page, "qualification: off → on (threshold 0.3)").wait_for(timeout=PATIENCE_MS)

    start = sim.Scenario.preset("baseline")
    first = L.apply(start, {"reps.count": 12, "policies.qualification": True, "policies.qualification.threshold": 0.4})
    second = L.apply(start, {"reps.count": 12, "policies.qualification": True, "policies.qualification.threshold": 0.3})
    per_year = whatif.DAYS_A_YEAR / start.days

    def bookings(changed: sim.Scenario) -> list[float]:
        row = sim.compare({whatif.START: start, whatif.CHANGED: changed}, n="auto", precision=whatif.PRECISION,
                          first=whatif.FIRST, max_n=whatif.MAX_N, seed=SEED, executor="serial",
                          progress=False).loc[(whatif.CHANGED, "bookings")]
        return [row["diff"] * per_year, row["diff_low"] * per_year, row["diff_high"] * per_year]

    want, not_wanted = bookings(second), bookings(first)
    assert want != pytest.approx(not_wanted, abs=1.0)           # the two moves' answers can be told apart
    deadline = time.time() + PATIENCE_MS / 1000
    while True:   # the page may show the earlier test's answer for a moment, until the moves' messages arrive
        page.wait_for_function(
            "document.querySelector('.answer') && document.querySelector('.answer').innerText.includes('Bookings change')"
            " && !document.body.innerText.includes('Running…')", timeout=PATIENCE_MS)
        shown = answer_text(page)
        found = [float(x.replace(",", "")) for x in re.findall(r"[+-][\d,]+(?=\s|\)|;| USD)", shown)]
        numbers = [found[0], *found[2:4]] if len(found) >= 4 else found
        assert numbers != pytest.approx(not_wanted, abs=1.0), f"the first move's answer was shown: {shown}"
        if numbers == pytest.approx(want, abs=1.0) or time.time() > deadline:
            break
        page.wait_for_timeout(500)
    assert numbers == pytest.approx(want, abs=1.0), shown       # the second move's answer, once nothing runs
    assert "reps: 8 → 12" in page.locator("body").inner_text()
    assert not problems, problems
