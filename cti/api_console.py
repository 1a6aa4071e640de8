"""The agent console's HTTP side: sign-in and -out, the ACD session of the
signed-in agent, the screen-pop websocket, and the wrap-up.

Everything under ``/api/v1/console/`` but sign-in needs the session cookie
(or ``Authorization: Bearer <token>``) and acts for that agent only: an
agent cannot pause, read the pops of, or wrap up for somebody else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from acd.service import AcdService, LoginIn, PauseIn
from crm_bridge.models import Disposition
from crm_bridge.schemas import TicketIn, TicketPatch
from crm_bridge.tickets import TicketService
from crm_bridge.wrapups import WrapUpStore
from cti.api_crm import json_body, validate
from cti.auth import AuthService, Identity
from cti.console import ScreenPops
from cti.controls import CallControls, TransferIn
from cti.errors import DomainError
from cti.web import CORE, json_dumps, stream_ws, websocket_registry

AUTH: web.AppKey[AuthService] = web.AppKey("auth")
POPS: web.AppKey[ScreenPops] = web.AppKey("pops")
ACD_SVC: web.AppKey[AcdService] = web.AppKey("console_acd")
TICKETS_SVC: web.AppKey[TicketService] = web.AppKey("console_tickets")
WRAPUPS: web.AppKey[WrapUpStore] = web.AppKey("wrapups")
CONTROLS: web.AppKey[CallControls] = web.AppKey("controls")

COOKIE = "hotline_session"


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=20)
    password: str = Field(min_length=1, max_length=200)


class TicketChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)
    change: TicketPatch


class WrapUpIn(BaseModel):
    """The ticket parts are the ticket API's own payloads (the same rules,
    errors named under ``new_ticket.`` / ``ticket_update.change.``); the call
    and the acting agent are set by the server."""

    model_config = ConfigDict(extra="forbid")

    disposition: Disposition
    notes: str = Field("", max_length=4000)
    customer_id: int | None = Field(None, ge=1)
    ticket_id: int | None = Field(None, ge=1)  # a ticket the call was about
    new_ticket: TicketIn | None = None
    ticket_update: TicketChange | None = None


class NotYourCall(DomainError):
    status = 409
    error_id = "not-your-call"


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE)


async def identity(request: web.Request) -> Identity:
    return await request.app[AUTH].identify(_token(request))


def _ok(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=json_dumps)


# ---------------------------------------------------------------------- session
async def sign_in(request: web.Request) -> web.Response:
    data = validate(SignIn, await json_body(request))
    token, who = await request.app[AUTH].sign_in(data.code, data.password)
    resp = _ok({"agent": {"code": who.code, "name": who.name}})
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                    secure=request.secure, max_age=12 * 3600)
    return resp


async def sign_out(request: web.Request) -> web.Response:
    token = _token(request)
    who = None
    with contextlib.suppress(DomainError):
        who = await request.app[AUTH].identify(token)
    if who is not None and request.app[ACD_SVC].board.agent(who.code).device is not None:
        with contextlib.suppress(DomainError):
            await request.app[ACD_SVC].logout(who.code)  # off the queues with the console
    await request.app[AUTH].sign_out(token)
    resp = _ok({"signed_out": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.Response:
    who = await identity(request)
    return _ok({"agent": await request.app[ACD_SVC].state(who.code),
                "offer": request.app[POPS].current(who.code)})


async def acd_login(request: web.Request) -> web.Response:
    who = await identity(request)
    data = validate(LoginIn, await json_body(request))
    return _ok(await request.app[ACD_SVC].login(who.code, data.device))


async def acd_pause(request: web.Request) -> web.Response:
    who = await identity(request)
    data = validate(PauseIn, await json_body(request))
    return _ok(await request.app[ACD_SVC].pause(who.code, data.reason))


# ---------------------------------------------------------------------- websocket
async def console_ws(request: web.Request) -> web.WebSocketResponse:
    """The signed-in agent's live feed: a hello with their state and any
    current card, then their pops (``console.<code>`` on the bus) and their
    state changes."""
    who = await identity(request)  # refused before the upgrade: a 401 JSON body
    pops, board = request.app[POPS], request.app[ACD_SVC].board

    def render(topic: str, payload: Any) -> dict[str, Any] | None:
        if topic == "acd.agent":
            return {"type": "agent", "agent": payload} if payload.get("agent") == who.code \
                else None
        return payload  # type: ignore[no-any-return]

    hello = {"type": "hello", "agent": board.agent_view(who.code), "name": who.name,
             "offer": pops.current(who.code)}
    return await stream_ws(request, board.bus, ("acd.agent", pops.topic(who.code)), hello,
                           render)


# ---------------------------------------------------------------------- wrap-up
async def wrap_up(request: web.Request) -> web.Response:
    """Disposition, notes, and a ticket opened or changed, for a call this
    agent took. Saved again, the wrap-up is replaced (one per call and agent).
    The ticket is written first: if it is refused (422, 409) nothing is saved."""
    who = await identity(request)
    call_id = request.match_info["call_id"]
    data = validate(WrapUpIn, await json_body(request))
    pops, tickets = request.app[POPS], request.app[TICKETS_SVC]
    if not await _took_call(request, who.code, call_id):
        raise NotYourCall(f"call {call_id} was not answered by agent {who.code}",
                          details={"call_id": call_id})
    ticket_id = data.ticket_id
    customer_id = data.customer_id
    ticket: dict[str, Any] | None = None
    actor = f"agent:{who.code}"
    if data.new_ticket is not None:
        ticket = await tickets.create(data.new_ticket.model_copy(
            update={"call_id": call_id, "actor": actor}))
    elif data.ticket_update is not None:
        ticket = await tickets.update(data.ticket_update.id, data.ticket_update.change
                                      .model_copy(update={"actor": actor}))
    if ticket is not None:
        ticket_id, customer_id = ticket["id"], ticket["customer"]["id"]
    saved = await request.app[WRAPUPS].save(
        call_id, who.code, disposition=data.disposition, notes=data.notes,
        ticket_id=ticket_id, customer_id=customer_id)
    pops.add_note(call_id, who.code, data.notes, name=who.name)
    pops.finish(who.code, call_id)
    return _ok({"wrap_up": saved, "ticket": ticket}, status=201)


async def _took_call(request: web.Request, code: str, call_id: str) -> bool:
    """A call this agent answered: lately (the pops), live (the tracker), or
    in the records."""
    pops = request.app[POPS]
    if (call_id, code) in pops.answered:
        return True
    call = pops.tracker.get(call_id)
    if call is not None:
        return code in call.agent_seconds() or call.agent == code
    return code in await request.app[WRAPUPS].agents_of(call_id)


async def dismiss(request: web.Request) -> web.Response:
    """Close the card without a wrap-up (a consultation that was cancelled)."""
    who = await identity(request)
    call_id = request.match_info["call_id"]
    offer = request.app[POPS].offers.get(who.code)
    if offer is None or offer.call_id != call_id:
        raise NotYourCall(f"no card for call {call_id} on this console")
    if offer.state == "talking":
        raise NotYourCall("the call is still up", error_id="call-still-up")
    request.app[POPS].finish(who.code, call_id)
    return _ok({"dismissed": call_id})


# ---------------------------------------------------------------------- call controls
async def transfer(request: web.Request) -> web.Response:
    who = await identity(request)
    data = validate(TransferIn, await json_body(request))
    return _ok(await request.app[CONTROLS].blind_transfer(who.code, data))


async def consult(request: web.Request) -> web.Response:
    who = await identity(request)
    data = validate(TransferIn, await json_body(request))
    return _ok(await request.app[CONTROLS].consult(who.code, data))


def _for_agent(verb: Callable[[web.Application], Callable[[str], Awaitable[object]]]
               ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler for a verb with no body, on the signed-in agent."""
    async def handler(request: web.Request) -> web.Response:
        who = await identity(request)
        return _ok(await verb(request.app)(who.code))
    return handler


