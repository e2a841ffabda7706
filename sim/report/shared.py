"""The export loaded once for all the notebooks of a report, instead of once per notebook.

Loading a 100k-row export takes seconds, and every notebook loading it again would multiply that by the
number of notebooks. The report loads it once (it needs the rejected rows anyway), pickles the canonical
tables into its working folder and names them in the environment variable `PLAYBOOK_SHARED_TABLES`,
which the notebooks' kernels inherit. `sim.notebook.load_tables` takes them when asked for exactly that
export, CRM and mapping, and loads the export itself in every other case.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

from ..core.tables import Tables

ENV = "PLAYBOOK_SHARED_TABLES"


def _key(export: str | Path, crm: str | None, mapping: str | Path | None) -> dict[str, str | None]:
    return {"export": str(Path(export).resolve()), "crm": crm, "mapping": None if mapping is None else str(Path(mapping).resolve())}


def share(tables: Tables, folder: Path, export: str | Path, crm: str | None, mapping: str | Path | None) -> dict[str, str]:
    """Pickle `tables` into `folder`; returns the environment entry that points the notebooks at them."""
    path = (folder / "tables.pickle").resolve()   # the kernels run in the notebooks' folder
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
