"""`playbook report`: every principle notebook run on an export, as a static site a sales leader opens and
a playbook a new rep reads (the `playbook/` pages told with the export's numbers).

    from sim.report import build_report
    report = build_report("exports/q4", "reports/2026-q4", crm="salesforce")
    report.index, report.complete, report.timings
"""

from .build import Report, ReportError, build_report
from .cards import Card, Skip
from .run import principle_notebooks

__all__ = ["Card", "Report", "ReportError", "Skip", "build_report", "principle_notebooks"]
