"""Load a CRM export into the canonical tables, accounting for every input row.

`load(path, crm=None, mapping=None)` reads one file or a folder of files of one export, recognises the
CRM from the header (or uses the named preset or mapping file), parses the messy values and returns a
`LoadResult`: the canonical `Tables`, every rejected row (file, row, column, value, reason), every
repaired value, and a `summary()`. For every file, rows read = rows loaded + rows rejected.

What happens to imperfect input:
- a row is *rejected* (listed in `rejected`, not loaded) when it has no opportunity id, a duplicate id,
  no stage or outcome, a stage label a mapping file does not list, or a close before its creation; blank
  rows are rejected as blank, and a malformed CSV line (an unterminated quote, too many fields) is
  rejected with its line number while the rest of the file loads;
- a *value* that cannot be read (a formula or words in a number column, an impossible date, a date
  outside 1900-2199 such as a 9999-12-31 placeholder, a negative amount) is left empty and listed in
  `repaired`, as is a value read by a fallback rule (a date in another layout than its column's, an
  amount written in the other decimal convention); the row is still loaded;
- a mapped column none of whose values could be read is a *warning* in the summary (`warnings`), which
  `playbook check` and the report put first: every analysis needing it would silently be empty otherwise;
- a workbook sheet with rows that is not loaded (its header fits no export, or the mapping names other
  sheets) is named in the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..core import schema
from ..core.outputs import MARKER
from ..core.tables import Tables
from . import parse
from . import history_formats
from .activities import load_activities, split_activity_files
from .arrow_text import one_array
from .checks import validate_tables
from .dates import EMPTY_TOKENS
from .formats import DATE_COLUMNS, NUMBER_COLUMNS, OUTCOME_WORDS, PRESETS, FileSpec, Format, clean_label, detect
from .issues import ISSUE_COLUMNS, FileReport, IssueLog, combine_issues  # noqa: F401 - ISSUE_COLUMNS re-exported
from .mapping import read_mapping
from .memory import give_back_freed_memory
from .parse import ExportError, RawTable, Skipped

TERMINAL = ("won", "lost")
# what a history row may date besides the stage (Salesforce's Opportunity History keeps both at every change): each
# stay carries the values of the row that began it, so a pipeline as of a past date (`sim.analysis.snapshots`) reads
# the amount and expected close then in force, not today's; a change within one stay is not dated
DATED = ("amount", "expected_close_at")
MAX_AMOUNT = 1e15          # larger amounts are a misplaced digit or an id in the wrong column


@dataclass
class LoadResult:
    """An export loaded: canonical tables, rejected rows, repaired values and a per-file account."""

    tables: Tables
    rejected: pd.DataFrame
    repaired: pd.DataFrame
    format: str
    files: list[FileReport]
    stages: dict[str, dict]
    notes: list[str]
    warnings: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    not_read: list[tuple[str, str]] = field(default_factory=list)   # files of an export folder left out, and why

    def summary(self) -> dict:
        """Rows read/loaded/rejected per file, date range, owners, stages found and how they were mapped."""
        opp = self.tables.opportunities
        date_cols = [opp[c] for c in ("created_at", "closed_at") if c in opp]
        dates = pd.concat(date_cols).dropna() if date_cols else pd.Series(dtype="datetime64[ns]")
        owners = sorted(opp["owner"].dropna().unique().tolist()) if "owner" in opp else []
        outcomes = opp["outcome"].value_counts()
        return {
            "format": self.format,
            "files": {
                f.file: {"kind": f.kind, "rows_read": f.rows_read, "rows_loaded": f.rows_loaded,
                         "rows_rejected": f.rows_rejected, "encoding": f.encoding, "delimiter": f.delimiter,
                         "columns": f.columns, "unused_columns": f.unused, "notes": f.notes}
                for f in self.files
            },
            "rows_read": sum(f.rows_read for f in self.files),
            "rows_loaded": sum(f.rows_loaded for f in self.files),
            "rows_rejected": sum(f.rows_rejected for f in self.files),
            "values_repaired": len(self.repaired),
            "opportunities": len(opp),
            "outcomes": {k: int(outcomes.get(k, 0)) for k in schema.OUTCOMES},
            "date_range": [dates.min().date().isoformat(), dates.max().date().isoformat()] if len(dates) else None,
            "owners": owners,
            "stages": self.stages,
            "missing_columns": _missing_columns(opp, list(schema.OPPORTUNITIES.columns)),
            "stage_history_rows": len(self.tables.stage_history),
            "activity_rows": len(self.tables.activities),
            "warnings": self.warnings,
            "sheets_not_read": [f"{s.file} [{s.sheet}]: {s.rows:,} row(s), {s.why}" for s in self.skipped],
            "files_not_read": [f"{name}: {why}" for name, why in self.not_read],
            "notes": self.notes,
        }


def _missing_columns(df: pd.DataFrame, columns: list[str]) -> list[str]:
    """`schema.missing_columns`, answered from a column's first cells when one of them is filled (nearly always)
    instead of a pass over a million cells, else from the whole column."""
    filled = [c for c in columns if c in df.columns and df[c].iloc[:100].notna().any()]
    return schema.missing_columns(df, [c for c in columns if c not in filled])


# ---- entry point -------------------------------------------------------------------------------------
def load(path: str | Path, crm: str | None = None, mapping: str | Path | None = None,
         pipeline: str | None = None) -> LoadResult:
    """Load an export file or folder. `crm` names a preset (salesforce, hubspot, pipedrive); `mapping` is a
    mapping YAML for anything else; with neither, the format is recognised from each file's header. `pipeline`
    keeps the deals of one pipeline (HubSpot; see `sim.crm.hubspot_stages`)."""
    if crm is not None and mapping is not None:
        raise ExportError("give either crm= or mapping=, not both")
    fmt = _choose_format(crm, mapping)
    raws: list[RawTable] = []
    skipped: list[Skipped] = []
    folder = Path(path).is_dir()
    files, not_read = _files(Path(path))
    for file, reading in _read_files(files, fmt.sheets if fmt is not None and fmt.sheets else None):
        try:
            found, sheets_not_read = reading()
        except ExportError as err:
            if not folder:
                raise
            not_read.append((file.name, str(err).removeprefix(f"{file}: ")))   # said, not fatal, in a folder
            continue
        finally:
            del reading    # (when read with others, it holds the file's tables until `raws` is freed below)
        raws += found
        skipped += sheets_not_read
        del found
    raws, activity_raws = split_activity_files(raws)   # activity exports next to the opportunities
    kinds, unfit = _classify(raws, fmt, lenient=folder)
    skipped += [u for u in unfit if u.sheet]
    not_read += [(u.file, u.why) for u in unfit if not u.sheet]
    opp_files = [(raw, f, spec) for raw, (f, spec) in kinds.items() if spec.kind == "opportunities"]
    if not opp_files:
        names = ", ".join(r.name for r in raws) or "no sheet with rows"
        why = "".join(f"; {name} not read: {reason}" for name, reason in not_read)
        why += "".join(f"; {s.file} [{s.sheet}] not read: {s.why}" for s in skipped)
        raise ExportError(f"{path}: no opportunities/deals file found among {names}{why}; "
                          "name the CRM with crm=... or describe the columns in a mapping file")
    builder = _Builder()
    if fmt is not None:
        builder.notes += list(fmt.notes)
    hist_files = [(raw, f, spec) for raw, (f, spec) in kinds.items() if spec.kind == "history"]
    field_files = [(raw, f, spec) for raw, (f, spec) in kinds.items() if spec.kind == "field_history"]
    # `hist_files` alone holds the history files from here (nothing after the history reads them): `history` lets
    # their text go once their rows are read, before it builds the stays
    raws = [raw for raw in raws if raw not in kinds or kinds[raw][1].kind != "history"]
    kinds = {raw: kind for raw, kind in kinds.items() if kind[1].kind != "history"}
    with _ReadAhead(hist_files) as builder.ahead:   # the history's own columns parsed on the other core meanwhile
        opps = builder.opportunities(opp_files)
        history = builder.history(hist_files, opps) if hist_files else schema.empty("stage_history")
    builder.ahead = None
    opps, history, edits = history_formats.extend(builder, builder.reports, builder.notes, opp_files, field_files,
                                                  opps, history, pipeline)   # HubSpot / field history / Pipedrive
    opps = _complete_from_history(opps, history, builder.first_amounts, builder.positions)
    builder.positions = None
    # sim.crm.activities: meetings, calls, call recordings (the deals are indexed for them only when there are some)
    activities = load_activities(activity_raws, opps if activity_raws else None)
    used = {f.name for _, f, _ in opp_files}
    # the files' text is read and accounted for: freed before the tables are built and checked (the peak of a load)
    del raws, activity_raws, kinds, opp_files, hist_files, field_files
    tables = Tables(
        opportunities=schema.conform(_text_as_objects(opps, "opportunities"), "opportunities"),
        stage_history=schema.conform(_text_as_objects(history, "stage_history"), "stage_history"),
        accounts=_accounts(opps),
        activities=activities.table,
        **({} if edits is None else {"field_edits": schema.conform(edits, "field_edits")}),
    )
    validate_tables(tables, source=str(path))    # every schema rule, checked on whole columns (pandera on a failure)
    return LoadResult(tables, combine_issues(builder.issues("rejected"), activities.rejected),
                      combine_issues(builder.issues("repaired"), activities.repaired), " + ".join(sorted(used)),
                      builder.reports + activities.files, builder.stage_report, builder.notes + activities.notes,
                      builder.warnings + activities.warnings, skipped, not_read)


READ_TOGETHER_BYTES = 16 << 20    # CSV files from this size are read two at a time when a folder has two or more


def _read_files(files: list[Path], sheets: tuple[str, ...] | None):
    """Each file with a function returning what `parse.read_tables` gives for it (or raising what it raises), in the
    files' order. When two or more are large CSV files (`READ_TOGETHER_BYTES`: the opportunities and their history),
    they are read two at a time, each as one block by one thread, in a pool that is done before the first answer is
    used: the two cores parse a file each, and no column is copied to join its pieces (`sim.crm.files._arrow_csv`).
    What is read, and every message, is the same as one file after the other."""
    big = [f for f in files if f.suffix.lower() in parse.TEXT_SUFFIXES and _size(f) >= READ_TOGETHER_BYTES]
    if len(big) < 2:
        for file in files:
            yield file, lambda file=file: parse.read_tables(file, sheets)
        return
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="crm-read") as pool:
        futures = [pool.submit(parse.read_tables, file, sheets, file in big) for file in files]
        wait(futures)
    for file, future in zip(files, futures):
        yield file, future.result


def _size(file: Path) -> int:
    """The file's size in bytes; 0 when it cannot be read (`parse.read_tables` then says why, as for any file)."""
    try:
        return file.stat().st_size
    except OSError:
        return 0


