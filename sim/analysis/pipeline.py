"""The pipeline at a glance: how many deals reach each stage, where they are lost, how long each stage takes."""

from __future__ import annotations

import pandas as pd

from ..core.schema import require
from ..core.tables import Tables

DAY = pd.Timedelta(days=1)


def stage_days(tables: Tables) -> pd.DataFrame:
    """One row per finished stay in a stage: opportunity, stage, and days spent there."""
    hist = tables.stage_history
    require(hist, ["opportunity_id", "stage", "entered_at", "exited_at"], "time per stage")
    done = hist.dropna(subset=["exited_at"])
    return pd.DataFrame({
        "opportunity_id": done["opportunity_id"],
        "stage": done["stage"],
        "days": (done["exited_at"] - done["entered_at"]) / DAY,
    })


def stage_summary(tables: Tables, stages: list[str] | None = None) -> pd.DataFrame:
    """Per stage, in pipeline order: deals that entered, were lost there, moved on; median and 90th-percentile days.

    `stages` fixes the order (default: the order in which stages are first entered in the data).
    """
    hist, opp = tables.stage_history, tables.opportunities
    require(opp, ["opportunity_id", "outcome"], "stage summary")
    require(hist, ["opportunity_id", "stage"], "stage summary")
    order = stages or list(dict.fromkeys(hist.sort_values("entered_at")["stage"]))
    last = hist.groupby("opportunity_id", sort=False)["stage"].last()
    outcome = opp.set_index("opportunity_id")["outcome"].reindex(last.index)
    days = stage_days(tables).groupby("stage")["days"]
    out = pd.DataFrame(index=pd.Index(order, name="stage"))
    out["entered"] = hist.groupby("stage")["opportunity_id"].nunique().reindex(order).fillna(0).astype(int)
    out["lost_here"] = last[outcome == "lost"].value_counts().reindex(order).fillna(0).astype(int)
    out["open_here"] = last[outcome == "open"].value_counts().reindex(order).fillna(0).astype(int)
    out["moved_on"] = out["entered"] - out["lost_here"] - out["open_here"]
    out["median_days"] = days.median().reindex(order).round(1)
    out["p90_days"] = days.quantile(0.9).reindex(order).round(1)
    return out
