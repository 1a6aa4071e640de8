"""REST handlers for the CRM: customers, the screen-pop card, tickets, the call log.

Thin: parse and validate (pydantic, crm_bridge/schemas.py), call the service
(crm_bridge/services.py, tickets.py), shape JSON. Bad input is a 4xx whose
JSON body names each wrong field; nothing is written. The services' errors
(crm_bridge/exceptions.py) reach the client through the web layer's middleware.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from crm_bridge.accounts import Accounts
from crm_bridge.callbacks import Callbacks
from crm_bridge.dnc import DoNotCallList
from crm_bridge.recordings import Recordings
from crm_bridge.schemas import (
    AuditQuery,
    CallbackIn,
    CallbacksQuery,
    CallQuery,
    CustomerIn,
    CustomerPatch,
    CustomerQuery,
    DaysQuery,
    DoNotCallIn,
    PageQuery,
    TicketAssign,
    TicketClose,
    TicketIn,
    TicketPatch,
    TicketQuery,
    UserIn,
    UserPatch,
)
from crm_bridge.services import CrmService
from crm_bridge.surveys import Surveys
from crm_bridge.tickets import TicketService
from cti.errors import FieldError
from cti.fields import site_days
from cti.roles import Role
from cti.web.access import Forbidden
from cti.web.parsing import body, path_id, query
from cti.web.responses import csv_response, in_zone, ok
from cti.web.routes import ADMIN, SIGNED_IN, SUPERVISOR, Routes, user
from cti.web.sessions import SESSIONS

CRM: web.AppKey[CrmService] = web.AppKey("crm")
TICKETS: web.AppKey[TicketService] = web.AppKey("tickets")
ACCOUNTS: web.AppKey[Accounts] = web.AppKey("accounts")
ZONE: web.AppKey[ZoneInfo] = web.AppKey("crm_zone")
RECORDINGS: web.AppKey[Recordings] = web.AppKey("recordings")
DNC: web.AppKey[DoNotCallList] = web.AppKey("do_not_call")
CALLBACKS: web.AppKey[Callbacks] = web.AppKey("callbacks")
SURVEYS: web.AppKey[Surveys] = web.AppKey("surveys")

CSV_COLUMNS = ["linkedid", "started_at", "answered_at", "ended_at", "caller_number",
               "caller_name", "dialled", "queue", "queues", "agent", "agents", "wait_seconds",
               "outcome", "ivr_path", "language", "transfers", "holds", "hold_seconds",
               "recording_seconds", "end", "disposition", "customer_id", "ticket_id",
               "hangup_cause"]
def csv_row(call: dict[str, Any]) -> dict[str, object]:
    end = call["end"]
    flat = {**call,
            "queues": "+".join(call["queues"]),
            "agents": " ".join(f"{a['agent']}:{a['seconds']}" for a in call["agents"]),
            "recording_seconds": (call["recording"] or {}).get("seconds"),
            "end": "backfilled" if end["backfilled"] else
            f"from-{end['completed_from']}" if end["completed_from"] else
            "observed" if end["observed"] else "estimated"}
    return flat


async def search_customers(request: web.Request) -> web.Response:
    q = query(request, CustomerQuery)
    found = await request.app[CRM].search_customers(q)
    return ok({"customers": found, "count": len(found)})


async def create_customer(request: web.Request) -> web.Response:
    data = await body(request, CustomerIn)
    card = await request.app[CRM].create_customer(data)
    return ok(card, status=201,
              headers={"Location": f"/api/v1/customers/{card['customer']['id']}"})


async def get_customer(request: web.Request) -> web.Response:
    card = await request.app[CRM].get_customer(path_id(request, "customer_id"))
    return ok(card)


async def update_customer(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    patch = await body(request, CustomerPatch)
    card = await request.app[CRM].update_customer(customer_id, patch)
    return ok(card)


async def screen_pop(request: web.Request) -> web.Response:
    number = request.query.get("number", "")
    if not number.strip():
        raise FieldError("number", "required")
    return ok(await request.app[CRM].customer_card(number))


async def list_outlets(request: web.Request) -> web.Response:
    outlets = await request.app[CRM].outlets()
    return ok({"outlets": outlets, "count": len(outlets)})


async def list_calls(request: web.Request) -> web.StreamResponse:
    q = query(request, CallQuery)
    who = user(request)
    if who.role == Role.AGENT:  # an agent sees the calls they took, nobody else's
        if q.agent is not None and q.agent != who.agent:
            raise Forbidden("an agent sees only their own calls",
                            details={"fields": [{"field": "agent", "message": "not you"}]})
        q = q.model_copy(update={"agent": who.agent or "-"})
    calls, total = await request.app[CRM].list_calls(q)
    if q.format == "csv":
        return csv_response((csv_row(c) for c in calls), CSV_COLUMNS, "calls.csv",
                            headers={"X-Total-Count": str(total)})
    return ok({"calls": calls, "count": len(calls), "total": total,
               "offset": q.offset, "limit": q.limit})


async def search_tickets(request: web.Request) -> web.Response:
    q = query(request, TicketQuery)
    found, total = await request.app[TICKETS].search(q)
    return ok({"tickets": found, "count": len(found), "total": total,
               "offset": q.offset, "limit": q.limit})


async def create_ticket(request: web.Request) -> web.Response:
    data = await body(request, TicketIn)
    ticket = await request.app[TICKETS].create(data)
    return ok(ticket, status=201, headers={"Location": f"/api/v1/tickets/{ticket['id']}"})


async def get_ticket(request: web.Request) -> web.Response:
    ticket = await request.app[TICKETS].get(path_id(request, "ticket_id"))
    return ok(ticket)


async def update_ticket(request: web.Request) -> web.Response:
    ticket_id = path_id(request, "ticket_id")
    patch = await body(request, TicketPatch)
    return ok(await request.app[TICKETS].update(ticket_id, patch))


async def assign_ticket(request: web.Request) -> web.Response:
    ticket_id = path_id(request, "ticket_id")
    data = await body(request, TicketAssign)
    return ok(await request.app[TICKETS].assign(ticket_id, data))


async def close_ticket(request: web.Request) -> web.Response:
    ticket_id = path_id(request, "ticket_id")
    data = await body(request, TicketClose)
    return ok(await request.app[TICKETS].close(ticket_id, data))


# ---------------------------------------------------------------------- users (admin)
async def list_users(request: web.Request) -> web.Response:
    users = await request.app[ACCOUNTS].users()
    return ok({"users": users, "count": len(users)})


async def add_user(request: web.Request) -> web.Response:
    data = await body(request, UserIn)
    created = await request.app[ACCOUNTS].add_user(data.login, data.name, data.role, data.agent)
    if data.password is not None:
        await request.app[SESSIONS].set_password(data.login, data.password)
        created["has_password"] = True
    return ok(created, status=201, headers={"Location": f"/api/v1/users/{data.login}"})


async def update_user(request: web.Request) -> web.Response:
    login = request.match_info["login"]
    patch = await body(request, UserPatch)
    if login == user(request).login and (patch.role not in (None, Role.ADMIN)
                                         or patch.active is False):
        raise FieldError("role", "an admin cannot demote or deactivate themselves")
    updated = await request.app[ACCOUNTS].update_user(login, role=patch.role, name=patch.name,
                                                      active=patch.active)
    if patch.password is not None:
        await request.app[SESSIONS].set_password(login, patch.password)
        updated["has_password"] = True
    return ok(updated)


async def audit_log(request: web.Request) -> web.Response:
    """What supervisors and admins did, newest first, for days in the site's zone."""
    q = query(request, AuditQuery)
    if q.date_to < q.date_from:
        raise FieldError("to", "before 'from'")
    if (q.date_to - q.date_from).days > 366:
        raise FieldError("to", "at most a year after 'from'")
    zone = request.app[ZONE]
    entries = await request.app[ACCOUNTS].audit_log(*site_days(q.date_from, q.date_to, zone),
                                                    actor=q.actor, target=q.target,
                                                    limit=q.limit)
    return ok({"entries": in_zone(entries, zone), "count": len(entries)})


