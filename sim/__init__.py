"""Sales Playbook Lab: simulate a sales team, load a CRM export, and test sales principles on both.

    import sim
    base = sim.Scenario.preset("baseline")
    res = sim.simulate(base, seed=7)
    res.tables.opportunities, res.metrics
    sim.compare({"8 reps": base, "12 reps": base.replace(reps={"count": 12})}, n="auto", precision=0.05, seed=7)
    sim.sweep(base, grid={"reps.count": [6, 8, 10, 12]}, n=100)   # streamed to Parquet, resumable

The package is built in layers that import one way (see `sim/README.md`): `core` (tables, schema, stats),
`world` (settings), `engine` (the SimPy model and its hooks), `policies`, `scenario`, `experiments`, and
on top the apps (`cli`, `report`, `notebook`); `analysis` and `crm` read and write tables only.
"""

import os
from importlib.metadata import PackageNotFoundError, version

# pyarrow (pandas' string storage, sweeps' Parquet files) ships jemalloc, which starts a background thread when
# it loads; a process with that thread is not safe to fork, and the report and the process pools fork. Asked
# here, before anything imports pandas, jemalloc does without it (it only returns freed memory a bit later).
os.environ.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")

# What `import sim` offers, imported on first use (PEP 562), so that `import sim` costs little: a process that
# only simulates (the explorer's and the sweeps' workers) never imports the loaders, pandera or the analyses.
_EXPORTS = {
    "crm": ("crm", None),   # `sim.crm.load(...)` after `import sim`, as the README shows
    "changes": ("analysis.changes", "changes"),
    "Col": ("core.schema", "Col"), "Table": ("core.schema", "Table"),
    "Tables": ("core.tables", "Tables"),
    "ModelView": ("engine.hooks", "ModelView"), "Policy": ("engine.hooks", "Policy"),
    "PolicyRun": ("engine.hooks", "PolicyRun"), "register": ("engine.hooks", "register"),
    "unregister": ("engine.hooks", "unregister"),
    "Level": ("engine.priority", "Level"), "Priority": ("engine.priority", "Priority"),
    "backtest": ("experiments.backtest", "backtest"),
    "calibrate": ("experiments.calibrate", "calibrate"),
    "forecast_backtest": ("experiments.forecast_backtest", "forecast_backtest"),
    "forecast": ("experiments.pipeline_forecast", "forecast"),
    "Plan": ("experiments.plan", "Plan"), "plan": ("experiments.plan", "plan"),
    "compare": ("experiments.replicate", "compare"), "replicate": ("experiments.replicate", "replicate"),
    "replicate_each": ("experiments.replicate", "replicate_each"),
    "summarise": ("experiments.replicate", "summarise"),
    "sensitivity": ("experiments.sensitivity", "sensitivity"),
    "SimResult": ("experiments.simulate", "SimResult"), "simulate": ("experiments.simulate", "simulate"),
    "Sweep": ("experiments.sweep", "Sweep"), "sweep": ("experiments.sweep", "sweep"),
    "validate": ("experiments.validate", "validate"),
    "Scenario": ("scenario", "Scenario"), "ScenarioError": ("scenario", "ScenarioError"),
    "Costs": ("world.costs", "Costs"),
}


def __getattr__(name: str):
    """`sim.X`: the module or name `_EXPORTS` lists, imported now and kept."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'sim' has no attribute {name!r}") from None
    import importlib

    value = importlib.import_module(f"{__name__}.{module}")
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


try:
    __version__ = version("sales-playbook-lab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["Col", "crm", "Level", "ModelView", "Policy", "PolicyRun", "Priority", "Scenario", "ScenarioError", "SimResult", "Table", "Tables",
           "Sweep", "Costs", "Plan", "plan", "backtest", "calibrate", "changes", "compare", "forecast", "forecast_backtest", "register", "replicate", "replicate_each", "sensitivity",
           "simulate", "summarise", "sweep", "unregister", "validate", "__version__"]