async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(request.app[CORE].static_dir / "console.html")


def add_console_routes(app: web.Application, auth: AuthService, pops: ScreenPops,
                       acd: AcdService, tickets: TicketService, wrapups: WrapUpStore,
                       controls: CallControls) -> None:
    websocket_registry(app)
    app[AUTH], app[POPS], app[ACD_SVC], app[TICKETS_SVC] = auth, pops, acd, tickets
    app[WRAPUPS], app[CONTROLS] = wrapups, controls
    app.router.add_get("/console", console_page)
    app.router.add_post("/api/v1/console/sign-in", sign_in)
    app.router.add_post("/api/v1/console/sign-out", sign_out)
    app.router.add_get("/api/v1/console/me", me)
    app.router.add_post("/api/v1/console/acd/login", acd_login)
    app.router.add_post("/api/v1/console/acd/pause", acd_pause)
    app.router.add_post("/api/v1/console/call/transfer", transfer)
    app.router.add_post("/api/v1/console/call/consult", consult)
    for path, verb in (
        ("acd/logout", lambda a: a[ACD_SVC].logout),
        ("acd/unpause", lambda a: a[ACD_SVC].unpause),
        ("call/hangup", lambda a: a[CONTROLS].hangup),
        ("call/hold", lambda a: a[CONTROLS].hold),
        ("call/unhold", lambda a: a[CONTROLS].unhold),
        ("call/consult/complete", lambda a: a[CONTROLS].complete),
        ("call/consult/cancel", lambda a: a[CONTROLS].cancel),
    ):
        app.router.add_post(f"/api/v1/console/{path}", _for_agent(verb))
    app.router.add_get("/api/v1/console/ws", console_ws)
    app.router.add_post("/api/v1/console/calls/{call_id}/wrap-up", wrap_up)
    app.router.add_post("/api/v1/console/calls/{call_id}/dismiss", dismiss)
