"""The policies a scenario can run, one module each; importing this package registers them all.

A policy is scenario data that the engine consults at named hooks (`sim.engine.hooks`). To add one, write
a module here with a `Policy` subclass decorated with `@register`, give it a `key`, and import the module
below; see `sim/README.md` for the worked example. The services they share (the activity log, the cost
ledger, random streams per deal) are the engine's: `sim.engine.activities`, `.costs`, `.streams`.

The imports below are the registration order: the order policies are listed in a scenario's YAML and, where no
`after` declaration says otherwise, the order the model consults them. A new policy goes at the end.
"""

from .allocation import AllocationPolicy
from .open_pipeline import OpenPipeline
from .qualification import QualificationPolicy, RelaxWhenBehind
from .attrition import AttritionPolicy
from .staffing import StaffingPolicy
from .forecast import ForecastPolicy
from .first_meeting import FirstMeetingPolicy
from .listening import ListeningPolicy
from .bugs import BugPolicy
from .incentives import AwardRule, IncentivePolicy
from .nurture import SecondPlace
from .orbits import OrbitAllocation
from .trials import TrialPolicy

__all__ = ["AllocationPolicy", "AttritionPolicy", "AwardRule", "BugPolicy", "FirstMeetingPolicy", "ForecastPolicy", "IncentivePolicy",
           "ListeningPolicy", "OpenPipeline", "OrbitAllocation", "QualificationPolicy", "RelaxWhenBehind", "SecondPlace", "StaffingPolicy",
           "TrialPolicy"]
