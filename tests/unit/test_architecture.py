"""The layering rules of docs/architecture.md: the code keeps every import
contract, each contract breaks when a forbidden import is planted in a copy
of the code, and only the composition root subscribes to the bus."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cti.config.paths import PROJECT_ROOT

PACKAGES = ("cti", "acd", "ivr", "crm_bridge")
LINT = Path(sys.executable).with_name("lint-imports")
# (module file, the import planted in it, the contract that must break, what it reports)
PLANTED = [
    ("acd/services.py", "import crm_bridge.models",
     "Layers:", "acd.services -> crm_bridge.models"),
    ("cti/calls/tracker.py", "import acd.board",
     "Layers:", "cti.calls.tracker -> acd.board"),
    ("cti/pump.py", "import sqlalchemy",
     "The core has no HTTP and no SQL", "cti.pump -> sqlalchemy"),
    ("ivr/runner.py", "import aiohttp",
     "Only http.py modules, cti.web and cti.tools speak HTTP", "ivr.runner -> aiohttp"),
    ("cti/console/services.py", "import cti.web.responses",
     "A feature's web side is its http.py alone", "cti.console.services -> cti.web.responses"),
    ("acd/kpi.py", "import sqlalchemy",
     "Only the service database (crm_bridge) speaks SQL", "acd.kpi -> sqlalchemy"),
    ("ivr/menus.py", "import cti.config.settings",
     "Features get values, not the settings", "ivr.menus -> cti.config.settings"),
]


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    assert LINT.exists(), f"{LINT} missing: make test installs import-linter"
    return subprocess.run([str(LINT), "--no-cache", "--no-logo", "pyproject.toml"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_layering_contract() -> None:
    result = lint(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout, result.stdout


def test_each_contract_breaks_when_a_forbidden_import_is_planted(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "static", "*.yaml"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    for file, line, _, _ in PLANTED:
        with (tmp_path / file).open("a", encoding="utf-8") as fh:
            fh.write(f"\n{line}  # planted\n")
    result = lint(tmp_path)
    out = result.stdout
    assert result.returncode != 0, out
    for _, _, contract, report in PLANTED:
        heading = next((ln for ln in out.splitlines() if ln.startswith(contract)
                        and ln.endswith(("KEPT", "BROKEN"))), "")
        assert heading.endswith("BROKEN"), f"{contract!r} not broken:\n{out}"
        assert report in out, f"{report!r} not reported:\n{out}"


def _bus_calls(path: Path, verbs: set[str]) -> list[str]:
    """Calls of ``<...>bus.<verb>(...)`` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in verbs):
            continue
        target = node.func.value
        name = target.id if isinstance(target, ast.Name) else \
            target.attr if isinstance(target, ast.Attribute) else ""
        if name == "bus":
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} bus.{node.func.attr}()")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_only_the_root_subscribes_to_the_bus(package: str) -> None:
    """Long-lived subscriptions are made by cti/server.py from each feature's
    bus_consume.py; the bus itself and a websocket's feed (while it is open)
    are the only other places a subscription starts."""
    allowed = {PROJECT_ROOT / "cti" / "server.py", PROJECT_ROOT / "cti" / "bus.py",
               PROJECT_ROOT / "cti" / "web" / "streams.py"}
    found = [call for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
             if path not in allowed for call in _bus_calls(path, {"subscribe", "queue"})]
    assert not found, f"subscriptions outside the composition root: {found}"
