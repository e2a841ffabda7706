"""The `playbook` command: simulate, compare and write scenarios from a shell.

Each sub-command is a small function registered in `COMMANDS` with the argparse set-up it needs, so a new
command is one function plus one `@command(...)` line.

One error boundary (`main`) answers every input: an error a user can fix (a bad scenario value, a file that
cannot be read or written, an export that is not an export, a flag out of range) is printed as a few lines
naming the file, field or flag and what to do, with exit status 2 and no traceback. Anything else is a bug:
its traceback is shown, said to be a bug and where to report it, with exit status 70.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import yaml

from . import __version__
from .experiments.replicate import compare
from .scenario import MAX_LEADS, Scenario, ScenarioError, field_of, run_size
from .experiments.simulate import simulate
from .experiments.calibrate import calibrate
from .experiments.validate import validate
from .core.amounts import parse_amount, parse_share
from .core.schema import TableError
from .core.outputs import OutputError, OutputFolder, check_replaceable, write_text
from .analysis.sufficiency import WIN_RATES, currency_unstated, sufficiency
from .analysis.sufficiency import open_as_lost as repair
from .crm import PRESETS, ExportError
from .crm import load as load_export
from .crm.as_of import as_of as export_as_of
from .crm.history_formats import LAYOUTS
from .crm.store import Store, StoreError, default_store
from .crm.synth import breakable, write_export
from .analysis.category_scores import category_scores
from .analysis.changes import changes as pipeline_changes
from .explorer import serve as explorer_serve
from . import cli_forecast

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


EXIT_USAGE = 2      # the input or the flags need fixing; the message says how
EXIT_BUG = 70       # sysexits' EX_SOFTWARE: an error in playbook itself
MAX_REPS = 100_000  # replications one command may ask for (a CI needs 2; 100,000 already takes hours)
REPORT_BUGS = "the Sales Playbook Lab's issue tracker (the command you ran and this traceback)"


class UsageError(Exception):
    """A problem with what the user asked for, reported as one line and exit status 2."""


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]; anything else is a usage error naming the flag."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"from {low} to {high:,}"
            raise argparse.ArgumentTypeError(f"{value} is not allowed, must be a whole number {allowed}")
        return value
    parse.__name__ = "whole number"
    return parse


SEED = whole_number(0)


def iso_date(text: str) -> pd.Timestamp:
    """An argparse type: a calendar date written YYYY-MM-DD."""
    try:
        return pd.Timestamp(dt.date.fromisoformat(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD (e.g. 2026-03-31)") from None


def store_args(p: argparse.ArgumentParser) -> None:
    """--store and --wait, for every command that uses the store of exports."""
    p.add_argument("--store", type=Path, default=default_store(),
                   help=f"the store of exports, a DuckDB file (default: $PLAYBOOK_STORE if set, else "
                        f"runs/history.duckdb; here {default_store()})")
    p.add_argument("--wait", type=whole_number(0, 3600), default=30, metavar="SECONDS",
                   help="how long to wait for another playbook using the store before giving up (default 30)")


def _typed(parse: Callable[[str], float], name: str) -> Callable[[str], float]:
    """An argparse type from a parser raising ValueError: its message becomes the flag's error."""
    def typed(text: str) -> float:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    typed.__name__ = name
    return typed


