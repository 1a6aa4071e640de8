"""The supervisor's side over HTTP: the wallboard (``/wallboard``), for a TV
across the room, and the agent board (``/supervisor``), whose data comes over
the ACD's websockets (acd/http.py: ``/api/v1/wallboard/ws``,
``/api/v1/acd/ws``) and whose pause and logout are the ACD's audited agent
routes; and listening in (``/api/v1/supervisor/spy``: start, change mode,
stop), each step audited by the service."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from cti.supervisor.schemas import SpyIn, SpyModeIn
from cti.supervisor.services import SpyService
from cti.web.parsing import body
from cti.web.responses import ok
from cti.web.routes import SUPERVISOR, Routes, user

STATIC = Path(__file__).with_name("static")
SPY: web.AppKey[SpyService] = web.AppKey("spy")


async def spy_now(request: web.Request) -> web.Response:
    return ok({"spy": request.app[SPY].current(user(request).login)})


async def spy_start(request: web.Request) -> web.Response:
    data = await body(request, SpyIn)
    return ok(await request.app[SPY].start(user(request).login, data.agent, data.mode,
                                           data.device), status=201)


async def spy_mode(request: web.Request) -> web.Response:
    data = await body(request, SpyModeIn)
    return ok(await request.app[SPY].change(user(request).login, data.mode))


async def spy_stop(request: web.Request) -> web.Response:
    return ok(await request.app[SPY].stop(user(request).login))


def add_routes(app: web.Application, spy: SpyService) -> None:
    app[SPY] = spy
    r = Routes(app)
    r.page("/wallboard", STATIC / "wallboard.html", SUPERVISOR)
    r.page("/supervisor", STATIC / "supervisor.html", SUPERVISOR)
    r.page("/reports", STATIC / "reports.html", SUPERVISOR)
    r.get("/api/v1/supervisor/spy", spy_now, SUPERVISOR)
    r.post("/api/v1/supervisor/spy", spy_start, SUPERVISOR)
    r.post("/api/v1/supervisor/spy/mode", spy_mode, SUPERVISOR)
    r.post("/api/v1/supervisor/spy/stop", spy_stop, SUPERVISOR)
