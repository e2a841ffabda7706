"""The policies a scenario can run, one module each; importing this package registers them all.

A policy is scenario data that the engine consults at named hooks (`sim.engine.hooks`). To add one, write
a module here with a `Policy` subclass decorated with `@register`, give it a `key`, and import the module
below; see `sim/README.md` for the worked example. Shared pieces (not policies): `touches` (the activity log
of meetings, calls and trials) and `streams` (a random stream per deal, for common random numbers).
"""

from .allocation import AllocationPolicy
from .attrition import AttritionPolicy
from .bugs import BugPolicy
from .first_meeting import FirstMeetingPolicy
from .forecast import ForecastPolicy
from .incentives import AwardRule, IncentivePolicy
from .listening import ListeningPolicy
from .nurture import SecondPlace
from .open_pipeline import OpenPipeline
from .orbits import OrbitAllocation
from .qualification import QualificationPolicy, RelaxWhenBehind
from .staffing import StaffingPolicy
from .trials import TrialPolicy

__all__ = ["AllocationPolicy", "AttritionPolicy", "AwardRule", "BugPolicy", "FirstMeetingPolicy", "ForecastPolicy", "IncentivePolicy",
           "ListeningPolicy", "OpenPipeline", "OrbitAllocation", "QualificationPolicy", "RelaxWhenBehind", "SecondPlace", "StaffingPolicy",
           "TrialPolicy"]
