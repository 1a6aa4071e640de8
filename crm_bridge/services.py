"""CRM services: the screen-pop card, customers, and the call log.

No HTTP here: errors are :class:`~crm_bridge.exceptions.CrmError` (a
``DomainError``) that the web layer's middleware answers with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm_bridge.exceptions import CrmError, NotFoundError
from crm_bridge.models import (
    OPEN_STATUSES,
    Appliance,
    CallRecord,
    Customer,
    CustomerPhone,
    ServiceOutlet,
    Ticket,
)
from crm_bridge.phones import display, normalize
from crm_bridge.schemas import CallQuery, CustomerIn, CustomerPatch, CustomerQuery


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


# the columns a card shows (plain rows: no ORM objects to build on every call)
_CUSTOMER = (Customer.id, Customer.name, Customer.vip, Customer.region, Customer.address,
             Customer.notes, Customer.created_at, Customer.updated_at)
_APPLIANCE = (Appliance.id, Appliance.category, Appliance.model, Appliance.serial,
              Appliance.purchase_date, Appliance.warranty_end)
_OPEN_TICKET = (Ticket.id, Ticket.kind, Ticket.status, Ticket.summary, Ticket.appliance_id,
                Ticket.outlet_id, Ticket.appointment_start, Ticket.appointment_end,
                Ticket.created_at)
_CALL = (CallRecord.linkedid, CallRecord.caller_number, CallRecord.caller_name,
         CallRecord.dialled, CallRecord.started_at, CallRecord.answered_at, CallRecord.ended_at,
         CallRecord.queue, CallRecord.agent, CallRecord.wait_seconds, CallRecord.outcome,
         CallRecord.ivr_path, CallRecord.language, CallRecord.transfers, CallRecord.disposition,
         CallRecord.customer_id, CallRecord.ticket_id, CallRecord.hangup_cause)

# the card's queries, built once (building and keying a statement cost more
# than running it): the customers with a number, with all their phones; a
# customer with their phones; their appliances, open tickets and last calls
_matches = CustomerPhone.__table__.alias("matches")
CARD_BY_NUMBER = (
    select(_matches.c.customer_id, *_CUSTOMER, CustomerPhone.number, CustomerPhone.label)
    .join(Customer, Customer.id == _matches.c.customer_id)
    .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
    .where(_matches.c.number == bindparam("number"))
    .order_by(_matches.c.customer_id, CustomerPhone.id))
GLANCE = (select(Customer.id, Customer.name, Customer.vip)
          .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
          .where(CustomerPhone.number == bindparam("number"))
          .order_by(Customer.id).limit(1))
CARD_BY_ID = (
    select(*_CUSTOMER, CustomerPhone.number, CustomerPhone.label)
    .outerjoin(CustomerPhone, CustomerPhone.customer_id == Customer.id)
    .where(Customer.id == bindparam("customer_id")).order_by(CustomerPhone.id))
CARD_APPLIANCES = (select(*_APPLIANCE).where(Appliance.customer_id == bindparam("customer_id"))
                   .order_by(Appliance.id))
CARD_TICKETS = (select(*_OPEN_TICKET)
                .where(Ticket.customer_id == bindparam("customer_id"),
                       Ticket.status.in_(sorted(x.value for x in OPEN_STATUSES)))
                .order_by(Ticket.created_at.desc()))
CARD_CALLS = (select(*_CALL).where(CallRecord.customer_id == bindparam("customer_id"))
              .order_by(CallRecord.started_at.desc()).limit(5))


class CrmService:
    def __init__(self, engine: AsyncEngine, *, local_area_code: str | None = None,
                 today: Callable[[], dt.date] = dt.date.today,
                 zone: str = "Asia/Shanghai") -> None:
        # the call log's days are the site's, and its times are given in its zone
        self.zone = ZoneInfo(zone)
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        # reads without a transaction: no BEGIN and ROLLBACK round trips
        self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.local_area_code = local_area_code
        self.today = today

    # ------------------------------------------------------------------ screen pop
    async def customer_card(self, raw_number: str) -> dict[str, Any]:
        """The caller's card for a screen pop; an "unknown caller" card when no
        customer has this number. Read on every call that reaches the IVR or a
        queue, so it is lean: plain rows, no transaction, one query for an
        unknown number and four for a known one."""
        number = normalize(raw_number, self.local_area_code)
        if not number:
            return self._unknown(number)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(CARD_BY_NUMBER, {"number": number})).all()
            if not rows:
                return self._unknown(number)
            ids = list(dict.fromkeys(r.customer_id for r in rows))
            first = [r for r in rows if r.customer_id == ids[0]]
            card = await self._card(conn, first[0], first)
        card.update(number=number, number_display=display(number), other_matches=ids[1:])
        return card

    async def caller(self, raw_number: str) -> dict[str, Any]:
        """The caller at a glance, for routing (one query): ``known`` and the
        customer's id, name and VIP flag, the card's own shape."""
        number = normalize(raw_number, self.local_area_code)
        if not number:
            return self._unknown(number)
        async with self.reader.connect() as conn:
            row = (await conn.execute(GLANCE, {"number": number})).first()
        if row is None:
            return self._unknown(number)
        return {"known": True, "number": number, "number_display": display(number),
                "customer": {"id": row.id, "name": row.name, "vip": row.vip}}

    @staticmethod
    def _unknown(number: str) -> dict[str, Any]:
        return {"known": False, "number": number, "number_display": display(number),
                "customer": None, "other_matches": []}

    async def _card(self, conn: AsyncConnection, c: Any, phones: Sequence[Any]) -> dict[str, Any]:
        """The card of customer ``c`` (a row or an object with the customer's
        columns) and their ``phones`` (rows with number and label)."""
        today = self.today()
        who = {"customer_id": c.id}
        appliances = (await conn.execute(CARD_APPLIANCES, who)).all()
        tickets = (await conn.execute(CARD_TICKETS, who)).all()
        calls = (await conn.execute(CARD_CALLS, who)).all()
        return {
            "known": True,
            "customer": self._customer(c, phones),
            "appliances": [self._appliance(a, today) for a in appliances],
            "open_tickets": [{
                "id": t.id, "kind": t.kind, "status": t.status, "summary": t.summary,
                "appliance_id": t.appliance_id, "outlet_id": t.outlet_id,
                "appointment_start": _iso(t.appointment_start),
                "appointment_end": _iso(t.appointment_end), "created_at": _iso(t.created_at),
            } for t in tickets],
            "last_calls": [self._brief_call(r) for r in calls],
        }

    async def _load(self, s: AsyncSession, customer_id: int) -> Customer:
        customer = (await s.execute(
            select(Customer).where(Customer.id == customer_id)
            .options(selectinload(Customer.phones), selectinload(Customer.appliances))
        )).scalar_one_or_none()
        if customer is None:
            raise NotFoundError(f"no customer {customer_id}", error_id="customer-not-found")
        return customer

    @staticmethod
    def _appliance(a: Any, today: dt.date) -> dict[str, Any]:
        in_warranty = a.warranty_end is not None and a.warranty_end >= today
        return {"id": a.id, "category": a.category, "model": a.model, "serial": a.serial,
                "purchase_date": _iso(a.purchase_date), "warranty_end": _iso(a.warranty_end),
                "in_warranty": in_warranty,
                "warranty_days_left": (a.warranty_end - today).days if in_warranty
                and a.warranty_end else 0}

    @staticmethod
    def _customer(c: Any, phones: Sequence[Any]) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "vip": c.vip, "region": c.region,
                "address": c.address, "notes": c.notes,
                "phones": [{"number": p.number, "display": display(p.number), "label": p.label}
                           for p in phones],
                "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at)}

    def _local(self, value: dt.datetime | None) -> str | None:
        return None if value is None else value.astimezone(self.zone).isoformat()

    def _brief_call(self, r: Any) -> dict[str, Any]:
        """A call as the caller's card lists it (the card reads only these
        columns); times in the site's zone."""
        return {"linkedid": r.linkedid, "caller_number": r.caller_number,
                "caller_name": r.caller_name, "dialled": r.dialled,
                "started_at": self._local(r.started_at),
                "answered_at": self._local(r.answered_at), "ended_at": self._local(r.ended_at),
                "queue": r.queue, "agent": r.agent,
                "wait_seconds": r.wait_seconds, "outcome": r.outcome,
                "ivr_path": r.ivr_path, "language": r.language, "transfers": r.transfers,
                "disposition": r.disposition, "customer_id": r.customer_id,
                "ticket_id": r.ticket_id, "hangup_cause": r.hangup_cause}

    def _call(self, r: Any) -> dict[str, Any]:
        """What the record knows of a call: the card's view of it, and the way
        through the IVR and the queues, each agent's share of the time, holds,
        the recording, and how its end was known."""
        extra = r.extra or {}
        return {**self._brief_call(r),
                "ivr_fallback": bool(extra.get("ivr_fallback")),
                "queues": list(extra.get("queues") or ([r.queue] if r.queue else [])),
                "agents": list(extra.get("agents") or []),
                "holds": r.holds, "hold_seconds": r.hold_seconds,
                "recording": None if not r.recording_file else {
                    "file": r.recording_file, "seconds": r.recording_seconds,
                    "url": f"/api/v1/calls/{r.linkedid}/recording"},
                # how the end was known: seen as it happened; found gone after an
                # AMI drop or a restart (end time estimated); completed from
                # Asterisk's ledger; or the whole call backfilled from it
                "end": {"observed": extra.get("end_observed", True) is not False,
                        "resynced": bool(extra.get("resynced")),
                        "completed_from": extra.get("completed_from"),
                        "backfilled": bool(extra.get("backfilled"))}}

    async def outlets(self) -> list[dict[str, Any]]:
        """The active service outlets, by region (tickets are dispatched to them)."""
        async with self.sessions() as s:
            rows = (await s.execute(select(ServiceOutlet).where(ServiceOutlet.active)
                                    .order_by(ServiceOutlet.region, ServiceOutlet.name))
                    ).scalars().all()
        return [{"id": o.id, "name": o.name, "region": o.region, "address": o.address,
                 "contact_name": o.contact_name, "contact_phone": o.contact_phone}
                for o in rows]

    # ------------------------------------------------------------------ customers
    async def search_customers(self, q: CustomerQuery) -> list[dict[str, Any]]:
        if not q.phone and not q.name:
            raise CrmError("give phone or name to search by", error_id="invalid-request",
                           details={"fields": [{"field": "phone", "message": "phone or name "
                                                "is required"}]})
        stmt = select(Customer).options(selectinload(Customer.phones),
                                        selectinload(Customer.appliances))
        if q.phone:
            number = normalize(q.phone, self.local_area_code)
            stmt = stmt.where(Customer.id.in_(
                select(CustomerPhone.customer_id).where(CustomerPhone.number == number)))
        if q.name:
            stmt = stmt.where(Customer.name.contains(q.name, autoescape=True))
        async with self.sessions() as s:
            found = (await s.execute(stmt.order_by(Customer.id).limit(q.limit))).scalars().all()
            return [self._customer(c, c.phones) for c in found]

    async def get_customer(self, customer_id: int) -> dict[str, Any]:
        async with self.reader.connect() as conn:
            rows = (await conn.execute(CARD_BY_ID, {"customer_id": customer_id})).all()
            if not rows:
                raise NotFoundError(f"no customer {customer_id}", error_id="customer-not-found")
            return await self._card(conn, rows[0], [r for r in rows if r.number is not None])

    async def create_customer(self, data: CustomerIn) -> dict[str, Any]:
        async with self.sessions() as s, s.begin():
            c = Customer(name=data.name, vip=data.vip, region=data.region,
                         address=data.address, notes=data.notes,
                         phones=[CustomerPhone(number=p.number, label=p.label)
                                 for p in data.phones])
            s.add(c)
        return await self.get_customer(c.id)

    async def update_customer(self, customer_id: int, patch: CustomerPatch) -> dict[str, Any]:
        fields = patch.model_dump(exclude_unset=True)
        if not fields:
            raise CrmError("nothing to update", error_id="invalid-request",
                           details={"fields": []})
        async with self.sessions() as s, s.begin():
            c = await self._load(s, customer_id)
            for key in ("name", "vip", "region", "address", "notes"):
                if key in fields:
                    setattr(c, key, fields[key])
            if patch.phones is not None:
                c.phones.clear()
                await s.flush()
                c.phones.extend(CustomerPhone(number=p.number, label=p.label)
                                for p in patch.phones)
            c.updated_at = dt.datetime.now(dt.UTC)
        return await self.get_customer(customer_id)

    # ------------------------------------------------------------------ call log
    def _calls_stmt(self, q: CallQuery) -> Select[CallRecord]:
        stmt = select(CallRecord)
        if q.date_from:  # the site's days
            stmt = stmt.where(CallRecord.started_at >= dt.datetime.combine(
                q.date_from, dt.time(), self.zone))
        if q.date_to:
            stmt = stmt.where(CallRecord.started_at < dt.datetime.combine(
                q.date_to + dt.timedelta(days=1), dt.time(), self.zone))
        if q.queue:
            stmt = stmt.where(CallRecord.queue == q.queue)
        if q.agent:
            stmt = stmt.where(CallRecord.agent == q.agent)
        if q.outcome:
            stmt = stmt.where(CallRecord.outcome == q.outcome.value)
        if q.customer_id:
            stmt = stmt.where(CallRecord.customer_id == q.customer_id)
        return stmt

    async def list_calls(self, q: CallQuery) -> tuple[list[dict[str, Any]], int]:
        if q.date_from and q.date_to and q.date_to < q.date_from:
            raise CrmError("'to' is before 'from'", error_id="invalid-request",
                           details={"fields": [{"field": "to", "message": "before 'from'"}]})
        stmt = self._calls_stmt(q)
        async with self.sessions() as s:
            total = (await s.execute(select(func.count()).select_from(stmt.subquery())))\
                .scalar_one()
            rows = (await s.execute(stmt.order_by(CallRecord.started_at.desc(), CallRecord.id)
                                    .limit(q.limit).offset(q.offset))).scalars().all()
            return [self._call(r) for r in rows], int(total)
