"""How the report spends its two cores: the longest notebooks start first, so the last to run are short ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.report import build_report
from sim.report.build import NOTEBOOKS
from sim.report.run import EXPECTED_SECONDS, longest_first, principle_notebooks

FIXTURES = Path(__file__).parent / "fixtures" / "report_notebooks"


def test_the_longest_notebooks_start_first_and_unknown_ones_count_as_average():
    names = [Path(n) for n in ("01-focus.ipynb", "09-second.ipynb", "14-forecast.ipynb", "99-mine.ipynb", "07-awards.ipynb")]
    order = [p.stem for p in longest_first(names)]
    assert order == ["09-second", "07-awards", "99-mine", "01-focus", "14-forecast"]


def test_every_principle_notebook_has_an_expected_length():
    """A notebook added without its measured seconds would be scheduled as average: say so here instead."""
    assert {p.stem[:2] for p in principle_notebooks(NOTEBOOKS)} == set(EXPECTED_SECONDS)


def test_the_report_hands_its_pool_the_notebooks_longest_first(tmp_path, monkeypatch):
    handed = []

    class Stop(Exception):
        pass

    def record(jobs, workers, progress):
        handed.extend(job[0].name for job in jobs)
        raise Stop

    monkeypatch.setattr("sim.report.build._run_all", record)
    with pytest.raises(Stop):
        build_report(None, tmp_path / "r", notebooks=FIXTURES, seed=1, progress=False)
    assert handed == [p.name for p in longest_first(principle_notebooks(FIXTURES))]
    assert sorted(handed) == [p.name for p in principle_notebooks(FIXTURES)]