# ---------------------------------------------------------------------- do-not-call
async def list_dnc(request: web.Request) -> web.Response:
    q = query(request, PageQuery)
    entries, total = await request.app[DNC].entries(q.limit, q.offset)
    return ok({"numbers": entries, "count": len(entries), "total": total})


async def add_dnc(request: web.Request) -> web.Response:
    data = await body(request, DoNotCallIn)
    return ok(await request.app[DNC].add(data.number, data.reason, user(request).login),
              status=201)


async def import_dnc(request: web.Request) -> web.Response:
    """A CSV (``number[,reason]`` per line) as the body: all or nothing."""
    if request.content_type not in ("text/csv", "text/plain"):
        raise FieldError("body", "send the list as text/csv")
    text = await request.text()
    return ok(await request.app[DNC].import_csv(text, user(request).login), status=201)


async def remove_dnc(request: web.Request) -> web.Response:
    await request.app[DNC].remove(request.match_info["number"])
    return ok({"removed": request.match_info["number"]})


# ---------------------------------------------------------------------- callbacks
STATUSES = {"open": ("waiting", "dialling"), "all": ("waiting", "dialling", "done", "failed",
                                                    "dropped")}


async def list_callbacks(request: web.Request) -> web.Response:
    """The callbacks owed (open: waiting or being dialled), or those done,
    failed or dropped: in the order they are owed."""
    q = query(request, CallbacksQuery)
    statuses = STATUSES.get(q.status, (q.status,))
    entries = await request.app[CALLBACKS].entries(statuses, limit=q.limit)
    return ok({"callbacks": in_zone(entries, request.app[ZONE]), "count": len(entries)})


async def get_callback(request: web.Request) -> web.Response:
    cid = path_id(request, "callback_id")
    return ok(in_zone(await request.app[CALLBACKS].with_attempts(cid), request.app[ZONE]))


