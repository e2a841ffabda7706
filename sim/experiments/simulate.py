"""`simulate(scenario, seed)`: one run of a scenario, the entry point of every experiment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.tables import Tables
from ..engine.model import SalesModel
from ..scenario import Scenario

Seed = int | np.random.SeedSequence | None


class SimResult:
    """What one run produced: the scenario and seed used, the headline metrics and the canonical tables.

    `tables` is built the first time it is read, so code that keeps only `metrics` (as `replicate` does by
    default) never pays for building DataFrames; a `measure` that reads `result.tables` gets them.
    """

    def __init__(self, scenario: Scenario, seed: Any, tables: Tables | Callable[[], Tables], metrics: dict[str, float]):
        self.scenario, self.seed, self.metrics = scenario, seed, metrics
        self._tables = tables          # the tables, or how to build them

    @property
    def tables(self) -> Tables:
        if not isinstance(self._tables, Tables):
            self._tables = self._tables()
        return self._tables

    def __getstate__(self) -> dict:   # a pickled result carries its tables, never the model behind them
        return {"scenario": self.scenario, "seed": self.seed, "metrics": self.metrics, "_tables": self.tables}

    def __repr__(self) -> str:
        return f"SimResult(scenario={self.scenario.name!r}, seed={self.seed!r}, {len(self.metrics)} metrics)"


def make_rng(seed: Seed) -> np.random.Generator:
    """The run's one generator, from an int or a `SeedSequence` (as `replicate` hands out).

    A `SeedSequence` is copied first: spawning streams from it counts children on the object itself,
    and the same replication seed must give the same streams in every scenario that uses it.
    """
    if isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    return np.random.default_rng(seed)


def simulate(scenario: Scenario, seed: Seed = 0) -> SimResult:
    """Run `scenario` once with `seed`; same scenario and seed give identical tables."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"simulate() needs a sim.Scenario, got {type(scenario).__name__}; "
                        "use Scenario.preset(name) or Scenario.from_yaml(path)")
    outcome = SalesModel(scenario, scenario.policies.active(), make_rng(seed)).run()
    return SimResult(scenario, seed, lambda: outcome.tables, outcome.metrics)
