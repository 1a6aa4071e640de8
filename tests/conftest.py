"""Shared test helpers."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

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
