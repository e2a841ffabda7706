"""Numbers in text come from outputs: every number in a notebook's Markdown, and in its playbook page, appears
in that notebook's outputs or is a stated input (a value in its code cells, e.g. a parameter).

A text number matches a computed one when the computed one, rounded to the text's decimals, gives it: as it is,
as a percentage (x100), in thousands or millions. Signs are compared without their sign, since text says
"costs 26 thousand" for -25,689. Not checked: years (1900-2099, dates and citations), numbers with a leading
zero (source 004, notebook 09), section numbers at the start of a heading, and anything in code spans, code
blocks or link targets. Small whole numbers (up to 12) match too easily to prove much; the test is strongest on
the results a text quotes.

`CHECKED` lists the notebooks and pages whose text has been made to follow their outputs; the others are
listed in `NOT_YET`, with what is left, and are not tested (they are not claimed to pass).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![\w.\-/])[-+−]?(\d[\d,]*(?:\.\d+)?)(?![\w/])(\s*%)?")

# figures quoted from published sources (stated inputs of the text, not results): notebook -> {value: source}
CITED = {
    "03-active-listening": {25537: "Gong Labs (Orlob 2017): calls analysed"},
    "10-free-trials": {4.1: "Arkes & Blumer 1985: plays attended, full price", 3.3: "Arkes & Blumer 1985: discounted"},
    "12-pareto-fractal": {1.16: "the 80/20 rule's tail index, log 5 / log 4"},
}

CHECKED = ["01-force-concentration", "03-active-listening", "04-remain-aggressive", "05-forecast-discipline",
           "06-bugs-in-evaluation", "08-lunch-at-their-office", "09-second-place", "10-free-trials", "11-sweet-spot",
           "12-pareto-fractal", "13-assumptions"]
NOT_YET = {   # notebook -> what is left (see the report of issue 25)
    "02-customer-orbits": "the notebook is another engineer's until merge; cell 14's referral/churn direction "
                          "rests on intervals spanning 0 (a claim in words this test cannot read)",
    "07-incentive-design": "the notebook is another engineer's until merge; its page quotes 3.5, 145% and 87%, "
                           "which no output shows, and cells 15, 17 and 20 say more than their outputs",
}


def _prose(text: str) -> str:
    """Markdown without what is not prose: code blocks and spans, link targets, heading numbers, HTML tags."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"^(#+\s*)[\d.]+\s*[·.]?", r"\1", text, flags=re.M)
    text = re.sub(r"<[^>]+>", " ", text)
    return text


def text_numbers(text: str) -> list[tuple[str, float, int]]:
    """(as written, value, decimals) of every checked number in `text`."""
    out = []
    for m in NUMBER.finditer(_prose(text)):
        raw = m.group(1).rstrip(",")
        if re.fullmatch(r"0\d+", raw):                      # 004, 09: names, not quantities
            continue
        value = float(raw.replace(",", ""))
        if not m.group(2) and raw.isdigit() and 1900 <= value <= 2099:   # a year
            continue
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        out.append((m.group(0).strip(), value, decimals))
    return out


def computed_numbers(nb: dict) -> set[float]:
    """Every number the notebook's code cells show (outputs of any kind) or state (their source)."""
    found: set[float] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts = ["".join(cell["source"])]
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            for kind, data in out.get("data", {}).items():
                if kind.startswith("text/"):
                    texts.append("".join(data))
            meta = out.get("metadata", {}).get("playbook", {})
            if meta:
                texts.append(json.dumps(meta))
        for t in texts:
            for m in re.finditer(r"\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?", t):
                try:
                    found.add(abs(float(m.group(0).replace(",", ""))))
                except ValueError:
                    continue
    return found


def preset_numbers(nb: dict) -> set[float]:
    """The stated inputs of the presets the notebook runs (every number of each named preset's scenario)."""
    import sim

    names = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            names |= set(re.findall(r"(?:preset|starting_scenario|load_tables)\([^)]*?\"([a-z][-a-z]*)\"", src))
            names |= set(re.findall(r"scenario=\"([a-z][-a-z]*)\"", src))
    found: set[float] = set()

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.add(abs(float(value)))

    for name in names:
        try:
            walk(sim.Scenario.preset(name).to_dict())
        except (ValueError, LookupError):
            continue
    return found


def matches(value: float, decimals: int, computed: set[float]) -> bool:
    """True when some computed number, as it is, x100, in thousands or in millions, rounds to `value`; a round
    figure such as 569,000 is compared at its own precision (thousands)."""
    target = abs(value)
    places = decimals
    if decimals == 0 and target >= 1000:
        digits = str(int(target))
        places = -(len(digits) - len(digits.rstrip("0")))
    for v in computed:
        for scaled in (v, 100 * v, v / 1e3, v / 1e6):
            if math.isfinite(scaled) and round(scaled, places) == round(target, places):
                return True
    return False


def unmatched(text: str, computed: set[float]) -> list[str]:
    return [raw for raw, value, d in text_numbers(text) if not matches(value, d, computed)]


def _notebook(stem: str) -> dict:
    return json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))


def known(stem: str) -> set[float]:
    """What a notebook's text may quote: its outputs, its code, its presets' inputs and the figures it cites."""
    nb = _notebook(stem)
    return computed_numbers(nb) | preset_numbers(nb) | {abs(v) for v in CITED.get(stem, {})}


@pytest.mark.parametrize("stem", CHECKED)
def test_every_number_in_a_notebooks_text_comes_from_its_outputs(stem):
    nb = _notebook(stem)
    computed = known(stem)
    missing = {i: unmatched("".join(c["source"]), computed) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"}
    missing = {i: m for i, m in missing.items() if m}
    assert not missing, f"{stem}: numbers in Markdown cells that no output shows, by cell: {missing}"


@pytest.mark.parametrize("stem", CHECKED)
def test_every_number_on_a_playbook_page_comes_from_its_notebooks_outputs(stem):
    page = (ROOT / "playbook" / f"{stem}.md").read_text(encoding="utf-8")
    missing = unmatched(page, known(stem))
    assert not missing, f"playbook/{stem}.md: numbers no output of its notebook shows: {missing}"


def test_every_principle_is_either_checked_or_listed_with_what_is_left():
    stems = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")} - {"00-start-here"}
    assert stems == set(CHECKED) | set(NOT_YET) and not set(CHECKED) & set(NOT_YET)


def test_the_checker_catches_a_typed_number_and_passes_a_computed_one():
    computed = {0.0312, 25689.38, 753_112.0, 63.0}
    assert unmatched("break-even at about 3% failures, −26 thousand, 753 thousand, 63 deals", computed) == []
    assert unmatched("break-even at about 17% failures", computed) == ["17%"]
    assert unmatched("in 2017 (source 004), see `n=5` and [x](a-9.md)", computed) == []
