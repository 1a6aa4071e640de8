"""The agent console's HTTP side: the page, the signed-in agent's state and
card, the screen-pop websocket, the wrap-up, and the call controls.

Everything under ``/api/v1/console/`` is a ``DESK`` route: the signed-in
user's own agent number (sign-in is cti/web/sessions.py; the agent's own ACD
session, log in and pause, is acd/http.py), and acts for that agent only: an
agent cannot read the pops of, wrap up for, or control the call of somebody
else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from cti.web.routes import DESK, Routes, desk_agent, user
from cti.web.streams import stream_ws

STATIC = Path(__file__).with_name("static")

POPS: web.AppKey[ScreenPops] = web.AppKey("pops")
WRAP_UP: web.AppKey[WrapUp[Any]] = web.AppKey("wrap_up")
CONTROLS: web.AppKey[CallControls] = web.AppKey("controls")
AGENT_DESK: web.AppKey[AgentDesk] = web.AppKey("console_desk")
BUS: web.AppKey[EventBus] = web.AppKey("console_bus")


async def me(request: web.Request) -> web.Response:
    agent = desk_agent(request)
    return ok({"agent": await request.app[AGENT_DESK].state(agent),
               "offer": request.app[POPS].current(agent)})


async def console_ws(request: web.Request) -> web.WebSocketResponse:
    """The signed-in agent's live feed: a hello with their state and any
    current card, then their pops and their state changes."""
    agent, name = desk_agent(request), user(request).name  # checked before the upgrade
    hello = ConsoleNotifier.hello(request.app[AGENT_DESK].live(agent), name,
                                  request.app[POPS].current(agent))
    return await stream_ws(request, request.app[BUS], ConsoleNotifier.feed_topics(agent),
                           hello, lambda topic, payload: ConsoleNotifier.render(
                               agent, topic, payload))


async def wrap_up(request: web.Request) -> web.Response:
    """Disposition, notes, and a ticket opened or changed, for a call this
    agent took (see :meth:`WrapUp.save`)."""
    saved = await request.app[WRAP_UP].save(desk_agent(request), user(request).name,
                                            request.match_info["call_id"],
                                            await json_body(request))
    return ok(saved, status=201)


async def dismiss(request: web.Request) -> web.Response:
    """Close the card without a wrap-up (a consultation that was cancelled)."""
    call_id = request.match_info["call_id"]
    request.app[WRAP_UP].dismiss(desk_agent(request), call_id)
    return ok({"dismissed": call_id})


async def card(request: web.Request) -> web.Response:
    """The card of the agent's own call, read again."""
    return ok(await request.app[POPS].refresh(desk_agent(request), request.match_info["call_id"]))


async def transfer(request: web.Request) -> web.Response:
    data = await body(request, TransferIn)
    return ok(await request.app[CONTROLS].blind_transfer(desk_agent(request), data))


async def consult(request: web.Request) -> web.Response:
    data = await body(request, TransferIn)
    return ok(await request.app[CONTROLS].consult(desk_agent(request), data))


def _control(verb: Callable[[CallControls], Callable[[str], Awaitable[object]]]
             ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A call control with no body, for the signed-in agent's own call."""
    async def handler(request: web.Request) -> web.Response:
        return ok(await verb(request.app[CONTROLS])(desk_agent(request)))
    return handler


def add_routes(app: web.Application, bus: EventBus, pops: ScreenPops, wrap: WrapUp[Any],
               controls: CallControls, desk: AgentDesk) -> None:
    app[BUS], app[POPS], app[WRAP_UP] = bus, pops, wrap
    app[CONTROLS], app[AGENT_DESK] = controls, desk
    r = Routes(app)
    r.page("/console", STATIC / "console.html", DESK)
    r.get("/api/v1/console/me", me, DESK)
    r.get("/api/v1/console/ws", console_ws, DESK)
    r.get("/api/v1/console/calls/{call_id}/card", card, DESK)
    r.post("/api/v1/console/calls/{call_id}/wrap-up", wrap_up, DESK)
    r.post("/api/v1/console/calls/{call_id}/dismiss", dismiss, DESK)
    r.post("/api/v1/console/call/transfer", transfer, DESK)
    r.post("/api/v1/console/call/consult", consult, DESK)
    for path, verb in (
        ("call/hangup", lambda c: c.hangup),
        ("call/hold", lambda c: c.hold),
        ("call/unhold", lambda c: c.unhold),
        ("call/consult/complete", lambda c: c.complete),
        ("call/consult/cancel", lambda c: c.cancel),
    ):
        r.post(f"/api/v1/console/{path}", _control(verb), DESK)
