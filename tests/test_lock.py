"""The lock `make install` installs from is in step with pyproject.toml (issue 19: reproducible set-up)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def pins() -> dict[str, list[Version]]:
    out: dict[str, list[Version]] = {}
    for line in LOCK.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, version = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line).groups()
        out.setdefault(name.lower().replace("_", "-"), []).append(Version(version))
    return out


def test_every_line_of_the_lock_is_an_exact_pin():
    lines = [line for line in LOCK.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines and all(re.match(r"^[A-Za-z0-9_.\-]+==\S+", line) for line in lines)


def test_the_lock_satisfies_every_dependency_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = pins()
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(text)
        versions = locked.get(req.name.lower().replace("_", "-"))
        assert versions, f"{req.name} is in pyproject.toml but not in requirements.lock: run 'make lock'"
        assert all(req.specifier.contains(v) for v in versions), f"{req} but the lock pins {versions}: run 'make lock'"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_lock_was_made_for_the_dependencies_pyproject_lists_now():
    made_for = re.search(r"^# pyproject-dependencies: (\w+)$", LOCK.read_text(), re.M).group(1)
    now = subprocess.run(["make", "-s", "deps-hash"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert made_for == now, "pyproject.toml's dependencies changed since requirements.lock was made: run 'make lock'"
