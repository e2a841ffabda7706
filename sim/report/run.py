"""Find the principle notebooks and run each one with papermill on the export.

A notebook is run in a worker process of its own (papermill starts a kernel for it), so two notebooks
run side by side on two cores and one notebook that crashes, hangs on a bad value or kills its kernel
cannot take the others down: its `Run` records what went wrong and the report carries on.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXCLUDED = {"00-start-here.ipynb"}


def principle_notebooks(folder: str | Path) -> list[Path]:
    """The principle notebooks in `folder`: `NN-slug.ipynb`, in order, without the start-here tour."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("[0-9][0-9]-*.ipynb") if p.name not in EXCLUDED)


@dataclass(frozen=True)
class Run:
    """How one notebook run went: where the executed copy is, how long it took, and the error if any."""

    source: Path
    executed: Path
    seconds: float
    error: str | None = None       # one line, e.g. "ValueError: no won deals"; None when it ran through


def notebook_parameters(path: Path) -> set[str]:
    """The names the notebook's `parameters` cell defines (papermill only injects into such a cell)."""
    import papermill

    return set(papermill.inspect_notebook(str(path)))


def run_notebook(source: Path, executed: Path, parameters: dict[str, Any], timeout: int | None = None) -> Run:
    """Execute `source` into `executed` with the `parameters` it declares; never raises.

    Parameters the notebook does not declare are left out (a notebook without `reps` simply has no
    what-if to shorten). Progress bars inside the notebook are switched off: the report shows its own.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    os.environ["PLAYBOOK_PROGRESS"] = "0"
    start = time.perf_counter()
    error = None
    try:
        declared = notebook_parameters(source)
        papermill.execute_notebook(
            str(source), str(executed),
            parameters={k: v for k, v in parameters.items() if k in declared},
            cwd=str(source.parent), progress_bar=False, execution_timeout=timeout,
        )
    except PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue}".strip().rstrip(":")
    except Exception as err:  # a cell that timed out, a kernel that died, a file that is not a notebook...  # noqa: BLE001
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else 'no message'}"
    return Run(source, executed, time.perf_counter() - start, error)
