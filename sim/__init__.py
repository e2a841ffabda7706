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

from . import crm   # `sim.crm.load(...)` after `import sim`, as the README shows
from .analysis.changes import changes
from .core.schema import Col, Table
from .core.tables import Tables
from .engine.hooks import ModelView, Policy, PolicyRun, register, unregister
from .engine.priority import Level, Priority
from .experiments.backtest import backtest
from .experiments.calibrate import calibrate
from .experiments.forecast_backtest import forecast_backtest
from .experiments.pipeline_forecast import forecast
from .experiments.plan import Plan, plan
from .experiments.replicate import compare, replicate, replicate_each, summarise
from .experiments.sensitivity import sensitivity
from .experiments.simulate import SimResult, simulate
from .experiments.sweep import Sweep, sweep
from .experiments.validate import validate
from .scenario import Scenario, ScenarioError
from .world.costs import Costs

try:
    __version__ = version("sales-playbook-lab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["Col", "crm", "Level", "ModelView", "Policy", "PolicyRun", "Priority", "Scenario", "ScenarioError", "SimResult", "Table", "Tables",
           "Sweep", "Costs", "Plan", "plan", "backtest", "calibrate", "changes", "compare", "forecast", "forecast_backtest", "register", "replicate", "replicate_each", "sensitivity",
           "simulate", "summarise", "sweep", "unregister", "validate", "__version__"]
