"""`simulate(scenario, seed)`: one run of a scenario, the entry point of every experiment.

It returns the engine's `SimResult` (`sim.engine.model`), the one result type of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..engine.model import SalesModel, SimResult, collector_paused
from ..scenario import Scenario

Seed = int | np.random.SeedSequence | None

__all__ = ["Seed", "SimResult", "make_rng", "measured", "simulate"]


def make_rng(seed: Seed) -> np.random.Generator:
    """The run's one generator, from an int or a `SeedSequence` (as `replicate` hands out).

    A `SeedSequence` is copied first: spawning streams from it counts children on the object itself,
    and the same replication seed must give the same streams in every scenario that uses it.
    """
    if isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    return np.random.default_rng(seed)


PROGRESS_STEP_DAYS = 7   # a long run's progress bar moves once a simulated week


def simulate(scenario: Scenario, seed: Seed = 0, progress: bool = False) -> SimResult:
    """Run `scenario` once with `seed`; same scenario and seed give identical tables.

    `progress`: a bar of simulated days (for one run far past the usual size, which takes minutes). It is a
    SimPy process of its own that only waits and counts, so it draws nothing and moves no event of the model:
    the tables are the same with it or without."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"simulate() needs a sim.Scenario, got {type(scenario).__name__}; "
                        "use Scenario.preset(name) or Scenario.from_yaml(path)")
    model = SalesModel(scenario, scenario.policies.active(), make_rng(seed))
    if not progress:
        return model.run(seed)
    from tqdm.auto import tqdm

    with tqdm(total=scenario.days, desc=f"simulating {scenario.name}", unit="day") as bar:
        model.env.process(_tick(model.env, bar, scenario.days))
        result = model.run(seed)
        bar.update(scenario.days - bar.n)
    return result


def measured(scenario: Scenario, seed: Seed, measure: Callable[[SimResult], Mapping[str, float]]
             ) -> tuple[dict[str, float], dict[str, float]]:
    """One run reduced to numbers: `measure`'s and the headline metrics, the model dropped before the garbage
    collector wakes (`collector_paused`), so its first pass frees the run instead of scanning it alive."""
    with collector_paused():
        result = simulate(scenario, seed=seed)
        numbers, metrics = dict(measure(result)), dict(result.metrics)
        del result
    return numbers, metrics


def _tick(env, bar, days: int):
    """Move `bar` by the simulated days passed, every `PROGRESS_STEP_DAYS`."""
    while env.now + PROGRESS_STEP_DAYS < days:
        yield env.timeout(PROGRESS_STEP_DAYS)
        bar.update(PROGRESS_STEP_DAYS)
