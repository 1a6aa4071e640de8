"""Agent state intervals into the service database (``agent_intervals``).

The ACD's board closes an interval when an agent's state (or pause reason)
changes, and its notifier publishes it as ``acd.interval``; this writer gets
them on its bus subscription and batches them into the database every second.
While the database is down they wait in memory, on the subscription (bounded:
the oldest are dropped first, and counted); the open interval of each agent
is not written until it closes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.models import AgentInterval
from cti.bus import Subscription

log = structlog.get_logger("crm_bridge.intervals")


class IntervalWriter:
    def __init__(self, engine: AsyncEngine, intervals: Subscription, *,
                 interval: float = 1.0) -> None:
        """``intervals``: the bus subscription they come on."""
        self.engine = engine
        self.interval = interval
        self._sub = intervals
        self.written = 0

    @property
    def dropped(self) -> int:
        return self._sub.dropped

    async def run(self) -> None:
        pending: list[dict[str, Any]] = []
        try:
            while True:
                await self._sub.wait(None if not pending else self.interval)
                await asyncio.sleep(self.interval)
                while (item := self._sub.get_nowait()) is not None:
                    pending.append(item[1])
                if pending and await self._write(pending):
                    pending = []
        finally:
            self._sub.close()

    async def _write(self, items: list[dict[str, Any]]) -> bool:
        rows = [{**i, "started_at": dt.datetime.fromtimestamp(i["started_at"], dt.UTC),
                 "ended_at": dt.datetime.fromtimestamp(i["ended_at"], dt.UTC)} for i in items]
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(AgentInterval), rows)
        except Exception as exc:  # the database is down: keep them, try again
            log.warning("agent_intervals_not_written", pending=len(rows),
                        error=f"{type(exc).__name__}: {exc}"[:200])
            return False
        self.written += len(rows)
        return True
