"""The policies a scenario can run, one module each; importing this package registers them all.

A policy is scenario data that the engine consults at named hooks (`sim.engine.hooks`). To add one, write
a module here with a `Policy` subclass decorated with `@register`, give it a `key`, and import the module
below; see `sim/README.md` for the worked example.
"""

from .allocation import AllocationPolicy
from .forecast import ForecastPolicy
from .open_pipeline import OpenPipeline
from .qualification import QualificationPolicy, RelaxWhenBehind
from .staffing import StaffingPolicy

__all__ = ["AllocationPolicy", "ForecastPolicy", "OpenPipeline", "QualificationPolicy", "RelaxWhenBehind", "StaffingPolicy"]
