"""Shared test helpers."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from cti.config import paths
from cti.server import Core, web_app
from tests.support.postgres import PostgresError, ThrowawayPostgres

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.ami").read_bytes()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A real PostgreSQL, started for this test run and removed after it."""
    try:
        pg = ThrowawayPostgres().start()
    except PostgresError as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}", pytrace=False)
    yield pg
    pg.stop()


_db_numbers = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database: embedded SQLite, then PostgreSQL."""
    from crm_bridge.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    else:
        pg: ThrowawayPostgres = request.getfixturevalue("postgres")
        url = pg.create_database(f"test_{next(_db_numbers)}")
    upgrade(url)
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    from crm_bridge.db import make_engine

    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def server(core: Core) -> AsyncIterator[TestServer]:
    """The whole application on ``core`` (each test folder's own), served on a
    free port for the test's clients."""
    s = TestServer(web_app(core))
    await s.start_server()
    yield s
    await s.close()


# ---------------------------------------------------------------------- secrets
# Every log this run wrote is read for the secrets it used: what each test
# printed (the server's own log lines, captured), the logs of the servers the
# tests started (*.log under the run's temporary directory), and Asterisk's
# log. A secret found fails the run, naming where.
TEST_PASSWORDS = ("correct-horse-9", "watch the floor")
_leaks: dict[str, None] = {}  # in the order found, once each


def _secrets() -> list[str]:
    found = list(TEST_PASSWORDS)
    ami = paths.sandbox_dir() / "ami.json"
    try:
        secret = json.loads(ami.read_text()).get("secret")
    except (OSError, ValueError):
        secret = None
    if isinstance(secret, str) and len(secret) >= 8:
        found.append(secret)
    return found


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    secrets = _secrets()
    for name, content in report.sections:
        for s in secrets:
            if s in content:
                _leaks[f"{report.nodeid}: {name} shows a secret ({s[:3]}…)"] = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    secrets = _secrets()
    logs = [paths.sandbox_dir() / "chroot" / "hotline" / "log" / "messages.log"]
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        with contextlib.suppress(OSError, ValueError):
            logs += list(factory.getbasetemp().rglob("*.log"))
    for log_file in logs:
        with contextlib.suppress(OSError):
            text = log_file.read_text(errors="replace")
            _leaks.update((f"{log_file}: a secret ({s[:3]}…)", None) for s in secrets if s in text)
    if _leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("secrets in the logs this run wrote:", red=True)
            for leak in list(_leaks)[:50]:
                reporter.write_line(f"  {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