AMOUNT = _typed(parse_amount, "amount")
SHARE = _typed(parse_share, "share")


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register a sub-command: `configure` adds its arguments, the decorated function runs it."""
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help, configure, fn)
        return fn
    return register


# ---- simulate ----------------------------------------------------------------------------------------
def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a preset name (" + ", ".join(Scenario.presets()) + ") or a scenario YAML file")
    p.add_argument("--seed", type=SEED, default=0, help="random seed, a whole number >= 0 (default 0)")
    p.add_argument("--out", type=Path, required=True,
                   help="folder to write the tables, metrics and scenario into (new, empty, or an earlier run, replaced whole)")
    _large_arg(p)


@command("simulate", "run one scenario and write its tables as CSV, with metrics and the exact scenario", _simulate_args)
def cmd_simulate(args: argparse.Namespace) -> int:
    inputs = [Path(args.scenario)] if Path(args.scenario).exists() else []
    check_replaceable(args.out, "--out", kind="simulated run", force=None, protect=inputs)
    scenario = Scenario.load(args.scenario)
    big = check_size([scenario], 1, args.large)
    with OutputFolder(args.out, "--out", kind="simulated run", protect=inputs) as tmp:
        result = simulate(scenario, seed=args.seed, progress=big)
        names = [p.name for p in result.tables.save(tmp)]
        write_json(tmp / "metrics.json", result.metrics)
        scenario.to_yaml(tmp / "scenario.yaml")
        run = {"scenario": scenario.name, "seed": args.seed, "package_version": __version__,
               "reproduce": f"playbook simulate {args.out / 'scenario.yaml'} --seed {args.seed} --out DIR"}
        write_json(tmp / "run.json", run)
    print(f"simulated {scenario.name!r} with seed {args.seed}: "
          f"{result.metrics['deals_won']:.0f} deals won, bookings {result.metrics['bookings']:,.0f} {scenario.currency}")
    for name in [*names, "metrics.json", "scenario.yaml", "run.json"]:
        print(f"  wrote {args.out / name}")
    return 0


# ---- compare -------------------------------------------------------------------------------------------
def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="+", help="two or more presets or scenario YAML files; the first is the reference")
    p.add_argument("--reps", type=whole_number(2, MAX_REPS), default=100,
                   help="replications per scenario, 2 or more (default 100)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed, a whole number >= 0 (default 0)")
    p.add_argument("--metrics", help="comma-separated metrics to show (default: all); checked before any replication runs")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _large_arg(p)


@command("compare", "replicate scenarios on common random numbers and print means, differences and 95% CIs", _compare_args)
def cmd_compare(args: argparse.Namespace) -> int:
    if len(args.scenarios) < 2:
        raise UsageError("compare needs at least two scenarios")
    scenarios = {}
    for ref in args.scenarios:
        sc = Scenario.load(ref)
        label = sc.name if sc.name not in scenarios else f"{sc.name} ({Path(ref).name})"
        scenarios[label] = sc
    check_size(list(scenarios.values()), args.reps, args.large)
    metrics = _checked_metrics(args.metrics, scenarios, args.seed) if args.metrics else None
    table = compare(scenarios, n=args.reps, seed=args.seed, metrics=metrics, progress=not args.no_progress)
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", 500, "display.float_format", "{:,.3f}".format):
        print(table)
    return 0


def _checked_metrics(text: str, scenarios: dict[str, Scenario], seed: int) -> list[str]:
    """The metrics asked for, each one a metric every scenario reports; checked with one probe run per scenario
    (the names depend on the scenario's policies and quota), before the replications start."""
    wanted = [m.strip() for m in text.split(",") if m.strip()]
    if not wanted:
        raise UsageError("--metrics: name at least one metric, e.g. --metrics bookings,win_rate")
    known = None
    for sc in scenarios.values():
        names = set(simulate(sc, seed=seed).metrics)
        known = names if known is None else known & names
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise UsageError(f"--metrics: {', '.join(unknown)} {'is not a metric' if len(unknown) == 1 else 'are not metrics'} "
                         f"of these scenarios; choose from {', '.join(sorted(known))}")
    return wanted


# ---- scenario ------------------------------------------------------------------------------------------
def _scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a preset name or a scenario YAML file")


@command("scenario", "print a scenario as commented YAML to edit (e.g. playbook scenario baseline > my.yaml)", _scenario_args)
def cmd_scenario(args: argparse.Namespace) -> int:
    sys.stdout.write(Scenario.load(args.scenario).to_yaml())
    return 0


# ---- check / synth (CRM exports) -----------------------------------------------------------------------
def _open_as_lost_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--open-as-lost", nargs="?", const="auto", metavar="DAYS",
                   help="count an open deal with no activity for more than DAYS days as lost (for a CRM that never "
                        "marks a deal lost); without DAYS, the 95th percentile of the export's days to a win")


def _idle_days(text: str | None) -> int | None:
    """--open-as-lost's DAYS: None for "auto" (from the export), else a whole number >= 1."""
    if text in (None, "auto"):
        return None
    try:
        days = int(text)
    except ValueError:
        raise UsageError(f"--open-as-lost: {text!r} is not a whole number of days (or leave it out: auto)") from None
    if days < 1:
        raise UsageError(f"--open-as-lost: {days} is not allowed, must be a whole number of days >= 1")
    return days


def gated(tables, open_as_lost: str | None):
    """The tables (repaired by the open-as-lost rule when asked), the gate's verdict on them, and the repairs."""
    repairs = None
    if open_as_lost is not None:
        tables, repairs, _ = repair(tables, _idle_days(open_as_lost))
    return tables, sufficiency(tables, 0 if repairs is None else len(repairs)), repairs


def print_gate(gate, indent: str = "  ") -> None:
    """The gate's findings, first thing a user reads after the counts."""
    for line in gate.notes:
        print(f"{indent}repair: {line}")
    for line in gate.lines():
        print(f"{indent}DATA: {line}")


def missing_lines(summary: dict) -> list[str]:
    """The loader's missing-or-empty columns, told apart: not in the export, or mapped but empty (and why)."""
    mapped = {c: src for f in summary["files"].values() for c, src in (f.get("columns") or {}).items()}
    absent = [c for c in summary["missing_columns"] if c not in mapped]
    out = [f"not in the export (analyses needing them are skipped): {', '.join(absent)}"] if absent else []
    for c in summary["missing_columns"]:
        if c not in mapped:
            continue
        if c == "stage" and all(s.get("maps_to") in ("won", "lost") for s in summary["stages"].values()):
            out.append(f"stage is mapped (from {mapped[c]!r}) but every label maps to won or lost: no deal is in an "
                       "open stage")
        else:
            out.append(f"{c} is mapped (from {mapped[c]!r}) but every value is empty or unreadable")
    return out


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("export", type=Path, help="an export file (CSV/XLSX) or a folder holding the files of one export")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crm", choices=sorted(PRESETS), help="the CRM it came from (default: recognised from the header)")
    how.add_argument("--mapping", type=Path, help="a mapping YAML for any other export (see examples/)")
    p.add_argument("--show", type=whole_number(0), default=10, help="how many rejected rows and repaired values to list (default 10)")
    _open_as_lost_arg(p)
    p.add_argument("--pipeline", metavar="NAME", help="keep the deals of one pipeline (HubSpot exports with several)")


