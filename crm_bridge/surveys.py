"""Surveys answered on the keypad, and the follow-up calls (回访) that ask them.

* ``FollowUps.on_ticket_closed``: a repair or installation closed owes the
  customer a follow-up call after a delay (``follow_up`` in
  cti/outbound/outbound.yaml): a callback of kind ``follow_up`` linked to the
  ticket, to the customer's mobile first. One open callback per number still
  holds: a customer already owed a call gets no second one.
* ``Surveys.record``: one survey's answers, written once, linked to the call,
  the agent, the ticket and the ticket's outlet.
* ``Surveys.satisfaction``: per outlet (follow-ups) and per agent (post-call
  surveys): how many answered, the mean score, the share solved.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm_bridge.callbacks import Callbacks
from crm_bridge.models import (
    Customer,
    ServiceOutlet,
    SurveyAnswer,
    Ticket,
    TicketKind,
    utcnow,
)

log = structlog.get_logger("crm_bridge.surveys")

FOLLOWED_UP = (TicketKind.REPAIR.value, TicketKind.INSTALLATION.value)


class FollowUps:
    def __init__(self, engine: AsyncEngine, callbacks: Callbacks, *, after: dt.timedelta,
                 queue: str | None) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.callbacks, self.after, self.queue = callbacks, after, queue

    async def on_ticket_closed(self, ticket_id: int) -> dict[str, Any] | None:
        async with self.sessions() as s:
            t = (await s.execute(select(Ticket).where(Ticket.id == ticket_id).options(
                selectinload(Ticket.customer).selectinload(Customer.phones)))).scalar_one()
        if t.kind not in FOLLOWED_UP or t.customer is None or not t.customer.phones:
            return None
        phones = sorted(t.customer.phones, key=lambda p: (p.label != "mobile", p.id))
        due = (t.closed_at or utcnow()) + self.after
        entry, created = await self.callbacks.open(
            phones[0].number, "follow_up", queue=self.queue, ticket_id=t.id, due_at=due,
            joined_at=due, note=f"回访 follow-up of ticket {t.id}")
        log.info("follow_up_scheduled", ticket=t.id, callback=entry["id"], new=created,
                 due=due.isoformat())
        return entry


class Surveys:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def record(self, kind: str, *, call_id: str | None = None, agent: str | None = None,
                     ticket_id: int | None = None, callback_id: int | None = None,
                     satisfaction: int | None = None, solved: bool | None = None,
                     comment_file: str | None = None) -> int:
        async with self.sessions.begin() as s:
            outlet_id = None
            if ticket_id is not None:
                t = await s.get(Ticket, ticket_id)
                if t is None:
                    ticket_id = None
                else:
                    outlet_id = t.outlet_id
            row = SurveyAnswer(kind=kind, call_linkedid=call_id, agent=agent or None,
                               ticket_id=ticket_id, outlet_id=outlet_id,
                               callback_id=callback_id, satisfaction=satisfaction,
                               solved=solved, comment_file=comment_file, created_at=utcnow())
            s.add(row)
            await s.flush()
            return row.id

    async def answers(self, *, ticket_id: int | None = None, call_id: str | None = None
                      ) -> list[dict[str, Any]]:
        stmt = select(SurveyAnswer).order_by(SurveyAnswer.id)
        if ticket_id is not None:
            stmt = stmt.where(SurveyAnswer.ticket_id == ticket_id)
        if call_id is not None:
            stmt = stmt.where(SurveyAnswer.call_linkedid == call_id)
        async with self.sessions() as s:
            rows = (await s.execute(stmt)).scalars().all()
        return [{"id": r.id, "kind": r.kind, "call_id": r.call_linkedid, "agent": r.agent,
                 "ticket_id": r.ticket_id, "outlet_id": r.outlet_id,
                 "callback_id": r.callback_id, "satisfaction": r.satisfaction,
                 "solved": r.solved, "comment_file": r.comment_file,
                 "created_at": r.created_at} for r in rows]

    async def satisfaction(self, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        """Follow-ups per outlet and post-call surveys per agent in [start, end)."""
        scored = func.count(SurveyAnswer.satisfaction)
        solved = func.sum(case((SurveyAnswer.solved.is_(True), 1), else_=0))
        asked = func.count(SurveyAnswer.solved)
        when = (SurveyAnswer.created_at >= start, SurveyAnswer.created_at < end)
        async with self.sessions() as s:
            outlets = (await s.execute(
                select(SurveyAnswer.outlet_id, ServiceOutlet.name, func.count(), scored,
                       func.avg(SurveyAnswer.satisfaction), solved, asked)
                .outerjoin(ServiceOutlet, ServiceOutlet.id == SurveyAnswer.outlet_id)
                .where(SurveyAnswer.kind == "follow_up", *when)
                .group_by(SurveyAnswer.outlet_id, ServiceOutlet.name)
                .order_by(SurveyAnswer.outlet_id))).all()
            agents = (await s.execute(
                select(SurveyAnswer.agent, func.count(), scored,
                       func.avg(SurveyAnswer.satisfaction))
                .where(SurveyAnswer.kind == "post_call", *when)
                .group_by(SurveyAnswer.agent).order_by(SurveyAnswer.agent))).all()
        return {
            "outlets": [{"outlet_id": o, "outlet": name, "surveys": n, "scored": k,
                         "satisfaction": round(float(avg), 2) if avg is not None else None,
                         "solved_rate": round(100.0 * (ok or 0) / a, 1) if a else None}
                        for o, name, n, k, avg, ok, a in outlets],
            "agents": [{"agent": ag, "surveys": n, "scored": k,
                        "satisfaction": round(float(avg), 2) if avg is not None else None}
                       for ag, n, k, avg in agents],
        }
