"""`playbook report`: every principle notebook run on an export, as a static site a sales leader opens and
a playbook a new rep reads (the `playbook/` pages told with the export's numbers).

    from sim.report import build_report
    report = build_report("exports/q4", "reports/2026-q4", crm="salesforce")
    report.index, report.complete, report.timings

The names below are imported on first use: a notebook's kernel reads the report's shared tables through
`sim.report.shared`, and importing the builder with it (nbformat, jsonschema: over a second) would cost every
notebook of a report that second for nothing.
"""

from __future__ import annotations

import importlib

_NAMES = {"Report": "build", "ReportError": "build", "build_report": "build", "Card": "cards", "Skip": "cards",
          "principle_notebooks": "run"}

__all__ = ["Card", "Report", "ReportError", "Skip", "build_report", "principle_notebooks"]


def __getattr__(name: str):
    """`sim.report.X` for a name of `__all__`: its module imported now, the name kept."""
    if name not in _NAMES:
        raise AttributeError(f"module 'sim.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