@command("check", "load a CRM export, print what was read, loaded and rejected; exit 1 if nothing usable loaded", _check_args)
def cmd_check(args: argparse.Namespace) -> int:
    result = load_export(args.export, crm=args.crm, mapping=args.mapping, pipeline=args.pipeline)
    summary = result.summary()
    print(f"{args.export}: {summary['format']} export")
    for warning in summary["warnings"]:
        print(f"  WARNING: {warning}")
    for name, f in summary["files"].items():
        print(f"  {name} ({f['kind']}, {f['encoding']}, delimiter {f['delimiter']!r}): "
              f"{f['rows_read']} rows read, {f['rows_loaded']} loaded, {f['rows_rejected']} rejected")
        for note in f["notes"]:
            print(f"    {note}")
        if f["unused_columns"]:
            print(f"    columns not used: {', '.join(f['unused_columns'])}")
    for sheet in summary["sheets_not_read"]:
        print(f"  sheet not read: {sheet}")
    for file in summary.get("files_not_read", []):
        print(f"  file not read: {file}")
    o = summary["outcomes"]
    print(f"  opportunities: {summary['opportunities']} ({o['won']} won, {o['lost']} lost, {o['open']} open); "
          f"dates {' to '.join(summary['date_range'] or ['none'])}; {len(summary['owners'])} owner(s); "
          f"{summary['stage_history_rows']} stage-history rows")
    print("  stages: " + "; ".join(f"{label} -> {s['maps_to']} ({s['deals']})" for label, s in summary["stages"].items()))
    for line in missing_lines(summary):
        print(f"  columns: {line}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    if summary["opportunities"]:
        _, gate, repairs = gated(result.tables, args.open_as_lost)
        if gate.currency:
            print(f"  currency: {gate.currency}")
        elif currency_unstated(gate, result.tables.opportunities):
            print("  currency: not stated (plain numbers): the forecast and what-ifs show them in their preset's currency; "
                  "set `currency: EUR` (say) in a mapping to have every page say yours")
        print_gate(gate)
        if repairs is not None and len(repairs):
            print(f"  deals counted as lost ({len(repairs)}; first {min(args.show, len(repairs))}):")
            for row in repairs.head(args.show).itertuples(index=False):
                print(f"    {row.opportunity_id}: {row.reason}")
    for title, frame in (("rejected rows", result.rejected), ("repaired values", result.repaired)):
        if len(frame):
            print(f"  {title} ({len(frame)}; first {min(args.show, len(frame))}):")
            for row in frame.head(args.show).itertuples(index=False):
                print(f"    {row.file} row {row.row}, {row.column} = {row.value!r}: {row.reason}")
    return 0 if summary["opportunities"] else 1


def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crm", choices=sorted(PRESETS), required=True, help="which CRM's export format to write")
    p.add_argument("--out", type=Path, required=True,
                   help="folder to write the export into (new, empty, or an earlier synth export, replaced whole)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed, a whole number >= 0 (default 0)")
    p.add_argument("--scenario", default="baseline",
                   help="preset or scenario YAML to simulate (default baseline; the demo preset fills every file and "
                        "column the notebooks read: activities, loss reasons, competitors, quotas, two years)")
    _large_arg(p)
    p.add_argument("--broken", type=whole_number(0), default=0, metavar="N",
                   help="damage N rows on purpose (listed in broken_rows.json) to exercise data-quality checks")
    p.add_argument("--as-of", type=iso_date, metavar="DATE",
                   help="write the export the CRM would have shown at the end of DATE (YYYY-MM-DD) for the same "
                        "simulated history: later deals absent, stages, amounts and close dates as they stood")
    p.add_argument("--history", choices=sorted(LAYOUTS),
                   help="write the stage history in another layout the CRM exports: " + ", ".join(
                       f"{k} ({v})" for k, v in LAYOUTS.items()) + " (wide: HubSpot's 'Date entered/exited' "
                       "columns; hs_v2: the same under internal names; field: Salesforce's Opportunity Field History)")


@command("synth", "write a simulated pipeline as a CRM would export it (column names, formats, stage labels; "
                  "activity files for salesforce and hubspot)", _synth_args)
def cmd_synth(args: argparse.Namespace) -> int:
    inputs = [Path(args.scenario)] if Path(args.scenario).exists() else []
    check_replaceable(args.out, "--out", kind="synthetic export", force=None, protect=inputs)
    scenario = Scenario.load(args.scenario)
    big = check_size([scenario], 1, args.large)
    if args.history is not None and LAYOUTS[args.history] != args.crm:
        raise UsageError(f"--history {args.history} is a {LAYOUTS[args.history]} layout; use it with --crm {LAYOUTS[args.history]}")
    with OutputFolder(args.out, "--out", kind="synthetic export", protect=inputs) as tmp:
        tables = simulate(scenario, seed=args.seed, progress=big).tables
        if args.as_of is not None:
            tables = export_as_of(tables, args.as_of)
        written = write_export(tables, args.crm, tmp, seed=args.seed, broken=args.broken, quota=scenario.reps.quota,
                               history=args.history)
    paths = [args.out / p.name for p in written]
    broken = min(args.broken, breakable(len(tables.opportunities)))
    print(f"wrote a simulated {args.crm} export of {scenario.name!r} (seed {args.seed}, "
          + (f"as of {args.as_of:%Y-%m-%d}, " if args.as_of is not None else "") +
          f"{len(tables.opportunities)} deals, {broken} broken rows):")
    if broken < args.broken:
        print(f"  note: --broken {args.broken} asked for more than this export can break: "
              f"{broken} of its {len(tables.opportunities)} rows are damaged (every row but the first can be)")
    for path in paths:
        print(f"  {path}")
    return 0


# ---- report --------------------------------------------------------------------------------------------
def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("export", nargs="?", type=Path,
                   help="a CRM export (file or folder); omitted: a simulated Salesforce-style export is made and used")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crm", choices=sorted(PRESETS), help="the CRM it came from (default: recognised from the header)")
    how.add_argument("--mapping", type=Path, help="a mapping YAML for any other export (see examples/)")
    p.add_argument("-o", "--out", type=Path, help="report folder (default: reports/<export name>, or reports/demo)")
    p.add_argument("--force", action="store_true",
                   help="replace the report folder if it exists and is an earlier report (never any other folder)")
    p.add_argument("--seed", type=SEED, help="random seed for the notebooks' what-ifs (default: each notebook's own)")
    p.add_argument("--reps", type=whole_number(2, MAX_REPS), help="replications for the notebooks' what-ifs, 2 or more (default: each notebook's own)")
    p.add_argument("--workers", type=whole_number(1, 64), default=2, help="notebooks run side by side (default 2)")
    p.add_argument("--notebooks", type=Path, help="folder of NN-slug.ipynb notebooks (default: the project's notebooks/)")
    p.add_argument("--timeout", type=whole_number(1), help="seconds one notebook cell may run before it counts as failed (default: no limit)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _open_as_lost_arg(p)
    p.add_argument("--pipeline", metavar="NAME", help="report on the deals of one pipeline (HubSpot exports with several)")
    store_args(p)
    p.add_argument("--no-store", action="store_true", help="do not keep the export in the store of exports")
    _report_plan_args(p)


def _report_plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", type=AMOUNT, help="add a Plan section: P(hitting this bookings target), e.g. 12M")
    p.add_argument("--within", help="with --target: the period (default: the year after the export's last date)")
    p.add_argument("--confidence", type=SHARE, default=0.8, help="with --target: the chance to plan for (default 0.8)")
    p.add_argument("--levers", default="reps.count", help="with --target: levers to search, as for playbook plan")


@command("report", "run every principle notebook on an export and write a static report (index.html, data quality)", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    from .report import ReportError, build_report
    from .report.build import NOTEBOOKS

    if args.export is not None and not args.export.exists():
        raise UsageError(f"export: {args.export} does not exist")
    if args.mapping is not None and not args.mapping.is_file():
        raise UsageError(f"--mapping: {args.mapping} is not a file")
    if args.pipeline is not None and args.export is None:
        raise UsageError("--pipeline: give the export whose pipeline to report on")
    if args.notebooks is not None and not args.notebooks.is_dir():
        raise UsageError(f"--notebooks: {args.notebooks} is not a folder")
    out = args.out or Path("reports") / (args.export.stem if args.export else "demo")
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o/--out: {out} is a file, not a report folder; choose another name (--force replaces only a folder)")
    inputs = [args.export, args.mapping, args.notebooks]
    # refuse before any work, not after minutes of it
    check_replaceable(out, "-o/--out", kind="report", force=args.force, protect=inputs)
    export, crm = args.export, args.crm
    if export is None:
        demo = out.parent / f"{out.name}-export"
        check_replaceable(demo, "-o/--out", kind="demo export", force=None, protect=inputs)
        export, crm = _demo_export(demo, args.seed or 0), "salesforce"
        print(f"no export given: made a simulated Salesforce-style export in {export}")
    try:
        with interruptible():    # `kill` cleans up like Ctrl-C: no half report is left
            report = build_report(export, out, crm=crm, mapping=args.mapping, notebooks=args.notebooks or NOTEBOOKS,
                                  seed=args.seed, reps=args.reps, workers=args.workers, force=args.force,
                                  progress=False if args.no_progress else None, timeout=args.timeout,
                                  open_as_lost=None if args.open_as_lost is None else (_idle_days(args.open_as_lost) or "auto"),
                                  store=None if args.no_store or args.export is None else args.store,
                                  store_wait=args.wait, pipeline=args.pipeline,
                                  plan=None if args.target is None else {"target": args.target, "within": args.within,
                                                                         "confidence": args.confidence, "levers": args.levers})
    except ReportError as err:
        raise UsageError(str(err)) from None
    t = report.timings
    if report.stored:
        print(report.stored)
    print(f"report: {len(report.cards)} notebooks in {t['total']:.1f} s "
          f"(loading {t['loading']:.1f} s, notebooks {t['notebooks']:.1f} s, pages {t['pages']:.1f} s)")
    for card in report.cards:
        if not card.ran:
            why = card.error or "; ".join(f"skipped {s.analysis} (missing {s.lacks or ', '.join(s.missing)})" for s in card.skipped)
            print(f"  {card.slug}: {why}")
    print(report.index)
    return 0 if report.complete else 1


_IN_WORKERS: dict[int, object] = {}   # signal -> what a process forked while `interruptible` is on sets for it


def _block_around_fork() -> None:
    """Hold the signals back while forking, so none reaches a new worker before it has its own handling."""
    if _IN_WORKERS:
        signal.pthread_sigmask(signal.SIG_BLOCK, set(_IN_WORKERS))


def _unblock_in_parent() -> None:
    if _IN_WORKERS:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(_IN_WORKERS))


def _reset_in_forked_child() -> None:
    if _IN_WORKERS:
        for sig, action in _IN_WORKERS.items():
            signal.signal(sig, action)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(_IN_WORKERS))   # a SIGTERM already sent ends it now


os.register_at_fork(before=_block_around_fork, after_in_parent=_unblock_in_parent, after_in_child=_reset_in_forked_child)


@contextmanager
def interruptible():
    """Ctrl-C (SIGINT) and `kill` (SIGTERM) raise KeyboardInterrupt in this process, so a report in progress
    cleans up; processes forked meanwhile (the report's pool workers) get the signals' plain behaviour.

    A worker must not run the parent's handler: the pool stops its workers with SIGTERM at the end of every
    report and expects them to die at once, while a worker raising KeyboardInterrupt printed a traceback
    (`make demo`) and one caught in a lock could hang the pool. In a worker SIGTERM ends the process and
    SIGINT is ignored (the parent gets Ctrl-C too and stops the pool).
    """
    parent = os.getpid()

    def handler(signum: int, frame) -> None:
        if os.getpid() == parent:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)
                if signal.getsignal(sig) is not signal.SIG_IGN}
    _IN_WORKERS.update({signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.SIG_IGN})
    try:
        yield
    finally:
        _IN_WORKERS.clear()
        for sig, before in previous.items():
            if before is not None:
                signal.signal(sig, before)


