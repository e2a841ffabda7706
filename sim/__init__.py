"""Sales Playbook Lab: simulate a sales team, load a CRM export, and test sales principles on both.

    import sim
    base = sim.Scenario.preset("baseline")
    res = sim.simulate(base, seed=7)
    res.tables.opportunities, res.metrics
    sim.compare({"8 reps": base, "12 reps": base.replace(reps={"count": 12})}, n=200, seed=7)
"""

from importlib.metadata import PackageNotFoundError, version

from .model import SimResult, simulate
from .replicate import compare, replicate, replicate_each, summarise
from .scenario import Scenario, ScenarioError
from .tables import Tables

try:
    __version__ = version("sales-playbook-lab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["Scenario", "ScenarioError", "SimResult", "Tables", "compare", "replicate", "replicate_each", "simulate", "summarise", "__version__"]
