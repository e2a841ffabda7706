"""The `playbook` command: simulate, compare and write scenarios from a shell.

Each sub-command is a small function registered in `COMMANDS` with the argparse set-up it needs, so a new
command is one function plus one `@command(...)` line. Errors a user can fix (a bad scenario value, a
missing file) are printed as one clear message with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import __version__
from .experiments.replicate import compare
from .scenario import Scenario, ScenarioError
from .experiments.simulate import simulate
from .experiments.calibrate import calibrate
from .experiments.validate import validate
from .core.schema import TableError
from .crm import PRESETS, ExportError
from .crm import load as load_export
from .crm.synth import write_export

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


class UsageError(Exception):
    """A problem with what the user asked for, reported as one line and exit status 2."""


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register a sub-command: `configure` adds its arguments, the decorated function runs it."""
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help, configure, fn)
        return fn
    return register


# ---- simulate ----------------------------------------------------------------------------------------
def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a preset name (" + ", ".join(Scenario.presets()) + ") or a scenario YAML file")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the tables, metrics and scenario into")


@command("simulate", "run one scenario and write its tables as CSV, with metrics and the exact scenario", _simulate_args)
def cmd_simulate(args: argparse.Namespace) -> int:
    scenario = Scenario.load(args.scenario)
    result = simulate(scenario, seed=args.seed)
    paths = result.tables.save(args.out)
    (args.out / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    scenario.to_yaml(args.out / "scenario.yaml")
    run = {"scenario": scenario.name, "seed": args.seed, "package_version": __version__,
           "reproduce": f"playbook simulate {args.out / 'scenario.yaml'} --seed {args.seed} --out DIR"}
    (args.out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    print(f"simulated {scenario.name!r} with seed {args.seed}: "
          f"{result.metrics['deals_won']:.0f} deals won, bookings {result.metrics['bookings']:,.0f} {scenario.currency}")
    for path in [*paths, args.out / "metrics.json", args.out / "scenario.yaml", args.out / "run.json"]:
        print(f"  wrote {path}")
    return 0


# ---- compare -------------------------------------------------------------------------------------------
def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="+", help="two or more presets or scenario YAML files; the first is the reference")
    p.add_argument("--reps", type=int, default=100, help="replications per scenario (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--metrics", help="comma-separated metrics to show (default: all)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


@command("compare", "replicate scenarios on common random numbers and print means, differences and 95% CIs", _compare_args)
def cmd_compare(args: argparse.Namespace) -> int:
    if len(args.scenarios) < 2:
        raise UsageError("compare needs at least two scenarios")
    if args.reps < 2:
        raise UsageError(f"--reps: {args.reps} is not allowed, must be a whole number >= 2 (a CI needs two runs)")
    scenarios = {}
    for ref in args.scenarios:
        sc = Scenario.load(ref)
        label = sc.name if sc.name not in scenarios else f"{sc.name} ({Path(ref).name})"
        scenarios[label] = sc
    metrics = args.metrics.split(",") if args.metrics else None
    table = compare(scenarios, n=args.reps, seed=args.seed, metrics=metrics, progress=not args.no_progress)
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", 500, "display.float_format", "{:,.3f}".format):
        print(table)
    return 0


# ---- scenario ------------------------------------------------------------------------------------------
def _scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a preset name or a scenario YAML file")


@command("scenario", "print a scenario as commented YAML to edit (e.g. playbook scenario baseline > my.yaml)", _scenario_args)
def cmd_scenario(args: argparse.Namespace) -> int:
    sys.stdout.write(Scenario.load(args.scenario).to_yaml())
    return 0


# ---- check / synth (CRM exports) -----------------------------------------------------------------------
def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("export", type=Path, help="an export file (CSV/XLSX) or a folder holding the files of one export")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crm", choices=sorted(PRESETS), help="the CRM it came from (default: recognised from the header)")
    how.add_argument("--mapping", type=Path, help="a mapping YAML for any other export (see examples/)")
    p.add_argument("--show", type=int, default=10, help="how many rejected rows and repaired values to list (default 10)")


@command("check", "load a CRM export, print what was read, loaded and rejected; exit 1 if nothing usable loaded", _check_args)
def cmd_check(args: argparse.Namespace) -> int:
    result = load_export(args.export, crm=args.crm, mapping=args.mapping)
    summary = result.summary()
    print(f"{args.export}: {summary['format']} export")
    for name, f in summary["files"].items():
        print(f"  {name} ({f['kind']}, {f['encoding']}, delimiter {f['delimiter']!r}): "
              f"{f['rows_read']} rows read, {f['rows_loaded']} loaded, {f['rows_rejected']} rejected")
        if f["unused_columns"]:
            print(f"    columns not used: {', '.join(f['unused_columns'])}")
    o = summary["outcomes"]
    print(f"  opportunities: {summary['opportunities']} ({o['won']} won, {o['lost']} lost, {o['open']} open); "
          f"dates {' to '.join(summary['date_range'] or ['none'])}; {len(summary['owners'])} owner(s); "
          f"{summary['stage_history_rows']} stage-history rows")
    print("  stages: " + "; ".join(f"{label} -> {s['maps_to']} ({s['deals']})" for label, s in summary["stages"].items()))
    if summary["missing_columns"]:
        print(f"  missing or empty columns (analyses needing them are skipped): {', '.join(summary['missing_columns'])}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    for title, frame in (("rejected rows", result.rejected), ("repaired values", result.repaired)):
        if len(frame):
            print(f"  {title} ({len(frame)}; first {min(args.show, len(frame))}):")
            for row in frame.head(args.show).itertuples(index=False):
                print(f"    {row.file} row {row.row}, {row.column} = {row.value!r}: {row.reason}")
    return 0 if summary["opportunities"] else 1


def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crm", choices=sorted(PRESETS), required=True, help="which CRM's export format to write")
    p.add_argument("--out", type=Path, required=True, help="folder to write the export into")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--scenario", default="baseline", help="preset or scenario YAML to simulate (default baseline)")
    p.add_argument("--broken", type=int, default=0, metavar="N",
                   help="damage N rows on purpose (listed in broken_rows.json) to exercise data-quality checks")


@command("synth", "write a simulated pipeline as a CRM would export it (column names, formats, stage labels)", _synth_args)
def cmd_synth(args: argparse.Namespace) -> int:
    if args.broken < 0:
        raise UsageError(f"--broken: {args.broken} is not allowed, must be 0 or more")
    scenario = Scenario.load(args.scenario)
    tables = simulate(scenario, seed=args.seed).tables
    paths = write_export(tables, args.crm, args.out, seed=args.seed, broken=args.broken)
    print(f"wrote a simulated {args.crm} export of {scenario.name!r} (seed {args.seed}, "
          f"{len(tables.opportunities)} deals, {args.broken} broken rows):")
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
    p.add_argument("--force", action="store_true", help="replace the report folder if it exists")
    p.add_argument("--seed", type=int, help="random seed for the notebooks' what-ifs (default: each notebook's own)")
    p.add_argument("--reps", type=int, help="replications for the notebooks' what-ifs (default: each notebook's own)")
    p.add_argument("--workers", type=int, default=2, help="notebooks run side by side (default 2)")
    p.add_argument("--notebooks", type=Path, help="folder of NN-slug.ipynb notebooks (default: the project's notebooks/)")
    p.add_argument("--timeout", type=int, help="seconds one notebook cell may run before it counts as failed (default: no limit)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


@command("report", "run every principle notebook on an export and write a static report (index.html, data quality)", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    from .report import ReportError, build_report
    from .report.build import NOTEBOOKS

    if args.reps is not None and args.reps < 2:
        raise UsageError(f"--reps: {args.reps} is not allowed, must be a whole number >= 2 (a CI needs two runs)")
    if args.timeout is not None and args.timeout < 1:
        raise UsageError(f"--timeout: {args.timeout} is not allowed, must be a whole number of seconds >= 1")
    if args.workers < 1:
        raise UsageError(f"--workers: {args.workers} is not allowed, must be a whole number >= 1")
    if args.export is not None and not args.export.exists():
        raise UsageError(f"export: {args.export} does not exist")
    out = args.out or Path("reports") / (args.export.stem if args.export else "demo")
    if out.exists() and not args.force:  # refuse before any work, not after minutes of it
        raise UsageError(f"{out} already exists; pass --force to replace it")
    export, crm = args.export, args.crm
    if export is None:
        export, crm = _demo_export(out.parent / f"{out.name}-export", args.seed or 0), "salesforce"
        print(f"no export given: made a simulated Salesforce-style export in {export}")
    previous = signal.signal(signal.SIGTERM, _interrupted)   # `kill` cleans up like Ctrl-C: no half report is left
    try:
        report = build_report(export, out, crm=crm, mapping=args.mapping, notebooks=args.notebooks or NOTEBOOKS,
                              seed=args.seed, reps=args.reps, workers=args.workers, force=args.force,
                              progress=False if args.no_progress else None, timeout=args.timeout)
    except ReportError as err:
        raise UsageError(str(err)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    t = report.timings
    print(f"report: {len(report.cards)} notebooks in {t['total']:.1f} s "
          f"(loading {t['loading']:.1f} s, notebooks {t['notebooks']:.1f} s, pages {t['pages']:.1f} s)")
    for card in report.cards:
        if not card.ran:
            why = card.error or "; ".join(f"skipped {s.analysis} (missing {', '.join(s.missing)})" for s in card.skipped)
            print(f"  {card.slug}: {why}")
    print(report.index)
    return 0 if report.complete else 1


def _interrupted(signum: int, frame) -> None:
    raise KeyboardInterrupt


def _demo_export(folder: Path, seed: int) -> Path:
    """A simulated baseline pipeline written as a Salesforce export, with a few deliberately broken rows."""
    if folder.exists():
        import shutil
        shutil.rmtree(folder)
    write_export(simulate(Scenario.preset("baseline"), seed=seed).tables, "salesforce", folder, seed=seed, broken=12)
    return folder


# ---- calibrate -----------------------------------------------------------------------------------------
def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("export", type=Path, help="a CRM export (file or folder of one export)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crm", choices=sorted(PRESETS), help="the CRM it came from (default: recognised from the header)")
    how.add_argument("--mapping", type=Path, help="a mapping YAML for any other export (see examples/)")
    p.add_argument("-o", "--out", type=Path, required=True, help="the scenario YAML to write, e.g. my_pipeline.yaml")
    p.add_argument("--base", default="baseline",
                   help="preset or scenario YAML whose values stand for what the export cannot show (default baseline)")
    p.add_argument("--reps", type=int, default=40, help="simulated runs for the validation (default 40; 0 = no validation)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


@command("calibrate", "fit a scenario to a CRM export (every value with its evidence), write it as YAML and "
         "validate it against the export; exit 1 if the validation fails", _calibrate_args)
def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.reps < 0 or args.reps == 1:
        raise UsageError(f"--reps: {args.reps} is not allowed, must be 0 (no validation) or a whole number >= 2")
    if args.out.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"-o/--out: {args.out} must be a .yaml file")
    base = Scenario.load(args.base)
    tables = load_export(args.export, crm=args.crm, mapping=args.mapping).tables
    try:
        sc = calibrate(tables, base, seed=args.seed, name=args.out.stem)
    except (ValueError, LookupError) as err:   # the export lacks what a fit needs: say what
        raise UsageError(f"{args.export}: cannot calibrate: {err}") from None
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
    print("  not in the export (preset values): " + ", ".join(sorted({e.path.split('.')[-1] for e in cal.not_fitted()})))
    cf = cal.closed_form
    print(f"  Markov chain of the export: win probability {cf['win_probability']:.1%}, "
          f"expected days to a win {cf['expected_cycle_days']:.1f}")
    if args.reps == 0:
        return 0
    check = validate(sc, tables, n=args.reps, seed=args.seed, progress=False)
    print(f"validation ({args.reps} simulated runs over the export's window): "
          f"{'passes' if check.passed else 'does NOT pass'}")
    for line in check.summary():
        print(f"  {line}")
    return 0 if check.passed else 1


# ---- entry point ---------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="playbook", description="Sales Playbook Lab: simulate, compare, load and report.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, configure, handler) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        configure(sp)
        sp.set_defaults(handler=handler)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ScenarioError, TableError, UsageError, ExportError, FileNotFoundError) as err:
        print(f"playbook {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"playbook {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
