"""Service tickets (work orders): create, update, assign an outlet, close.

Each change is checked against the ticket's status flow
(:data:`~crm_bridge.models.TICKET_TRANSITIONS`) and the rules a dispatcher
relies on (a ticket sent to an outlet names the outlet; a scheduled one has
an appointment window), then written in one transaction together with a
line of history per change. A rule broken is a :class:`TicketError` naming
the field; nothing is written.

A ticket opened on a call remembers the call (its Linkedid): the call's
record links back to the ticket, whether the record is already written
(linked here) or not yet (linked by the call-record writer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm_bridge.exceptions import CrmError, NotFoundError, TicketError, TransitionError
from crm_bridge.models import (
    OPEN_STATUSES,
    TICKET_TRANSITIONS,
    Appliance,
    CallRecord,
    Customer,
    ServiceOutlet,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from crm_bridge.schemas import TicketAssign, TicketClose, TicketIn, TicketPatch, TicketQuery

log = structlog.get_logger("crm_bridge.tickets")

MAX_WINDOW = dt.timedelta(hours=12)
PAST_GRACE = dt.timedelta(minutes=5)
FINAL = frozenset({TicketStatus.CLOSED, TicketStatus.CANCELLED})
NEEDS_OUTLET = frozenset({TicketStatus.DISPATCHED, TicketStatus.SCHEDULED,
                          TicketStatus.IN_PROGRESS})


class TicketService:
    def __init__(self, engine: AsyncEngine, *, zone: str = "Asia/Shanghai",
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.zone = ZoneInfo(zone)
        self.now = now
        # called with the ticket's id once a close is committed (the follow-up
        # call it owes: crm_bridge/surveys.py); a failing hook fails no close
        self.on_closed: list[Callable[[int], Awaitable[Any]]] = []

    # ------------------------------------------------------------------ reading
    async def get(self, ticket_id: int) -> dict[str, Any]:
        async with self.sessions() as s:
            return self._out(await self._load(s, ticket_id))

    async def book_installation(self, customer_id: int, appliance_id: int,
                                start: dt.datetime, end: dt.datetime,
                                call_id: str) -> dict[str, Any]:
        """An installation booked by the caller in the IVR's self-service."""
        return await self.create(TicketIn.model_validate({
            "kind": TicketKind.INSTALLATION, "customer_id": customer_id,
            "appliance_id": appliance_id, "summary": "电话自助预约安装",
            "appointment_start": start, "appointment_end": end,
            "call_id": call_id or None, "actor": "ivr"}))

    async def find(self, ticket_id: int) -> dict[str, Any] | None:
        """The ticket, or None, for the IVR's self-service by a typed number.
        With ``phone_tails``: the last four digits of the customer's numbers,
        which a caller from another phone must type before hearing the status."""
        async with self.sessions() as s:
            t = (await s.execute(select(Ticket).where(Ticket.id == ticket_id).options(
                *self._loads(history=False), selectinload(Ticket.customer)
                .selectinload(Customer.phones)))).scalar_one_or_none()
            if t is None:
                return None
            out = self._out(t, history=False)
            out["phone_tails"] = sorted({p.number[-4:] for p in t.customer.phones
                                         if len(p.number) >= 4})
            return out

    async def search(self, q: TicketQuery) -> tuple[list[dict[str, Any]], int]:
        stmt: Select[Ticket] = select(Ticket)
        if q.customer_id:
            stmt = stmt.where(Ticket.customer_id == q.customer_id)
        if q.outlet_id:
            stmt = stmt.where(Ticket.outlet_id == q.outlet_id)
        if q.status:
            stmt = stmt.where(Ticket.status == q.status.value)
        if q.kind:
            stmt = stmt.where(Ticket.kind == q.kind.value)
        if q.open is not None:
            open_values = [x.value for x in OPEN_STATUSES]
            stmt = stmt.where(Ticket.status.in_(open_values) if q.open
                              else Ticket.status.not_in(open_values))
        async with self.sessions() as s:
            total = (await s.execute(select(func.count()).select_from(stmt.subquery())))\
                .scalar_one()
            found = (await s.execute(
                stmt.options(*self._loads(history=False))
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                .limit(q.limit).offset(q.offset))).scalars().all()
            return [self._out(t, history=False) for t in found], int(total)

    # ------------------------------------------------------------------ changing
    async def create(self, data: TicketIn) -> dict[str, Any]:
        now = self.now()
        async with self.sessions() as s, s.begin():
            if await s.get(Customer, data.customer_id) is None:
                raise TicketError("customer_id", f"no customer {data.customer_id}")
            if data.appliance_id is not None:
                await self._check_appliance(s, data.appliance_id, data.customer_id)
            if data.outlet_id is not None:
                await self._check_outlet(s, data.outlet_id)
            start, end = self._window(data, None, None, now)
            status = TicketStatus.NEW
            if data.outlet_id is not None:
                status = TicketStatus.SCHEDULED if start else TicketStatus.DISPATCHED
            t = Ticket(kind=data.kind.value, status=status.value, customer_id=data.customer_id,
                       appliance_id=data.appliance_id, outlet_id=data.outlet_id,
                       summary=data.summary, notes=data.notes, appointment_start=start,
                       appointment_end=end, created_by=data.actor, call_linkedid=data.call_id,
                       created_at=now, updated_at=now)
            detail = []
            if data.outlet_id is not None:
                detail.append(f"outlet {data.outlet_id}")
            if start and end:
                detail.append(f"appointment {self._span(start, end)}")
            t.history.append(TicketEvent(at=now, actor=data.actor, action="created",
                                         to_status=status.value, detail="; ".join(detail)))
            s.add(t)
            await s.flush()
            if data.call_id:
                await s.execute(update(CallRecord).where(
                    CallRecord.linkedid == data.call_id, CallRecord.ticket_id.is_(None))
                    .values(ticket_id=t.id))
            ticket_id = t.id
        return await self.get(ticket_id)

    async def update(self, ticket_id: int, patch: TicketPatch) -> dict[str, Any]:
        fields = patch.model_fields_set - {"actor"}
        if not fields:
            raise CrmError("nothing to update", error_id="invalid-request",
                           details={"fields": []})
        now = self.now()
        async with self.sessions() as s, s.begin():
            t = await self._load(s, ticket_id, for_update=True)
            current = TicketStatus(t.status)
            if current in FINAL and fields - {"note"}:
                raise TransitionError(
                    f"ticket {t.id} is {current}: only a note can be added",
                    details={"from": current.value, "allowed": [],
                             "fields": [{"field": sorted(fields - {'note'})[0],
                                         "message": f"the ticket is {current}"}]})
            ev = _Events(t, patch.actor, now)
            if patch.summary is not None and patch.summary != t.summary:
                ev.add("summary", detail=f"{t.summary} → {patch.summary}")
                t.summary = patch.summary
            if "appliance_id" in fields and patch.appliance_id != t.appliance_id:
                if patch.appliance_id is not None:
                    await self._check_appliance(s, patch.appliance_id, t.customer_id)
                ev.add("appliance", detail=f"{t.appliance_id} → {patch.appliance_id}")
                t.appliance_id = patch.appliance_id
            if "outlet_id" in fields and patch.outlet_id != t.outlet_id:
                await self._set_outlet(s, t, patch.outlet_id, ev)
            self._set_window(t, patch, now, ev)
            if patch.note:
                self._add_note(t, patch.note, ev)
            if patch.status is not None and patch.status != current:
                self._move(t, patch.status, ev)
            self._check_rules(t)
            if not ev.events:
                raise CrmError("nothing changed: the ticket already has these values",
                               error_id="invalid-request", details={"fields": []})
            ev.commit()
        return await self.get(ticket_id)

    async def assign(self, ticket_id: int, data: TicketAssign) -> dict[str, Any]:
        """Send the ticket to a service outlet, optionally with an appointment window:
        a new ticket becomes dispatched, or scheduled when it has a window."""
        now = self.now()
        async with self.sessions() as s, s.begin():
            t = await self._load(s, ticket_id, for_update=True)
            current = TicketStatus(t.status)
            if current in FINAL:
                raise TransitionError(f"ticket {t.id} is {current}: it cannot be assigned",
                                      details={"from": current.value, "allowed": []})
            ev = _Events(t, data.actor, now)
            if data.outlet_id != t.outlet_id:
                await self._set_outlet(s, t, data.outlet_id, ev)
            self._set_window(t, data, now, ev)
            if data.note:
                self._add_note(t, data.note, ev)
            target = current
            if current in (TicketStatus.NEW, TicketStatus.DISPATCHED):
                target = (TicketStatus.SCHEDULED if t.appointment_start is not None
                          else TicketStatus.DISPATCHED)
            if target != current:
                self._move(t, target, ev)
            self._check_rules(t)
            if not ev.events:
                raise CrmError(f"ticket {t.id} is already with outlet {data.outlet_id}",
                               error_id="invalid-request", details={"fields": []})
            ev.commit()
        return await self.get(ticket_id)

    async def close(self, ticket_id: int, data: TicketClose) -> dict[str, Any]:
        now = self.now()
        async with self.sessions() as s, s.begin():
            t = await self._load(s, ticket_id, for_update=True)
            ev = _Events(t, data.actor, now)
            self._move(t, TicketStatus.CLOSED, ev, detail=data.resolution)
            self._add_note(t, data.resolution, ev, record=False)
            ev.commit()
        for hook in self.on_closed:
            try:
                await hook(ticket_id)
            except Exception as exc:
                log.error("ticket_closed_hook_failed", ticket=ticket_id,
                          error=f"{type(exc).__name__}: {exc}"[:200])
        return await self.get(ticket_id)

    # ------------------------------------------------------------------ rules
    def _move(self, t: Ticket, to: TicketStatus, ev: _Events, detail: str = "") -> None:
        current = TicketStatus(t.status)
        allowed = TICKET_TRANSITIONS[current]
        if to not in allowed:
            names = ", ".join(sorted(a.value for a in allowed)) or "none: it is final"
            raise TransitionError(
                f"ticket {t.id} cannot go from {current} to {to} (allowed: {names})",
                details={"from": current.value, "to": to.value,
                         "allowed": sorted(a.value for a in allowed),
                         "fields": [{"field": "status",
                                     "message": f"{current} cannot become {to}"}]})
        ev.add("status", from_status=current.value, to_status=to.value, detail=detail)
        t.status = to.value
        if to in FINAL:
            t.closed_at = ev.now

    @staticmethod
    def _check_rules(t: Ticket) -> None:
        status = TicketStatus(t.status)
        if status in NEEDS_OUTLET and t.outlet_id is None:
            raise TicketError("outlet_id", f"a {status} ticket needs a service outlet")
        if status is TicketStatus.SCHEDULED and t.appointment_start is None:
            raise TicketError("appointment_start",
                              "a scheduled ticket needs an appointment window")

    async def _set_outlet(self, s: AsyncSession, t: Ticket, outlet_id: int | None,
                          ev: _Events) -> None:
        if outlet_id is not None:
            await self._check_outlet(s, outlet_id)
        ev.add("outlet", detail=f"{t.outlet_id} → {outlet_id}")
        t.outlet_id = outlet_id

    def _set_window(self, t: Ticket, data: TicketPatch | TicketAssign, now: dt.datetime,
                    ev: _Events) -> None:
        if not {"appointment_start", "appointment_end"} & data.model_fields_set:
            return
        start, end = self._window(data, t.appointment_start, t.appointment_end, now)
        if (start, end) == (t.appointment_start, t.appointment_end):
            return
        ev.add("appointment", detail=self._span(start, end) if start and end else "cleared")
        t.appointment_start, t.appointment_end = start, end

    def _window(self, data: TicketIn | TicketPatch | TicketAssign,
                old_start: dt.datetime | None, old_end: dt.datetime | None,
                now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
        given = {"appointment_start", "appointment_end"} & data.model_fields_set
        if not given:
            return old_start, old_end
        if len(given) == 1:
            missing = ({"appointment_start", "appointment_end"} - given).pop()
            raise TicketError(missing, "needed too: a window has a start and an end")
        start, end = self._aware(data.appointment_start), self._aware(data.appointment_end)
        if start is None or end is None:
            if start is not None or end is not None:
                raise TicketError("appointment_end" if end is None else "appointment_start",
                                  "both null clears the window; give both or neither")
            return None, None
        if end <= start:
            raise TicketError("appointment_end", "must be after appointment_start")
        if end - start > MAX_WINDOW:
            raise TicketError("appointment_end", "the window is longer than 12 hours")
        if start < now - PAST_GRACE and (start, end) != (old_start, old_end):
            raise TicketError("appointment_start", "is in the past")
        return start, end

    def _aware(self, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(dt.UTC)

    def _span(self, start: dt.datetime, end: dt.datetime) -> str:
        a, b = start.astimezone(self.zone), end.astimezone(self.zone)
        return f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}" if a.date() == b.date() \
            else f"{a:%Y-%m-%d %H:%M}–{b:%Y-%m-%d %H:%M}"

    @staticmethod
    def _add_note(t: Ticket, note: str, ev: _Events, *, record: bool = True) -> None:
        stamp = f"[{ev.now:%Y-%m-%d %H:%M} UTC{' ' + ev.actor if ev.actor else ''}]"
        t.notes = f"{t.notes}\n{stamp} {note}".lstrip("\n")
        if record:
            ev.add("note", detail=note)

    @staticmethod
    async def _check_appliance(s: AsyncSession, appliance_id: int, customer_id: int) -> None:
        a = await s.get(Appliance, appliance_id)
        if a is None:
            raise TicketError("appliance_id", f"no appliance {appliance_id}")
        if a.customer_id != customer_id:
            raise TicketError("appliance_id",
                              f"appliance {appliance_id} belongs to another customer")

    @staticmethod
    async def _check_outlet(s: AsyncSession, outlet_id: int) -> None:
        o = await s.get(ServiceOutlet, outlet_id)
        if o is None:
            raise TicketError("outlet_id", f"no service outlet {outlet_id}")
        if not o.active:
            raise TicketError("outlet_id", f"service outlet {outlet_id} is not active")

    # ------------------------------------------------------------------ shapes
    @staticmethod
    def _loads(*, history: bool = True) -> list[Any]:
        opts = [selectinload(Ticket.customer), selectinload(Ticket.appliance),
                selectinload(Ticket.outlet)]
        if history:
            opts.append(selectinload(Ticket.history))
        return opts

    async def _load(self, s: AsyncSession, ticket_id: int, *,
                    for_update: bool = False) -> Ticket:
        if for_update:
            # Lock the row before reading it, the same way on both databases: a
            # no-op UPDATE takes PostgreSQL's row lock, and SQLite's write lock
            # (whose SELECTs would otherwise not hold one), so two agents
            # changing one ticket at once are served one after the other.
            await s.execute(update(Ticket).where(Ticket.id == ticket_id)
                            .values(id=Ticket.id, updated_at=Ticket.updated_at))
        stmt = select(Ticket).where(Ticket.id == ticket_id).options(*self._loads())
        t = (await s.execute(stmt)).scalar_one_or_none()
        if t is None:
            raise NotFoundError(f"no ticket {ticket_id}", error_id="ticket-not-found")
        return t

    def _local(self, value: dt.datetime | None) -> str | None:
        return None if value is None else value.astimezone(self.zone).isoformat()

    def _out(self, t: Ticket, *, history: bool = True) -> dict[str, Any]:
        status = TicketStatus(t.status)
        out: dict[str, Any] = {
            "id": t.id, "kind": t.kind, "status": t.status,
            "next_statuses": sorted(s.value for s in TICKET_TRANSITIONS[status]),
            "customer": {"id": t.customer.id, "name": t.customer.name, "vip": t.customer.vip},
            "appliance": None if t.appliance is None else {
                "id": t.appliance.id, "category": t.appliance.category,
                "model": t.appliance.model, "serial": t.appliance.serial,
                "warranty_end": t.appliance.warranty_end.isoformat()
                if t.appliance.warranty_end else None},
            "outlet": None if t.outlet is None else {
                "id": t.outlet.id, "name": t.outlet.name, "region": t.outlet.region,
                "contact_name": t.outlet.contact_name,
                "contact_phone": t.outlet.contact_phone},
            "summary": t.summary, "notes": t.notes,
            # the appointment in the site's zone: the time the customer was told
            "appointment_start": self._local(t.appointment_start),
            "appointment_end": self._local(t.appointment_end),
            "call_id": t.call_linkedid, "created_by": t.created_by,
            "created_at": t.created_at.isoformat(), "updated_at": t.updated_at.isoformat(),
            "closed_at": t.closed_at.isoformat() if t.closed_at else None,
        }
        if history:
            out["history"] = [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                               "from_status": e.from_status, "to_status": e.to_status,
                               "detail": e.detail} for e in t.history]
        return out


class _Events:
    """The history lines of one change, added to the ticket together."""

    def __init__(self, ticket: Ticket, actor: str, now: dt.datetime) -> None:
        self.ticket, self.actor, self.now = ticket, actor, now
        self.events: list[TicketEvent] = []

    def add(self, action: str, *, from_status: str | None = None,
            to_status: str | None = None, detail: str = "") -> None:
        self.events.append(TicketEvent(at=self.now, actor=self.actor, action=action,
                                       from_status=from_status, to_status=to_status,
                                       detail=detail))

    def commit(self) -> None:
        self.ticket.history.extend(self.events)
        self.ticket.updated_at = self.now
