"""The live calls: the page at ``/``, ``/api/v1/live/calls[/{call_id}]`` and
the websocket ``/api/v1/live/ws`` (a snapshot, then each call event)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from cti.bus import EventBus
from cti.calls import events as ev
from cti.calls.events import CallStateChange
from cti.calls.tracker import CallTracker
from cti.web.errors import NotFound
from cti.web.responses import ok
from cti.web.routes import SUPERVISOR, Routes
from cti.web.streams import stream_ws

STATIC = Path(__file__).with_name("static")
CALL_TOPICS = (ev.CALL_NEW, ev.CALL_STATE, ev.CALL_UPDATED, ev.CALL_ENDED)

TRACKER: web.AppKey[CallTracker] = web.AppKey("live_tracker")
BUS: web.AppKey[EventBus] = web.AppKey("live_bus")


async def live_calls(request: web.Request) -> web.Response:
    calls = [c.as_dict() for c in request.app[TRACKER].calls.values()]
    calls.sort(key=lambda c: c["started_at"])
    return ok({"calls": calls, "count": len(calls)})


async def live_call(request: web.Request) -> web.Response:
    call = request.app[TRACKER].get(request.match_info["call_id"])
    if call is None:
        raise NotFound(f"no live call {request.match_info['call_id']!r}",
                       error_id="call-not-found")
    return ok(call.as_dict())


async def events_ws(request: web.Request) -> web.WebSocketResponse:
    """Live call events: a snapshot first, then call events as they happen."""
    tracker = request.app[TRACKER]

    def render(topic: str, payload: Any) -> dict[str, Any]:
        call = payload.call if isinstance(payload, CallStateChange) else payload
        return {"type": topic, "call": call.as_dict()}

    snapshot = {"type": "snapshot", "calls": [c.as_dict() for c in tracker.calls.values()]}
    return await stream_ws(request, request.app[BUS], CALL_TOPICS, snapshot, render)


def add_routes(app: web.Application, bus: EventBus, tracker: CallTracker) -> None:
    app[BUS], app[TRACKER] = bus, tracker
    r = Routes(app)
    r.page("/", STATIC / "live.html", SUPERVISOR)
    r.get("/api/v1/live/calls", live_calls, SUPERVISOR)
    r.get("/api/v1/live/calls/{call_id}", live_call, SUPERVISOR)
    r.get("/api/v1/live/ws", events_ws, SUPERVISOR)
