"""The service database: PostgreSQL (asyncpg) in production, SQLite
(aiosqlite) as the embedded default; its engine, its schema brought up to
date at start (retried while the database is down), and its health."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm_bridge.migrate import upgrade_async

log = structlog.get_logger("crm_bridge.db")

Engine = AsyncEngine  # what the rest of the server calls the database's engine


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5,
                pool_timeout: float = 5.0) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return create_async_engine(url, connect_args={"timeout": 15})
    return create_async_engine(url, pool_pre_ping=False, pool_size=pool_size,
                               max_overflow=max_overflow, pool_timeout=pool_timeout,
                               connect_args={"timeout": 5})


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def describe(url: str) -> str:
    """The URL without its password, for logs and /healthz."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One server's service database: the engine, and whether its schema is
    migrated (until it is, call records wait in the spool)."""

    def __init__(self, url: str, *, pool_size: int = 20, max_overflow: int = 0,
                 pool_timeout: float = 5.0) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                  pool_timeout=pool_timeout)
        self.ready = False

    def pool(self) -> dict[str, int]:
        """Connections in use and held (PostgreSQL's pool; SQLite has none)."""
        p = self.engine.pool
        checked_out = getattr(p, "checkedout", None)
        size = getattr(p, "size", None)
        if not callable(checked_out) or not callable(size):
            return {}
        return {"in_use": int(checked_out()), "size": int(size()),
                "overflow": max(0, int(getattr(p, "overflow", lambda: 0)()))}

    async def migrate(self) -> None:
        """Migrate to the current schema, retrying while the database is down."""
        delay = 1.0
        while True:
            try:
                await upgrade_async(self.url)
            except Exception as exc:  # any driver error: the database is not there yet
                log.warning("database_upgrade_failed",
                            error=f"{type(exc).__name__}: {exc}"[:300], retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.ready = True
            await self.warm()
            log.info("database_ready", url=describe(self.url), pool=self.pool())
            return

    async def warm(self) -> None:
        """Open the pool's connections now, at start, rather than one by one in
        the first busy minutes: a new PostgreSQL connection (TCP, a TLS
        attempt, the login, the type look-ups) costs tens of milliseconds of
        the server's CPU, and a screen pop waiting for one is that late."""
        size = getattr(self.engine.pool, "size", None)
        if not callable(size):
            return  # SQLite: no pool to fill
        stack = contextlib.AsyncExitStack()
        async with stack:
            try:
                await asyncio.gather(*(stack.enter_async_context(self.engine.connect())
                                       for _ in range(int(size()))))
            except Exception as exc:  # the pool fills as it is used instead
                log.warning("database_pool_not_warmed", error=f"{type(exc).__name__}: {exc}"[:200])

    async def health(self, **more: Any) -> dict[str, Any]:
        """The /healthz component: up when it answers and the schema is current."""
        out: dict[str, Any] = {"status": "down", "url": describe(self.url), **more}
        if pool := self.pool():
            out["pool"] = pool
        try:
            await asyncio.wait_for(ping(self.engine), 2.0)
            if self.ready:
                out["status"] = "up"
            else:
                out["detail"] = "schema migration pending"
        except Exception as exc:  # any driver error means "down"
            out["detail"] = f"{type(exc).__name__}: {exc}"[:300]
        return out

    async def close(self) -> None:
        await self.engine.dispose()
