"""The migrations build exactly the schema the models describe, on both
databases, and times keep their instant whatever zone they were given in."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.db import Database
from crm_bridge.models import Base, Customer
from tests.support.postgres import ThrowawayPostgres


def _diff(sync_conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], "write a migration for: " + repr(diff)


async def test_times_are_stored_as_instants_and_read_back_in_utc(engine: AsyncEngine) -> None:
    hangzhou = dt.datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    async with engine.begin() as conn:
        await conn.execute(Customer.__table__.insert(), [{
            "name": "张三", "vip": False, "region": "", "address": "", "notes": "",
            "created_at": hangzhou, "updated_at": hangzhou}])
    async with engine.connect() as conn:
        got = (await conn.execute(select(Customer.created_at))).scalar_one()
        # compared in SQL: the same instant matches whatever the zone of the parameter
        same = (await conn.execute(select(Customer.id).where(
            Customer.created_at == dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)))).all()
    assert got == dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC) and got.tzinfo is not None
    assert len(same) == 1


async def test_a_time_without_a_zone_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(StatementError, match="give it a timezone"):
        async with engine.begin() as conn:
            await conn.execute(Customer.__table__.insert(), [{
                "name": "张三", "vip": False, "region": "", "address": "", "notes": "",
                "created_at": dt.datetime(2026, 11, 25, 9, 0),
                "updated_at": dt.datetime(2026, 11, 25, 9, 0)}])


async def test_the_postgresql_pool_is_open_before_the_first_call(
    postgres: ThrowawayPostgres
) -> None:
    """Once migrated, the server holds its whole pool: the first busy minute
    does not pay a PostgreSQL login per look-up."""
    db = Database(postgres.create_database("pool_warm"), pool_size=7)
    try:
        await db.migrate()
        assert db.pool() == {"in_use": 0, "size": 7, "overflow": 0}
        assert db.engine.pool.checkedin() == 7  # type: ignore[attr-defined]
    finally:
        await db.close()
