"""The agent console's HTTP side: sign-in and -out, the ACD session of the
signed-in agent, the screen-pop websocket, and the wrap-up.

Everything under ``/api/v1/console/`` but sign-in needs the session cookie
(or ``Authorization: Bearer <token>``) and acts for that agent only: an
agent cannot pause, read the pops of, or wrap up for somebody else.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field

from acd.service import AcdService, LoginIn, PauseIn
from crm_bridge.schemas import TicketIn, TicketPatch
from crm_bridge.tickets import TicketService
from crm_bridge.wrapups import WrapUpStore
from cti.api_crm import json_body, validate
from cti.auth import AuthService, Identity
from cti.console import ScreenPops
from cti.controls import CallControls, TransferIn
from cti.errors import DomainError
from cti.web import WEBSOCKETS, json_dumps, websocket_registry

AUTH: web.AppKey[AuthService] = web.AppKey("auth")
POPS: web.AppKey[ScreenPops] = web.AppKey("pops")
ACD_SVC: web.AppKey[AcdService] = web.AppKey("console_acd")
TICKETS_SVC: web.AppKey[TicketService] = web.AppKey("console_tickets")
WRAPUPS: web.AppKey[WrapUpStore] = web.AppKey("wrapups")
CONTROLS: web.AppKey[CallControls] = web.AppKey("controls")

COOKIE = "hotline_session"
DISPOSITIONS = ("resolved", "ticket_created", "ticket_updated", "callback_needed",
                "wrong_number", "information_given", "complaint_logged", "transferred", "other")


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=20)
    password: str = Field(min_length=1, max_length=200)


class NewTicket(BaseModel):
    """A ticket opened in the wrap-up: the call and the agent are filled in."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["repair", "installation", "maintenance", "consultation", "complaint"]
    customer_id: int = Field(ge=1)
    summary: str = Field(min_length=1, max_length=200)
    appliance_id: int | None = Field(None, ge=1)
    outlet_id: int | None = Field(None, ge=1)
    notes: str = Field("", max_length=4000)
    appointment_start: str | None = None
    appointment_end: str | None = None


class TicketChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)
    change: dict[str, Any]


class WrapUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disposition: Literal[DISPOSITIONS]  # type: ignore[valid-type]
    notes: str = Field("", max_length=4000)
    customer_id: int | None = Field(None, ge=1)
    ticket_id: int | None = Field(None, ge=1)  # a ticket the call was about
    new_ticket: NewTicket | None = None
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


async def acd_logout(request: web.Request) -> web.Response:
    who = await identity(request)
    return _ok(await request.app[ACD_SVC].logout(who.code))


async def acd_pause(request: web.Request) -> web.Response:
    who = await identity(request)
    data = validate(PauseIn, await json_body(request))
    return _ok(await request.app[ACD_SVC].pause(who.code, data.reason))


async def acd_unpause(request: web.Request) -> web.Response:
    who = await identity(request)
    return _ok(await request.app[ACD_SVC].unpause(who.code))


# ---------------------------------------------------------------------- websocket
async def console_ws(request: web.Request) -> web.WebSocketResponse:
    """The signed-in agent's live feed: a hello with their state and any
    current card, then pops, their take-backs and the agent's state."""
    who = await identity(request)  # refused before the upgrade: a 401 JSON body
    pops, acd = request.app[POPS], request.app[ACD_SVC]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    feed = pops.listen(who.code)
    states = acd.board.bus.queue("acd.agent", maxsize=200)
    request.app[WEBSOCKETS].add(ws)

    async def relay() -> None:
        async def from_pops() -> None:
            while True:
                await ws.send_str(json_dumps(await feed.get()))

        async def from_board() -> None:
            async for _, view in states:
                if view.get("agent") == who.code:
                    await ws.send_str(json_dumps({"type": "agent", "agent": view}))

        await asyncio.gather(from_pops(), from_board())

    try:
        await ws.send_str(json_dumps({
            "type": "hello", "agent": acd.board.agent_view(who.code), "name": who.name,
            "offer": pops.current(who.code)}))
        sender = asyncio.create_task(relay())
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
    finally:
        pops.unlisten(who.code, feed)
        states.close()
        request.app[WEBSOCKETS].discard(ws)
    return ws