def _demo_export(folder: Path, seed: int) -> Path:
    """Two simulated years of the `demo` preset written as a Salesforce export (opportunities, history, activity
    files, loss reasons, competitors, quotas), with a few deliberately broken rows."""
    scenario = Scenario.preset("demo")
    with OutputFolder(folder, "-o/--out", kind="demo export") as tmp:   # replaces only an earlier demo export
        write_export(simulate(scenario, seed=seed).tables, "salesforce", tmp, seed=seed, broken=12, quota=scenario.reps.quota)
    return folder


# ---- size of a run -------------------------------------------------------------------------------------
def _large_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--large", action="store_true",
                   help=f"run a scenario past {MAX_LEADS:,} leads per run (refused without it: hours and many GB)")


def check_size(scenarios: list[Scenario], runs: int, large: bool) -> bool:
    """Say the estimated time and memory of a run far past the usual size, and refuse one past `MAX_LEADS` leads
    per run unless `--large` is given: before any work, so a typo (100,000 leads a month for ten years) costs nothing.
    Returns True for a run past the usual size (the command then shows its progress in simulated days)."""
    biggest = max(scenarios, key=lambda s: run_size(s).leads)
    size = run_size(biggest)
    if size.usual:
        return False
    where = f"{biggest.name!r}: {biggest.market.leads_per_month:,g} leads a month for {biggest.days:,} days"
    if not size.allowed and not large:
        raise UsageError(f"{where} is {size.describe(runs * len(scenarios))}. That is far past the usual "
                         f"(at most {MAX_LEADS:,} leads per run); check the scenario, or pass --large to run it anyway")
    print(f"note: {where} is {size.describe(runs * len(scenarios))}", file=sys.stderr)
    return True


