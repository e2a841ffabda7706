"""The export loaded once for all the notebooks of a report, instead of once per notebook.

Loading a 100k-row export takes seconds, and every notebook loading it again would multiply that by the
number of notebooks. The report loads it once (it needs the rejected rows anyway), pickles the canonical
tables into its working folder and names them in the environment variable `PLAYBOOK_SHARED_TABLES`,
which the notebooks' kernels inherit. `sim.notebook.load_tables` takes them when asked for exactly that
export, CRM and mapping, and loads the export itself in every other case.

`once` does the same for what several notebooks compute from the same data: the export calibrated on a preset
(six notebooks start from "baseline"), and the forecast with its backtest, which the forecast notebook and the
report's own Forecast section both show. The first to need it writes it next to the tables; the others read it.
It lives only in the report's working folder, so nothing carries over from one report to the next.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .. import crm  # noqa: F401 - registers the loader's own tables (field_edits), which the shared tables may hold
from ..core.tables import Tables, tables_fingerprint

try:
    import fcntl
except ImportError:        # not on this system (Windows): a notebook may then compute a value another is computing
    fcntl = None

T = TypeVar("T")

ENV = "PLAYBOOK_SHARED_TABLES"
FOLDER = ".shared"   # inside the report's working folder; removed before the report is put in place


def _key(export: str | Path, crm: str | None, mapping: str | Path | None) -> dict[str, str | None]:
    return {"export": str(Path(export).resolve()), "crm": crm, "mapping": None if mapping is None else str(Path(mapping).resolve())}


def share(tables: Tables, folder: Path, export: str | Path, crm: str | None, mapping: str | Path | None) -> dict[str, str]:
    """Pickle `tables` into `folder`; returns the environment entry that points the notebooks at them."""
    path = (folder / FOLDER / "tables.pickle").resolve()   # the kernels run in the notebooks' folder
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(tables, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {ENV: json.dumps({**_key(export, crm, mapping), "tables": str(path)})}


def shared_tables(export: str | Path, crm: str | None, mapping: str | Path | None) -> Tables | None:
    """The tables the report loaded, if it loaded this very export with this CRM and mapping; else None."""
    entry = os.environ.get(ENV)
    if not entry:
        return None
    shared = json.loads(entry)
    if {k: shared.get(k) for k in ("export", "crm", "mapping")} != _key(export, crm, mapping):
        return None
    with open(shared["tables"], "rb") as fh:
        return pickle.load(fh)


def once(name: str, make: Callable[[], T], entry: str | None = None) -> T:
    """In a report's notebooks: `make()` computed once for the whole report; elsewhere simply `make()`.

    `entry`: the report's shared-tables entry (what `share` returns under `ENV`), for the report's own process,
    which the notebooks' environment does not reach; by default the environment's.

    `name` must identify everything the value depends on (e.g. the preset and a fingerprint of the tables).
    A notebook that needs the value while another is computing it waits for it (a lock file beside it) instead
    of computing it a second time; the value is written aside and renamed, so a reader never sees half of it.
    """
    entry = entry or os.environ.get(ENV)
    if not entry:
        return make()
    path = Path(json.loads(entry)["tables"]).with_name(f"once-{name}.pickle")
    if path.exists():
        return _read(path)
    with open(path.with_suffix(".lock"), "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)    # the first notebook computes; the others wait here, then read
        try:
            if path.exists():
                return _read(path)
            value = make()
            aside = path.with_suffix(f".{os.getpid()}.tmp")
            with open(aside, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(aside, path)
            path.with_suffix(".lock").unlink()   # a notebook still waiting holds it open, then reads the value
            return value
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


QUIET = ("progress", "executor")   # arguments that change how a call runs, not what it returns


def computed_once(fn: Callable[..., T], tables: Tables, *, entry: str | None = None, **kwargs: Any) -> T:
    """`fn(tables, **kwargs)`, computed once for a whole report and simply called elsewhere.

    In a report the forecast notebook and the report's own Forecast section ask for the same forecast and backtest;
    the first to ask computes it and the other reads it (`once`, keyed by the tables' fingerprint and
    every argument but those in `QUIET`). `entry`: the report's shared-tables entry, for the report's own process.
    """
    bound = inspect.signature(fn).bind(tables, **kwargs)
    bound.apply_defaults()
    args = sorted((k, v) for k, v in list(bound.arguments.items())[1:] if k not in QUIET)
    key = hashlib.sha256(repr(args).encode()).hexdigest()[:16]
    return once(f"{fn.__name__}-{tables_fingerprint(tables)}-{key}", lambda: fn(tables, **kwargs), entry)


def _read(path: Path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def remove(folder: Path) -> None:
    """Remove what `share` and `once` wrote into the report's working folder: inputs, not part of the report."""
    shutil.rmtree(folder / FOLDER, ignore_errors=True)
