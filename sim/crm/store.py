"""A store of exports: every loaded export kept as a snapshot in one embedded DuckDB file, so a weekly re-run
can say what changed since the last one.

    with Store.open("runs/history.duckdb") as store:
        added = store.ingest(load("exports/"), source="exports/")   # Added(snapshot, new=True/False)
        store.snapshots()                                           # one row per snapshot
        tables = store.tables(added.snapshot.id)                    # the canonical tables as they were loaded

A snapshot holds the canonical tables (every column the loader gave, extra ones included), the loader's summary
(`LoadResult.summary()`), its as-of date (the newest date in the export, or the one given) and a fingerprint of
the tables' contents: loading the same files again finds the fingerprint and adds nothing.

The file is guarded three ways:
- **its schema version** sits in `playbook_meta`. A store written by a newer playbook, a DuckDB file that is not
  a playbook store, or a file that is not DuckDB at all is refused with a message saying what it is; the file is
  never written to then. An older schema version is brought up to date by the steps in `MIGRATIONS`, inside
  one transaction (there is no older version yet: version 1 is the first);
- **one transaction per ingest**: a snapshot is written whole or not at all (an interrupted ingest leaves the
  store as it was);
- **one writer at a time**: DuckDB locks the file for the process that has it open for writing. Another
  process waits for the lock (`wait` seconds, saying so once) and then gives up with a message naming the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ..core import schema
from ..core.tables import Tables

SCHEMA_VERSION = 1
APP = "sales-playbook-lab"
DEFAULT_STORE = Path("runs") / "history.duckdb"   # relative to where playbook runs; PLAYBOOK_STORE overrides it
# where an export's newest date (its default as-of date) is looked for: not expected close dates, not activities
# (a CRM lists meetings scheduled ahead), both of which lie in the future
DATE_SOURCES = {"opportunities": ("created_at", "closed_at"), "stage_history": ("entered_at", "exited_at")}
# schema version v -> the statements that bring a store from v to v + 1 (none yet: version 1 is the first)
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {}

_KINDS = {"str": "VARCHAR", "datetime": "TIMESTAMP", "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN"}
_CORE = """
CREATE TABLE playbook_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE snapshots (
    snapshot_id INTEGER PRIMARY KEY, as_of DATE NOT NULL, as_of_given BOOLEAN NOT NULL,
    ingested_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL, format VARCHAR, fingerprint VARCHAR NOT NULL UNIQUE,
    opportunities BIGINT NOT NULL, open_deals BIGINT NOT NULL, open_amount DOUBLE NOT NULL,
    summary VARCHAR NOT NULL, columns VARCHAR NOT NULL
);
"""


class StoreError(ValueError):
    """The store cannot be used as asked (not a store, a newer one, locked by another process); says why."""


@dataclass(frozen=True)
class Snapshot:
    """One stored export: its id, as-of date and where it came from."""

    id: int
    as_of: pd.Timestamp
    source: str
    format: str | None
    fingerprint: str
    opportunities: int
    open_deals: int
    open_amount: float
    ingested_at: pd.Timestamp
    as_of_given: bool = False

    @property
    def label(self) -> str:
        return f"#{self.id} as of {self.as_of:%Y-%m-%d}"


@dataclass(frozen=True)
class Added:
    """What an ingest did: the snapshot the export is stored as, and whether it was new."""

    snapshot: Snapshot
    new: bool

    def message(self, store: Path | str) -> str:
        s = self.snapshot
        if self.new:
            return (f"stored snapshot {s.label} in {store}: {s.opportunities:,} deals, "
                    f"{s.open_deals:,} open worth {s.open_amount:,.2f}")
        return (f"already stored: these tables are snapshot {s.label} (from {s.source}, ingested "
                f"{s.ingested_at:%Y-%m-%d %H:%M}); nothing added to {store}")


def default_store() -> Path:
    """The store commands use when given no --store: $PLAYBOOK_STORE, else runs/history.duckdb."""
    return Path(os.environ.get("PLAYBOOK_STORE") or DEFAULT_STORE)


def fingerprint(tables: Tables) -> str:
    """A digest of the tables' contents (names, columns, types and every value), independent of file names."""
    h = hashlib.sha256()
    for name, df in sorted(tables.items()):
        h.update(f"{name}:{len(df)}:{','.join(df.columns)}:{','.join(map(str, df.dtypes))}\n".encode())
        if len(df):
            h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def newest_date(tables: Tables) -> pd.Timestamp | None:
    """The newest date an export holds (creation, close, stage change), the default as-of date."""
    found = []
    for name, cols in DATE_SOURCES.items():
        df = getattr(tables, name)
        found += [df[c].max() for c in cols if c in df and df[c].notna().any()]
    return max(found).normalize() if found else None


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "str"


