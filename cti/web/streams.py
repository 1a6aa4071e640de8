"""Live feeds over websockets: a snapshot first, then bus events as they come.

Every live page (the live calls, the wallboard, the agent console) uses
:func:`stream_ws`; the server closes the open ones on shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from cti.bus import EventBus
from cti.errors import DomainError
from cti.web.responses import json_bytes
from cti.web.routes import USER
from cti.web.sessions import SESSIONS, token_of

WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("websockets")
# how often an open websocket's session is checked again: signed out, expired,
# deactivated or given another role, the feed is closed (code 4401)
SESSION_RECHECK: web.AppKey[float] = web.AppKey("session_recheck")
RECHECK_SECONDS = 30.0
SESSION_ENDED = 4401


async def _watch_session(request: web.Request, ws: web.WebSocketResponse) -> None:
    token, _ = token_of(request)
    every = request.app.get(SESSION_RECHECK, RECHECK_SECONDS)
    while not ws.closed:
        await asyncio.sleep(every)
        try:
            await request.app[SESSIONS].identify(token)
        except DomainError:
            await ws.close(code=SESSION_ENDED, message=b"the session has ended; sign in again")
            return
        except Exception:  # the accounts' database away: the feed goes on, asked again later
            continue


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
        await ws.send_frame(json_bytes(snapshot), WSMsgType.TEXT)

        async def pump() -> None:
            async for topic, payload in sub:
                message = render(topic, payload)
                if message is not None:
                    await ws.send_frame(json_bytes(message), WSMsgType.TEXT)

        sender = asyncio.create_task(pump())
        # a signed-in feed ends with its session, not only when the page closes
        watcher = asyncio.create_task(_watch_session(request, ws)) if USER in request else None
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            sender.cancel()
            if watcher is not None:
                watcher.cancel()
    finally:
        sub.close()
        request.app[WEBSOCKETS].discard(ws)
    return ws


async def _close_websockets(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[WEBSOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutdown")


def websocket_registry(app: web.Application) -> None:
    """Open websockets are tracked so shutdown closes them."""
    app[WEBSOCKETS] = set()
    app.on_shutdown.append(_close_websockets)
