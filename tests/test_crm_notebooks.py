"""Notebooks 01 and 12 run unchanged on a real export: the public Maven CRM data set through the example mapping.

Their what-ifs run on `reps=2`, the fewest replications that still give intervals: what is checked here is the
export half, which `reps` does not touch."""

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAVEN = next((p / "data/maven-crm/sales_pipeline.csv" for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
              if (p / "data/maven-crm/sales_pipeline.csv").exists()), None)


def outputs(nb) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text.append(out.get("text", "") + str(data.get("text/markdown", "")) + str(data.get("text/plain", "")))
    return "\n".join(text)


@pytest.mark.skipif(MAVEN is None, reason="the public maven-crm data set is not available here")
@pytest.mark.parametrize("name, expect", [
    ("01-force-concentration", ["8,800 deals (4,238 won", "Skipped win rate by lead source", "2017Q4"]),
    ("12-pareto-fractal", ["The top 20% of accounts bring 32%", "GTXPro", "Skipped complaint concentration"]),
])
def test_notebook_runs_on_the_maven_export(tmp_path, name, expect):
    import papermill

    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(ROOT / "notebooks" / f"{name}.ipynb", out, cwd=ROOT / "notebooks", progress_bar=False,
                               parameters={"export": str(MAVEN), "mapping": str(ROOT / "examples/maven-crm.yaml"),
                                           "reps": 2})
    text = outputs(nbformat.read(out, 4))
    for phrase in expect:
        assert phrase in text
