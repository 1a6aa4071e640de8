"""REST handlers for the CRM: customers, the screen-pop card, tickets, the call log.

Thin: parse and validate (pydantic), call :class:`CrmService`, shape JSON.
Bad input is a 4xx whose JSON body names each wrong field; nothing is written.
The service's CrmErrors reach the client through the web layer's middleware.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

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
from cti.web import ApiError, json_dumps

CRM: web.AppKey[CrmService] = web.AppKey("crm")
TICKETS: web.AppKey[TicketService] = web.AppKey("tickets")
M = TypeVar("M", bound=BaseModel)

CSV_COLUMNS = ["linkedid", "started_at", "answered_at", "ended_at", "caller_number",
               "caller_name", "dialled", "queue", "agent", "wait_seconds", "outcome",
               "ivr_path", "language", "transfers", "disposition", "customer_id", "ticket_id",
               "hangup_cause"]


def _fields(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(body)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append({"field": field, "message": msg})
    return out


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = _fields(exc)
        names = ", ".join(f["field"] for f in fields)
        raise ApiError(f"invalid {names}", error_id="invalid-request", status=422,
                       details={"fields": fields}) from None


async def json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError("send the body as application/json", error_id="unsupported-media-type",
                       status=415)
    try:
        return json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(f"the body is not valid JSON: {exc}", error_id="invalid-json") from None


def _path_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 12:
        raise FieldError(name, "not an id: a positive integer")
    return int(raw)


async def search_customers(request: web.Request) -> web.Response:
    q = validate(CustomerQuery, dict(request.query))
    found = await request.app[CRM].search_customers(q)
    return web.json_response({"customers": found, "count": len(found)}, dumps=json_dumps)


async def create_customer(request: web.Request) -> web.Response:
    data = validate(CustomerIn, await json_body(request))
    card = await request.app[CRM].create_customer(data)
    return web.json_response(card, status=201, dumps=json_dumps,
                             headers={"Location": f"/api/v1/customers/{card['customer']['id']}"})


async def get_customer(request: web.Request) -> web.Response:
    card = await request.app[CRM].get_customer(_path_id(request, "customer_id"))
    return web.json_response(card, dumps=json_dumps)


async def update_customer(request: web.Request) -> web.Response:
    customer_id = _path_id(request, "customer_id")
    patch = validate(CustomerPatch, await json_body(request))
    card = await request.app[CRM].update_customer(customer_id, patch)
    return web.json_response(card, dumps=json_dumps)


async def screen_pop(request: web.Request) -> web.Response:
    number = request.query.get("number", "")
    if not number.strip():
        raise FieldError("number", "required")
    return web.json_response(await request.app[CRM].customer_card(number), dumps=json_dumps)


async def list_outlets(request: web.Request) -> web.Response:
    outlets = await request.app[CRM].outlets()
    return web.json_response({"outlets": outlets, "count": len(outlets)}, dumps=json_dumps)


async def list_calls(request: web.Request) -> web.StreamResponse:
    q = validate(CallQuery, dict(request.query))
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
    return web.json_response({"calls": calls, "count": len(calls), "total": total,
                              "offset": q.offset, "limit": q.limit}, dumps=json_dumps)


async def search_tickets(request: web.Request) -> web.Response:
    q = validate(TicketQuery, dict(request.query))
    found, total = await request.app[TICKETS].search(q)
    return web.json_response({"tickets": found, "count": len(found), "total": total,
                              "offset": q.offset, "limit": q.limit}, dumps=json_dumps)


async def create_ticket(request: web.Request) -> web.Response:
    data = validate(TicketIn, await json_body(request))
    ticket = await request.app[TICKETS].create(data)
    return web.json_response(ticket, status=201, dumps=json_dumps,
                             headers={"Location": f"/api/v1/tickets/{ticket['id']}"})


async def get_ticket(request: web.Request) -> web.Response:
    ticket = await request.app[TICKETS].get(_path_id(request, "ticket_id"))
    return web.json_response(ticket, dumps=json_dumps)


async def update_ticket(request: web.Request) -> web.Response:
    ticket_id = _path_id(request, "ticket_id")
    patch = validate(TicketPatch, await json_body(request))
    return web.json_response(await request.app[TICKETS].update(ticket_id, patch),
                             dumps=json_dumps)


async def assign_ticket(request: web.Request) -> web.Response:
    ticket_id = _path_id(request, "ticket_id")
    data = validate(TicketAssign, await json_body(request))
    return web.json_response(await request.app[TICKETS].assign(ticket_id, data),
                             dumps=json_dumps)


async def close_ticket(request: web.Request) -> web.Response:
    ticket_id = _path_id(request, "ticket_id")
    data = validate(TicketClose, await json_body(request))
    return web.json_response(await request.app[TICKETS].close(ticket_id, data),
                             dumps=json_dumps)


def add_crm_routes(app: web.Application, crm: CrmService, tickets: TicketService) -> None:
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
