"""The world a sales team works in: every setting of a scenario that is not a policy.

`World` (in `world.py`) holds the calendar, the market (`market.py`), the segments and lead sources
(`segments.py`), the stages and what decides a deal (`stages.py`), the team (`team.py`) and the hidden truth
behind each deal (`truth.py`); `costs.py` prices a plan's levers (a scenario's `costs`). It is plain validated data (`sim.core.data.Data`); the engine reads it, a
scenario adds policies to it.
"""

from .accounts import AccountSettings
from .costs import Costs
from .market import Market, Shock
from .segments import LeadSource, Segment
from .stages import DealValue, FitEffects, Stage
from .team import Hire, Reps
from .truth import TruthSettings
from .world import World

__all__ = ["AccountSettings", "Costs", "DealValue", "FitEffects", "Hire", "LeadSource", "Market", "Reps", "Segment", "Shock", "Stage",
           "TruthSettings", "World"]
