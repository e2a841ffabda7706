"""Writing what the tool produces, safely: whole files, safe CSV cells, and folders only the tool replaces.

- `write_csv` / `write_text` / `atomic_file`: every file is written to a temporary name beside it and renamed
  into place, so a full disk or an interrupt never leaves a half-written file that a later run would read;
  a write that fails raises an `OSError` naming the file.
- `neutralise`: a CSV cell that starts with `=`, `+`, `-`, `@` (or a tab or carriage return) is a formula to
  Excel, LibreOffice and Google Sheets, so a segment or a rejected row holding `=HYPERLINK("http://...")`
  would run when someone opens the file (CSV injection). Such cells get a leading apostrophe, the usual
  neutralisation (OWASP): the value stays readable and spreadsheets show it as text.
- `OutputFolder`: a report, a simulated run or a synthetic export is a folder the tool writes whole. It
  carries a marker file (`MARKER`), and an existing folder is replaced only when it carries that marker:
  never a folder holding files the tool did not write, the export it reads, a folder above the export, the
  home folder or the file system's root. Two writers to one folder: the second refuses (a lock beside it).
  The folder gets the user's usual permissions (umask), so it can be shared like any other folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import IO

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MARKER = ".playbook-output.json"   # in every folder the tool writes whole


class OutputError(Exception):
    """An output folder the tool must not write into or replace; the message names it and says what to do."""


# ---- files -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", **open_args) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; rename it to `path` only when the block ends cleanly.

    On any failure the temporary file is removed and `path` is left as it was; an `OSError` carries `path`
    as its filename, so the message names the file the user asked for (not the temporary one).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, mode, **open_args) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err
    except BaseException:
        _remove(tmp)
        raise


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` whole (temporary name, then renamed)."""
    with atomic_file(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) cannot be read as formulas (a leading ' where they could)."""
    out = frame.copy()
    for col in out.columns:
        column = out[col]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
            out[col] = column
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            risky = column.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).astype(bool)
            if risky.any():
                out[col] = column.astype(object)
                out.loc[risky, col] = "'" + column[risky].astype(str)
    out.columns = [("'" + c) if isinstance(c, str) and c.startswith(FORMULA_STARTS) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8", **to_csv) -> Path:
    """Write `frame` as CSV with every formula-like cell neutralised, whole (temporary name, then renamed).

    Extra keyword arguments go to `DataFrame.to_csv` (`sep`, `date_format`, `lineterminator`...); the index is
    not written unless asked.
    """
    to_csv.setdefault("index", False)
    with atomic_file(path, "w", encoding=encoding, newline="") as fh:
        neutralise(frame).to_csv(fh, **to_csv)
    return Path(path)


# ---- folders ---------------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def is_output(folder: Path) -> bool:
    """Whether `folder` is one the tool wrote whole (it carries the marker)."""
    return (folder / MARKER).is_file()


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_replaceable(folder: str | Path, flag: str, *, kind: str, force: bool | None,
                      protect: Iterable[str | Path] = ()) -> None:
    """Refuse, before any work, to write `kind` into `folder` when that could lose something.

    `force` None: an earlier folder of the tool is replaced without asking (`simulate --out`, `synth --out`);
    True/False: only with `force` (`report --force`). An empty folder is always fine; a folder with files the
    tool did not write never is. `protect` are paths the run reads (the export): the folder must not be one of
    them nor hold one. The home folder and the root are never replaced.
    """
    folder = Path(folder)
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"{flag}: {p} is a file, not a folder; choose a folder to write into")
            break
    where = folder.resolve()
    for path in protect:
        if path is None:
            continue
        read = Path(path).resolve()
        if _inside(read, where):
            what = "is" if read == where else "holds"
            raise OutputError(f"{flag}: {folder} {what} the input this run reads ({path}); "
                              f"choose another folder for the {kind} (nothing was written)")
    if where == Path.home().resolve() or where == Path(where.anchor) or _inside(Path.home().resolve(), where):
        raise OutputError(f"{flag}: {folder} is your home folder or above it; choose a folder of its own for the {kind}")
    if not folder.exists() or not any(folder.iterdir()):
        return
    if not is_output(folder):
        if (older := earlier_version(folder)) is not None:
            raise OutputError(f"{flag}: {folder} looks like a {older} written by an earlier version of playbook, before "
                              f"its output folders carried a marker ({MARKER}); playbook cannot tell it from your own "
                              f"files, so it never replaces it. If the folder holds only that {older}, delete it "
                              f"yourself (rm -r {shlex.quote(str(folder))}) and run again, or choose a new folder for "
                              f"the {kind}")
        raise OutputError(f"{flag}: {folder} already holds files playbook did not write; it is never replaced. "
                          f"Choose a new or empty folder for the {kind}")
    if foreign := _foreign_files(folder):
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise OutputError(f"{flag}: {folder} is an earlier playbook output, but holds files playbook did not write "
                          f"({', '.join(foreign[:3])}{more}); it is not replaced. Move them out, or choose another folder")
    if force is False:
        raise OutputError(f"{flag}: {folder} already exists (an earlier playbook output); pass --force to replace it")


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def earlier_version(folder: Path) -> str | None:
    """What an unmarked `folder` looks like when an earlier version of playbook wrote it (before the marker):
    "report" (index.html beside a report.json with cards), "simulated run" (run.json saying how to reproduce it
    with `playbook simulate`, beside scenario.yaml), else None. Only said, never a reason to replace it."""
    if (folder / "index.html").is_file() and "cards" in _json(folder / "report.json"):
        return "report"
    if (folder / "scenario.yaml").is_file() and str(_json(folder / "run.json").get("reproduce", "")).startswith("playbook simulate"):
        return "simulated run"
    return None


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def _foreign_files(folder: Path) -> list[str]:
    """Files in an output folder that its marker does not list (added by someone after the tool wrote it)."""
    try:
        written = set(json.loads((folder / MARKER).read_text(encoding="utf-8")).get("files", []))
    except (OSError, ValueError, AttributeError):
        written = set()
    return [f for f in _files(folder) if f != MARKER and f not in written]


