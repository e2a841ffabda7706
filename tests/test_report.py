"""`playbook report`: cards carry what the notebooks computed, failures stay on their card, the folder is atomic.

The report runs small fixture notebooks (tests/fixtures/report_notebooks: one that runs, one that guards
an analysis needing `lead_source`, one that raises) so these tests do not depend on the principle
notebooks' run time; its playbook is the fixture pages beside them (tests/fixtures/playbook: pages for the
first two notebooks, one page without a notebook, none for the notebook that raises). The project's own
playbook pages are rendered with made-up cards, without running a notebook.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.report import Card, ReportError, Skip, build_report, principle_notebooks
from sim.report.build import NOTEBOOKS, _run_and_render, _write_pages
from sim.report.data import ReportData
from sim.report.links import SiteLinks
from sim.report.playbook import principle_pages, reading_order, render_markdown

FIXTURES = Path(__file__).parent / "fixtures" / "report_notebooks"
PLAYBOOK = NOTEBOOKS.parent / "playbook"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One report on simulated data (seed 3), shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("reports") / "sim"
    return build_report(None, out, notebooks=FIXTURES, seed=3, progress=False)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A small simulated pipeline written as a Salesforce export, with a few deliberately broken rows."""
    synth = pytest.importorskip("sim.crm.synth", reason="the CRM loader (issue 4) is not on this branch yet")
    folder = tmp_path_factory.mktemp("export")
    synth.write_export(sim.simulate(sim.Scenario.preset("baseline"), seed=5).tables, "salesforce", folder, seed=5, broken=6)
    return folder


def test_principle_notebooks_are_the_numbered_ones_without_the_tour(tmp_path):
    for name in ["00-start-here.ipynb", "01-a.ipynb", "12-b.ipynb", "notes.ipynb", "1-c.ipynb"]:
        (tmp_path / name).write_text("{}")
    assert [p.name for p in principle_notebooks(tmp_path)] == ["01-a.ipynb", "12-b.ipynb"]


def test_card_headline_is_the_number_the_notebook_computed_on_the_same_data(report):
    opp = sim.simulate(sim.Scenario.preset("baseline"), seed=3).tables.opportunities
    won = opp[opp.outcome == "won"].groupby("owner").size().sort_values(ascending=False)
    card = report.cards[0]
    assert card.slug == "01-runs" and card.title == "Deals won by owner"
    assert card.headline == f"{won.index[0]} won the most deals: {won.iloc[0]} of {won.sum()} won deals ({len(opp)} opportunities)"
    assert card.figure_png.startswith(b"\x89PNG")
    assert (report.path / "figures" / "01-runs.png").read_bytes() == card.figure_png
    assert card.headline in (report.path / "index.html").read_text()


def test_a_failing_notebook_gets_a_card_saying_why_and_the_rest_still_render(report):
    assert [c.status for c in report.cards] == ["ok", "ok", "failed"], [c.error for c in report.cards]
    failed = report.cards[2]
    assert failed.error.startswith("ValueError: deliberate failure after reading")
    assert not report.complete
    index = (report.path / "index.html").read_text()
    assert "deliberate failure after reading" in index and index.count('class="card ') == 3
    for c in report.cards:   # every notebook, even the failed one, is there to read
        assert (report.path / "notebooks" / f"{c.slug}.ipynb").exists()
        assert (report.path / "notebooks" / f"{c.slug}.html").exists()
    assert json.loads((report.path / "report.json").read_text())["complete"] is False


def test_pages_fetch_nothing_from_the_internet(report):
    for page in report.path.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", text), page.name


def test_export_values_are_escaped_in_every_page(tmp_path):
    evil = "<script>alert('x')</script>"
    tables = sim.simulate(sim.Scenario.preset("baseline"), seed=1).tables
    tables.opportunities.loc[0, "owner"] = evil
    rejected = pd.DataFrame([{"file": "opps.csv", "row": 7, "column": "Amount", "value": evil, "reason": "not a number"}])
    data = ReportData(label=f"export {evil}", tables=tables, rejected=rejected)
    card = Card("01-x", f"Title {evil}", 1.0, headline=f"Top account {evil}", skipped=[Skip(evil, (evil,))])
    _write_pages(tmp_path, data, [card], crm=None, mapping=None)
    for page in ["index.html", "data-quality.html"]:
        text = (tmp_path / page).read_text()
        assert "<script>alert" not in text, page
        assert "&lt;script&gt;alert" in text or "\\u003cscript\\u003ealert" in text, page


