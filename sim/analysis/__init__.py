"""Analyses of the canonical tables, one module per principle; each runs on an export or on a simulation.

Every analysis states the columns it needs and raises `sim.schema.MissingColumns` when the data lacks
them, so a notebook or the report can skip it with a clear reason instead of crashing.
"""

from ..core.schema import MissingColumns, require

__all__ = ["MissingColumns", "require"]