async def book_callback(request: web.Request) -> web.Response:
    data = await body(request, CallbackIn)
    entry = await request.app[CALLBACKS].book(data.number, queue=data.queue, note=data.note,
                                              actor=user(request).login)
    return ok(in_zone(entry, request.app[ZONE]), status=201)


async def cancel_callback(request: web.Request) -> web.Response:
    cid = path_id(request, "callback_id")
    entry = await request.app[CALLBACKS].cancel(cid, user(request).login)
    return ok(in_zone(entry, request.app[ZONE]))


# ---------------------------------------------------------------------- surveys
async def satisfaction_report(request: web.Request) -> web.Response:
    """Follow-up surveys per outlet, post-call surveys per agent, over the
    site's days ``from``..``to`` (default: the last 30 days)."""
    q = query(request, DaysQuery)
    zone = request.app[ZONE]
    today = dt.datetime.now(zone).date()
    last = q.to or today
    first = q.from_ or last - dt.timedelta(days=29)
    if first > last:
        raise FieldError("from", "after to")
    out = await request.app[SURVEYS].satisfaction(*site_days(first, last, zone))
    return ok({"from": first.isoformat(), "to": last.isoformat(), **out})


async def ticket_surveys(request: web.Request) -> web.Response:
    tid = path_id(request, "ticket_id")
    answers = await request.app[SURVEYS].answers(ticket_id=tid)
    return ok({"surveys": in_zone(answers, request.app[ZONE])})


async def recording(request: web.Request) -> web.FileResponse:
    """The call's recording, for supervisors; HTTP Range lets the browser's
    player seek without fetching the whole file."""
    path = await request.app[RECORDINGS].file_of(request.match_info["call_id"])
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "private, max-age=3600"})


def add_routes(app: web.Application, crm: CrmService, tickets: TicketService,
               accounts: Accounts, zone: str, recordings: Recordings,
               dnc: DoNotCallList, callbacks: Callbacks, surveys: Surveys) -> None:
    app[CRM], app[TICKETS], app[ACCOUNTS], app[ZONE] = crm, tickets, accounts, ZoneInfo(zone)
    app[RECORDINGS], app[DNC], app[CALLBACKS] = recordings, dnc, callbacks
    app[SURVEYS] = surveys
    r = Routes(app)
    # the archive: agents look customers up and open work orders during calls
    r.get("/api/v1/customers", search_customers, SIGNED_IN)
    r.post("/api/v1/customers", create_customer, SIGNED_IN)
    r.get("/api/v1/customers/{customer_id}", get_customer, SIGNED_IN)
    r.patch("/api/v1/customers/{customer_id}", update_customer, SIGNED_IN)
    # any number's card: an agent gets their caller's card in the console's pop
    r.get("/api/v1/screen-pop", screen_pop, SUPERVISOR)
    r.get("/api/v1/tickets", search_tickets, SIGNED_IN)
    r.post("/api/v1/tickets", create_ticket, SIGNED_IN)
    r.get("/api/v1/tickets/{ticket_id}", get_ticket, SIGNED_IN)
    r.patch("/api/v1/tickets/{ticket_id}", update_ticket, SIGNED_IN)
    r.post("/api/v1/tickets/{ticket_id}/assign", assign_ticket, SIGNED_IN)
    r.post("/api/v1/tickets/{ticket_id}/close", close_ticket, SIGNED_IN)
    r.get("/api/v1/calls", list_calls, SIGNED_IN)  # an agent: their own calls only
    r.get("/api/v1/calls/{call_id}/recording", recording, SUPERVISOR)
    r.get("/api/v1/outlets", list_outlets, SIGNED_IN)
    r.get("/api/v1/users", list_users, ADMIN)
    r.post("/api/v1/users", add_user, ADMIN, audit="user.add")
    r.patch("/api/v1/users/{login}", update_user, ADMIN, audit="user.update")
    r.get("/api/v1/audit", audit_log, ADMIN)
    # numbers never called out to: supervisors keep the list, each change audited
    r.get("/api/v1/do-not-call", list_dnc, SUPERVISOR)
    r.post("/api/v1/do-not-call", add_dnc, SUPERVISOR, audit="dnc.add")
    r.post("/api/v1/do-not-call/import", import_dnc, SUPERVISOR, audit="dnc.import")
    r.delete("/api/v1/do-not-call/{number}", remove_dnc, SUPERVISOR, audit="dnc.remove")
    # callbacks owed: the supervisor's board, a callback booked or cancelled by hand
    r.get("/api/v1/callbacks", list_callbacks, SUPERVISOR)
    r.post("/api/v1/callbacks", book_callback, SUPERVISOR, audit="callback.book")
    r.get("/api/v1/callbacks/{callback_id}", get_callback, SUPERVISOR)
    r.delete("/api/v1/callbacks/{callback_id}", cancel_callback, SUPERVISOR,
             audit="callback.cancel")
    # surveys: satisfaction per outlet (follow-ups) and per agent (after calls)
    r.get("/api/v1/reports/satisfaction", satisfaction_report, SUPERVISOR)
    r.get("/api/v1/tickets/{ticket_id}/surveys", ticket_surveys, SIGNED_IN)