def test_an_existing_report_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ReportError, match="holds files playbook did not write; it is never replaced"):
        build_report(None, out, notebooks=FIXTURES, progress=False, force=True)
    assert (out / "mine.txt").read_text() == "keep me"
    assert main(["report", "-o", str(out), "--notebooks", str(FIXTURES)]) == 2


def test_force_replaces_the_report_and_exit_status_says_not_everything_ran(tmp_path, capsys, export, light_forecast):
    out = tmp_path / "r"
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "01-runs.ipynb").write_bytes((FIXTURES / "01-runs.ipynb").read_bytes())
    assert main(["report", str(export), "-o", str(out), "--notebooks", str(nbs), "--no-progress"]) == 0
    assert main(["report", str(export), "-o", str(out), "--notebooks", str(nbs), "--no-progress"]) == 2   # no --force
    assert "pass --force to replace it" in capsys.readouterr().err
    code = main(["report", str(export), "-o", str(out), "--notebooks", str(nbs), "--force", "--no-progress"])
    assert code == 0 and (out / "index.html").exists()
    printed = capsys.readouterr().out
    assert re.search(r"report: 1 notebooks in [\d.]+ s \(loading", printed) and str(out / "index.html") in printed
    (nbs / "01-runs.ipynb").unlink()
    (nbs / "03-raises.ipynb").write_bytes((FIXTURES / "03-raises.ipynb").read_bytes())
    assert main(["report", str(export), "-o", str(out), "--notebooks", str(nbs), "--force", "--no-progress"]) == 1
    assert "03-raises: ValueError: deliberate failure" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temp folders left


def test_an_error_while_building_leaves_no_half_report(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        (tmp_path / "out").glob(".r.partial-*").__next__().joinpath("half-written.html").write_text("...")
        raise KeyboardInterrupt
    monkeypatch.setattr("sim.report.build._run_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_report(None, tmp_path / "out" / "r", notebooks=FIXTURES, progress=False)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_or_kill_during_the_notebooks_stops_the_run_and_leaves_nothing(tmp_path, export, sig):
    out = tmp_path / "r"
    # As from a terminal: Python's KeyboardInterrupt handler on, even when this test runs in a background job
    # (which starts its children with SIGINT ignored).
    script = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); from sim.cli import main; "
              f"sys.exit(main(['report', {str(export)!r}, '-o', {str(out)!r}, '--notebooks', {str(FIXTURES)!r}, '--no-progress']))")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not list(tmp_path.glob(".r.partial-*/notebooks/*.log")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the report ended before its notebooks started"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_an_export_without_lead_source_skips_that_analysis_says_so_and_exits_1(tmp_path, capsys, light_forecast):
    synth = pytest.importorskip("sim.crm.synth", reason="the CRM loader (issue 4) is not on this branch yet")
    export = tmp_path / "export"
    synth.write_export(sim.simulate(sim.Scenario.preset("baseline"), seed=2).tables, "salesforce", export, seed=2)
    opps = pd.read_csv(export / "opportunities.csv", dtype=str, keep_default_na=False)
    opps.drop(columns=["Lead Source"]).to_csv(export / "opportunities.csv", index=False)
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ["01-runs.ipynb", "02-lead-source.ipynb"]:
        (nbs / name).write_bytes((FIXTURES / name).read_bytes())
    out = tmp_path / "report"
    assert main(["report", str(export), "--crm", "salesforce", "-o", str(out), "--notebooks", str(nbs), "--no-progress"]) == 1
    assert "02-lead-source: skipped win rate by lead source (missing lead_source)" in capsys.readouterr().out
    index = (out / "index.html").read_text()
    card = index.split('id="card-02-lead-source"')[1].split("</article>")[0]
    assert "Skipped win rate by lead source: the export lacks column(s) lead_source." in card
    assert re.search(r"\d+% of \d+ closed deals were won", card)       # the rest of that notebook still ran
    assert 'id="card-01-runs"' in index and "won the most deals" in index
    quality = (out / "data-quality.html").read_text()
    assert re.search(r"<td>win rate by lead source</td><td>lead_source</td>", quality)


def test_without_an_export_the_report_runs_on_a_simulated_salesforce_export(tmp_path, capsys, light_forecast):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "01-runs.ipynb").write_bytes((FIXTURES / "01-runs.ipynb").read_bytes())
    out = tmp_path / "reports" / "demo"
    assert main(["report", "-o", str(out), "--notebooks", str(nbs), "--seed", "4", "--no-progress"]) == 0
    export = tmp_path / "reports" / "demo-export"
    assert (export / "opportunities.csv").exists() and (export / "broken_rows.json").exists()
    printed = capsys.readouterr().out
    assert f"made a simulated Salesforce-style export in {export}" in printed
    assert printed.strip().endswith(str(out / "index.html"))
    quality = (out / "data-quality.html").read_text()
    assert "no opportunity id" in quality   # the demo export's broken rows are on the data-quality page


