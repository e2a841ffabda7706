"""What each what-if rests on: the claims run, their load and dose responses, the words, the marker and the card."""

import json

import nbformat
import pandas as pd
import pytest

import sim
from sim.experiments import evidence as ev
from sim.report.cards import card_from_run
from sim.report.run import Run


def test_every_principle_but_13_has_a_claim_and_known_slugs_resolve():
    assert set(ev.CLAIMS) == {f"{k:02d}" for k in range(1, 13)}
    assert ev.claim_for("08-lunch-at-their-office").slug == "08"
    assert {c.kind for c in ev.CLAIMS.values()} <= {"emergent", "input", "mixed"}
    with pytest.raises(ValueError, match="no claim"):
        ev.claim_for("13")


def test_holds_when_words_come_from_the_rows():
    rows = pd.DataFrame([
        {"reps": 4, "utilisation": 0.95, "diff": 5.0, "diff_low": 2.0, "diff_high": 8.0},
        {"reps": 6, "utilisation": 0.88, "diff": 3.0, "diff_low": 1.0, "diff_high": 5.0},
        {"reps": 8, "utilisation": 0.74, "diff": 1.0, "diff_low": -1.0, "diff_high": 3.0},
        {"reps": 12, "utilisation": 0.52, "diff": -3.0, "diff_low": -5.0, "diff_high": -1.0},
    ])
    text = ev.holds_when(rows)
    assert text == ("Holds with reps 88% to 95% busy (4 to 6 reps); reverses with reps 52% busy (12 reps); "
                    "not shown with reps 74% busy (8 reps).")
    # lower is better (days, costs): the same rows read the other way round
    assert ev.holds_when(rows, higher_is_better=False).startswith("Holds with reps 52% busy")
    assert ev.holds_when(rows.iloc[:2]).endswith("the whole range of team sizes tried.")
    # verdicts that alternate with load are said stretch by stretch, not as one overlapping range
    mixed = rows.assign(diff_low=[2.0, -1.0, 1.0, 1.0])
    assert ev.holds_when(mixed) == ("Holds with reps 52% to 74% busy (8 to 12 reps) and with reps 95% busy (4 reps); "
                                    "not shown with reps 88% busy (6 reps).")


def test_a_claim_runs_its_load_and_dose_response_and_says_where_each_parameter_comes_from():
    start = sim.Scenario.preset("baseline").replace(days=150)
    got = ev.evidence("08", start, n=2, loads=(0.5, 1.0, 1.5))
    assert got["kind"] == "input" and got["metric"] == "cohort_win_rate"
    paths = [p["path"] for p in got["parameters"]]
    assert "policies.first_meeting.champion_chance" in paths
    champion = next(p for p in got["parameters"] if p["path"] == "policies.first_meeting.champion_chance")
    assert champion["provenance"] == "assumed" and champion["low"] == 0 and champion["high"] == pytest.approx(0.24)
    # 0 to twice the default, clipped to what the field accepts: a show rate up to 1, at least one attendee
    show, people = (next(p for p in got["parameters"] if p["path"].endswith(k)) for k in ("show_rate", "attendees"))
    assert (show["low"], show["high"]) == (0.001, 1.0) and (people["low"], people["high"]) == (1.0, 8.0)
    loads = pd.DataFrame(got["load_response"])
    assert list(loads["load"]) == [0.5, 1.0, 1.5] and loads["reps"].tolist() == [4, 8, 12]
    assert loads["utilisation"].is_monotonic_decreasing           # more reps, less busy
    assert got["holds_when"].endswith("(2 paired runs per team size).")
    dose = pd.DataFrame(got["dose_response"])
    chance = dose[dose["path"] == "policies.first_meeting.champion_chance"]
    assert chance["value"].tolist() == [0.0, 0.12, pytest.approx(0.24)]
    json.dumps(got)                                                  # report.json can carry it


def test_fitted_parameters_carry_their_interval_from_the_calibration():
    tables = sim.simulate(sim.Scenario.preset("meetings").replace(days=200), seed=1).tables
    start = sim.calibrate(tables, "meetings", refine=False)
    claim = ev.claim_for("08")
    built, _ = claim.build(start)
    show = ev.parameter(start, built, "policies.first_meeting.formats.lunch_at_their_office.show_rate")
    assert show["provenance"] == "fitted" and show["low"] < show["value"] < show["high"]


def _executed(tmp_path, code: str):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 99 A principle"), nbformat.v4.new_code_cell(code)])
    from nbclient import NotebookClient

    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "99-a-principle.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_marker_reaches_the_card_and_report_json(tmp_path):
    code = ("from sim import notebook\n"
            "notebook.evidence('mixed', [{'path': 'policies.nurture.failure_rate', 'value': 0.25, 'provenance': 'literature',"
            " 'low': 0.19, 'high': 0.5, 'source': 'Standish'}], holds_when='Holds with reps 80% to 95% busy (6 to 8 reps).',"
            " detectable=[{'sentence': 'your data cannot tell apart a difference smaller than 12 points.'}])")
    path = _executed(tmp_path, code)
    card = card_from_run(Run(path, path, 1.0))
    assert card.evidence["kind"] == "mixed"
    assert card.evidence["parameters"][0]["provenance"] == "literature"
    assert card.evidence["holds_when"].startswith("Holds with reps 80%")
    assert card.evidence["detectable"][0]["sentence"].startswith("your data cannot tell apart")
    text = path.read_text()
    assert "What this what-if rests on" in text


def test_the_marker_refuses_an_unknown_kind_or_a_parameter_without_provenance():
    from sim import notebook

    with pytest.raises(ValueError, match="kind"):
        notebook.evidence("made up")
    with pytest.raises(ValueError, match="provenance"):
        notebook.evidence("input", [{"path": "x", "value": 1}])


def test_notebook_13s_evidence_is_its_tornado_with_each_assumptions_provenance():
    sc = sim.Scenario.preset("baseline")
    table = pd.DataFrame({"label": ["selling hours", "leads"], "low": [22.5, 40.0], "high": [37.5, 50.0],
                          "swing": [870_000.0, -120_000.0], "swing_ci_low": [360_000.0, -300_000.0],
                          "swing_ci_high": [1_370_000.0, 60_000.0]},
                         index=["reps.selling_hours_per_week", "market.leads_per_month"])
    got = ev.tornado_evidence(sc, table)
    assert got["kind"] == "input"
    hours = got["parameters"][0]
    assert hours["path"] == "reps.selling_hours_per_week" and hours["provenance"] == "assumed"
    assert (hours["low"], hours["high"]) == (22.5, 37.5)
    assert got["dose_response"][0]["note"] == "from 22.5, 95% CI +360k to +1,370k"
