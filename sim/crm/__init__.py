"""Real CRM exports as first-class input: load Salesforce, HubSpot, Pipedrive or any CSV/Excel export
(through a mapping file) into the canonical tables, with every input row accounted for; and write
simulated pipelines as those CRMs would export them.

    res = sim.crm.load("exports/", crm="salesforce")
    res.tables.opportunities, res.rejected, res.repaired, res.summary()
"""

from .files import ExportError
from .formats import PRESETS
from .load import LoadResult, load
from .outputs import neutralise, write_csv

__all__ = ["ExportError", "LoadResult", "PRESETS", "load", "neutralise", "write_csv"]