def _stamp(folder: Path, kind: str) -> None:
    try:
        version = metadata.version("sales-playbook-lab")
    except metadata.PackageNotFoundError:
        version = "0.0.0+source"
    files = _files(folder)
    write_text(folder / MARKER, json.dumps({"written_by": "playbook", "kind": kind, "version": version,
                                            "files": files}, indent=1) + "\n")


class OutputFolder:
    """Build a folder the tool writes whole: in a temporary folder beside `folder`, moved into place at the end.

        with OutputFolder(out, "--out", kind="simulated run", force=None, protect=[export]) as tmp:
            ...write files into tmp...
        # now `out` holds them (an earlier run it replaced is gone whole)

    Checks (`check_replaceable`) run on entry and again just before the move; a lock beside `folder` makes a
    second writer refuse at once. On any failure or interrupt the temporary folder is removed and `folder` is
    left as it was.
    """

    def __init__(self, folder: str | Path, flag: str, *, kind: str, force: bool | None = None,
                 protect: Iterable[str | Path] = ()) -> None:
        self.folder, self.flag, self.kind, self.force = Path(folder), flag, kind, force
        self.protect = [p for p in protect if p is not None]
        self.tmp: Path | None = None
        self._lock: int | None = None

    def __enter__(self) -> Path:
        check_replaceable(self.folder, self.flag, kind=self.kind, force=self.force, protect=self.protect)
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self._lock = lock_folder(self.folder, self.flag)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.partial-", dir=self.folder.parent))
            os.chmod(self.tmp, 0o777 & ~_umask())
        except OSError as err:   # name the folder asked for, not a temporary or lock file beside it
            self._release()
            raise OSError(err.errno, err.strerror or str(err), str(self.folder)) from err
        except BaseException:
            self._release()
            raise
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                _stamp(self.tmp, self.kind)
                check_replaceable(self.folder, self.flag, kind=self.kind, force=self.force, protect=self.protect)
                move_into_place(self.tmp, self.folder)
        finally:
            if self.tmp is not None and self.tmp.exists():
                shutil.rmtree(self.tmp, ignore_errors=True)
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            unlock_folder(self.folder, self._lock)
            self._lock = None


def _lock_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.playbook-lock"


def lock_folder(folder: Path, flag: str) -> int:
    """Take the lock beside `folder` (a file descriptor to give back to `unlock_folder`); refuse when another run holds it."""
    path = _lock_path(folder)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"{flag}: another playbook run is writing {folder} right now; "
                                  "wait for it to finish or choose another folder") from None
            raise
        try:   # the holder before us may have removed the file: then lock the new one
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def unlock_folder(folder: Path, fd: int) -> None:
    """Give the lock back and remove its file."""
    _remove(_lock_path(folder))
    os.close(fd)


def move_into_place(tmp: Path, out: Path) -> None:
    """Replace `out` by `tmp` with renames only, so `out` is never half-written; an earlier `out` goes whole."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(old / out.name)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
