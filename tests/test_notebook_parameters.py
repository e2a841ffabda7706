"""Every notebook's parameters cell is one papermill can read: the report passes an export through it, and a
line papermill cannot parse prints "Unable to parse line ..." to whoever runs the report and is left out of
`papermill --help-notebook`."""

from pathlib import Path

import nbformat
import pytest
from papermill.translators import PythonTranslator

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path):
    cells = [c for c in nbformat.read(path, 4).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters', want exactly one"
    lines = [line for line in cells[0].source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    unread = [line for line in lines if not PythonTranslator.inspect({"source": line})]
    assert not unread, f"{path.name}: papermill cannot read these parameter lines (no '=' or ';' in comments): {unread}"
