"""`simulate(scenario, seed)`: one run of a scenario, the entry point of every experiment.

It returns the engine's `SimResult` (`sim.engine.model`), the one result type of a run.
"""

from __future__ import annotations

import numpy as np

from ..engine.model import SalesModel, SimResult
from ..scenario import Scenario

Seed = int | np.random.SeedSequence | None

__all__ = ["Seed", "SimResult", "make_rng", "simulate"]


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
    return SalesModel(scenario, scenario.policies.active(), make_rng(seed)).run(seed)