def _choose_format(crm: str | None, mapping: str | Path | None) -> Format | None:
    if mapping is not None:
        return read_mapping(mapping)
    if crm is not None:
        key = str(crm).strip().lower()
        if key not in PRESETS:
            raise ExportError(f"crm: {crm!r} is not a known CRM; choose one of {', '.join(PRESETS)} or use a mapping file")
        return PRESETS[key]
    return None


def _files(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files to read, and (for a folder) those left out with why: Office lock files ('~$deals.xlsx', open
    in Excel), hidden files, and files of other kinds (a PDF or a .docx beside the export)."""
    if not path.exists():
        raise FileNotFoundError(2, "no such file or folder", str(path))
    if path.is_file():
        return [path], []
    if not path.is_dir():
        raise ExportError(f"{path}: neither a file nor a folder; give an export file or a folder of them")
    files, not_read = [], []
    for p in sorted(path.iterdir()):
        if not p.is_file() or p.name == MARKER:    # the marker of a folder playbook wrote (synth) is its own
            continue
        if p.name.startswith("~$"):
            not_read.append((p.name, "an Office lock file (the workbook is open in Excel), not an export"))
        elif p.name.startswith("."):
            not_read.append((p.name, "a hidden file"))
        elif p.suffix.lower() in parse.TEXT_SUFFIXES + parse.EXCEL_SUFFIXES:
            files.append(p)
        else:
            not_read.append((p.name, f"not a .csv or .xlsx file ({p.suffix or 'no extension'})"))
    if not files:
        raise ExportError(f"{path}: the folder holds no .csv or .xlsx files")
    return files, not_read


def _classify(raws: list[RawTable], fmt: Format | None,
              lenient: bool = False) -> tuple[dict[RawTable, tuple[Format, FileSpec]], list[Skipped]]:
    """Which format and file kind each table is. A CSV file that fits nothing is an error naming the file (in a
    folder, `lenient`: left out and named, like a README.txt beside the export); a workbook sheet that fits
    nothing is left out and named, as long as another table of the export fits."""
    out, unfit = {}, []
    for raw in raws:
        header = list(raw.frame.columns)
        if fmt is not None:
            scored = [(spec.matches(header), spec) for spec in fmt.files]
            score, spec = max(scored, key=lambda t: t[0])
            found = (fmt, spec) if score else None
        else:
            found = detect(header)
        if found is None:
            if raw.sheet is not None:
                unfit.append(Skipped(raw.path.name, raw.sheet, len(raw.frame),
                                     f"its header ({', '.join(header[:5])}{'...' if len(header) > 5 else ''}) does "
                                     f"not fit {_expected_headers(fmt)}"))
                continue
            expected = _expected_headers(fmt)
            if lenient:
                unfit.append(Skipped(raw.path.name, "", len(raw.frame),
                                     f"its header ({', '.join(header[:5])}{'...' if len(header) > 5 else ''}) does "
                                     f"not fit {expected}"))
                continue
            raise ExportError(f"{raw.path}: the header ({', '.join(header[:8])}{'...' if len(header) > 8 else ''}) "
                              f"does not fit {expected}; name the CRM with crm=... or use a mapping file")
        out[raw] = found
    if not out and unfit and not lenient:
        raise ExportError(f"{raws[0].path}: no sheet fits {_expected_headers(fmt)}; "
                          + "; ".join(f"{u.sheet} ({u.why})" for u in unfit))
    return out, unfit


def _expected_headers(fmt: Format | None) -> str:
    if fmt is None:
        return "a Salesforce, HubSpot or Pipedrive export"
    need = {k: v[0] for spec in fmt.files for k, v in spec.columns.items() if k in spec.keys}
    return f"{fmt.name} (needs columns {', '.join(sorted(set(need.values())))})"


# ---- building the tables -------------------------------------------------------------------------------
class _Builder(IssueLog):
    """Collects rejected rows and repaired values while the files are turned into canonical columns."""

    def __init__(self):
        super().__init__()
        self.reports: list[FileReport] = []
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.stage_report: dict[str, dict] = {}
        self.first_amounts = pd.Series(dtype="float64")
        self.positions: _Positions | None = None
        self.codes = _Codes()
        self.deal_ids: tuple[pd.DataFrame | None, pa.Array | None] | None = None   # the loaded deals' ids in Arrow
        self.ahead: _ReadAhead | None = None    # the history files' columns being parsed in a thread, if they are

    # -- columns
    def columns(self, raw: RawTable, cols: dict[str, str], fmt: Format, alive: pd.Series,
                read: _ColumnsRead | None = None) -> dict[str, pd.Series]:
        """Every canonical column of a file, parsed; unreadable or re-read values are reported as repairs.

        Date columns are read together: one whose every date fits both day/month orders follows the order
        the file's other date columns show. `read`: the columns parsed already (`parse_columns`, perhaps in
        another thread by `_ReadAhead`); what is reported is reported here, in the same order either way. Each piece
        is taken out of `read` as it is used (the caller's `read` keeps none of them): what a piece holds besides the
        column's values (its masks, reasons, the values before a repair, a label column's codes) is freed as soon as
        it is reported, not kept to the end of the file's reading.
        """
        read = read if read is not None else parse_columns(raw, cols, fmt)
        self.notes += read.notes
        dates = read.dates
        out = {}
        for canon in cols:
            header, text = cols[canon], raw.frame[cols[canon]]
            if canon in dates:
                p = dates.pop(canon)
                self.flag("repaired", raw, (p.invalid | p.fallback) & alive, header, text, p.why)
                self.notes += [f"{raw.name}: {header}: {note}" for note in p.notes]
                out[canon] = p.values
                self._warn_if_unread(raw, canon, header, text, p.values, alive, "a date", fmt)
            elif canon in NUMBER_COLUMNS:
                out[canon] = self._numbers(raw, canon, header, text, alive, read.amounts.pop(canon))
                self._warn_if_unread(raw, canon, header, text, out[canon], alive, "a number", fmt)
            else:
                out[canon], known = read.texts.pop(canon) if canon in read.texts else parse.parse_text_coded(text)
                if known is not None and canon == "stage":
                    self.codes.remember(out[canon], *known)
        return out

    def _numbers(self, raw: RawTable, canon: str, header: str, text: pd.Series, alive: pd.Series,
                 p: parse.Parsed) -> pd.Series:
        self.flag("repaired", raw, p.invalid & alive, header, text, "not a number (text or a formula); left empty")
        self.flag("repaired", raw, p.fallback & alive, header, text, p.why)
        if p.ambiguous:
            self.notes.append(f"{raw.name}: {header}: read with a {p.style}; if its dots are decimal points, "
                              "correct the export (or say so in a mapping's columns)")
        values = p.values
        checks = []
        if canon != "probability":    # '50%' is a share, not an amount or a count
            checks.append((values.notna() & text.astype(str).str.contains("%", regex=False),
                           "a percentage (%), not a number of this column's kind; left empty"))
        if canon != "probability":
            checks.append((values < 0, "negative amount; left empty" if canon != "complaints" else "negative count; left empty"))
        if canon in ("amount", "first_estimate"):
            checks.append((values >= MAX_AMOUNT, f"larger than {MAX_AMOUNT:,.0f} (a misplaced digit, or an id in the "
                                                 "amount column?); left empty"))
        if canon == "fit_score":
            checks.append((values > 1, "fit score above 1 (the score runs from 0 to 1); left empty"))
        for bad, reason in checks:
            self.flag("repaired", raw, bad & alive, header, text, reason)
            values = values.where(~bad)
        return values

    def _warn_if_unread(self, raw: RawTable, canon: str, header: str, text: pd.Series, values: pd.Series,
                        alive: pd.Series, what: str, fmt: Format) -> None:
        """A column with values none of which could be read: said loudly, not only as a long list of repairs."""
        if values[alive].notna().any():    # something was read: the usual case, decided without a pass over the text
            return
        filled = alive & ~parse.is_empty(text.fillna("").astype(str))
        if filled.any():
            sample = ", ".join(repr(v) for v in text[filled].drop_duplicates().head(3))
            hint = ("give its layout as date_format in a mapping file (e.g. date_format: {" + canon + ": \"%d-%m-%Y\"})"
                    if what == "a date" else "check that the mapping points at the right column" if fmt.mapped
                    else f"check that {header!r} holds {canon} values, or name the right column in a mapping file")
            self.warnings.append(f"{raw.name}: column {header!r} ({canon}): none of its {int(filled.sum()):,} values could "
                                 f"be read as {what} (e.g. {sample}); all are left empty, so every analysis that needs "
                                 f"{canon} is skipped. {hint[0].upper() + hint[1:]}.")

    def opportunities(self, files: list[tuple[RawTable, Format, FileSpec]]) -> pd.DataFrame:
        """The deals of every opportunities file; a deal repeated in a later file is rejected there."""
        parts = [self._opportunity_file(raw, fmt, spec) for raw, fmt, spec in files]
        if len(parts) == 1:
            self._count_stages(parts[0])
            opps = parts[0].drop(columns=["_index", "_label"])
            self.deal_ids = (opps, self.deal_ids[1]) if self.deal_ids is not None else None
            return opps
        self.deal_ids = None
        for k, part in enumerate(parts):
            part["_part"] = k
        opps = pd.concat(parts, ignore_index=True)
        dup = opps["opportunity_id"].duplicated(keep="first")
        first_file = opps.groupby("opportunity_id")["_part"].transform("first").map(lambda k: files[k][0].name)
        for k, (raw, _, spec) in enumerate(files):
            mine = dup & (opps["_part"] == k)
            if not mine.any():
                continue
            rows = opps.loc[mine, "_index"].to_numpy()
            where = pd.Series(False, index=raw.frame.index)
            where[rows] = True
            reasons = ("duplicate opportunity id (also in " + first_file[mine] + ")").set_axis(rows)
            header = spec.resolve(list(raw.frame.columns))["opportunity_id"]
            self.flag("rejected", raw, where, header, opps.loc[mine, "opportunity_id"].set_axis(rows), reasons)
            report = next(r for r in self.reports if r.file == raw.name and r.kind == "opportunities")
            report.rows_loaded -= int(mine.sum())
        opps = opps[~dup]
        self._count_stages(opps)
        return opps.drop(columns=["_part", "_index", "_label"]).reset_index(drop=True)

    def _count_stages(self, opps: pd.DataFrame) -> None:
        """Deals per export stage label, counting only the deals loaded (rejected rows are not deals)."""
        counts = opps["_label"].value_counts()
        for label, entry in self.stage_report.items():
            entry["deals"] = int(counts.get(label, 0))

    def _clean_labels(self, raw: RawTable, header: str, labels: pd.Series, alive: pd.Series) -> pd.Series:
        """Stage labels Unicode-normalised and their spaces collapsed ('Closed\u00a0Won', 'Closed  Won' are
        'Closed Won'), once per distinct label; how many cells changed is said."""
        codes, uniq = self.codes.factorize(labels)
        cleaned = [clean_label(u) for u in uniq]
        changed = [c != u for c, u in zip(cleaned, uniq)]
        if not any(changed):
            return labels
        n = int((pd.Series(np.array(changed + [False])[codes], index=labels.index) & alive).sum())
        examples = ", ".join(f"{u!r} -> {c!r}" for u, c, ch in zip(uniq, cleaned, changed) if ch)
        if n:
            self.notes.append(f"{raw.name}: {header}: {n:,} stage label(s) with unusual spaces or characters read "
                              f"as the plain label ({examples[:300]})")
        table = np.array(cleaned + [None], dtype=object)
        out = pd.Series(table[codes], index=labels.index, dtype="object")
        self.codes.remember(out, *parse.spread_codes(table[:-1], codes))
        return out

    def _warn_open_but_closed(self, raw: RawTable, fmt: Format, cols: dict[str, str], labels: pd.Series,
                              outcome: pd.Series, out: dict[str, pd.Series], alive: pd.Series) -> None:
        """Deals whose label the format does not know (so read as an open stage) but whose close date is in the
        past of the export (before its last created deal): most likely a won or lost label in another language
        or pipeline. Said loudly, naming the labels."""
        closed = out["closed_at"]
        suspect = alive & (outcome == "open") & closed.notna() & labels.notna()
        if "created_at" in out and out["created_at"][alive].notna().any():
            suspect &= closed < out["created_at"][alive].max()
        if not suspect.any():
            return
        unknown = {lab for lab in pd.unique(labels[suspect]) if fmt.known_stage(lab) is None}
        if not unknown:    # every label the format knows (nearly always): none is suspect
            return
        suspect &= labels.isin(unknown)
        if not suspect.any():
            return
        counts = labels[suspect].value_counts()
        which = ", ".join(f"{lab!r} ({n:,})" for lab, n in counts.head(8).items())
        self.warnings.append(f"{raw.name}: {int(suspect.sum()):,} deals have a close date in the past but a stage we "
                             f"read as open: {which}. If these labels mean won or lost, map them (a mapping file's "
                             f"stages:, e.g. '{counts.index[0]}: won' or '{counts.index[0]}: lost'); until then those deals count as open and their "
                             f"{cols['closed_at']} is read as an expected close date.")

    def _converted_amount(self, raw: RawTable, cols: dict[str, str]) -> dict[str, str]:
        """Prefer a CRM's converted amount ('Amount (converted)', 'Amount in company currency'): one currency for all."""
        if "amount" not in cols:
            return cols
        header = cols["amount"]
        by_norm = {" ".join(str(h).split()).lower(): h for h in raw.frame.columns}
        for name in (f"{header} (converted)", "amount (converted)", "amount in company currency"):
            found = by_norm.get(name.lower())
            if found is not None and found != header:
                self.notes.append(f"{raw.name}: amounts read from {found!r} (converted to the CRM's company currency), "
                                  f"not {header!r} (each deal's own currency)")
                return {**cols, "amount": found}
        return cols

    def _one_currency(self, raw: RawTable, fmt: Format, cols: dict[str, str], out: dict[str, pd.Series],
                      alive: pd.Series) -> None:
        """Amounts in several currencies (a currency column, or codes and symbols in the cells) are never summed
        as one: converted with the mapping's `rates:`, or else the other currencies' amounts are left empty,
        listed, and said loudly."""
        amount, header = out["amount"], cols["amount"]
        text = raw.frame[header]
        cell = parse.amount_currency(text).where(amount.notna())
        if "currency" in out and "converted" not in header.lower() and "company currency" not in header.lower():
            given = out["currency"].astype("object").where(out["currency"].notna()).map(
                lambda c: parse.currency_code(c) if isinstance(c, str) else None)
            currency = given.where(given.notna(), cell)
        else:
            currency = cell
        seen = currency[alive & amount.notna()].dropna()
        convert = bool(fmt.rates) and bool(set(seen) - {fmt.currency})
        if seen.nunique() <= 1 and not convert:
            if len(seen) and "currency" not in out and fmt.currency is None:
                out["currency"] = currency.where(currency.notna(), seen.iloc[0])
            return
        counts = seen.value_counts()
        listing = ", ".join(f"{c} {n:,} deal(s)" for c, n in counts.items())
        if convert:
            base = fmt.currency or "the mapping's currency"
            rate = currency.map(lambda c: fmt.rates.get(c) if isinstance(c, str) else None).astype("float64")
            no_rate = alive & amount.notna() & currency.notna() & rate.isna()
            self.flag("repaired", raw, no_rate, header, text,
                      "in " + currency[no_rate].astype(str) + f", which the mapping's rates: do not list; left empty")
            out["amount"] = (amount * rate).where(currency.notna(), amount)   # no rate: empty (listed above)
            out["currency"] = pd.Series(fmt.currency, index=amount.index, dtype="object")
            self.notes.append(f"{raw.name}: {header}: amounts in {len(counts)} currencies ({listing}) converted to "
                              f"{base} with the mapping's rates:")
            return
        keep = counts.index[0]
        other = alive & amount.notna() & currency.notna() & (currency != keep)
        self.flag("repaired", raw, other, header, text,
                  "in " + currency[other].astype(str) + f", not {keep} like most deals; amounts in different currencies "
                  "cannot be summed, so left empty (give rates: in a mapping file to convert)")
        out["amount"] = amount.where(~other)
        out["currency"] = currency.where(~other, None)
        self.warnings.append(f"{raw.name}: column {header!r}: amounts are in {len(counts)} currencies ({listing}); "
                             f"only the {keep} amounts are kept, the other {int(other.sum()):,} are left empty (listed "
                             "as repaired) because amounts in different currencies cannot be summed. Give a rates: "
                             "table in a mapping file (rates: {EUR: 1.08, JPY: 0.0067} with currency: USD) to convert them.")

    def _opportunity_file(self, raw: RawTable, fmt: Format, spec: FileSpec) -> pd.DataFrame:
        frame = raw.frame
        cols = spec.resolve(list(frame.columns))
        keep = [c for c in fmt.keep if c in frame.columns]
        missing_keep = [c for c in fmt.keep if c not in frame.columns]
        if missing_keep:
            self.notes.append(f"{raw.name}: column(s) to keep not found: {', '.join(missing_keep)}")
        if fmt.mapped:
            absent = [f"{canon} ({aliases[0]})" for canon, aliases in spec.columns.items() if canon not in cols]
            if absent:
                self.notes.append(f"{raw.name}: the mapping names column(s) the file does not have: {', '.join(absent)}")
        alive = self.readable_rows(raw)
        cols = self._converted_amount(raw, cols)
        out = self.columns(raw, cols, fmt, alive)
        if "amount" in out:
            self._one_currency(raw, fmt, cols, out, alive)
        if "stage" in out:
            out["stage"] = self._clean_labels(raw, cols["stage"], out["stage"], alive)
        ids = out["opportunity_id"]
        no_id = alive & ids.isna()
        self.flag("rejected", raw, no_id, cols["opportunity_id"], frame[cols["opportunity_id"]], "no opportunity id")
        alive &= ~no_id

        labels = out.get("stage", pd.Series(None, index=frame.index, dtype="object"))
        outcome, stage, alive = self._outcome_and_stage(raw, fmt, cols, out, alive)
        out["outcome"], out["stage"], out["stage_label"] = outcome, stage, labels
        for extra in ("won_at", "lost_at"):
            if extra in out:
                when = out.pop(extra)
                mask = outcome == extra[:-3]
                closed = out.get("closed_at", pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"))
                out["closed_at"] = closed.where(closed.notna() | ~mask, when)
        if "closed_at" in out and "outcome" not in cols:
            self._warn_open_but_closed(raw, fmt, cols, labels, outcome, out, alive)
        if "closed_at" in out:
            open_with_date = (outcome == "open") & out["closed_at"].notna() & alive
            if open_with_date.any():
                expected = out.get("expected_close_at", pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"))
                out["expected_close_at"] = expected.where(expected.notna(), out["closed_at"].where(open_with_date))
                out["closed_at"] = out["closed_at"].where(~open_with_date)
                self.notes.append(f"{raw.name}: the close date of {int(open_with_date.sum())} open deal(s) "
                                  "is a date they are expected to close; kept as expected_close_at")
        if "created_at" in out and "closed_at" in out:
            backwards = alive & (out["closed_at"] < out["created_at"])
            if backwards.any():
                self.flag("rejected", raw, backwards, cols.get("closed_at") or cols.get("won_at") or cols.get("lost_at", ""),
                          out["closed_at"][backwards].dt.strftime("%Y-%m-%d"), "closed before it was created")
            alive &= ~backwards

        first_row = pd.Series(raw.row_numbers(), index=frame.index)
        in_order = _strictly_increasing(ids.to_numpy(dtype=object)[(alive & ids.notna()).to_numpy()])
        ids_alive = None if in_order else ids.where(alive)
        dup = _false(ids) if in_order else alive & ids_alive.duplicated(keep="first") & ids_alive.notna()
        if dup.any():
            first_seen = first_row.groupby(ids_alive).transform("min")
            self.flag("rejected", raw, dup, cols["opportunity_id"], ids,
                      "duplicate opportunity id (first at row " + first_seen.astype("Int64").astype(str) + ")")
            alive &= ~dup

        table = pd.DataFrame({c: v for c, v in out.items()}, index=frame.index, copy=False)   # (not copied into blocks)
        labels = table.pop("stage_label")
        for c in keep:
            table[c] = parse.parse_text(frame[c])
        table["_label"] = labels
        if fmt.currency and "currency" not in table:
            table["currency"] = fmt.currency
        self.codes.forget()
        self.deal_ids = (None, _ids_in_arrow(frame[cols["opportunity_id"]], alive))
        loaded = table[alive]
        loaded.insert(len(loaded.columns), "_index", loaded.index.to_numpy())
        self.reports.append(FileReport(
            raw.name, "opportunities", len(frame), len(loaded), raw.encoding, raw.delimiter,
            cols, [c for c in frame.columns if c not in cols.values() and c not in keep], raw.notes,
        ))
        return loaded.reset_index(drop=True)

    def _outcome_and_stage(self, raw, fmt: Format, cols, out, alive) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Outcome from a status column or from the stage label's meaning; the stage a deal is (or was last) in.

        Labels repeat, so their meaning is worked out once per distinct label and spread by code.
        """
        index = raw.frame.index
        labels = out.get("stage", pd.Series(None, index=index, dtype="object"))
        codes, uniq = self.codes.factorize(labels)
        meaning = [fmt.stage_meaning(lab) for lab in uniq]
        listed = [_listed(fmt, lab) or not fmt.strict_stages for lab in uniq]
        has_label = pd.Series(codes >= 0, index=index)

        def spread(per_label: list, missing=None) -> pd.Series:
            table = np.array(list(per_label) + [missing], dtype=object)
            return _spread(table, codes, index)     # code -1 picks the last entry: `missing`

        if fmt.strict_stages and "stage" in cols:
            unknown = alive & ~spread(listed, True).astype(bool)
            self.flag("rejected", raw, unknown, cols["stage"], labels, "stage label not listed in the mapping's stages")
            alive = alive & ~unknown
        if "outcome" in out:
            status = out["outcome"].str.lower().map(OUTCOME_WORDS)
            bad = alive & status.isna()
            self.flag("rejected", raw, bad, cols["outcome"], out["outcome"], "status is not won, lost or open")
            outcome = status.astype("object")
        else:
            outcome = spread([m if m in TERMINAL else "open" for m in meaning])
            self.flag("rejected", raw, alive & ~has_label, cols.get("stage", "stage"), labels, "no stage")
        alive = alive & outcome.notna()
        stage = spread([None if m in TERMINAL else m for m in meaning])
        outcome = outcome.where(alive, None)
        for k, lab in enumerate(uniq):   # deals per label are counted once the rows are final
            self.stage_report.setdefault(str(lab), {"maps_to": meaning[k] if listed[k] else "(rejected: not in mapping)",
                                                    "deals": 0})
        return outcome, stage, alive

    def history(self, files, opps: pd.DataFrame) -> pd.DataFrame:
        """Stage stays from history files: one row per stay, consecutive rows in one stage merged; with the amount
        and expected close of the row that began each stay where the files date them (`DATED`).

        Each history row finds its deal once (its position among the loaded deals); the lifetime checks, the
        sort and the stays work on those positions, not by looking the ids up again. The positions of the stays'
        deals and each deal's first amount are kept (`self.positions`) for `_complete_from_history`.

        `files` is emptied once their rows are read: the files' text (in the caller, only this list holds it) is let
        go before the stays are built, the peak of a load, and for a large history its memory is given back.
        """
        deals = opps.drop_duplicates("opportunity_id") if not pd.Index(opps["opportunity_id"]).is_unique else opps
        index = pd.Index(deals["opportunity_id"])
        in_arrow = self.deal_ids[1] if self.deal_ids is not None and self.deal_ids[0] is opps and deals is opps else None
        rows = pd.concat([self._history_file(raw, fmt, spec, deals, index, in_arrow,
                                             self.ahead.result(raw) if self.ahead is not None else None)
                          for raw, fmt, spec in files], ignore_index=True)
        several, big = len(files) > 1, sum(len(raw.frame) for raw, _, _ in files) >= AHEAD_MIN_ROWS
        files.clear()
        if big:
            give_back_freed_memory()
        order = _order_by_id_and_time(rows["opportunity_id"], rows["entered_at"], rows["_pos"].to_numpy(), index)
        if order is not None:
            rows = rows.iloc[order]
        pos = rows.pop("_pos").to_numpy()
        codes = rows.pop("_stage").to_numpy() if "_stage" in rows else None     # (one file's numbers for its stages)
        codes = None if several else codes
        terminal = rows.pop("_terminal").to_numpy(dtype=bool) if "_terminal" in rows else None
        amount = rows["amount"].to_numpy(dtype="float64")
        with_amount = np.flatnonzero(~np.isnan(amount))
        first = with_amount[np.r_[True, pos[with_amount][1:] != pos[with_amount][:-1]]] if len(with_amount) else with_amount
        self.first_amounts = pd.Series(amount[first], index=pd.Index(rows["opportunity_id"].to_numpy()[first],
                                       name="opportunity_id", dtype=object), name="amount", dtype="float64")
        first_by_pos = np.full(len(deals), np.nan)
        first_by_pos[pos[first]] = amount[first]
        # a new stay starts where the stage differs from the previous row of the same deal (numpy on the sorted rows)
        stage = rows["stage"].to_numpy(dtype=object)
        n = len(rows)
        new_stay = np.ones(n, dtype=bool)
        if n > 1:
            missing = pd.isna(stage) if codes is None else codes < 0   # as pandas compares: a missing stage differs
            differs = stage[1:] != stage[:-1] if codes is None else codes[1:] != codes[:-1]    # from every other
            new_stay[1:] = (pos[1:] != pos[:-1]) | differs | missing[1:] | missing[:-1]
        at = np.flatnonzero(new_stay)
        stay_pos = pos[at]
        entered = rows["entered_at"].to_numpy(dtype="datetime64[ns]")[at]
        nxt_same = np.zeros(len(at), dtype=bool)
        nxt_same[:-1] = stay_pos[1:] == stay_pos[:-1]
        exited = np.full(len(at), np.datetime64("NaT"), dtype="datetime64[ns]")
        exited[:-1] = np.where(nxt_same[:-1], entered[1:], np.datetime64("NaT"))
        if "closed_at" in deals and deals["closed_at"].notna().any():   # the last stay of a closed deal ends at its close
            last = ~nxt_same
            exited[last] = deals["closed_at"].to_numpy(dtype="datetime64[ns]")[stay_pos[last]]
        keep = np.ones(len(at), dtype=bool)
        if terminal is not None:
            keep = ~terminal[at]
        else:
            for end in TERMINAL:      # compared as objects (pandas' isin would first copy the stages into Arrow text)
                keep &= stage[at] != end
        # a close date before the stay began (date-only close vs timed stage change) ends the stay as it began
        early = exited < entered
        exited[early] = entered[early]
        at, keep_pos = at[keep], stay_pos[keep]
        stays = pd.DataFrame({"opportunity_id": pd.Series(rows["opportunity_id"].to_numpy(dtype=object)[at], dtype=object),
                              "stage": pd.Series(stage[at], dtype=object),
                              "entered_at": entered[keep], "exited_at": exited[keep]}, copy=False)
        for column in DATED:    # the deal's amount and expected close as they stood when the stay began
            if column in rows and rows[column].notna().any():
                stays[column] = rows[column].to_numpy()[at]
        self.positions = _Positions(deals, stays, keep_pos, first_by_pos)
        return stays

    def _history_file(self, raw: RawTable, fmt: Format, spec: FileSpec, deals: pd.DataFrame, index: pd.Index,
                      in_arrow: pa.Array | None = None, read: _ColumnsRead | None = None) -> pd.DataFrame:
        """One history file's rows still alive, with their deal's position (`_pos`). The id column holds the loaded
        deal's own id (equal text), so the file's copies of the ids are freed with the file's parsed columns.
        `in_arrow`: the ids of `index` as Arrow text, when known (`_ids_in_arrow`); `read`: the file's columns but
        the id parsed already (`history_columns`)."""
        frame = raw.frame
        cols = spec.resolve(list(frame.columns))
        alive = self.readable_rows(raw)
        if read is None:
            read = history_columns(raw, fmt, spec)
        found = _deal_positions(frame[cols["opportunity_id"]], index, in_arrow, read.id_runs)
        read.id_runs = None    # (the runs' ids, in Arrow, freed now: the caller's `read` lives to the end of the file)
        if found is None:    # (the id column is then parsed as text too)
            out = self.columns(raw, cols, fmt, alive, read)
            missing = {c: out[c].isna() for c in ("opportunity_id", "stage", "entered_at")}
        else:    # the ids looked up in Arrow: no Python string made for each row's id
            out = self.columns(raw, {k: v for k, v in cols.items() if k != "opportunity_id"}, fmt, alive, read)
            missing = {"opportunity_id": pd.Series(found[0], index=frame.index),
                       **{c: out[c].isna() for c in ("stage", "entered_at")}}
        for c, reason in (("opportunity_id", "no opportunity id"), ("stage", "no stage"), ("entered_at", "no date")):
            bad = alive & missing[c]
            self.flag("rejected", raw, bad, cols[c], frame[cols[c]], reason)
            alive &= ~bad
        pos = index.get_indexer(out["opportunity_id"]) if found is None else found[1]
        orphan = alive & (pos < 0)
        self.flag("rejected", raw, orphan, cols["opportunity_id"], frame[cols["opportunity_id"]],
                  "opportunity not among the loaded opportunities")
        alive &= ~orphan
        labels = self._clean_labels(raw, cols["stage"], out["stage"], alive)
        stages, stage_codes, terminal = _coded_meanings(labels, alive, fmt, self.codes)
        self.codes.forget()
        alive = self._history_in_lifetime(raw, cols, out, stages, deals, alive, pos)
        keep = alive.to_numpy()
        ids = deals["opportunity_id"].to_numpy(dtype=object)[pos[keep]]
        amount = out["amount"].to_numpy(dtype="float64")[keep] if "amount" in out else np.full(int(keep.sum()), np.nan)
        self.reports.append(FileReport(raw.name, "history", len(frame), int(keep.sum()), raw.encoding,
                                       raw.delimiter, cols, [c for c in frame.columns if c not in cols.values()], raw.notes))
        # object columns stay object (pandas would copy the text into Arrow strings, and the schema back into objects)
        rows = pd.DataFrame({"opportunity_id": pd.Series(ids, dtype=object),
                             "stage": pd.Series(stages.to_numpy()[keep], dtype=object),
                             "entered_at": out["entered_at"].to_numpy(dtype="datetime64[ns]")[keep],
                             "amount": amount}, copy=False)
        if "expected_close_at" in out:   # Salesforce's Opportunity History: the close date expected at each change
            rows["expected_close_at"] = out["expected_close_at"].to_numpy(dtype="datetime64[ns]")[keep]
        rows["_pos"] = pos[keep]
        rows["_stage"], rows["_terminal"] = stage_codes[keep], terminal[keep]    # (`history`: stays found on numbers)
        return rows

    def _history_in_lifetime(self, raw: RawTable, cols: dict[str, str], out: dict[str, pd.Series], stages: pd.Series,
                             deals: pd.DataFrame, alive: pd.Series, pos: np.ndarray) -> pd.Series:
        """Stage changes outside the deal's life, compared by day (a close date has no time of day): one to an open
        stage after the deal closed is rejected (the deal ended at its close; a deal won in May does not end in
        Negotiation); one before the deal was created is read as entered at its creation. Both listed. `pos` is each
        row's deal among `deals` (-1: none)."""
        entered = out["entered_at"]
        day = _days(entered)    # (NaT compares false, as pandas compares it)
        if "closed_at" in deals:
            closed = _at(deals["closed_at"], pos, entered.index)
            late = alive & closed.notna() & pd.Series(day > _days(closed), index=entered.index) & ~stages.isin(TERMINAL)
            self.flag("rejected", raw, late, cols["entered_at"], raw.frame[cols["entered_at"]],
                      "a stage change after the deal closed (" + closed[late].dt.strftime("%Y-%m-%d") + "); not used")
            alive = alive & ~late
        if "created_at" in deals:
            created = _at(deals["created_at"], pos, entered.index)
            early = alive & created.notna() & pd.Series(day < _days(created), index=entered.index)
            self.flag("repaired", raw, early, cols["entered_at"], raw.frame[cols["entered_at"]],
                      "before the deal was created (" + created[early].dt.strftime("%Y-%m-%d")
                      + "); read as entered when it was created")
            out["entered_at"] = entered.where(~early, created)
        return alive


_NOT_READ = object()    # (`_deal_positions`: the ids' runs not read yet)


@dataclass
class _ColumnsRead:
    """A file's canonical columns parsed, before anything is reported: the dates (`parse.parse_dates`), numbers
    (`parse.parse_amount`) and text (`parse.parse_text_coded`) by canonical name, and the notes the dates gave."""

    dates: dict[str, parse.DateColumn]
    amounts: dict[str, parse.Parsed]
    texts: dict[str, tuple[pd.Series, tuple[np.ndarray, np.ndarray] | None]]
    notes: list[str]
    id_runs: object = _NOT_READ     # a history file's ids as `_id_runs` reads them, when read with its columns


def parse_columns(raw: RawTable, cols: dict[str, str], fmt: Format) -> _ColumnsRead:
    """Every canonical column of `cols` parsed, reporting nothing (`_Builder.columns` reports): a function of the file
    alone, so its pieces (`_column_tasks`) may run in another thread."""
    return _assemble([(task, task[2]()) for task in _column_tasks(raw, cols, fmt)])


def _column_tasks(raw: RawTable, cols: dict[str, str], fmt: Format) -> list[tuple[str, str | None, Callable]]:
    """The parsing of a file's columns in independent pieces (kind, canonical name, a function of no arguments): its
    date columns together (`_read_dates`), then each number column, then each text column."""
    frame = raw.frame
    dated = [c for c in cols if c in DATE_COLUMNS]
    tasks: list[tuple[str, str | None, Callable]] = [("dates", None, partial(_read_dates, raw, cols, dated, fmt))] if dated else []
    tasks += [("amount", c, partial(parse.parse_amount, frame[cols[c]])) for c in cols if c not in dated and c in NUMBER_COLUMNS]
    tasks += [("text", c, partial(parse.parse_text_coded, frame[cols[c]]))
              for c in cols if c not in dated and c not in NUMBER_COLUMNS]
    return tasks


def _read_dates(raw: RawTable, cols: dict[str, str], dated: list[str],
                fmt: Format) -> tuple[dict[str, parse.DateColumn], list[str]]:
    """The date columns `dated`, read together: one whose every date fits both day/month orders follows the order the
    file's other date columns show. With the notes to make about it."""
    frame = raw.frame
    dates = {c: parse.parse_dates(frame[cols[c]], fmt.date_format_for(c)) for c in dated}
    settled = {p.order for p in dates.values() if p.order and not p.ambiguous}
    notes = []
    for c, p in list(dates.items()):
        if p.ambiguous and len(settled) == 1 and fmt.date_format_for(c) is None:
            hint = next(iter(settled))
            dates[c] = parse.parse_dates(frame[cols[c]], None, order=hint)
            notes.append(f"{raw.name}: {cols[c]}: every date fits both day/month orders; read {hint} first "
                         "like the file's other date columns")
        elif p.ambiguous:
            notes.append(f"{raw.name}: {cols[c]}: every date fits both day/month orders; read {p.order} first "
                         f"({p.style}); set date_format in a mapping (e.g. day-first) to override")
    return dates, notes


def _assemble(answers: list[tuple[tuple[str, str | None, Callable], object]]) -> _ColumnsRead:
    """The answers of `_column_tasks`' pieces as one `_ColumnsRead`."""
    read = _ColumnsRead({}, {}, {}, [])
    for (kind, name, _), got in answers:
        if kind == "dates":
            read.dates, read.notes = got
        elif kind == "amount":
            read.amounts[name] = got
        elif kind == "ids":
            read.id_runs = got
        else:
            read.texts[name] = got
    return read


def _history_tasks(raw: RawTable, fmt: Format, spec: FileSpec) -> list[tuple[str, str | None, Callable]]:
    """A history file's columns but its id, in pieces (`_column_tasks`), and what `_deal_positions` reads from the id
    column alone (`_id_runs`): they need nothing from the deals, so they can be read while the opportunities are (the
    ids are then looked up among the loaded deals)."""
    cols = spec.resolve(list(raw.frame.columns))
    return (_column_tasks(raw, {k: v for k, v in cols.items() if k != "opportunity_id"}, fmt)
            + [("ids", "opportunity_id", partial(_id_runs, raw.frame[cols["opportunity_id"]]))])


def history_columns(raw: RawTable, fmt: Format, spec: FileSpec) -> _ColumnsRead:
    """A history file's columns but its id, and its ids' runs, parsed (`_history_tasks`)."""
    return _assemble([(task, task[2]()) for task in _history_tasks(raw, fmt, spec)])


AHEAD_MIN_ROWS = 100_000    # history rows from which `_ReadAhead` parses them in a thread (below, a thread gains nothing)


class _ReadAhead:
    """The history files' columns parsed (`_history_tasks`) in one worker thread while the main thread reads the
    opportunities: Arrow's compute functions and numpy release the GIL, so with two cores much of the history's
    parsing is done by the time the deals are. When the main thread comes to a history file, it takes back the pieces
    the worker has not begun and parses them itself while the worker finishes its own. Only parsing happens in the
    worker; every rejection, repair, note and warning is still made by the main thread in the order of a serial load.
    Files of fewer than `AHEAD_MIN_ROWS` rows in all are parsed when needed (`result` returns None), as before.
    Once the last file's columns are taken, the worker is stopped and the memory it freed is given back
    (`sim.crm.memory`): kept by its thread, it would add to the peak of the rest of the load."""

    def __init__(self, files: list[tuple[RawTable, Format, FileSpec]]):
        self._tasks: dict[int, list[tuple[tuple[str, str | None, Callable], Future]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        if sum(len(raw.frame) for raw, _, _ in files) >= AHEAD_MIN_ROWS:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-read-ahead")
            for raw, fmt, spec in files:
                self._tasks[id(raw)] = [(task, self._pool.submit(task[2])) for task in _history_tasks(raw, fmt, spec)]

    def __enter__(self) -> _ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:   # (on an error: waits for the piece under way, so no thread outlives the load)
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._tasks.clear()

    def result(self, raw: RawTable) -> _ColumnsRead | None:
        """The file's columns parsed (an error raised in the worker is raised here), or None when not read ahead."""
        entries = self._tasks.pop(id(raw), None)
        if entries is None:
            return None
        taken = [future.cancel() for _, future in entries]     # the pieces not begun: parsed here, meanwhile
        mine = {k: task[2]() for k, ((task, _), took) in enumerate(zip(entries, taken)) if took}
        read = _assemble([(task, mine[k] if k in mine else future.result()) for k, (task, future) in enumerate(entries)])
        del entries, mine
        if not self._tasks and self._pool is not None:    # the worker's part is done
            self._pool.shutdown(wait=True)
            self._pool = None
            give_back_freed_memory()
        return read


_TEXT = pd.Series(np.array(["text"], dtype=object)).dtype    # the dtype pandas gives a Series of Python strings


def _spread(table: np.ndarray, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """`pd.Series(table[codes], index=index)` (code -1: the last entry), as pandas builds it. Where pandas would turn
    the objects into its Arrow text (`_TEXT`: the entries taken are strings and None), the few entries are taken in
    Arrow instead of converting a million Python objects."""
    at = codes % len(table)
    used = np.flatnonzero(np.bincount(at, minlength=len(table)))
    texts = [table[k] for k in used if table[k] is not None]
    if (len(codes) and texts and all(type(v) is str for v in texts) and getattr(_TEXT, "storage", None) == "pyarrow"
            and type(pd.Series(table).array) is pd.arrays.ArrowStringArray):
        taken = pa.array(list(table), type=pa.large_string()).take(pa.array(at))
        return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([taken]), dtype=_TEXT), index=index)
    return pd.Series(table[codes], index=index)


def _strictly_increasing(values: np.ndarray) -> bool:
    """Whether each value is greater than the one before (then none repeats): one comparison per pair, for the ids of
    an export listed in order (as most are), instead of hashing them all; False when unsure."""
    if len(values) < 2:
        return True
    try:
        return bool(np.all(values[1:] > values[:-1]))
    except TypeError:
        return False


def _false(like: pd.Series) -> pd.Series:
    return pd.Series(False, index=like.index)


def _ids_in_arrow(text: pd.Series, alive: pd.Series) -> pa.Array | None:
    """The ids of the rows loaded as Arrow text, when `parse.parse_text` read the column in Arrow (trimmed there; the
    ids then equal the loaded deals' ids, in order), for looking the history's ids up without converting the deals'
    ids back from Python strings. None otherwise."""
    arr = text.array
    if not hasattr(arr, "_pa_array") or len(text) == 0:
        return None
    if parse.read_per_value(text):    # read once per distinct value, with Python's strip
        return None
    return one_array(pc.utf8_trim_whitespace(arr._pa_array)).filter(pa.array(alive.to_numpy(dtype=bool)))


def _id_runs(text: pd.Series) -> tuple[pa.DataType, np.ndarray, np.ndarray, pa.Array] | None:
    """What `_deal_positions` reads from a history file's id column alone, so that it can be read ahead
    (`_history_tasks`): for a column held in Arrow with (nearly) one id per row, the ids' type, which cells hold no id
    (trimmed as pandas trims Arrow text, placeholders such as 'N/A' for nothing), where each run of one id starts, and
    the runs' ids. None for other columns (text held as Python objects, ids that repeat)."""
    arr = text.array
    if not hasattr(arr, "_pa_array") or len(text) == 0:
        return None
    if parse.read_per_value(text):    # parse_text reads such a column once per distinct value, differently
        return None
    trimmed = one_array(pc.utf8_trim_whitespace(arr._pa_array))
    empty = pc.is_in(trimmed, value_set=pa.array(EMPTY_TOKENS, type=trimmed.type)).to_numpy(zero_copy_only=False)
    # a deal's rows follow one another in most histories: each run of one id is looked up once
    n = len(trimmed)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        starts[1:] = pc.not_equal(trimmed.slice(1), trimmed.slice(0, n - 1)).fill_null(True).to_numpy(zero_copy_only=False)
    return trimmed.type, empty, starts, trimmed.filter(pa.array(starts))



def _deal_positions(text: pd.Series, index: pd.Index, in_arrow: pa.Array | None = None,
                    runs=_NOT_READ) -> tuple[np.ndarray, np.ndarray] | None:
    """For a history file's id column held in Arrow with (nearly) one id per row: which cells hold no id, and each
    row's deal position among `index` (-1: none), read as `parse.parse_text` reads the column (trimmed as pandas trims
    Arrow text, placeholders such as 'N/A' for nothing) and looked up in Arrow, without a Python string per row.
    None for other columns (text held as Python objects, ids that repeat): the ids are then read as text. `runs`: what
    `_id_runs` gives for `text`, when read already."""
    runs = _id_runs(text) if runs is _NOT_READ else runs
    if runs is None:
        return None
    kind, empty, starts, heads = runs
    try:
        deal_ids = (in_arrow if in_arrow is not None and len(in_arrow) == len(index)
                    else pa.array(index.to_numpy(dtype=object), type=pa.string(), from_pandas=True))
    except (pa.ArrowException, UnicodeError, TypeError):
        return None
    if deal_ids.type != kind:
        deal_ids = deal_ids.cast(kind)
    if len(heads) == len(deal_ids) and pc.all(pc.equal(heads, deal_ids).fill_null(False)).as_py():
        at = np.arange(len(heads), dtype=np.intp)     # the runs are the deals, in their order: nothing to look up
    else:
        at = pc.index_in(heads, value_set=deal_ids).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
    pos = at[np.cumsum(starts) - 1]
    pos[empty] = -1
    return empty, pos


def _days(when: pd.Series) -> np.ndarray:
    """The days of datetimes (`Series.dt.normalize`'s days, NaT kept), as numpy's datetime64[D]: floored, as pandas
    floors, one cast instead of pandas' pass over the fields."""
    return when.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def _at(dates: pd.Series, pos: np.ndarray, index: pd.Index) -> pd.Series:
    """The deals' dates at positions `pos` (NaT where -1), as datetime64[ns]."""
    values = dates.to_numpy(dtype="datetime64[ns]")
    taken = values[np.where(pos < 0, 0, pos)] if len(values) else np.full(len(pos), np.datetime64("NaT"), "datetime64[ns]")
    return pd.Series(np.where(pos < 0, np.datetime64("NaT"), taken), index=index, dtype="datetime64[ns]")


def _meanings(labels: pd.Series, alive: pd.Series, fmt: Format, known: _Codes | None = None) -> pd.Series:
    """What each row's stage label means (worked out once per distinct label of the rows still alive; NaN elsewhere)."""
    return _coded_meanings(labels, alive, fmt, known)[0]


def _coded_meanings(labels: pd.Series, alive: pd.Series, fmt: Format,
                    known: _Codes | None = None) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """`_meanings`, and for each row a number standing for its meaning (equal meanings, equal numbers; -1 for none,
    as pandas counts missing) and whether it is a won or lost one: the stays compare those instead of the objects."""
    codes, uniq = known.factorize(labels) if known is not None else pd.factorize(labels)
    live = np.unique(codes[alive.to_numpy() & (codes >= 0)])
    table = np.full(len(uniq) + 1, np.nan, dtype=object)
    table[live] = [fmt.stage_meaning(uniq[k]) for k in live]
    inner, distinct = pd.factorize(table)      # (code -1 of a row picks the last entry, NaN, as `table[codes]` does)
    terminal = np.array([v in TERMINAL for v in np.asarray(distinct, dtype=object)] + [False], dtype=bool)
    return pd.Series(table[codes], index=labels.index, dtype="object"), inner[codes], terminal[inner[codes]]


def _order_by_id_and_time(ids: pd.Series, when: pd.Series, pos: np.ndarray | None = None,
                          index: pd.Index | None = None) -> np.ndarray | None:
    """Positions that sort rows by opportunity id, then time, stably (Arrow's sort: UTF-8 byte order is the code
    point order Python sorts text by); None when the rows are in that order already.

    When the deals' ids (`index`) are sorted, as exports usually list them, each row's deal position `pos` among
    them orders the rows as its id does: the rows are then checked in one pass (a history exported sorted by deal
    and date needs no sort) or sorted on the positions, integers, instead of the ids' text.
    """
    at = when.to_numpy(dtype="datetime64[ns]")
    if pos is not None and index is not None and len(pos) and not np.isnat(at).any() and index.is_monotonic_increasing:
        t = at.view("int64")
        if bool(np.all((pos[1:] > pos[:-1]) | ((pos[1:] == pos[:-1]) & (t[1:] >= t[:-1])))):
            return None
        keys = pa.table({"pos": pa.array(pos), "at": pa.array(at)})
        return pc.sort_indices(keys, sort_keys=[("pos", "ascending"), ("at", "ascending")]).to_numpy()
    try:
        keys = pa.table({"id": pa.array(ids.to_numpy(dtype=object), type=pa.string(), from_pandas=True),
                         "at": pa.array(at)})
    except (pa.ArrowException, UnicodeError):
        return np.lexsort((at, pd.factorize(ids, sort=True)[0]))
    return pc.sort_indices(keys, sort_keys=[("id", "ascending"), ("at", "ascending")]).to_numpy()


def _listed(fmt: Format, label: str) -> bool:
    return fmt.known_stage(label) is not None


class _Codes:
    """`pd.factorize` answers for label columns the loader made itself (`parse.parse_text_coded`), so that cleaning the
    labels, reading their meaning and the deals' outcomes group a million labels without hashing them again. Only the
    very Series remembered is answered from memory; any other goes to `pd.factorize`."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[pd.Series, np.ndarray, np.ndarray]] = {}

    def remember(self, labels: pd.Series, codes: np.ndarray, uniques: np.ndarray) -> None:
        self._known[id(labels)] = (labels, codes, uniques)

    def factorize(self, labels: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        hit = self._known.get(id(labels))
        if hit is not None and hit[0] is labels:
            return hit[1], hit[2]
        return pd.factorize(labels)

    def forget(self) -> None:
        self._known.clear()


@dataclass
class _Positions:
    """What `_Builder.history` found by position: the stays' deals (`stay_pos`, positions among `deals`) and each
    deal's first amount in the history (`first_by_pos`, NaN where none), valid while `deals` and `stays` are the
    tables `load` goes on with (no other history format replaced them)."""

    deals: pd.DataFrame
    stays: pd.DataFrame
    stay_pos: np.ndarray
    first_by_pos: np.ndarray


def _complete_from_history(opps: pd.DataFrame, history: pd.DataFrame, first_amounts: pd.Series,
                           known: _Positions | None = None) -> pd.DataFrame:
    """Fill what only the history knows: the first estimate, and the last stage of a closed deal. `known` (the
    positions `_Builder.history` found for these very tables) spares looking each id up again."""
    if history.empty:
        return opps
    if known is not None and (known.deals is not opps or known.stays is not history):
        known = None
    opps = opps.copy(deep=False)     # (copy-on-write: the columns set here leave the caller's table as it was)
    if len(first_amounts) and ("first_estimate" not in opps or opps["first_estimate"].isna().all()):
        opps["first_estimate"] = (pd.Series(known.first_by_pos, index=opps.index, dtype="float64") if known is not None
                                  else opps["opportunity_id"].map(first_amounts).astype("float64"))
    fill = opps["stage"].isna()
    index = pd.Index(opps["opportunity_id"])
    if known is None and not index.is_unique:
        last_stage = history.groupby("opportunity_id", sort=False)["stage"].last()
        opps.loc[fill, "stage"] = opps.loc[fill, "opportunity_id"].map(last_stage)
        return opps
    # each deal's last stage in the history: the last row with a stage, found by position, not by a group-by on ids
    pos = known.stay_pos if known is not None else index.get_indexer(history["opportunity_id"])
    stage = history["stage"].to_numpy(dtype=object)
    rows = np.flatnonzero((pos >= 0) & pd.notna(stage))
    latest = np.full(len(opps), -1, dtype=np.intp)
    np.maximum.at(latest, pos[rows], rows)          # each deal's last row with a stage (no sort of the rows)
    deals = np.flatnonzero(latest >= 0)
    last = np.full(len(opps), np.nan, dtype=object)
    last[deals] = stage[latest[deals]]
    fill = fill.to_numpy()
    current = opps["stage"]
    if fill.any() and current.dtype != object and pd.api.types.is_string_dtype(current):
        # held already as `_text_as_objects` would hold the filled column (one string per label, None for none),
        # instead of writing Python objects into Arrow text first
        codes, uniq = pd.factorize(current)
        filled = np.append(np.asarray(uniq, dtype=object), None)[codes]
        got = last[fill]
        filled[fill] = np.where(pd.isna(got), None, got)
        opps["stage"] = pd.Series(filled, index=opps.index, dtype=object)
    else:
        opps.loc[fill, "stage"] = last[fill]
    return opps


def _text_as_objects(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The table's declared text columns held in pandas' Arrow `str` dtype turned into the objects the schema keeps
    (str, None for missing), one Python string per distinct value: what `schema.conform` would make of them, without
    a new string per row (a million-row column of three outcomes holds three strings, not a million)."""
    text = [c.name for c in schema.TABLES[table].cols if c.kind == "str" and c.name in df
            and df[c.name].dtype != "object" and pd.api.types.is_string_dtype(df[c.name])]
    if not text:
        return df
    df = df.copy(deep=False)
    for name in text:
        codes, uniq = pd.factorize(df[name])
        table_ = np.append(np.asarray(uniq, dtype=object), None)
        df[name] = pd.Series(table_[codes], index=df.index, dtype="object")
    return df


def _some_filled(column: pd.Series) -> bool:
    """Whether some cell holds a value: answered by the first cells when one of them does (nearly always)."""
    return bool(column.iloc[:100].notna().any() or column.notna().any())


def _accounts(opps: pd.DataFrame) -> pd.DataFrame:
    """One row per account seen in the opportunities, with the won amount as its revenue."""
    if "account_id" not in opps or not _some_filled(opps["account_id"]):
        return schema.empty("accounts")
    codes, names = pd.factorize(opps["account_id"], sort=True)
    seen = codes >= 0
    won = seen & (opps["outcome"] == "won").to_numpy()
    amount = opps["amount"].fillna(0.0).to_numpy() if "amount" in opps else np.zeros(len(opps))
    revenue = np.bincount(codes[won], weights=amount[won], minlength=len(names))
    accounts = pd.DataFrame({"account_id": pd.Series(names, dtype="object")})
    if "segment" in opps:
        first = pd.Series(opps["segment"].to_numpy()[seen]).groupby(codes[seen]).first()
        accounts["segment"] = first.reindex(range(len(names))).to_numpy()
    accounts["revenue"] = revenue.astype("float64")
    if "complaints" in opps and opps["complaints"].notna().any():   # an account-level number on each deal row
        most = pd.Series(opps["complaints"].to_numpy()[seen]).groupby(codes[seen]).max()
        accounts["complaints"] = most.reindex(range(len(names))).to_numpy(dtype="float64")
    return schema.conform(accounts, "accounts")
