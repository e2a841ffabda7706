"""The report's "Since your last export" card: the export is kept in the store of exports, and when the store
holds an earlier snapshot, the front page opens with what changed in the open pipeline since then
(`sim.analysis.changes`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis.changes import Changes, changes
from ..core.tables import Tables
from ..crm.store import Store, StoreError
from .errors import ReportError


@dataclass
class Since:
    """What the card shows: the earlier snapshot's date, the waterfall, and the moves worth naming."""

    date: pd.Timestamp
    changes: Changes
    figure: str | None = None     # path of the waterfall inside the report

    @property
    def rows(self) -> list[dict]:
        table = self.changes.headings()
        return [{"heading": h.replace("_", " "), "count": int(r["count"]), "amount": float(r["amount"])}
                for h, r in table.iterrows() if r["count"]]


def keep_and_compare(store: Path, tables: Tables, details: dict, source: str,
                     wait: float = 30.0) -> tuple[str, Since | None]:
    """Store the export (nothing new when it is stored already) and compare it with the snapshot before it.
    Returns the store's message and the card (None when the store holds no earlier snapshot)."""
    try:
        with Store.open(store, wait=wait) as s:
            added = s.ingest(tables, details, source=source, format=details.get("format"))
            snaps = s.snapshots()
            mine = added.snapshot
            earlier = [x for x in snaps if (x.as_of, x.id) < (mine.as_of, mine.id)]
            if not earlier:
                return added.message(store), None
            before = earlier[-1]
            result = changes(s.tables(before.id), tables, before.as_of, mine.as_of)
    except StoreError as err:
        raise ReportError(f"the store of exports: {err}; or pass --no-store") from None
    return added.message(store), Since(before.as_of, result)
