"""The plan as a leader reads it: `playbook plan` (text and files) and the report's Plan section.

`plan_command(args)` is the body of ``playbook plan SCENARIO --target 12M --within 2027 --confidence 0.8
--levers reps.count,hires``: it runs `sim.plan`, prints P(hit) now, the cheapest options and the coverage
gap, and with --out writes them as CSV with the frontier's figure. `plan_section(plan)` is the report's
front-page Plan section (HTML), made from the same `Plan`.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
from pathlib import Path

import pandas as pd

from ..experiments.calibrate import calibrate
from ..experiments.plan import Costs, Plan, plan
from ..scenario import Scenario
from .errors import ReportError

_AMOUNT = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMbB]?)\s*$")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_amount(text: str) -> float:
    """'12M' -> 12,000,000; '750k', '1.5m', '12,000,000' too. An argparse type (a bad value names itself)."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount (write 12M, 750k or 12000000)")
    value = float(m[1].replace(",", "").replace("_", "")) * _SCALE[m[2].lower()]
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed, must be an amount > 0")
    return value


def parse_share(text: str) -> float:
    """A confidence: 0.8 or 80%, strictly between 0 and 1."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share (write 0.8 or 80%)") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed, must be between 0 and 1 (0.8 = 80%)")
    return value


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's flags."""
    p.add_argument("scenario", help="a preset name or a scenario YAML (e.g. from playbook calibrate)")
    p.add_argument("--target", type=parse_amount, required=True, help="bookings to reach, e.g. 12M, 750k")
    p.add_argument("--within", required=True, help="the period: a year (2027), quarter (2027-Q1) or month (2027-03)")
    p.add_argument("--confidence", type=parse_share, default=0.8, help="the chance of reaching it to plan for (default 0.8)")
    p.add_argument("--levers", default="reps.count",
                   help="one to three comma-separated levers: reps.count, hires, hires@2027-09-01, market.leads_per_month, "
                        "policies.qualification.threshold, ...; a range as reps.count=8:20 (default reps.count)")
    p.add_argument("--budget", type=parse_amount, help="most the options may add in cost (default: no limit)")
    p.add_argument("--rep-cost", type=parse_amount, help=f"a rep's yearly cost (default {Costs().rep_per_year:,.0f}, assumed)")
    p.add_argument("--lead-cost", type=parse_amount, help=f"one more lead's cost (default {Costs().lead:,.0f}, assumed)")
    p.add_argument("--seed", type=int, default=0, help="random seed, a whole number >= 0 (default 0)")
    p.add_argument("--out", type=Path, help="folder to write options.csv, frontier.csv, coverage.csv, frontier.png, plan.json")
    p.add_argument("--no-ends", action="store_true",
                   help="skip P(hit) at the ends of the main assumption's range (attrition rate, or selling hours)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def plan_command(args: argparse.Namespace, usage_error: type[Exception]) -> int:
    """Run the plan the flags ask for, print it, write it; bad values raise `usage_error` naming the flag."""
    if args.seed < 0:
        raise usage_error(f"--seed: {args.seed} is not allowed, must be a whole number >= 0")
    scenario = Scenario.load(args.scenario)
    defaults = Costs()
    try:
        costs = Costs(rep_per_year=args.rep_cost or defaults.rep_per_year, lead=args.lead_cost or defaults.lead)
    except ValueError as err:
        raise usage_error(str(err)) from None
    levers = [x.strip() for x in args.levers.split(",") if x.strip()]
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise usage_error(f"--out: {args.out} is a file, not a folder")
    try:
        p = plan(scenario, target=args.target, period=args.within, confidence=args.confidence, levers=levers,
                 budget=args.budget, costs=costs, seed=args.seed, progress=False if args.no_progress else None)
    except ValueError as err:    # a period, lever or range the scenario cannot take (ScenarioError is one too)
        flag = "--within" if "period" in str(err) else ("--levers" if "lever" in str(err) else "input")
        raise usage_error(f"{flag}: {err}") from None
    print(p.summary())
    opts = p.options(5)
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.float_format", "{:,.3f}".format):
        if not opts.empty:
            print("\ncheapest options reaching the confidence:")
            print(opts.to_string(index=False))
        try:
            cov = p.coverage()
        except ValueError as err:       # nothing won to read rates from: said, and the rest of the plan stands
            cov = None
            print(f"\nno coverage: {err}")
        if cov is not None:
            first = cov.groupby("segment").first().reset_index()
            print(f"\npipeline needed at the start of {args.within} by segment (from the win rates and cycles), "
                  "beside the pipeline now:")
            print(first[["segment", "value_win_rate", "cycle_days", "coverage_ratio", "pipeline_needed", "pipeline_now", "gap"]]
                  .to_string(index=False))
    ends = None
    if not args.no_ends:
        ends = p.assumption_ends()
        print(f"\nP(hit) is the model's; it rests on {ends.at[0, 'assumption']} (not in an export). At the ends of its range:")
        print(ends.to_string(index=False, float_format="{:,.2f}".format))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        if ends is not None:
            ends.to_csv(args.out / "assumption_ends.csv", index=False)
        p.options(50).to_csv(args.out / "options.csv", index=False)
        p.frontier().to_csv(args.out / "frontier.csv", index=False)
        p.tried.to_csv(args.out / "tried.csv", index=False)
        if cov is not None:
            cov.to_csv(args.out / "coverage.csv", index=False)
        p.figure().savefig(args.out / "frontier.png", dpi=110)
        (args.out / "plan.json").write_text(json.dumps({
            "scenario": scenario.name, "target": p.target, "period": p.period, "confidence": p.confidence,
            "levers": [lv.path for lv in p.levers], "now": p.now, "options": p.options(5).to_dict("records"), "budget": p.budget, "seed": p.seed,
            "costs": {"rep_per_year": p.costs.rep_per_year, "lead": p.costs.lead, "assumed": True}}, indent=2) + "\n")
        print(f"\nwrote {args.out}/options.csv, frontier.csv, tried.csv, coverage.csv, frontier.png, plan.json")
    return 0


def plan_section(p: Plan) -> str:
    """The report's Plan section: P(hit) now, the cheapest option, the coverage gap (HTML, escaped)."""
    cur = html.escape(p.scenario.currency)
    now = p.now
    opts = p.options(1)
    if now["p_hit"] >= p.confidence:
        option = "Today's plan already reaches the confidence."
    elif opts.empty:
        option = "No option searched reaches the confidence" + (" within the budget." if p.budget is not None else ".")
    else:
        o = opts.iloc[0]
        said = ", ".join(f"{html.escape(lv.path)} = {o[lv.path]:g}" for lv in p.levers)
        option = (f"Cheapest option: {said}: P(hit) {o['p_hit']:.0%} ({o['p_low']:.0%} to {o['p_high']:.0%}), "
                  f"added cost {o['cost']:,.0f} {cur}.")
    try:
        first = p.coverage().groupby("segment").first().reset_index()
    except ValueError as err:
        first, missing = pd.DataFrame(columns=["segment"]), html.escape(str(err))
    else:
        missing = ""
    rows = "".join(f"<tr><td>{html.escape(str(r.segment))}</td><td>{r.pipeline_needed:,.0f}</td><td>{r.pipeline_now:,.0f}</td>"
                   f"<td>{r.gap:,.0f}</td><td>{r.coverage_ratio:.1f}x</td></tr>" for r in first.itertuples())
    return (f'<section class="plan" id="plan"><h2>Plan: {p.target:,.0f} {cur} in {html.escape(p.period)}</h2>'
            f"<p>P(hit) with today's plan: <strong>{now['p_hit']:.0%}</strong> (95% CI {now['p_low']:.0%} to "
            f"{now['p_high']:.0%}; {now['n']} simulated periods). Confidence asked: {p.confidence:.0%}.</p>"
            f"<p>{option}</p>"
            f"<table><thead><tr><th>segment</th><th>pipeline needed at the start</th><th>pipeline now</th><th>gap</th>"
            f"<th>coverage</th></tr></thead><tbody>{rows}</tbody></table>"
            + (f"<p>No coverage: {missing}</p>" if missing else "") +
            f"<p class=\"note\">P(hit) is the model's: it rests on the calibrated win rates and cycles and on assumed costs "
            f"(a rep {p.costs.rep_per_year:,.0f} {cur} a year, a lead {p.costs.lead:,.0f} {cur}).</p></section>")


def report_plan(tables, target: float, within: str | None = None, confidence: float = 0.8,
                levers: str = "reps.count", seed: int = 0, progress: bool | None = None) -> str:
    """The report's Plan section for an export: calibrate a scenario to its `tables`, plan `target` in `within`
    (default: the calendar year after the export's last date) and render `plan_section`."""
    try:
        sc = calibrate(tables, seed=seed, name="plan")
        if within is None:
            within = str(sc.end.year + 1) if sc.end.month > 1 or sc.end.day > 1 else str(sc.end.year)
        p = plan(sc, target=target, period=within, confidence=confidence,
                 levers=[x.strip() for x in levers.split(",") if x.strip()], seed=seed, tables=tables, progress=progress)
    except (ValueError, LookupError) as err:      # a period or lever this export's scenario cannot take, or no fit
        raise ReportError(f"--target: cannot plan on this export: {err}") from None
    return plan_section(p)