def test_a_file_that_is_not_a_notebook_gets_a_failed_card_not_a_crash(tmp_path):
    from sim.report.cards import card_from_run
    from sim.report.run import run_notebook

    bad = tmp_path / "07-broken.ipynb"
    bad.write_text("{ this is not json")
    run = run_notebook(bad, tmp_path / "out.ipynb", {"seed": 0})
    card = card_from_run(run)
    assert card.status == "failed" and card.slug == "07-broken" and card.title == "Broken"
    assert "\n" not in card.error and card.error.split(":")[0].endswith("Error")
    out, _ = _run_and_render((bad, tmp_path / "08-broken.ipynb", {"seed": 0}, None, {}, SiteLinks(frozenset(), frozenset())))
    page = (tmp_path / "08-broken.html").read_text()
    assert out.error in page.replace("&#39;", "'").replace("&quot;", '"') and 'href="../index.html"' in page


def test_notebooks_reuse_the_export_the_report_loaded(tmp_path, monkeypatch, export, light_forecast):
    from sim.report import build

    loaded, original = {}, build.load_export

    def load_then_hide_the_export(path, crm, mapping, *more):
        loaded["data"] = data = original(path, crm, mapping, *more)
        Path(path).rename(tmp_path / "hidden")   # a notebook that loaded the export again would fail now
        return data
    monkeypatch.setattr(build, "load_export", load_then_hide_the_export)
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "01-runs.ipynb").write_bytes((FIXTURES / "01-runs.ipynb").read_bytes())
    monkeypatch.chdir(tmp_path)   # a relative report folder, as on the command line
    try:
        report = build_report(export, "r", crm="salesforce", notebooks=nbs, progress=False)
    finally:
        (tmp_path / "hidden").rename(export)
    assert report.cards[0].status == "ok", report.cards[0].error
    assert report.cards[0].headline.endswith(f"({len(loaded['data'].tables.opportunities)} opportunities)")
    assert not list(report.path.rglob("*.pickle")) and not (report.path / ".shared").exists()


def test_shared_tables_serve_only_the_export_crm_and_mapping_they_were_loaded_for(tmp_path, monkeypatch):
    from sim.notebook import load_tables
    from sim.report.shared import share

    tables = sim.simulate(sim.Scenario.preset("baseline"), seed=1).tables
    for key, value in share(tables, tmp_path, tmp_path / "export.csv", "hubspot", None).items():
        monkeypatch.setenv(key, value)
    got = load_tables(tmp_path / "export.csv", crm="hubspot")
    pd.testing.assert_frame_equal(got.opportunities[list(tables.opportunities.columns)], tables.opportunities)
    added = [c for c in got.opportunities.columns if c not in tables.opportunities.columns]
    assert got.opportunities[added].isna().all().all()   # every canonical column there, empty where the data lacks it
    with pytest.raises(Exception, match="export.csv"):   # another CRM: the loader itself reads the (absent) file
        load_tables(tmp_path / "export.csv", crm="salesforce")


# ---- the playbook in the report ------------------------------------------------------------------------
def links_of(page: Path) -> list[tuple[Path, str]]:
    """Every relative link on a written page: the file it leads to and the anchor it names ('' for none)."""
    out = []
    for href in re.findall(r'<a [^>]*href="([^"]*)"', page.read_text()):
        if re.match(r"[a-z]+:|//", href):
            continue
        path, _, anchor = href.partition("#")
        out.append(((page.parent / path).resolve() if path else page, anchor))
    return out


def assert_links_resolve(site: Path) -> None:
    for page in site.rglob("*.html"):
        for target, anchor in links_of(page):
            assert target.exists(), f"{page.relative_to(site)} links to missing {target}"
            if anchor:
                assert f'id="{anchor}"' in target.read_text(), f"{page.relative_to(site)} links to missing #{anchor}"


