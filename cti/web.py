"""HTTP: /healthz, the REST API under /api/v1/, websockets, and pages.

Handlers are thin: they read the request, call the core, and shape JSON.
Domain errors carry an ``error_id``; one middleware turns them (and bad
input) into a JSON body with the HTTP status, never a bare 500 page.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import WSMsgType, web

from crm_bridge import db
from cti.bus import EventBus
from cti.calls import CallStateChange
from cti.errors import DomainError

if TYPE_CHECKING:
    from cti.app import Core

log = structlog.get_logger("cti.web")

CORE: web.AppKey[Core] = web.AppKey("core")
WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("websockets")


class ApiError(DomainError):
    """Bad input found by the web layer itself (not JSON, a malformed id ...)."""


class NotFound(ApiError):
    status = 404
    error_id = "not-found"


def error_body(error_id: str, message: str,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"id": error_id, "message": message, "details": details or {}}}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return web.json_response(error_body(exc.error_id, str(exc), exc.details), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return web.json_response(
            error_body(exc.reason.lower().replace(" ", "-"), exc.reason), status=exc.status
        )
    except Exception:
        log.exception("http_handler_failed", path=request.path, method=request.method)
        return web.json_response(error_body("internal-error", "internal error"), status=500)


def json_dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------- health
async def healthz(request: web.Request) -> web.Response:
    core = request.app[CORE]
    components: dict[str, dict[str, Any]] = {}

    conn, pump = core.conn, core.pump
    if pump.in_sync:
        components["ami"] = {"status": "up", "session": conn.session,
                             "protocol": conn.asterisk_version}
    elif conn.connected:
        components["ami"] = {"status": "down", "detail": "resyncing with Asterisk"}
    else:
        components["ami"] = {"status": "down", "detail": conn.last_error or conn.state.value}

    database: dict[str, Any] = {
        "status": "down", "url": db.describe(core.database_url),
        "call_records": {"spooled_bytes": core.writer.backlog, "written": core.writer.written}}
    try:
        await asyncio.wait_for(db.ping(core.engine), 2.0)
        if core.schema_ready:
            database["status"] = "up"
        else:
            database["detail"] = "schema migration pending"
    except Exception as exc:  # any driver error means "down"
        database["detail"] = f"{type(exc).__name__}: {exc}"[:300]
    components["database"] = database

    if core.agi.listening:
        components["agi"] = {"status": "up", "listen": f"{core.agi.host}:{core.agi.port}"}
    else:
        components["agi"] = {"status": "down", "detail": "FastAGI server not listening"}

    ok = all(c["status"] == "up" for c in components.values())
    body = {"status": "ok" if ok else "degraded", "components": components}
    return web.json_response(body, status=200 if ok else 503, dumps=json_dumps)


# ---------------------------------------------------------------------- live calls
async def live_calls(request: web.Request) -> web.Response:
    core = request.app[CORE]
    calls = [c.as_dict() for c in core.tracker.calls.values()]
    calls.sort(key=lambda c: c["started_at"])
    return web.json_response({"calls": calls, "count": len(calls)}, dumps=json_dumps)


async def live_call(request: web.Request) -> web.Response:
    core = request.app[CORE]
    call = core.tracker.get(request.match_info["call_id"])
    if call is None:
        raise NotFound(f"no live call {request.match_info['call_id']!r}", error_id="call-not-found")
    return web.json_response(call.as_dict(), dumps=json_dumps)


async def status(request: web.Request) -> web.Response:
    core = request.app[CORE]
    return web.json_response({
        "ami": {"state": core.conn.state.value, "session": core.conn.session,
                "events": core.pump.events_seen, "last_resync": core.pump.last_resync},
        "calls": {"live": len(core.tracker.calls), "ended": core.tracker.ended_count},
        "agi": {"requests": core.agi.requests, "failures": core.agi.failures},
        "time": time.time(),
    }, dumps=json_dumps)


async def stream_ws(request: web.Request, bus: EventBus, patterns: tuple[str, ...],
                    snapshot: dict[str, Any],
                    render: Callable[[str, Any], dict[str, Any] | None]) -> web.WebSocketResponse:
    """A websocket that sends ``snapshot`` first, then each bus event matching
    one of ``patterns`` as ``render`` shapes it (None: not sent). A client that
    falls 1,000 events behind loses the oldest; it can reconnect for a new
    snapshot."""
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    sub = bus.queue(*patterns, maxsize=1000)
    request.app[WEBSOCKETS].add(ws)
    try:
        await ws.send_str(json_dumps(snapshot))

        async def pump() -> None:
            async for topic, payload in sub:
                message = render(topic, payload)
                if message is not None:
                    await ws.send_str(json_dumps(message))

        sender = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            sender.cancel()
    finally:
        sub.close()
        request.app[WEBSOCKETS].discard(ws)
    return ws


async def events_ws(request: web.Request) -> web.WebSocketResponse:
    """Live call events: a snapshot first, then call.* events as they happen."""
    core = request.app[CORE]

    def render(topic: str, payload: Any) -> dict[str, Any]:
        call = payload.call if isinstance(payload, CallStateChange) else payload
        return {"type": topic, "call": call.as_dict()}

    return await stream_ws(request, core.bus, ("call.*",), {"type": "snapshot", "calls": [
        c.as_dict() for c in core.tracker.calls.values()]}, render)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(request.app[CORE].static_dir / "live.html")


async def _close_websockets(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[WEBSOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutdown")


def websocket_registry(app: web.Application) -> None:
    """Open websockets are tracked so shutdown closes them (idempotent)."""
    if WEBSOCKETS not in app:
        app[WEBSOCKETS] = set()
        app.on_shutdown.append(_close_websockets)


def add_routes(app: web.Application) -> None:
    websocket_registry(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/live/calls", live_calls)
    app.router.add_get("/api/v1/live/calls/{call_id}", live_call)
    app.router.add_get("/api/v1/live/ws", events_ws)
