"""`playbook forecast EXPORT`: this period's bookings from the export's own pipeline, and how each method did before.

    playbook forecast EXPORT [--crm NAME | --mapping M] [--as-of 2026-11-30] [--horizon quarter|month|N-days]
                             [--by owner|segment] [--target 2.4M] [--json forecast.json]
    playbook forecast EXPORT --backtest [--cutoffs 8] [--json backtest.json]

The command's body lives here; `sim.cli` only registers it (and turns the errors a user can fix into
messages). `--json` writes {"as_of", "period", "closed", "p10", "p50", "p90", "p_target", "methods": {name:
{"mape", "bias", "coverage80", "pinball", "rank"}}}: the methods' scores come from the backtest (null without
`--backtest`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from .analysis.forecast_baselines import parse_horizon
from .crm import PRESETS
from .crm import load as load_export
from .experiments.forecast_backtest import METHODS, ForecastBacktest, forecast_backtest
from .experiments.pipeline_forecast import DRAWS, RUNS, Forecast, _money, forecast

SCORE_KEYS = ("mape", "bias", "coverage80", "pinball", "rank")
_AMOUNT = re.compile(r"^\s*([0-9][0-9,_]*(?:\.[0-9]+)?)\s*([kKmMbB]?)\s*$")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def amount(text: str) -> float:
    """An argparse type: 2400000, 2,400,000, 2.4M, 850k."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount; write it like 2400000, 2.4M or 850k")
    return float(m[1].replace(",", "").replace("_", "")) * _SCALE[m[2].lower()]


def horizon(text: str) -> str:
    """An argparse type: quarter, month or N-days."""
    try:
        parse_horizon(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("horizon: ")) from None
    return text.strip().lower()


def day(text: str) -> pd.Timestamp:
    """An argparse type: a date, YYYY-MM-DD."""
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d"))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-30") from None


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's flags."""
    p.add_argument("export", type=Path, help="a CRM export (file or folder of one export)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crm", choices=sorted(PRESETS), help="the CRM it came from (default: recognised from the header)")
    how.add_argument("--mapping", type=Path, help="a mapping YAML for any other export (see examples/)")
    p.add_argument("--as-of", type=day, default=None, help="the last day known, YYYY-MM-DD (default: the export's last date)")
    p.add_argument("--horizon", type=horizon, default="quarter",
                   help="quarter (default), month, or N-days: the period to forecast")
    p.add_argument("--by", choices=["owner", "segment"], help="also show the forecast per owner or segment")
    p.add_argument("--target", type=amount, help="a number to reach, e.g. 2.4M: prints the chance of reaching it")
    p.add_argument("--backtest", action="store_true",
                   help="also forecast from past cutoffs and score every method against what was booked")
    p.add_argument("--cutoffs", type=_count, default=8, help="past cutoffs for --backtest (default 8)")
    p.add_argument("--deals", type=_count0, default=10, help="how many open deals to list, largest expected first (default 10)")
    p.add_argument("--json", type=Path, help="write the forecast (and the backtest's scores) as JSON to this file")
    p.add_argument("--draws", type=_count, default=DRAWS,
                   help=f"draws of the fitted values (the fit's uncertainty), 1 to 60 (default {DRAWS})")
    p.add_argument("--runs", type=_count, default=RUNS, help=f"simulated runs per draw, 1 to 60 (default {RUNS})")
    p.add_argument("--seed", type=_count0, default=0, help="random seed, a whole number >= 0 (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= n <= 60:
        raise argparse.ArgumentTypeError(f"{n} is not allowed, must be a whole number from 1 to 60")
    return n


def _count0(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is not allowed, must be a whole number >= 0")
    return n


def record(fc: Forecast | None, bt: ForecastBacktest | None) -> dict[str, Any]:
    """The --json record: the forecast's figures and each method's backtest scores (null without a backtest)."""
    s = fc.summary() if fc is not None else {}
    scores = bt.scores() if bt is not None else pd.DataFrame()
    methods = {}
    for name in METHODS:
        row = scores.loc[name] if name in scores.index else None
        methods[name] = {k: (None if row is None or pd.isna(row[k]) else (int(row[k]) if k == "rank" else float(row[k])))
                         for k in SCORE_KEYS}
    return {"as_of": s.get("as_of"), "period": s.get("period"), "closed": s.get("closed"), "p10": s.get("p10"),
            "p50": s.get("p50"), "p90": s.get("p90"), "p_target": s.get("p_target"), "methods": methods}


def run(args: argparse.Namespace) -> int:
    """Load the export, forecast, optionally backtest; print, and write --json."""
    if args.json is not None and args.json.exists() and args.json.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(args.json))
    tables = load_export(args.export, crm=args.crm, mapping=args.mapping).tables
    progress = False if args.no_progress else None
    fc = forecast(tables, as_of=args.as_of, horizon=args.horizon, target=args.target, draws=args.draws, runs=args.runs,
                  seed=args.seed, progress=progress)
    for line in fc.lines():
        print(line)
    if args.by:
        table = fc.by(args.by)
        print(f"  by {args.by}:")
        for r in table.itertuples(index=False):
            print(f"    {getattr(r, args.by)!s:<20} closed {_money(r.closed):>8}  P10 {_money(r.p10):>8}  "
                  f"P50 {_money(r.p50):>8}  P90 {_money(r.p90):>8}  ({r.open_deals} open deals)")
    if args.deals:
        deals = fc.deals().head(args.deals)
        if len(deals):
            print(f"  open deals, largest expected first ({min(args.deals, len(fc.live))} of {len(fc.live)}):")
            for r in deals.itertuples(index=False):
                print(f"    {r.opportunity_id} ({getattr(r, 'owner', None) or 'no owner'}): {_money(r.amount)}, "
                      f"expected {_money(r.expected)} — {r.why}")
    bt = None
    if args.backtest:
        bt = forecast_backtest(tables, cutoffs=args.cutoffs, horizon=args.horizon, draws=args.draws, runs=args.runs,
                               seed=args.seed, progress=progress)
        for line in bt.lines():
            print(line)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_finite(record(fc, bt)), indent=2, allow_nan=False) + "\n")
        print(f"  wrote {args.json}")
    return 0


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
