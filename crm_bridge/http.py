"""REST handlers for the CRM: customers, the screen-pop card, tickets, the call log.

Thin: parse and validate (pydantic, crm_bridge/schemas.py), call the service
(crm_bridge/services.py, tickets.py), shape JSON. Bad input is a 4xx whose
JSON body names each wrong field; nothing is written. The services' errors
(crm_bridge/exceptions.py) reach the client through the web layer's middleware.
"""

from __future__ import annotations

import csv
import io

from aiohttp import web

from crm_bridge.schemas import (
    CallQuery,
    CustomerIn,
    CustomerPatch,
    CustomerQuery,
    TicketAssign,
    TicketClose,
    TicketIn,
    TicketPatch,
    TicketQuery,
)
from crm_bridge.services import CrmService
from crm_bridge.tickets import TicketService
from cti.errors import FieldError
from cti.web.parsing import body, path_id, query
from cti.web.responses import ok

CRM: web.AppKey[CrmService] = web.AppKey("crm")
TICKETS: web.AppKey[TicketService] = web.AppKey("tickets")

CSV_COLUMNS = ["linkedid", "started_at", "answered_at", "ended_at", "caller_number",
               "caller_name", "dialled", "queue", "agent", "wait_seconds", "outcome",
               "ivr_path", "language", "transfers", "disposition", "customer_id", "ticket_id",
               "hangup_cause"]


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
    calls, total = await request.app[CRM].list_calls(q)
    if q.format == "csv":
        buf = io.StringIO()
        buf.write("\ufeff")  # so spreadsheet programs read the Chinese names as UTF-8
        w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(calls)
        return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": 'attachment; filename="calls.csv"',
                                     "X-Total-Count": str(total)})
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


def add_routes(app: web.Application, crm: CrmService, tickets: TicketService) -> None:
    app[CRM] = crm
    app[TICKETS] = tickets
    r = app.router
    r.add_get("/api/v1/customers", search_customers)
    r.add_post("/api/v1/customers", create_customer)
    r.add_get("/api/v1/customers/{customer_id}", get_customer)
    r.add_patch("/api/v1/customers/{customer_id}", update_customer)
    r.add_get("/api/v1/screen-pop", screen_pop)
    r.add_get("/api/v1/tickets", search_tickets)
    r.add_post("/api/v1/tickets", create_ticket)
    r.add_get("/api/v1/tickets/{ticket_id}", get_ticket)
    r.add_patch("/api/v1/tickets/{ticket_id}", update_ticket)
    r.add_post("/api/v1/tickets/{ticket_id}/assign", assign_ticket)
    r.add_post("/api/v1/tickets/{ticket_id}/close", close_ticket)
    r.add_get("/api/v1/calls", list_calls)
    r.add_get("/api/v1/outlets", list_outlets)
