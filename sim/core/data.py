"""`Data`: the base class of every piece of scenario data (world settings and policies alike)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Data(BaseModel):
    """Immutable, validated data: unknown fields are an error (catches typos in YAML), and numbers must be
    finite (NaN or infinity in a scenario is always a mistake: it would run and report nonsense)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False)
