"""What the reports read from the service database: the call records and the
agents' state intervals of a time window. The ACD's KPIs (acd/kpi.py) and the
IVR's traversal report (ivr/report.py) compute from these rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.models import AgentInterval, CallRecord


@dataclass(frozen=True)
class CallFacts:
    linkedid: str
    queue: str | None
    agent: str | None
    outcome: str
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime
    wait_seconds: float | None
    hold_seconds: float | None
    disposition: str | None = None


@dataclass(frozen=True)
class IntervalFacts:
    agent: str
    state: str
    started_at: dt.datetime
    ended_at: dt.datetime
    call_linkedid: str | None


class ReportRows:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def calls(self, start: dt.datetime, end: dt.datetime) -> list[CallFacts]:
        """The calls that started in ``[start, end)``."""
        async with self.engine.connect() as conn:
            return [CallFacts(**r._asdict()) for r in await conn.execute(
                select(CallRecord.linkedid, CallRecord.queue, CallRecord.agent,
                       CallRecord.outcome, CallRecord.started_at, CallRecord.answered_at,
                       CallRecord.ended_at, CallRecord.wait_seconds, CallRecord.hold_seconds,
                       CallRecord.disposition)
                .where(CallRecord.started_at >= start, CallRecord.started_at < end))]

    async def intervals(self, start: dt.datetime, end: dt.datetime) -> list[IntervalFacts]:
        """The intervals that overlap ``[start, end)``, clipped to it."""
        async with self.engine.connect() as conn:
            rows = [IntervalFacts(*r) for r in await conn.execute(
                select(AgentInterval.agent, AgentInterval.state, AgentInterval.started_at,
                       AgentInterval.ended_at, AgentInterval.call_linkedid)
                .where(AgentInterval.started_at < end, AgentInterval.ended_at > start))]
        return [IntervalFacts(i.agent, i.state, max(i.started_at, start), min(i.ended_at, end),
                              i.call_linkedid) for i in rows]

    async def ivr_paths(self, start: dt.datetime, end: dt.datetime) -> list[str]:
        """The IVR paths of the calls that started in ``[start, end)``."""
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(CallRecord.ivr_path).where(
                CallRecord.started_at >= start, CallRecord.started_at < end))).scalars().all())