# ---------------------------------------------------------------------- wrap-up
async def wrap_up(request: web.Request) -> web.Response:
    """Disposition, notes, and a ticket opened or changed, for a call this
    agent took. Saved again, the wrap-up is replaced (one per call and agent).
    The ticket is written first: if it is refused (422, 409) nothing is saved."""
    who = await identity(request)
    call_id = request.match_info["call_id"]
    data = validate(WrapUpIn, await json_body(request))
    pops, tickets = request.app[POPS], request.app[TICKETS_SVC]
    offer = pops.offers.get(who.code)
    took_it = offer is not None and offer.call_id == call_id and offer.state != "ringing"
    if not took_it and not await _took_call(request, who.code, call_id):
        raise NotYourCall(f"call {call_id} was not answered by agent {who.code}",
                          details={"call_id": call_id})
    ticket_id = data.ticket_id
    customer_id = data.customer_id
    ticket: dict[str, Any] | None = None
    if data.new_ticket is not None:
        ticket = await tickets.create(TicketIn.model_validate({
            **data.new_ticket.model_dump(exclude_none=True), "call_id": call_id,
            "actor": f"agent:{who.code}"}))
        ticket_id, customer_id = ticket["id"], ticket["customer"]["id"]
    elif data.ticket_update is not None:
        patch = validate(TicketPatch, {**data.ticket_update.change, "actor": f"agent:{who.code}"})
        ticket = await tickets.update(data.ticket_update.id, patch)
        ticket_id, customer_id = ticket["id"], ticket["customer"]["id"]
    saved = await request.app[WRAPUPS].save(
        call_id, who.code, disposition=data.disposition, notes=data.notes,
        ticket_id=ticket_id, customer_id=customer_id)
    if data.notes:
        notes = pops.notes.setdefault(call_id, [])
        notes[:] = [n for n in notes if n["agent"] != who.code]
        notes.append({"agent": who.code, "name": who.name, "notes": data.notes})
    pops.finish(who.code, call_id)
    return _ok({"wrap_up": saved, "ticket": ticket}, status=201)


async def _took_call(request: web.Request, code: str, call_id: str) -> bool:
    """A call this agent answered: live (the tracker), or in the records."""
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
async def _control(request: web.Request, verb: str) -> web.Response:
    who = await identity(request)
    controls = request.app[CONTROLS]
    if verb in ("transfer", "consult"):
        data = validate(TransferIn, await json_body(request))
        fn = controls.blind_transfer if verb == "transfer" else controls.consult
        return _ok(await fn(who.code, data))
    simple = {"hangup": controls.hangup, "hold": controls.hold, "unhold": controls.unhold,
              "complete": controls.complete, "cancel": controls.cancel}
    return _ok(await simple[verb](who.code))


def _control_route(verb: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return await _control(request, verb)
    return handler


async def console_page(request: web.Request) -> web.FileResponse:
    from cti.app import STATIC_DIR

    return web.FileResponse(STATIC_DIR / "console.html")


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
    app.router.add_post("/api/v1/console/acd/logout", acd_logout)
    app.router.add_post("/api/v1/console/acd/pause", acd_pause)
    app.router.add_post("/api/v1/console/acd/unpause", acd_unpause)
    app.router.add_get("/api/v1/console/ws", console_ws)
    app.router.add_post("/api/v1/console/calls/{call_id}/wrap-up", wrap_up)
    app.router.add_post("/api/v1/console/calls/{call_id}/dismiss", dismiss)
    for verb, path in (("hangup", "hangup"), ("hold", "hold"), ("unhold", "unhold"),
                       ("transfer", "transfer"), ("consult", "consult"),
                       ("complete", "consult/complete"), ("cancel", "consult/cancel")):
        app.router.add_post(f"/api/v1/console/call/{path}", _control_route(verb))
