"""The export's own forecast categories scored as they came true, from stored snapshots (no rebuilt past).

Each stored export said, for the open deals expected to close in the period it falls in, which forecast category
each deal was in (Commit, Best Case, Pipeline...). `category_scores(snapshots)` takes the snapshots in date order
and, for every snapshot whose period has since ended in a later snapshot, counts what of each category was won
by the period's end:

| column | what |
|---|---|
| as_of, period | the snapshot's date and the period (quarter) it falls in |
| category | the ladder name (`sim.core.forecast_categories`: commit, best case, pipeline, omitted) |
| deals, amount | open deals of the category expected to close in the period, and their amount then |
| won_deals, won_amount | of those deals, won before the period ended (at the amount they were signed for) |
| won_share | won_amount / amount: how much of what the category held came in |
| judged_by | the as-of date of the first snapshot taken after the period ended (what then closed) |

A deal that vanished from the later export counts as not won. Periods not over in any later snapshot are left
out (`pending` lists them), never scored on a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..core.forecast_categories import normalise_categories
from ..core.periods import Period
from ..core.schema import require
from ..core.tables import Tables

_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}
COLUMNS = ["as_of", "period", "category", "deals", "amount", "won_deals", "won_amount", "won_share", "judged_by"]


def category_scores(snapshots: Sequence[tuple[pd.Timestamp, Tables]], period: Period = "quarter") -> pd.DataFrame:
    """One row per snapshot and forecast category (see the module text); `.attrs["pending"]` names the snapshots
    whose period no later snapshot has seen end."""
    snaps = sorted(((pd.Timestamp(d), t) for d, t in snapshots), key=lambda s: s[0])
    rows, pending = [], []
    for as_of, tables in snaps:
        opp = tables.opportunities
        if "forecast_category" not in opp or opp["forecast_category"].isna().all():
            continue
        require(opp, ["opportunity_id", "outcome", "amount", "expected_close_at"], "forecast categories as they came true")
        p = as_of.to_period(_FREQ[period])
        end = p.end_time.normalize() + pd.Timedelta(days=1)
        judge = next(((d, t) for d, t in snaps if d >= end - pd.Timedelta(days=1)), None)
        if judge is None:
            pending.append(as_of)
            continue
        called = opp[(opp["outcome"] == "open") & (opp["expected_close_at"].dt.to_period(_FREQ[period]) == p)]
        if called.empty:
            continue
        later = judge[1].opportunities.set_index("opportunity_id")
        won = later[(later["outcome"] == "won") & (later["closed_at"] < end)]
        frame = pd.DataFrame({"category": normalise_categories(called["forecast_category"]).to_numpy(),
                              "amount": called["amount"].fillna(0).to_numpy(),
                              "won": called["opportunity_id"].isin(won.index).to_numpy(),
                              "won_amount": called["opportunity_id"].map(won["amount"]).fillna(0).to_numpy()})
        for cat, g in frame.groupby("category", sort=False):
            rows.append({"as_of": as_of, "period": str(p).replace("Q", "-Q"), "category": cat, "deals": len(g),
                         "amount": float(g["amount"].sum()), "won_deals": int(g["won"].sum()),
                         "won_amount": float(g["won_amount"].sum()),
                         "won_share": float(g["won_amount"].sum() / g["amount"].sum()) if g["amount"].sum() else float("nan"),
                         "judged_by": judge[0]})
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs["pending"] = pending
    return out
