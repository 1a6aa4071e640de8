"""``/healthz`` and ``/api/v1/status``: is the server fit to take calls.

/healthz answers 200 when every component is up, 503 otherwise, with each
component's status. The components are the AMI session (in sync with
Asterisk, and how late its events are handled), the event loop (its lag over
the last minute: down when its 99th percentile passes a second), the
FastAGI server, and those the composition root adds (the service database:
crm_bridge/db.py). ``/api/v1/status?since=<epoch s>`` gives the lags since
then (the call-load benchmark reads it per window).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cti.agi import AgiServer
from cti.ami import AmiConnection
from cti.calls.tracker import CallTracker
from cti.config import scheduling
from cti.errors import FieldError
from cti.monitor import LoopMonitor
from cti.pump import EventPump
from cti.web.responses import json_dumps
from cti.web.routes import PUBLIC, SUPERVISOR, Routes

Check = Callable[[], Awaitable[dict[str, Any]]]
LOOP_LAG_DOWN_MS = 1000.0  # p99 over the last minute: calls would wait on the server


class Health:
    def __init__(self, conn: AmiConnection, pump: EventPump, tracker: CallTracker,
                 agi: AgiServer, loop: LoopMonitor, checks: dict[str, Check]) -> None:
        self.conn, self.pump, self.tracker, self.agi = conn, pump, tracker, agi
        self.loop = loop
        self.checks = checks

    async def ami(self) -> dict[str, Any]:
        conn = self.conn
        if self.pump.in_sync:
            return {"status": "up", "session": conn.session, "protocol": conn.asterisk_version,
                    "event_lag_ms": self.pump.event_lags.stats()}
        if conn.connected:
            return {"status": "down", "detail": "resyncing with Asterisk"}
        return {"status": "down", "detail": conn.last_error or conn.state.value}

    async def event_loop(self) -> dict[str, Any]:
        lag = self.loop.lags.stats()
        if lag["p99"] is not None and float(lag["p99"]) > LOOP_LAG_DOWN_MS:
            return {"status": "down", "detail": "the event loop is lagging", "lag_ms": lag}
        return {"status": "up", "lag_ms": lag}

    async def fastagi(self) -> dict[str, Any]:
        if self.agi.listening:
            return {"status": "up", "listen": f"{self.agi.host}:{self.agi.port}"}
        return {"status": "down", "detail": "FastAGI server not listening"}

    async def components(self) -> dict[str, dict[str, Any]]:
        out = {"ami": await self.ami(), "loop": await self.event_loop()}
        for name, check in self.checks.items():
            out[name] = await check()
        out["agi"] = await self.fastagi()
        return out

    def status(self, since: float | None = None) -> dict[str, Any]:
        return {
            "ami": {"state": self.conn.state.value, "session": self.conn.session,
                    "events": self.pump.events_seen, "last_resync": self.pump.last_resync,
                    "event_lag_ms": self.pump.event_lags.stats(since),
                    # read and not yet handled; past the limit reading pauses
                    "buffered": self.conn.buffered, "peak_buffered": self.conn.peak_buffered,
                    "buffer_limit": self.conn.max_buffered,
                    "read_pauses": self.conn.read_pauses},
            "bus": self.pump.bus.queue_stats(),
            "loop": {"lag_ms": self.loop.lags.stats(since),
                     "scheduling": scheduling.current()},
            "calls": {"live": len(self.tracker.calls), "ended": self.tracker.ended_count},
            "agi": {"requests": self.agi.requests, "failures": self.agi.failures},
            "time": time.time(),
        }


HEALTH: web.AppKey[Health] = web.AppKey("health")


async def healthz(request: web.Request) -> web.Response:
    """Anyone (a monitor, a load balancer) learns each component's up or down,
    nothing more: no addresses, paths or errors. The details are in
    ``/api/v1/status`` for supervisors."""
    components = await request.app[HEALTH].components()
    ok = all(c["status"] == "up" for c in components.values())
    body = {"status": "ok" if ok else "degraded",
            "components": {name: {"status": c["status"]} for name, c in components.items()}}
    return web.json_response(body, status=200 if ok else 503, dumps=json_dumps)


async def status(request: web.Request) -> web.Response:
    since = None
    if "since" in request.query:
        try:
            since = float(request.query["since"])
        except ValueError:
            raise FieldError("since", "seconds since the epoch") from None
        if not since == since or abs(since) > 1e11:  # NaN, inf, or no time a server lived
            raise FieldError("since", "seconds since the epoch")
    health = request.app[HEALTH]
    return web.json_response({**health.status(since), "components": await health.components()},
                             dumps=json_dumps)


def add_routes(app: web.Application, health: Health) -> None:
    app[HEALTH] = health
    r = Routes(app)
    r.get("/healthz", healthz, PUBLIC)  # for monitors and load balancers: no data in it
    r.get("/api/v1/status", status, SUPERVISOR)
