"""`Data`: the base class of every piece of scenario data (world settings and policies alike)."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class Data(BaseModel):
    """Immutable, validated data: unknown fields are an error (catches typos in YAML), and numbers must be
    finite (NaN or infinity in a scenario is always a mistake: it would run and report nonsense)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False)


def require_unique(what: str, names: Iterable[str]) -> None:
    """Raise a ValueError naming the field and every repeated name, for a validator to report."""
    names = list(names)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what}: names must be unique, repeated: {', '.join(dupes)}")
