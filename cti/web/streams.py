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
from cti.web.responses import json_bytes

WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("websockets")


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


async def _close_websockets(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[WEBSOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutdown")


def websocket_registry(app: web.Application) -> None:
    """Open websockets are tracked so shutdown closes them."""
    app[WEBSOCKETS] = set()
    app.on_shutdown.append(_close_websockets)
