"""Repository-wide pytest set-up (applies to tests/ and to the notebooks checked by nbval).

Progress bars write to stderr, which nbval compares with the stored outputs; they are switched off for
test runs so a plain `pytest --nbval notebooks` gives the same answer as `make test`.
"""

import os

os.environ.setdefault("PLAYBOOK_PROGRESS", "0")
