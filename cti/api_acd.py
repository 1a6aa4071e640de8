"""REST handlers for the ACD: agents (create, skills, log in, log out, pause,
unpause, state) and the live queues. Thin: validate, call AcdService."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from acd.kpi import KpiService
from acd.service import (
    AcdService,
    AgentIn,
    AgentPatch,
    LoginIn,
    PauseIn,
    create_agent,
    update_agent,
)
from cti.api_crm import json_body, validate
from cti.web import json_dumps, stream_ws, websocket_registry

ACD: web.AppKey[AcdService] = web.AppKey("acd")
KPI: web.AppKey[KpiService] = web.AppKey("kpi")


class WindowQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: Literal["15m", "today"] = "today"


class IntervalQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date
    minutes: int = 30
    queue: str | None = Field(None, max_length=40)

    @field_validator("minutes")
    @classmethod
    def _size(cls, v: int) -> int:
        if v not in (15, 30, 60):
            raise ValueError("intervals are 15, 30 or 60 minutes")
        return v


def _code(request: web.Request) -> str:
    return request.match_info["code"]


def _ok(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=json_dumps)


async def list_agents(request: web.Request) -> web.Response:
    agents = await request.app[ACD].agents()
    return _ok({"agents": agents, "count": len(agents)})


async def post_agent(request: web.Request) -> web.Response:
    data = validate(AgentIn, await json_body(request))
    return _ok(await create_agent(request.app[ACD], data), status=201)


async def get_agent(request: web.Request) -> web.Response:
    return _ok(await request.app[ACD].state(_code(request)))


async def patch_agent(request: web.Request) -> web.Response:
    patch = validate(AgentPatch, await json_body(request))
    return _ok(await update_agent(request.app[ACD], _code(request), patch))


async def login(request: web.Request) -> web.Response:
    data = validate(LoginIn, await json_body(request))
    return _ok(await request.app[ACD].login(_code(request), data.device))


async def logout(request: web.Request) -> web.Response:
    return _ok(await request.app[ACD].logout(_code(request)))


async def pause(request: web.Request) -> web.Response:
    data = validate(PauseIn, await json_body(request))
    return _ok(await request.app[ACD].pause(_code(request), data.reason))


async def unpause(request: web.Request) -> web.Response:
    return _ok(await request.app[ACD].unpause(_code(request)))


async def list_queues(request: web.Request) -> web.Response:
    queues = request.app[ACD].queues()
    return _ok({"queues": queues, "count": len(queues)})


async def get_queue(request: web.Request) -> web.Response:
    return _ok(request.app[ACD].queue(request.match_info["name"]))


async def stats_queues(request: web.Request) -> web.Response:
    q = validate(WindowQuery, dict(request.query))
    return _ok(await request.app[KPI].queues(q.window))


async def stats_agents(request: web.Request) -> web.Response:
    q = validate(WindowQuery, dict(request.query))
    return _ok(await request.app[KPI].agents(q.window))


async def stats_intervals(request: web.Request) -> web.Response:
    q = validate(IntervalQuery, dict(request.query))
    if q.queue is not None:
        request.app[ACD].queue(q.queue)  # 404 unknown-queue
    return _ok(await request.app[KPI].intervals(q.date, q.minutes, q.queue))


async def acd_ws(request: web.Request) -> web.WebSocketResponse:
    """The wallboard's feed: every queue and agent first, then each change
    (``acd.agent``, ``acd.queue``) as the events come."""
    acd = request.app[ACD]
    snapshot = {"type": "snapshot", "queues": acd.queues(), "agents": await acd.agents()}

    def render(topic: str, payload: Any) -> dict[str, Any] | None:
        if topic == "acd.agent":
            return {"type": topic, "agent": payload}
        if topic == "acd.queue":
            return {"type": topic, "queue": payload}
        return None  # acd.interval: for the database, not the board

    return await stream_ws(request, acd.board.bus, ("acd.*",), snapshot, render)


class DayQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date


async def stats_ivr(request: web.Request) -> web.Response:
    q = validate(DayQuery, dict(request.query))
    return _ok(await request.app[KPI].ivr(q.date))


def add_acd_routes(app: web.Application, acd: AcdService, kpi: KpiService) -> None:
    app[ACD] = acd
    app[KPI] = kpi
    websocket_registry(app)
    r = app.router
    r.add_get("/api/v1/agents", list_agents)
    r.add_post("/api/v1/agents", post_agent)
    r.add_get("/api/v1/agents/{code}", get_agent)
    r.add_patch("/api/v1/agents/{code}", patch_agent)
    r.add_post("/api/v1/agents/{code}/login", login)
    r.add_post("/api/v1/agents/{code}/logout", logout)
    r.add_post("/api/v1/agents/{code}/pause", pause)
    r.add_post("/api/v1/agents/{code}/unpause", unpause)
    r.add_get("/api/v1/queues", list_queues)
    r.add_get("/api/v1/queues/{name}", get_queue)
    r.add_get("/api/v1/acd/ws", acd_ws)
    r.add_get("/api/v1/stats/queues", stats_queues)
    r.add_get("/api/v1/stats/agents", stats_agents)
    r.add_get("/api/v1/stats/intervals", stats_intervals)
    r.add_get("/api/v1/stats/ivr", stats_ivr)
