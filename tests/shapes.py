"""Small builders of the export shapes real CRMs hand us that are not the demo (issue 23).

Each writes one CSV and its mapping YAML into a folder and returns the two paths; the numbers are drawn
from a seeded generator, so every test sees the same file. They are built for the *shape* (what the
columns hold), not to imitate any one company's file:

- `lead_funnel`: leads that convert (won) or stay open forever, never lost; won amounts mostly 0; BRL.
- `order_lines`: order lines created and closed the same day, some cancelled, no owner column.
- `one_stage`: won / lost / open deals with owners and amounts, but no stage history (one stage).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2025-01-01")


def _days(rng: np.random.Generator, n: int, span: int, growth: float = 0.0) -> np.ndarray:
    """`n` creation days in [0, span), denser towards the end when `growth` > 0."""
    u = rng.random(n)
    x = u if growth == 0 else np.log1p(u * np.expm1(growth)) / growth
    return np.sort((x * span).astype(int))


def _write(folder: Path, name: str, frame: pd.DataFrame, mapping: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    csv, yaml = folder / f"{name}.csv", folder / f"{name}.yaml"
    frame.to_csv(csv, index=False)
    yaml.write_text(mapping)
    return csv, yaml


def lead_funnel(folder: Path, seed: int = 1, leads: int = 1400, span: int = 420, growth: float = 1.0) -> tuple[Path, Path]:
    """Leads over `span` - 60 days (the flow grows: more leads late), ~10% converted (some in the last 60 days,
    after the last lead came in), the rest open with no close;
    won amounts 0 for about 19 deals in 20 (the CRM does not fill them); amounts in BRL."""
    rng = np.random.default_rng(seed)
    created = START + pd.to_timedelta(_days(rng, leads, span - 60, growth=growth), unit="D")   # taken 60 days after the last lead
    sources = rng.choice(["Organic search", "Referral", "Paid search", "Email"], leads, p=[0.4, 0.2, 0.3, 0.1])
    convert = {"Organic search": 0.12, "Referral": 0.085, "Paid search": 0.10, "Email": 0.09}
    won = rng.random(leads) < np.vectorize(convert.get)(sources)
    cycle = np.ceil(rng.lognormal(np.log(25), 0.8, leads)).astype(int)
    closed = pd.Series(created + pd.to_timedelta(cycle, unit="D")).where(won)
    last = START + pd.Timedelta(days=span - 1)
    won &= ~(closed > last).to_numpy()        # converted after the export was taken: still open
    closed = closed.where(won)
    amount = np.where(won & (rng.random(leads) < 0.05), np.round(rng.lognormal(np.log(8000), 0.7, leads), 2), 0.0)
    frame = pd.DataFrame({
        "Lead ID": [f"L{i:05d}" for i in range(leads)],
        "Created": created.strftime("%Y-%m-%d"),
        "Converted On": pd.Series(closed).dt.strftime("%Y-%m-%d"),
        "Status": np.where(won, "Converted", "Open"),
        "Origin": sources,
        "SDR": rng.choice([f"sdr{i}" for i in range(8)], leads),
        "Deal Value": np.where(won, amount, np.nan),
    })
    mapping = ("columns:\n  opportunity_id: Lead ID\n  created_at: Created\n  closed_at: Converted On\n"
               "  stage: Status\n  lead_source: Origin\n  owner: SDR\n  amount: Deal Value\n"
               "stages:\n  Open: Needs Analysis\n  Converted: won\ncurrency: BRL\n")
    return _write(folder, "funnel", frame, mapping)


def order_lines(folder: Path, seed: int = 2, orders: int = 900, span: int = 365) -> tuple[Path, Path]:
    """Order lines over `span` days: each created and closed the same day (delivered = won, cancelled = lost),
    customers coming back many times; no owner column."""
    rng = np.random.default_rng(seed)
    created = START + pd.to_timedelta(_days(rng, orders, span), unit="D")
    status = np.where(rng.random(orders) < 0.07, "canceled", "delivered")
    frame = pd.DataFrame({
        "order_id": [f"O{i:05d}" for i in range(orders)],
        "customer_id": [f"C{c:04d}" for c in rng.integers(0, 250, orders)],
        "order_date": created.strftime("%Y-%m-%d"),
        "status_date": created.strftime("%Y-%m-%d"),
        "order_status": status,
        "channel": rng.choice(["web", "marketplace", "phone"], orders, p=[0.6, 0.3, 0.1]),
        "price": np.round(rng.lognormal(np.log(120), 0.9, orders), 2),
    })
    mapping = ("columns:\n  opportunity_id: order_id\n  account_id: customer_id\n  created_at: order_date\n"
               "  closed_at: status_date\n  stage: order_status\n  lead_source: channel\n  amount: price\n"
               "stages:\n  delivered: won\n  canceled: lost\n")
    return _write(folder, "orders", frame, mapping)


def one_stage(folder: Path, seed: int = 3, deals: int = 700, span: int = 540) -> tuple[Path, Path]:
    """Won, lost and open deals with owners, accounts and amounts, and no stage history: one stage."""
    rng = np.random.default_rng(seed)
    created = START + pd.to_timedelta(_days(rng, deals, span), unit="D")
    cycle = np.ceil(rng.lognormal(np.log(45), 0.7, deals)).astype(int)
    closed = pd.Series(created + pd.to_timedelta(cycle, unit="D"))
    last = START + pd.Timedelta(days=span - 1)
    is_open = (closed > last).to_numpy()
    won = rng.random(deals) < 0.3
    status = np.where(is_open, "Open", np.where(won, "Won", "Lost"))
    frame = pd.DataFrame({
        "Deal": [f"D{i:05d}" for i in range(deals)],
        "Rep": rng.choice([f"rep{i}" for i in range(6)], deals),
        "Account": [f"A{a:04d}" for a in rng.integers(0, 500, deals)],
        "Created": created.strftime("%Y-%m-%d"),
        "Closed": closed.where(~is_open).dt.strftime("%Y-%m-%d"),
        "Status": status,
        "Source": rng.choice(["Inbound", "Outbound", "Referral"], deals, p=[0.5, 0.35, 0.15]),
        "Amount": np.round(rng.lognormal(np.log(20000), 0.8, deals), 2),
    })
    mapping = ("columns:\n  opportunity_id: Deal\n  owner: Rep\n  account_id: Account\n  created_at: Created\n"
               "  closed_at: Closed\n  stage: Status\n  lead_source: Source\n  amount: Amount\n"
               "stages:\n  Open: Evaluation of Options\n  Won: won\n  Lost: lost\ncurrency: EUR\n")
    return _write(folder, "deals", frame, mapping)