def test_each_playbook_page_shows_its_text_then_this_exports_card(report):
    page = (report.path / "playbook" / "01-runs.html").read_text()
    text, data = page.split('id="in-your-data"')
    assert "wombat-shaped pipeline" in text and 'id="what-i-would-do-on-monday"' in text
    card = report.cards[0]
    assert card.headline in data and 'src="../figures/01-runs.png"' in data and 'class="badge ok"' in data
    assert 'href="../notebooks/01-runs.html"' in data
    failed = (report.path / "playbook" / "index.html").read_text()   # 03 has a notebook but no page yet
    assert 'href="../notebooks/03-raises.html"' in failed.split("not written up as a page yet")[1]
    assert not (report.path / "playbook" / "03-raises.html").exists()
    alone = (report.path / "playbook" / "04-page-only.html").read_text()
    assert "no notebook for this principle yet" in alone and "notebooks/04-page-only" not in alone.split('id="page"')[0]
    assert json.loads((report.path / "report.json").read_text())["timings_s"]["playbook"] > 0


def test_links_between_pages_and_notebooks_lead_to_the_sites_own_pages(report):
    assert_links_resolve(report.path)
    page = (report.path / "playbook" / "01-runs.html").read_text()
    assert 'href="02-lead-source.html#the-idea"' in page and 'href="../notebooks/01-runs.html"' in page
    assert 'title="in the project repository: sim/report/playbook.py">the code</span>' in page   # not in the site: text
    assert 'title="in the project repository: playbook/05-not-written.md">' in page
    notebook = (report.path / "notebooks" / "01-runs.html").read_text()   # the notebook's ../playbook/01-runs.md
    assert 'href="../playbook/01-runs.html"' in notebook and 'href="02-lead-source.html"' in notebook
    assert "../playbook/03-raises.md" not in (report.path / "notebooks" / "03-raises.html").read_text().replace(
        'title="in the project repository: playbook/03-raises.md"', "")


def test_the_readme_sets_the_reading_order_and_unlisted_pages_follow_by_number(report):
    readme = "# P\n\n## Reading order\n1. [b](05-b.md)\n2. [a](01-a.md#x)\n3. [gone](07-gone.md)\n\n## All\n[c](03-c.md)\n"
    assert reading_order(readme, ["01-a", "03-c", "05-b", "09-d"]) == ["05-b", "01-a", "03-c", "09-d"]
    assert reading_order(None, ["05-b", "01-a"]) == ["01-a", "05-b"]

    def step(slug):
        page = (report.path / "playbook" / f"{slug}.html").read_text()
        return [re.search(rf'rel="{rel}" href="([^"]+)\.html"', page) for rel in ("prev", "next")]
    chain = ["index", "02-lead-source", "01-runs", "04-page-only"]   # fixture README lists 02 before 01; 04 is unlisted
    for i, slug in enumerate(chain):
        prev, nxt = step(slug)
        assert (prev and prev.group(1)) == (chain[i - 1] if i else None), slug
        assert (nxt and nxt.group(1)) == (chain[i + 1] if i + 1 < len(chain) else None), slug


def test_playbook_markdown_is_sanitised_like_notebook_pages(report):
    html = render_markdown('<script>alert(1)</script>\n\nText <img src=x onerror="alert(2)"> [x](javascript:alert(3)) **kept**',
                           SiteLinks(frozenset(), frozenset()))
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
    assert "&lt;script&gt;alert(1)" in html and "<strong>kept</strong>" in html
    page = (report.path / "playbook" / "01-runs.html").read_text()
    assert "&lt;script&gt;console.error" in page and "<script>console.error" not in page
    assert page.count("<script") == 1 and '<script src="../search.js" defer></script>' in page


def test_the_search_index_holds_every_page_and_the_notebooks_without_one(report):
    script = (report.path / "search.js").read_text()
    index = json.loads(re.search(r"var INDEX = (\[.*?\]);\n", script, flags=re.DOTALL).group(1))
    urls = [e["url"] for e in index]
    assert urls == ["playbook/index.html", "playbook/02-lead-source.html", "playbook/01-runs.html",
                    "playbook/04-page-only.html", "notebooks/03-raises.html"]
    assert "wombat-shaped" in index[2]["text"] and report.cards[0].headline in index[2]["text"]
    assert "fetch(" not in script and "XMLHttpRequest" not in script and "http" not in script.split("var INDEX")[0]


