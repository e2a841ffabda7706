"""Forecast categories: the ladder a forecast climbs (closed, commit, best case, pipeline) and the names CRMs use."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


LADDER = ("closed", "commit", "best case", "pipeline")

SYNONYMS = {
    "closed won": "closed", "won": "closed", "closed": "closed",
    "commit": "commit", "committed": "commit", "forecast": "commit",
    "best case": "best case", "bestcase": "best case", "upside": "best case",
    "pipeline": "pipeline", "open": "pipeline",
    "omitted": "omitted", "closed lost": "omitted", "lost": "omitted",
}

def normalise_categories(categories: pd.Series, mapping: Mapping[str, str] | None = None) -> pd.Series:
    """CRM forecast categories to the ladder names (closed, commit, best case, pipeline, omitted).

    Case, spaces and underscores do not matter; `mapping` adds a team's own names. An unknown name is
    an error that lists it, so no forecast amount is silently dropped.
    """
    table = {**SYNONYMS, **{k.lower(): v for k, v in (mapping or {}).items()}}
    key = categories.fillna("pipeline").astype(str).str.strip().str.lower().str.replace(r"[_\s]+", " ", regex=True)
    out = key.map(table)
    unknown = sorted(set(key[out.isna()]))
    if unknown:
        raise ValueError(f"forecasts: unknown category {', '.join(map(repr, unknown))}; known are "
                         f"{', '.join(sorted(set(table)))} (pass mapping={{'yours': 'commit'}} to name your own)")
    return out
