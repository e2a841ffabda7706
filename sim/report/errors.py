"""The one error `playbook report` turns into a clear message and exit status 2."""


class ReportError(Exception):
    """Something the user can fix before a report can be built (the folder exists, the export is unreadable...)."""
