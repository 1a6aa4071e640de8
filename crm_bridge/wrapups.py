"""What agents record after a call (disposition, notes, the ticket), one row
per call and agent: saving again replaces it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.models import CallRecord, CallWrapUp, utcnow


class WrapUpStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(self, call_id: str, agent: str, *, disposition: str, notes: str,
                   ticket_id: int | None, customer_id: int | None) -> dict[str, Any]:
        values = {"disposition": disposition, "notes": notes, "ticket_id": ticket_id,
                  "customer_id": customer_id, "updated_at": utcnow()}
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        async with self.engine.begin() as conn:
            stmt = insert(CallWrapUp).values(call_linkedid=call_id, agent=agent,
                                             created_at=utcnow(), **values)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["call_linkedid", "agent"], set_=values))
            row = (await conn.execute(select(CallWrapUp).where(
                CallWrapUp.call_linkedid == call_id, CallWrapUp.agent == agent))).one()
        return {"id": row.id, "call_id": call_id, "agent": agent,
                "disposition": row.disposition, "notes": row.notes,
                "ticket_id": row.ticket_id, "customer_id": row.customer_id}

    async def agents_of(self, call_id: str) -> set[str]:
        """The agents who took a call already written to the records."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(CallRecord.agent, CallRecord.extra).where(
                CallRecord.linkedid == call_id))).first()
        if row is None:
            return set()
        split = (row.extra or {}).get("agents") or []
        return {a["agent"] for a in split if isinstance(a, dict) and "agent" in a} | (
            {row.agent} if row.agent else set())
