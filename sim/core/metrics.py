"""Headline metrics of a pipeline, computed from the canonical tables (so they work on exports too)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# name -> what it means (units in brackets); the order is the order shown everywhere
METRICS: dict[str, str] = {
    "opportunities": "deals created [count]",
    "deals_won": "deals won [count]",
    "deals_lost": "deals lost [count]",
    "deals_open": "deals still open at the end [count]",
    "win_rate": "won / (won + lost) [share]",
    "bookings": "total amount of won deals [currency]",
    "mean_deal_size": "average amount of a won deal [currency]",
    "median_cycle_days": "median days from creation to win [days]",
    "realisation": "median signed amount / first estimate of won deals [ratio]",
}


def pipeline_metrics(opportunities: pd.DataFrame) -> dict[str, float]:
    """Counts, win rate, bookings, deal size, cycle time and realisation of the deals in `opportunities`."""
    opp = opportunities
    won = opp[opp["outcome"] == "won"]
    n_won, n_lost = len(won), int((opp["outcome"] == "lost").sum())
    amount = won["amount"] if "amount" in won else pd.Series(dtype=float)
    cycle = (won["closed_at"] - won["created_at"]).dt.total_seconds() / 86400 if n_won else pd.Series(dtype=float)
    realised = (won["amount"] / won["first_estimate"]) if {"amount", "first_estimate"} <= set(won.columns) else None
    return {
        "opportunities": float(len(opp)),
        "deals_won": float(n_won),
        "deals_lost": float(n_lost),
        "deals_open": float((opp["outcome"] == "open").sum()),
        "win_rate": n_won / (n_won + n_lost) if n_won + n_lost else np.nan,
        "bookings": float(amount.sum()),
        "mean_deal_size": float(amount.mean()) if n_won else np.nan,
        "median_cycle_days": float(cycle.median()) if n_won else np.nan,
        "realisation": float(realised.median()) if realised is not None and n_won else np.nan,
    }
