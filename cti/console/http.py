"""The agent console's HTTP side: the page, the signed-in agent's state and
card, the screen-pop websocket, the wrap-up, and the call controls.

Everything under ``/api/v1/console/`` needs the agent's session (sign-in is
cti/web/sessions.py; the agent's own ACD session, log in and pause, is
acd/http.py) and acts for that agent only: an agent cannot read the pops of,
wrap up for, or control the call of somebody else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from cti.bus import EventBus
from cti.console.controls import CallControls
from cti.console.notifier import ConsoleNotifier
from cti.console.schemas import TransferIn
from cti.console.services import AgentDesk, ScreenPops, WrapUp
from cti.web.parsing import body, json_body
from cti.web.responses import ok
from cti.web.sessions import for_signed_in, identity
from cti.web.streams import stream_ws

STATIC = Path(__file__).with_name("static")

POPS: web.AppKey[ScreenPops] = web.AppKey("pops")
WRAP_UP: web.AppKey[WrapUp[Any]] = web.AppKey("wrap_up")
CONTROLS: web.AppKey[CallControls] = web.AppKey("controls")
DESK: web.AppKey[AgentDesk] = web.AppKey("console_desk")
BUS: web.AppKey[EventBus] = web.AppKey("console_bus")


async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "console.html")


async def me(request: web.Request) -> web.Response:
    who = await identity(request)
    return ok({"agent": await request.app[DESK].state(who.code),
               "offer": request.app[POPS].current(who.code)})


async def console_ws(request: web.Request) -> web.WebSocketResponse:
    """The signed-in agent's live feed: a hello with their state and any
    current card, then their pops and their state changes."""
    who = await identity(request)  # refused before the upgrade: a 401 JSON body
    hello = ConsoleNotifier.hello(request.app[DESK].live(who.code), who.name,
                                  request.app[POPS].current(who.code))
    return await stream_ws(request, request.app[BUS], ConsoleNotifier.feed_topics(who.code),
                           hello, lambda topic, payload: ConsoleNotifier.render(
                               who.code, topic, payload))


async def wrap_up(request: web.Request) -> web.Response:
    """Disposition, notes, and a ticket opened or changed, for a call this
    agent took (see :meth:`WrapUp.save`)."""
    who = await identity(request)
    saved = await request.app[WRAP_UP].save(who.code, who.name, request.match_info["call_id"],
                                            await json_body(request))
    return ok(saved, status=201)


async def dismiss(request: web.Request) -> web.Response:
    """Close the card without a wrap-up (a consultation that was cancelled)."""
    who = await identity(request)
    call_id = request.match_info["call_id"]
    request.app[WRAP_UP].dismiss(who.code, call_id)
    return ok({"dismissed": call_id})


async def transfer(request: web.Request) -> web.Response:
    who = await identity(request)
    data = await body(request, TransferIn)
    return ok(await request.app[CONTROLS].blind_transfer(who.code, data))


async def consult(request: web.Request) -> web.Response:
    who = await identity(request)
    data = await body(request, TransferIn)
    return ok(await request.app[CONTROLS].consult(who.code, data))


def add_routes(app: web.Application, bus: EventBus, pops: ScreenPops, wrap: WrapUp[Any],
               controls: CallControls, desk: AgentDesk) -> None:
    app[BUS], app[POPS], app[WRAP_UP], app[CONTROLS], app[DESK] = bus, pops, wrap, controls, desk
    r = app.router
    r.add_get("/console", console_page)
    r.add_get("/api/v1/console/me", me)
    r.add_get("/api/v1/console/ws", console_ws)
    r.add_post("/api/v1/console/calls/{call_id}/wrap-up", wrap_up)
    r.add_post("/api/v1/console/calls/{call_id}/dismiss", dismiss)
    r.add_post("/api/v1/console/call/transfer", transfer)
    r.add_post("/api/v1/console/call/consult", consult)
    for path, verb in (
        ("call/hangup", lambda c: c.hangup),
        ("call/hold", lambda c: c.hold),
        ("call/unhold", lambda c: c.unhold),
        ("call/consult/complete", lambda c: c.complete),
        ("call/consult/cancel", lambda c: c.cancel),
    ):
        r.add_post(f"/api/v1/console/{path}", for_signed_in(CONTROLS, verb))
