"""What agents record after a call (disposition, notes, the ticket), one row
per call and agent: saving again replaces it. The ticket is written first
(opened or changed through the ticket rules): if it is refused (422, 409),
nothing is saved."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.models import CallRecord, CallWrapUp, utcnow
from crm_bridge.schemas import WrapUpIn
from crm_bridge.tickets import TicketService
from cti.errors import validate


class WrapUps:
    def __init__(self, engine: AsyncEngine, tickets: TicketService) -> None:
        self.engine = engine
        self.tickets = tickets

    @staticmethod
    def parse(data: Any) -> WrapUpIn:
        """The wrap-up as sent; 422 naming each wrong field."""
        return validate(WrapUpIn, data)

    async def save(self, wrap: WrapUpIn, *, call_id: str, agent: str) -> dict[str, Any]:
        """The ticket opened or changed, then the wrap-up: ``{"wrap_up", "ticket"}``."""
        ticket_id, customer_id = wrap.ticket_id, wrap.customer_id
        ticket: dict[str, Any] | None = None
        actor = f"agent:{agent}"
        if wrap.new_ticket is not None:
            ticket = await self.tickets.create(wrap.new_ticket.model_copy(
                update={"call_id": call_id, "actor": actor}))
        elif wrap.ticket_update is not None:
            ticket = await self.tickets.update(wrap.ticket_update.id, wrap.ticket_update.change
                                               .model_copy(update={"actor": actor}))
        if ticket is not None:
            ticket_id, customer_id = ticket["id"], ticket["customer"]["id"]
        saved = await self._store(call_id, agent, disposition=wrap.disposition.value,
                                  notes=wrap.notes, ticket_id=ticket_id,
                                  customer_id=customer_id)
        return {"wrap_up": saved, "ticket": ticket}

    async def _store(self, call_id: str, agent: str, *, disposition: str, notes: str,
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
            # the call's record keeps what the agent decided (the latest wrap-up
            # wins; a record not written yet takes it from here when it is)
            change: dict[str, Any] = {"disposition": disposition}
            if ticket_id is not None:
                change["ticket_id"] = ticket_id
            await conn.execute(update(CallRecord).where(CallRecord.linkedid == call_id)
                               .values(**change))
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