# ---- outputs -------------------------------------------------------------------------------------------
def output_folder(folder: Path, flag: str) -> None:
    """Refuse, before any work, an output folder that is a file or lies under one."""
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise UsageError(f"{flag}: {p} is a file, not a folder; choose a folder to write into")
            return


def finite(value):
    """`value` with every NaN or infinity (nested in dicts and lists) replaced by None: JSON's null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path: Path, value) -> None:
    """Write valid JSON (null, never NaN), whole (a temporary name, then renamed)."""
    write_text(path, json.dumps(finite(value), indent=2, allow_nan=False) + "\n")


# ---- the error boundary --------------------------------------------------------------------------------
def user_error(err: BaseException) -> str | None:
    """What to tell the user about `err` when it comes from their input or their machine; None for a bug."""
    if isinstance(err, (UsageError, ScenarioError, TableError, ExportError, OutputError, StoreError)) or type(err).__name__ == "ReportError":
        return str(err)
    if isinstance(err, OSError):
        return os_message(err)
    if isinstance(err, UnicodeError):
        return f"a file is not text in any encoding playbook reads ({err}); save it as UTF-8 CSV or .xlsx"
    if isinstance(err, yaml.YAMLError):
        return f"not valid YAML: {err}"
    if isinstance(err, (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError)):
        return f"not a readable CSV file: {err}"
    if isinstance(err, (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta)):
        return f"a number or date is too large to work with: {err}; check the input for a misplaced digit or a placeholder value"
    if isinstance(err, MemoryError):
        return "not enough memory for this input; try a smaller export or fewer replications"
    return None


def os_message(err: OSError) -> str:
    """An operating-system error as '<file>: <what happened>; <what to do>'."""
    what = err.strerror or str(err)
    where = f"{err.filename}: " if err.filename else ""
    hint = {
        PermissionError: "check its permissions, or choose a file or folder you can use",
        FileNotFoundError: "check the path",
        FileExistsError: "choose another name or remove it",
        IsADirectoryError: "give a file, not a folder",
        NotADirectoryError: "a part of the path is a file, not a folder",
    }.get(type(err), "check the path, its permissions and the free space")
    if err.errno == 30:   # EROFS
        hint = "it is on a read-only file system; choose a folder you can write to"
    elif err.errno == 28:  # ENOSPC
        hint = "the disk is full; free some space or write elsewhere"
    return f"{where}{what}; {hint}"


# ---- calibrate -----------------------------------------------------------------------------------------
def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("export", type=Path, help="a CRM export (file or folder of one export)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crm", choices=sorted(PRESETS), help="the CRM it came from (default: recognised from the header)")
    how.add_argument("--mapping", type=Path, help="a mapping YAML for any other export (see examples/)")
    p.add_argument("-o", "--out", type=Path, required=True, help="the scenario YAML to write, e.g. my_pipeline.yaml")
    p.add_argument("--base", default="baseline",
                   help="preset or scenario YAML whose values stand for what the export cannot show (default baseline)")
    p.add_argument("--reps", type=whole_number(0, MAX_REPS), default=40,
                   help="simulated runs for the validation, 0 (no validation) or 2 or more (default 40)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed, a whole number >= 0 (default 0)")
    _open_as_lost_arg(p)


def kept_by_section(paths: Iterable[str]) -> list[str]:
    """Scenario paths as one line per section ("policies.trials: engineers, pilot_fee"), list entries named by their
    list ("lead_sources", not "lead_sources.0.share"), so that a reader sees where each value lives."""
    sections: dict[str, set[str]] = {}
    for path in paths:
        parts = field_of(path).split(".")
        cut = 2 if parts[0] == "policies" and len(parts) > 2 else 1
        sections.setdefault(".".join(parts[:cut]), set()).add(".".join(parts[cut:]))
    return [f"{name}: {', '.join(sorted(fields))}" if fields - {""} else f"{name} (some values)"
            for name, fields in sorted(sections.items())]


@command("calibrate", "fit a scenario to a CRM export (every value with its evidence), write it as YAML and "
         "validate it against the export; exit 1 if the validation fails", _calibrate_args)
def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.reps == 1:
        raise UsageError("--reps: 1 is not allowed, must be 0 (no validation) or a whole number >= 2")
    if args.out.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"-o/--out: {args.out} must be a .yaml file")
    base = Scenario.load(args.base)
    tables, gate, _ = gated(load_export(args.export, crm=args.crm, mapping=args.mapping).tables, args.open_as_lost)
    print_gate(gate, "")
    try:
        sc = calibrate(tables, base, seed=args.seed, name=args.out.stem)
    except (ValueError, LookupError) as err:   # the export lacks what a fit needs: say what
        raise UsageError(f"{args.export}: cannot calibrate: {err}") from None
    output_folder(args.out.parent, "-o/--out")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sc.to_yaml(args.out)
    cal = sc.calibration
    fitted = [e for e in cal.evidence.values() if e.fitted]
    print(f"calibrated {args.export} ({cal.deals:,} deals, {cal.window.start:%Y-%m-%d} to "
          f"{cal.window.end - pd.Timedelta(days=1):%Y-%m-%d}): {len(fitted)} values fitted, "
          f"{len(cal.not_fitted())} kept from {args.base!r}; wrote {args.out}")
    print(f"  {sc.reps.count} reps, {sc.market.leads_per_month:,.1f} new leads a month, "
          + ("one stage (no stage history)" if cal.one_stage else f"stages: {', '.join(sc.stage_names)}"))
    for note in cal.notes:
        print(f"  note: {note}")
    print(f"  not in the export, so kept from {args.base!r} (each marked 'assumed' in the YAML, with the range explored):")
    for line in kept_by_section(e.path for e in cal.not_fitted()):
        print(f"    {line}")
    cf = cal.closed_form
    if gate.blocks(WIN_RATES):
        print(f"  Markov chain of the export: no win probability (the export has {gate.lost:,} lost and {gate.won:,} won "
              f"deals), expected days to a win {cf['expected_cycle_days']:.1f}")
    else:
        print(f"  Markov chain of the export: win probability {cf['win_probability']:.1%}, "
              f"expected days to a win {cf['expected_cycle_days']:.1f}")
    if blocked := gate.calibration_blocked():
        print(f"  WARNING: what-ifs on this calibration would not mean much: {blocked}")
        sc.model_copy(update={"description": f"{sc.description} The export cannot show: {blocked}."}).to_yaml(args.out)
    if args.reps == 0:
        return 0
    with warnings.catch_warnings():   # NaN statistics of empty slices are handled; numpy need not say so
        warnings.simplefilter("ignore", RuntimeWarning)
        check = validate(sc, tables, n=args.reps, seed=args.seed, progress=False)
    print(f"validation ({args.reps} simulated runs over the export's window): "
          f"{'passes' if check.passed else 'does NOT pass: ' + check.verdict()}")
    said = f"Validated against the export ({args.reps} simulated runs): {check.verdict()}."
    if not check.passed:
        said += " What-ifs on it show the preset's dynamics at this export's scale, not a forecast of this pipeline."
    if blocked:
        said += f" The export cannot show: {blocked}."
    sc.model_copy(update={"description": f"{sc.description} {said}"}).to_yaml(args.out)   # the explorer shows it
    for line in check.summary():
        print(f"  {line}")
    return 0 if check.passed else 1


@command("whatif", "open the what-if explorer in your browser: change reps, qualification, forecasting... and read "
         "the effect on bookings with its 95% CI", lambda p: explorer_serve.arguments(p))
def cmd_whatif(args: argparse.Namespace) -> int:
    try:
        return explorer_serve.serve(args.port, args.folder)
    except ValueError as err:
        raise UsageError(str(err)) from None


# ---- ingest / history / changes (the store of exports) ---------------------------------------------------
def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("export", type=Path, help="an export file (CSV/XLSX) or a folder holding the files of one export")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crm", choices=sorted(PRESETS), help="the CRM it came from (default: recognised from the header)")
    how.add_argument("--mapping", type=Path, help="a mapping YAML for any other export (see examples/)")
    p.add_argument("--as-of", type=iso_date, metavar="DATE",
                   help="the date the export was taken, YYYY-MM-DD (default: the newest date in it)")
    p.add_argument("--pipeline", metavar="NAME", help="keep the deals of one pipeline (HubSpot exports with several)")
    store_args(p)


@command("ingest", "load a CRM export and keep it in the store of exports as a snapshot (the same export twice "
                   "is kept once)", _ingest_args)
def cmd_ingest(args: argparse.Namespace) -> int:
    return ingest_export(args.export, args.crm, args.mapping, args.as_of, args.store, args.wait, args.pipeline)


def ingest_export(export: Path, crm: str | None, mapping: Path | None, as_of: pd.Timestamp | None, store: Path,
                  wait: float, pipeline: str | None = None) -> int:
    """Load `export`, say what was read, and store it as a snapshot (or say it already is one)."""
    result = load_export(export, crm=crm, mapping=mapping, pipeline=pipeline)
    summary = result.summary()
    print(f"{export}: {summary['format']} export, {summary['rows_read']:,} rows read, {summary['rows_loaded']:,} "
          f"loaded, {summary['rows_rejected']:,} rejected (`playbook check` lists them)")
    for warning in summary["warnings"]:
        print(f"  WARNING: {warning}")
    with Store.open(store, wait=wait) as s:
        added = s.ingest(result.tables, summary, source=str(export), as_of=as_of, format=summary["format"])
        print(added.message(store))
    return 0


def _history_args(p: argparse.ArgumentParser) -> None:
    store_args(p)
    p.add_argument("--json", action="store_true", help="print the snapshots as JSON")


@command("history", "list the snapshots in the store of exports (as-of date, deals, open pipeline, source)", _history_args)
def cmd_history(args: argparse.Namespace) -> int:
    return list_history(args.store, args.wait, args.json)


def list_history(store: Path, wait: float, as_json: bool) -> int:
    with Store.open(store, read_only=True, wait=wait) as s:
        snaps, size = s.snapshots(), s.size()
    if as_json:
        print(json.dumps([{"id": x.id, "as_of": f"{x.as_of:%Y-%m-%d}", "as_of_given": x.as_of_given,
                           "source": x.source, "format": x.format, "deals": x.opportunities, "open_deals": x.open_deals,
                           "open_amount": round(x.open_amount, 2), "ingested_at": f"{x.ingested_at:%Y-%m-%d %H:%M:%S}",
                           "fingerprint": x.fingerprint} for x in snaps], indent=2))
        return 0
    print(f"{store}: {len(snaps)} snapshot(s), {size / 1e6:,.1f} MB")
    for x in snaps:
        print(f"  #{x.id:<3} as of {x.as_of:%Y-%m-%d}{'*' if x.as_of_given else ' '} {x.opportunities:>7,} deals, "
              f"{x.open_deals:>6,} open worth {x.open_amount:>16,.2f}  {x.format or ''}  {x.source}  "
              f"(ingested {x.ingested_at:%Y-%m-%d %H:%M} UTC)")
    if any(x.as_of_given for x in snaps):
        print("  * as-of date given with --as-of (else the newest date in the export)")
    return 0


def _changes_args(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--since", type=iso_date, metavar="DATE",
                       help="compare the newest snapshot with the newest one as of DATE or earlier (YYYY-MM-DD)")
    which.add_argument("--previous", action="store_true",
                       help="compare the newest snapshot with the one before it (the default)")
    p.add_argument("--by", choices=("owner", "segment"), help="also break the waterfall down by owner or segment")
    p.add_argument("--json", action="store_true",
                   help='print {"from", "to", "open_before", "open_after", "headings", "deals"} as JSON')
    p.add_argument("--figure", type=Path, metavar="PNG", help="write the waterfall figure to this file")
    store_args(p)


@command("changes", "what changed in the open pipeline between two stored exports: created, won, lost, pushed "
                    "out, pulled in, amount up or down, stage forward or back, vanished", _changes_args)
def cmd_changes(args: argparse.Namespace) -> int:
    return show_changes(args.store, args.wait, args.since, args.by, args.json, args.figure)


def pick_snapshots(snaps: list, since: pd.Timestamp | None, store: Path) -> tuple:
    """The two snapshots to compare: the newest, and the one before it (or the newest as of `since`)."""
    if len(snaps) < 2:
        raise UsageError(f"{store}: holds {len(snaps)} snapshot(s); ingest a later export to see what changed")
    newest = snaps[-1]
    earlier = snaps[:-1]
    if since is not None:
        earlier = [x for x in earlier if x.as_of <= since]
        if not earlier:
            raise UsageError(f"--since {since:%Y-%m-%d}: no earlier snapshot is as of that date or before; the "
                             "snapshots are as of " + ", ".join(f"{x.as_of:%Y-%m-%d}" for x in snaps))
    return earlier[-1], newest


def show_changes(store: Path, wait: float, since: pd.Timestamp | None, by: str | None, as_json: bool,
                 figure: Path | None) -> int:
    with Store.open(store, read_only=True, wait=wait) as s:
        old, new = pick_snapshots(s.snapshots(), since, store)
        result = pipeline_changes(s.tables(old.id), s.tables(new.id), old.as_of, new.as_of)
    if figure is not None:
        output_folder(figure.parent, "--figure")
        figure.parent.mkdir(parents=True, exist_ok=True)
        result.figure().savefig(figure, dpi=120)
    if as_json:
        print(json.dumps(finite(result.to_json(by)), indent=1))
        return 0
    unit = f" {result.currency}" if result.currency else ""
    print(f"open pipeline {result.open_before:,.2f}{unit} (snapshot {old.label}) -> {result.open_after:,.2f}{unit} "
          f"(snapshot {new.label})")
    table = result.headings()
    for name, row in table.iterrows():
        print(f"  {name:<14} {int(row['count']):>6,} deals  {row['amount']:>+18,.2f}")
    print(f"  {'total':<14} {int(table['count'].sum()):>6,} deals  {table['amount'].sum():>+18,.2f}")
    if by is not None:
        for key, group in result.by(by).items():
            moved = ", ".join(f"{h} {v['count']} ({v['amount']:+,.0f})" for h, v in group["headings"].items()
                              if v["count"] and h != "unchanged")
            print(f"  {by} {key}: {group['open_before']:,.2f} -> {group['open_after']:,.2f}: {moved or 'no change'}")
    if figure is not None:
        print(f"wrote {figure}")
    return 0


def _categories_args(p: argparse.ArgumentParser) -> None:
    store_args(p)


@command("categories", "score the export's own forecast categories (commit, best case, pipeline) in each stored "
                       "snapshot against what then closed by the end of the quarter", _categories_args)
def cmd_categories(args: argparse.Namespace) -> int:
    return show_category_scores(args.store, args.wait)


def show_category_scores(store: Path, wait: float) -> int:
    with Store.open(store, read_only=True, wait=wait) as s:
        scores = category_scores([(x.as_of, s.tables(x.id)) for x in s.snapshots()])
    if scores.empty:
        print(f"{store}: no snapshot with forecast categories whose quarter has ended in a later snapshot yet")
    for r in scores.itertuples(index=False):
        print(f"  as of {r.as_of:%Y-%m-%d} for {r.period}: {r.category:<10} {r.deals:>5,} deals {r.amount:>16,.2f}; "
              f"won by the quarter's end {r.won_deals:>5,} deals {r.won_amount:>16,.2f} "
              f"({'n/a' if pd.isna(r.won_share) else f'{r.won_share:.0%}'}; judged by the snapshot as of {r.judged_by:%Y-%m-%d})")
    if scores.attrs.get("pending"):
        print("  not judged yet (no later snapshot after the quarter's end): "
              + ", ".join(f"{d:%Y-%m-%d}" for d in scores.attrs["pending"]))
    return 0


# ---- plan -----------------------------------------------------------------------------------------------
def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a preset name or a scenario YAML (e.g. from playbook calibrate)")
    p.add_argument("--target", type=AMOUNT, required=True, help="bookings to reach, e.g. 12M, 750k")
    p.add_argument("--within", required=True, help="the period: a year (2027), quarter (2027-Q1) or month (2027-03)")
    p.add_argument("--confidence", type=SHARE, default=0.8, help="the chance of reaching it to plan for (default 0.8)")
    p.add_argument("--levers", default="reps.count",
                   help="one to three comma-separated levers: reps.count, hires, hires@2027-09-01, market.leads_per_month, "
                        "policies.qualification.threshold, ...; a range as reps.count=8:20 (default reps.count)")
    p.add_argument("--budget", type=AMOUNT, help="most the options may add in cost (default: no limit)")
    p.add_argument("--rep-cost", type=AMOUNT, help="a rep's yearly cost: sets the scenario's costs.rep_per_year "
                   "(else the scenario's; 150,000 assumed when it does not set it)")
    p.add_argument("--lead-cost", type=AMOUNT, help="one more lead's cost: sets the scenario's costs.lead "
                   "(else the scenario's; 250 assumed when it does not set it)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed, a whole number >= 0 (default 0)")
    p.add_argument("--out", type=Path, help="folder to write options.csv, frontier.csv, coverage.csv, frontier.png, plan.json")
    p.add_argument("--no-ends", action="store_true",
                   help="skip P(hit) at the ends of the main assumption's range (attrition rate, or selling hours)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


@command("plan", "what it takes to hit a bookings target: P(hit) now with its 95% CI, the cheapest changes reaching a "
         "confidence, the pipeline coverage needed", _plan_args)
def cmd_plan(args: argparse.Namespace) -> int:
    from .report.plan import plan_command   # the report package loads only when a command needs it
    return plan_command(args, UsageError)


# ---- forecast (the body is in sim/cli_forecast.py) ----------------------------------------------------------
@command("forecast", "forecast this quarter's bookings from a CRM export's own pipeline (P10/P50/P90, per deal, per "
         "owner); --backtest scores it and the usual methods on the export's history", cli_forecast.arguments)
def cmd_forecast(args: argparse.Namespace) -> int:
    try:
        return cli_forecast.run(args)
    except (ValueError, LookupError) as err:   # the export lacks what a forecast needs, or --as-of is outside it
        if isinstance(err, (TableError, ExportError)):
            raise
        raise UsageError(f"{args.export}: cannot forecast: {err}") from None


# ---- entry point ---------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="playbook", description="Sales Playbook Lab: simulate, compare, load, report, calibrate and explore what-ifs.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, configure, handler) in COMMANDS.items():
        # argparse formats help texts with %: a literal % (as in "95% CIs") must be doubled there
        sp = sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text)
        configure(sp)
        sp.set_defaults(handler=handler)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error a user can fix is a message and exit status 2, never a traceback."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"playbook {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # the reader of our output went away (`playbook check x | head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:  # the error boundary: sorted into the user's input or a bug  # noqa: BLE001
        message = user_error(err)
        if message is None:
            traceback.print_exc()
            print(f"playbook {args.command}: this is a bug in playbook, not a problem with your input "
                  f"({type(err).__name__}). Please report it to {REPORT_BUGS}.", file=sys.stderr)
            return EXIT_BUG
        print(f"playbook {args.command}: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