def _column_name(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _table_name(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise StoreError(f"table name {name!r} cannot be stored (letters, digits and _ only)")
    return f"t_{name}"


def _for_storage(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame as DuckDB takes it, and each column's kind (to give it back the same types)."""
    kinds = {c: _kind(df[c]) for c in df.columns}
    out = pd.DataFrame(index=df.index)
    for c, k in kinds.items():
        s = df[c]
        if k == "str":
            s = s.astype("object").map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
        elif k == "datetime":
            s = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
            s = s.astype("datetime64[us]")
        elif k == "int":
            s = s.astype("Int64")
        out[c] = s
    return out.reset_index(drop=True), kinds


class Store:
    """An open store (use `Store.open`, as a context manager so the file lock is released)."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool):
        self.path, self.con, self.read_only = path, con, read_only

    # ---- opening ---------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path = DEFAULT_STORE, read_only: bool = False, wait: float = 30.0,
             say: Callable[[str], None] | None = None) -> Store:
        """Open (or, for writing, create) the store at `path`; waits up to `wait` seconds for another process's
        lock, telling `say` (default: stderr) once that it waits."""
        path = Path(path)
        if read_only and not path.exists():
            raise StoreError(f"{path}: no store here yet; `playbook ingest EXPORT` (or `playbook report`) makes it")
        if path.exists() and path.is_dir():
            raise StoreError(f"{path}: is a folder; --store takes a file such as runs/history.duckdb")
        if path.exists() and path.stat().st_size and not _looks_like_duckdb(path):
            raise StoreError(f"{path}: is not a playbook store (not a DuckDB database file); it was left as it is. "
                             "Choose another --store path")
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path, read_only, wait, say or (lambda text: print(text, file=sys.stderr)))
        store = cls(path, con, read_only)
        try:
            store._check_schema()
        except BaseException:
            con.close()
            raise
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_schema(self) -> None:
        names = {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        if not names:
            if self.read_only:
                raise StoreError(f"{self.path}: an empty database, not a playbook store yet")
            self.con.execute("BEGIN TRANSACTION")
            self.con.execute(_CORE)
            self.con.executemany("INSERT INTO playbook_meta VALUES (?, ?)",
                                 [("app", APP), ("schema_version", str(SCHEMA_VERSION))])
            self.con.execute("COMMIT")
            return
        if "playbook_meta" not in names:
            raise StoreError(f"{self.path}: a DuckDB database but not a playbook store (it has tables "
                             f"{', '.join(sorted(names)[:5])} and no playbook_meta); it was left as it is. "
                             "Choose another --store path")
        meta = dict(self.con.execute("SELECT key, value FROM playbook_meta").fetchall())
        if meta.get("app") != APP or not str(meta.get("schema_version", "")).isdigit():
            raise StoreError(f"{self.path}: its playbook_meta does not describe a playbook store "
                             f"(app {meta.get('app')!r}, schema version {meta.get('schema_version')!r}); left as it is")
        version = int(meta["schema_version"])
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer playbook (store schema version {version}; this playbook "
                             f"reads up to {SCHEMA_VERSION}); upgrade playbook, or choose another --store. Left as it is")
        if version < SCHEMA_VERSION:
            self._migrate(version)

    def _migrate(self, version: int) -> None:
        missing = [v for v in range(version, SCHEMA_VERSION) if v not in MIGRATIONS]
        if missing:
            raise StoreError(f"{self.path}: store schema version {version} cannot be brought to {SCHEMA_VERSION} "
                             "(no migration from it); left as it is. Start a new store (see the README)")
        if self.read_only:
            raise StoreError(f"{self.path}: store schema version {version} needs migrating to {SCHEMA_VERSION}; "
                             "run `playbook history` or `playbook ingest` once to migrate it")
        self.con.execute("BEGIN TRANSACTION")
        try:
            for v in range(version, SCHEMA_VERSION):
                MIGRATIONS[v](self.con)
            self.con.execute("UPDATE playbook_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    # ---- writing ---------------------------------------------------------------------------------------
    def ingest(self, tables: Tables, summary: dict | None = None, source: str = "", as_of=None,
               format: str | None = None) -> Added:
        """Keep `tables` as a snapshot (with the loader's `summary`); the same tables again add nothing."""
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only")
        fp = fingerprint(tables)
        found = self.con.execute("SELECT snapshot_id FROM snapshots WHERE fingerprint = ?", [fp]).fetchone()
        if found:
            return Added(self.snapshot(found[0]), new=False)
        given = as_of is not None
        when = pd.Timestamp(as_of).normalize() if given else newest_date(tables)
        if when is None:
            raise StoreError(f"{source or 'the export'}: holds no date to date the snapshot by; give --as-of DATE")
        opp = tables.opportunities
        is_open = opp["outcome"] == "open"
        amounts = opp["amount"] if "amount" in opp else pd.Series(0.0, index=opp.index)
        columns = {}
        self.con.execute("BEGIN TRANSACTION")
        try:
            sid = self.con.execute("SELECT coalesce(max(snapshot_id), 0) + 1 FROM snapshots").fetchone()[0]
            for name, df in tables.items():
                columns[name] = self._write_table(sid, name, df)
            self.con.execute(
                "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [sid, when.date(), given, pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime(), source,
                 format, fp, len(opp), int(is_open.sum()), float(amounts[is_open].fillna(0).sum()),
                 json.dumps(summary or {}, default=str), json.dumps(columns)])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return Added(self.snapshot(sid), new=True)

    def _write_table(self, sid: int, name: str, df: pd.DataFrame) -> dict[str, str]:
        frame, kinds = _for_storage(df)
        table = _table_name(name)
        have = {r[0]: r[1] for r in self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        if not have:
            cols = ", ".join(f"{_column_name(c)} {_KINDS[k]}" for c, k in kinds.items())
            self.con.execute(f"CREATE TABLE {table} (snapshot_id INTEGER NOT NULL{', ' if cols else ''}{cols})")
        else:
            for c, k in kinds.items():
                if c not in have:
                    self.con.execute(f"ALTER TABLE {table} ADD COLUMN {_column_name(c)} {_KINDS[k]}")
                elif have[c] != _KINDS[k] and have[c] != "VARCHAR":   # one export's text where another had numbers
                    self.con.execute(f"ALTER TABLE {table} ALTER {_column_name(c)} TYPE VARCHAR")
        if len(frame):
            frame.insert(0, "snapshot_id", sid)
            self.con.register("_incoming", frame)
            try:
                self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
            finally:
                self.con.unregister("_incoming")
        return kinds

    # ---- reading ---------------------------------------------------------------------------------------
    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, oldest as-of date first (ties in the order they were stored)."""
        rows = self.con.execute(
            "SELECT snapshot_id, as_of, source, format, fingerprint, opportunities, open_deals, open_amount, "
            "ingested_at, as_of_given FROM snapshots ORDER BY as_of, snapshot_id").fetchall()
        return [_snapshot(r) for r in rows]

    def snapshot(self, snapshot_id: int) -> Snapshot:
        row = self.con.execute(
            "SELECT snapshot_id, as_of, source, format, fingerprint, opportunities, open_deals, open_amount, "
            "ingested_at, as_of_given FROM snapshots WHERE snapshot_id = ?", [snapshot_id]).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no snapshot #{snapshot_id}")
        return _snapshot(row)

    def summary(self, snapshot_id: int) -> dict:
        """The loader's summary of the snapshot's export, as it was stored."""
        self.snapshot(snapshot_id)
        return json.loads(self.con.execute("SELECT summary FROM snapshots WHERE snapshot_id = ?",
                                           [snapshot_id]).fetchone()[0])

    def tables(self, snapshot_id: int) -> Tables:
        """The canonical tables of a snapshot, with the columns and types they were stored with."""
        self.snapshot(snapshot_id)
        columns = json.loads(self.con.execute("SELECT columns FROM snapshots WHERE snapshot_id = ?",
                                              [snapshot_id]).fetchone()[0])
        out = {}
        for name, kinds in columns.items():
            if name not in schema.TABLES:
                continue   # a table a policy registered in the process that stored it; unknown here
            if kinds:
                cols = ", ".join(_column_name(c) for c in kinds)
                df = self.con.execute(f"SELECT {cols} FROM {_table_name(name)} WHERE snapshot_id = ? ORDER BY rowid",
                                      [snapshot_id]).df()
            else:
                df = pd.DataFrame()
            out[name] = _restore(df, kinds)
        return Tables(**out)

    def size(self) -> int:
        """Bytes the store's file takes on disk (after a checkpoint)."""
        if not self.read_only:
            self.con.execute("CHECKPOINT")
        return self.path.stat().st_size


def _restore(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(df)))
    for c, k in kinds.items():
        s = df[c] if c in df else pd.Series([None] * len(df))
        if k == "datetime":
            s = pd.to_datetime(s).astype("datetime64[ns]")
        elif k == "float":
            s = pd.to_numeric(s).astype("float64")
        elif k == "int":
            s = pd.to_numeric(s).astype("Int64")
        elif k == "bool":
            s = s.astype("boolean")
        else:
            s = pd.Series([None if v is None or (not isinstance(v, str) and pd.isna(v)) else v for v in s],
                          dtype="object")
        out[c] = s.reset_index(drop=True)
    return out


def _snapshot(row) -> Snapshot:
    sid, as_of, source, fmt, fp, opps, open_deals, open_amount, ingested, given = row
    return Snapshot(int(sid), pd.Timestamp(as_of), source, fmt, fp, int(opps), int(open_deals), float(open_amount),
                    pd.Timestamp(ingested), bool(given))


def _looks_like_duckdb(path: Path) -> bool:
    """DuckDB files carry the magic bytes 'DUCK' at offset 8."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    return head[8:12] == b"DUCK"


def _connect(path: Path, read_only: bool, wait: float, say: Callable[[str], None]) -> duckdb.DuckDBPyConnection:
    """Connect, waiting for another process's lock on the file up to `wait` seconds."""
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as err:
            text = str(err)
            if "lock" not in text.lower():
                raise StoreError(f"{path}: cannot be opened as a playbook store: {text.splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                holder = re.search(r"PID (\d+)", text)
                who = f"process {holder.group(1)}" if holder else "another process"
                raise StoreError(f"{path}: in use by {who} (another playbook ingest or report writing to it); "
                                 f"waited {wait:.0f} s. Try again when it has finished") from None
            if not told:
                say(f"waiting for {path}: another process is using the store (up to {wait:.0f} s)...")
                told = True
            time.sleep(0.2)
        except duckdb.Error as err:
            raise StoreError(f"{path}: cannot be opened as a playbook store: {str(err).splitlines()[0]}") from None
