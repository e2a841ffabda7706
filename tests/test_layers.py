"""The package's layers import one way (apps -> experiments -> scenario -> policies -> engine -> world -> core;
analysis and crm use core only), as the contracts in pyproject.toml say; import-linter checks every import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_sim_import_hides_inside_a_function_or_at_the_end_of_a_module_to_dodge_a_cycle():
    """Imports of the package's own modules sit at the top of each module. The only exceptions are apps
    importing heavy apps-level parts only when a command needs them (listed here on purpose)."""
    allowed = {("sim/cli.py", "report"), ("sim/cli.py", "report.build"), ("sim/cli.py", "report.plan"), ("sim/notebook.py", "report.shared"),
               ("sim/notebook.py", "crm"), ("sim/report/data.py", "crm"), ("sim/crm/synth.py", "formats")}
    late = []
    for path in sorted((ROOT / "sim").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text())
        top_level = {id(n) for n in tree.body}
        seen_code = False
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                seen_code = True
            elif isinstance(node, ast.ImportFrom) and node.level > 0 and seen_code:
                late.append(f"{rel}:{node.lineno} import after code")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0 and id(node) not in top_level:
                if (rel, node.module or "") not in allowed:
                    late.append(f"{rel}:{node.lineno} import {node.module} inside a block")
    assert not late, "\n".join(late)
