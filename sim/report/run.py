"""Find the principle notebooks and run each one with papermill on the export.

A notebook is run in a worker process of its own (papermill starts a kernel for it), so two notebooks
run side by side on two cores and one notebook that crashes, hangs on a bad value or kills its kernel
cannot take the others down: its `Run` records what went wrong and the report carries on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXCLUDED = {"00-start-here.ipynb"}
START_TIMEOUT = 180   # seconds a kernel may take to start: generous, a busy 2-core machine is slow


def principle_notebooks(folder: str | Path) -> list[Path]:
    """The principle notebooks in `folder`: `NN-slug.ipynb`, in order, without the start-here tour."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("[0-9][0-9]-*.ipynb") if p.name not in EXCLUDED)


# Seconds each notebook took in the report of `make demo`'s export (README, Benchmarks; 2026-12-08). Only the
# order matters: the report starts the longest notebooks first, so that the last ones to run are short and
# neither core waits long for the other at the end (a notebook started last that runs for three minutes
# leaves a core idle for most of them). A notebook not listed is taken as one of average length.
EXPECTED_SECONDS = {"09": 209, "07": 162, "02": 136, "05": 128, "04": 110, "06": 109, "11": 76, "13": 69,
                    "10": 67, "03": 49, "08": 48, "01": 44, "12": 31, "14": 18}
UNKNOWN_SECONDS = 80


def longest_first(sources: list[Path]) -> list[Path]:
    """`sources` in the order a pool of workers should start them: the longest expected first (by
    `EXPECTED_SECONDS`), ties by name."""
    return sorted(sources, key=lambda p: (-EXPECTED_SECONDS.get(p.stem[:2], UNKNOWN_SECONDS), p.name))


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


def ipc_kernel_manager(folder: Path) -> type:
    """A kernel manager whose kernel talks over Unix sockets in `folder`, not TCP ports: two notebooks
    starting at once cannot race for the same port, and nothing listens on the network."""
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class IpcKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_ipc(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_in_folder(self) -> str:
            return str(folder / "kernel")

    return IpcKernelManager


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
    sockets = tempfile.mkdtemp(prefix="playbook-kernel-")   # short: a Unix socket path has ~100 characters
    try:
        declared = notebook_parameters(source)
        papermill.execute_notebook(
            str(source), str(executed),
            parameters={k: v for k, v in parameters.items() if k in declared},
            cwd=str(source.parent), progress_bar=False, execution_timeout=timeout,
            kernel_manager_class=ipc_kernel_manager(Path(sockets)), start_timeout=START_TIMEOUT,
        )
    except PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue}".strip().rstrip(":")
    except Exception as err:  # a cell that timed out, a kernel that died, a file that is not a notebook...  # noqa: BLE001
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else 'no message'}"
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    return Run(source, executed, time.perf_counter() - start, error)