def test_the_projects_playbook_renders_every_page_with_working_links(tmp_path):
    """The real playbook/ with a made-up card for every real notebook: each page has its own text, its card,
    a Monday list, and no link that leads nowhere."""
    slugs = [p.stem for p in principle_notebooks(NOTEBOOKS)]
    cards = [Card(s, f"title {s}", 1.0, headline=f"headline of {s}", figure_png=b"\x89PNG fake") for s in slugs]
    data = ReportData("an export", sim.simulate(sim.Scenario.preset("baseline").replace(days=60), seed=1).tables)
    _write_pages(tmp_path, data, cards, crm=None, mapping=None, playbook=PLAYBOOK)
    (tmp_path / "notebooks").mkdir()
    for s in slugs:   # what running the notebooks would have written
        (tmp_path / "notebooks" / f"{s}.html").write_text("")
        (tmp_path / "notebooks" / f"{s}.ipynb").write_text("")
    pages = principle_pages(PLAYBOOK)
    assert pages, "the project has playbook pages"
    for md in pages:
        page = (tmp_path / "playbook" / f"{md.stem}.html").read_text()
        assert 'id="what-i-would-do-on-monday"' in page, f"{md.name} has no 'What I would do on Monday' section"
        if md.stem in slugs:
            assert f"headline of {md.stem}" in page.split('id="in-your-data"')[1], md.name
            assert f'href="../notebooks/{md.stem}.html"' in page.split('id="in-your-data"')[0], md.name   # its own link
    assert_links_resolve(tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert 'href="playbook/index.html"' in index and 'href="index.html" aria-current="page">Report' in index


def test_dataframe_tables_keep_their_formatting_without_pandas_style_block_shown_as_text():
    from sim.report.pages import clean_html

    frame = pd.DataFrame({"owner": ["<style>b{}</style>", "Rep 01"], "won": [3, 4]})
    html = clean_html(frame._repr_html_())
    assert "<table" in html and "style scoped" not in html and ".dataframe tbody" not in html
    assert "&lt;style&gt;b{}&lt;/style&gt;" in html   # an export value that looks like a style is still shown as text


def test_within_a_report_a_value_several_notebooks_need_is_computed_once(tmp_path, monkeypatch):
    from sim.report import shared

    made = []

    def make():
        made.append(1)
        return {"calibrated": len(made)}

    monkeypatch.delenv(shared.ENV, raising=False)
    assert shared.once("x", make) == {"calibrated": 1} and shared.once("x", make) == {"calibrated": 2}   # outside: every time
    monkeypatch.setenv(shared.ENV, json.dumps({"tables": str(tmp_path / "tables.pickle")}))
    made.clear()
    assert shared.once("baseline-abc", make) == shared.once("baseline-abc", make) == {"calibrated": 1}
    assert shared.once("sweet-spot-abc", make) == {"calibrated": 2}          # another name, another value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["once-baseline-abc.pickle", "once-sweet-spot-abc.pickle"]


def test_a_notebook_needing_a_value_another_is_computing_waits_for_it(tmp_path, monkeypatch):
    import threading
    import time

    from sim.report import shared

    monkeypatch.setenv(shared.ENV, json.dumps({"tables": str(tmp_path / "tables.pickle")}))
    made, got = [], []

    def slow():
        made.append(1)
        time.sleep(0.3)
        return {"calibrated": len(made)}

    first = threading.Thread(target=lambda: got.append(shared.once("baseline-abc", slow)))
    first.start()
    time.sleep(0.05)                       # the second asks while the first computes
    got.append(shared.once("baseline-abc", slow))
    first.join()
    assert made == [1] and got == [{"calibrated": 1}, {"calibrated": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["once-baseline-abc.pickle"]


def test_the_same_data_has_the_same_fingerprint_and_other_data_another():
    from sim.notebook import tables_fingerprint

    a, b = (sim.simulate(sim.Scenario.preset("baseline").replace(days=60), seed=s).tables for s in (1, 1))
    assert tables_fingerprint(a) == tables_fingerprint(b)
    c = sim.simulate(sim.Scenario.preset("baseline").replace(days=60), seed=2).tables
    assert tables_fingerprint(c) != tables_fingerprint(a)


def test_a_notebook_stopped_by_columns_the_export_lacks_is_skipped_not_failed():
    """An export with no readable dates stops notebook 13 at its first cell: its card says what was skipped
    and why, like any guarded analysis, instead of reporting a failure."""
    from sim.core.schema import MissingColumns
    from sim.report.cards import card_from_run
    from sim.report.run import Run

    nb = sorted(FIXTURES.glob("*.ipynb"))[0]
    stopped = card_from_run(Run(nb, nb, 1.0, f"MissingColumns: {MissingColumns('observation window', ['created_at'])}"))
    assert stopped.status == "partial" and stopped.error is None
    assert stopped.skipped[-1] == Skip("observation window, and the rest of the notebook after it", ("created_at",))
    assert card_from_run(Run(nb, nb, 1.0, "ValueError: no won deals")).status == "failed"
