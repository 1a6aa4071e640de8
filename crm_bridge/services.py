"""CRM services: the screen-pop card, customers, and the call log.

No HTTP here: errors are :class:`~crm_bridge.exceptions.CrmError` (a
``DomainError``) that the web layer's middleware answers with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
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


class CrmService:
    def __init__(self, engine: AsyncEngine, *, local_area_code: str | None = None,
                 today: Callable[[], dt.date] = dt.date.today) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.local_area_code = local_area_code
        self.today = today

    # ------------------------------------------------------------------ screen pop
    async def customer_card(self, raw_number: str) -> dict[str, Any]:
        """The caller's card for a screen pop; an "unknown caller" card when no
        customer has this number."""
        number = normalize(raw_number, self.local_area_code)
        async with self.sessions() as s:
            customer_ids = (await s.execute(
                select(CustomerPhone.customer_id).where(CustomerPhone.number == number)
                .order_by(CustomerPhone.customer_id))).scalars().all() if number else []
            if not customer_ids:
                return {"known": False, "number": number, "number_display": display(number),
                        "customer": None, "other_matches": []}
            customer = await self._load(s, customer_ids[0])
            card = await self._card(s, customer)
            card.update(number=number, number_display=display(number),
                        other_matches=list(customer_ids[1:]))
            return card

    async def _load(self, s: AsyncSession, customer_id: int) -> Customer:
        customer = (await s.execute(
            select(Customer).where(Customer.id == customer_id)
            .options(selectinload(Customer.phones), selectinload(Customer.appliances))
        )).scalar_one_or_none()
        if customer is None:
            raise NotFoundError(f"no customer {customer_id}", error_id="customer-not-found")
        return customer

    async def _card(self, s: AsyncSession, c: Customer) -> dict[str, Any]:
        today = self.today()
        tickets = (await s.execute(
            select(Ticket).where(and_(Ticket.customer_id == c.id,
                                      Ticket.status.in_([x.value for x in OPEN_STATUSES])))
            .order_by(Ticket.created_at.desc()))).scalars().all()
        calls = (await s.execute(
            select(CallRecord).where(CallRecord.customer_id == c.id)
            .order_by(CallRecord.started_at.desc()).limit(5))).scalars().all()
        return {
            "known": True,
            "customer": self._customer(c),
            "appliances": [self._appliance(a, today) for a in c.appliances],
            "open_tickets": [{
                "id": t.id, "kind": t.kind, "status": t.status, "summary": t.summary,
                "appliance_id": t.appliance_id, "outlet_id": t.outlet_id,
                "appointment_start": _iso(t.appointment_start),
                "appointment_end": _iso(t.appointment_end), "created_at": _iso(t.created_at),
            } for t in tickets],
            "last_calls": [self._call(r) for r in calls],
        }

    @staticmethod
    def _appliance(a: Appliance, today: dt.date) -> dict[str, Any]:
        in_warranty = a.warranty_end is not None and a.warranty_end >= today
        return {"id": a.id, "category": a.category, "model": a.model, "serial": a.serial,
                "purchase_date": _iso(a.purchase_date), "warranty_end": _iso(a.warranty_end),
                "in_warranty": in_warranty,
                "warranty_days_left": (a.warranty_end - today).days if in_warranty
                and a.warranty_end else 0}

    @staticmethod
    def _customer(c: Customer) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "vip": c.vip, "region": c.region,
                "address": c.address, "notes": c.notes,
                "phones": [{"number": p.number, "display": display(p.number), "label": p.label}
                           for p in c.phones],
                "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at)}

    @staticmethod
    def _call(r: CallRecord) -> dict[str, Any]:
        return {"linkedid": r.linkedid, "caller_number": r.caller_number,
                "caller_name": r.caller_name, "dialled": r.dialled,
                "started_at": _iso(r.started_at), "answered_at": _iso(r.answered_at),
                "ended_at": _iso(r.ended_at), "queue": r.queue, "agent": r.agent,
                "wait_seconds": r.wait_seconds, "outcome": r.outcome,
                "ivr_path": r.ivr_path, "language": r.language, "transfers": r.transfers,
                "disposition": r.disposition, "customer_id": r.customer_id,
                "ticket_id": r.ticket_id, "hangup_cause": r.hangup_cause}

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
            return [self._customer(c) for c in found]

    async def get_customer(self, customer_id: int) -> dict[str, Any]:
        async with self.sessions() as s:
            c = await self._load(s, customer_id)
            return await self._card(s, c)

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
        if q.date_from:
            stmt = stmt.where(CallRecord.started_at >= dt.datetime.combine(
                q.date_from, dt.time(), dt.UTC))
        if q.date_to:
            stmt = stmt.where(CallRecord.started_at < dt.datetime.combine(
                q.date_to + dt.timedelta(days=1), dt.time(), dt.UTC))
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
