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

import pandas as pd

from ..core.outputs import write_csv, write_text
from ..experiments.calibrate import calibrate
from ..experiments.plan import Plan, plan
from ..scenario import Scenario, ScenarioError
from .errors import ReportError

def plan_command(args: argparse.Namespace, usage_error: type[Exception]) -> int:
    """Run the plan the flags ask for, print it, write it; bad values raise `usage_error` naming the flag."""
    if args.seed < 0:
        raise usage_error(f"--seed: {args.seed} is not allowed, must be a whole number >= 0")
    scenario = Scenario.load(args.scenario)
    for flag, field, value in (("--rep-cost", "costs.rep_per_year", args.rep_cost), ("--lead-cost", "costs.lead", args.lead_cost)):
        if value is not None:
            try:
                scenario = scenario.replace({field: value})
            except ScenarioError as err:
                raise usage_error(f"{flag}: {'; '.join(err.problems)}") from None
    levers = [x.strip() for x in args.levers.split(",") if x.strip()]
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise usage_error(f"--out: {args.out} is a file, not a folder")
    try:
        p = plan(scenario, target=args.target, period=args.within, confidence=args.confidence, levers=levers,
                 budget=args.budget, seed=args.seed, progress=False if args.no_progress else None)
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
            write_csv(ends, args.out / "assumption_ends.csv")
        write_csv(p.options(50), args.out / "options.csv")   # formula-like names neutralised, written whole
        write_csv(p.frontier(), args.out / "frontier.csv")
        write_csv(p.tried, args.out / "tried.csv")
        if cov is not None:
            write_csv(cov, args.out / "coverage.csv")
        p.figure().savefig(args.out / "frontier.png", dpi=110)
        write_text(args.out / "plan.json", json.dumps({
            "scenario": scenario.name, "target": p.target, "period": p.period, "confidence": p.confidence,
            "levers": [lv.path for lv in p.levers], "now": p.now, "options": p.options(5).to_dict("records"), "budget": p.budget, "seed": p.seed,
            "costs": {name: {"value": getattr(p.costs, name), "provenance": p.costs.provenance(name)}
                      for name in ("rep_per_year", "lead")}}, indent=2) + "\n")
        print(f"\nwrote {args.out}/options.csv, frontier.csv, tried.csv, coverage.csv, frontier.png, plan.json")
    return 0


def plan_section(p: Plan) -> str:
    """The report's Plan section: P(hit) now, the cheapest option, the coverage gap (HTML, escaped)."""
    cur = html.escape(p.scenario.currency)
    costs = p.costs.said(p.scenario.currency)
    now = p.now
    opts = p.options(1)
    if now["p_hit"] >= p.confidence:
        option = "Today's plan already reaches the confidence."
    elif opts.empty:
        option = "No option searched reaches the confidence" + (" within the budget." if p.budget is not None else ".")
    else:
        o = opts.iloc[0]
        said = ", ".join(f"{html.escape(lv.path)} = {o[lv.path]:g}" for lv in p.levers)
        again = (f"; measured again on fresh seeds, the search's estimate was {o['p_search']:.0%}"
                 if pd.notna(o["p_search"]) else "")
        option = (f"Cheapest option: {said}: P(hit) {o['p_hit']:.0%} ({o['p_low']:.0%} to {o['p_high']:.0%}{again}), "
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
            f"<p class=\"note\">P(hit) is the model's: it rests on the calibrated win rates and cycles. "
            f"{html.escape(costs[0].upper() + costs[1:])}.</p></section>")


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
