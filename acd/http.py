"""REST handlers for the ACD: agents (create, skills, log in, log out, pause,
unpause, state), the live queues, the wallboard's websocket, the KPIs; and
the signed-in agent's own ACD session from the console
(``/api/v1/console/acd/*``). Thin: validate (acd/schemas.py), call the
service (acd/services.py, kpi.py), shape JSON."""

from __future__ import annotations

from aiohttp import web

from acd.kpi import KpiService
from acd.notifier import BOARD_TOPICS, WALLBOARD, AcdNotifier
from acd.schemas import (
    AgentIn,
    AgentPatch,
    IntervalQuery,
    LoginIn,
    PauseIn,
    ReportQuery,
    WindowQuery,
)
from acd.services import AcdService, create_agent, update_agent
from cti.bus import EventBus
from cti.errors import FieldError
from cti.web.parsing import body, query
from cti.web.responses import csv_response, ok
from cti.web.routes import ADMIN, DESK, SIGNED_IN, SUPERVISOR, Routes, desk_agent
from cti.web.streams import stream_ws

ACD: web.AppKey[AcdService] = web.AppKey("acd")
KPI: web.AppKey[KpiService] = web.AppKey("kpi")
BUS: web.AppKey[EventBus] = web.AppKey("acd_bus")


def _code(request: web.Request) -> str:
    return request.match_info["code"]


async def list_agents(request: web.Request) -> web.Response:
    agents = await request.app[ACD].agents()
    return ok({"agents": agents, "count": len(agents)})


async def post_agent(request: web.Request) -> web.Response:
    data = await body(request, AgentIn)
    return ok(await create_agent(request.app[ACD], data), status=201)


async def get_agent(request: web.Request) -> web.Response:
    return ok(await request.app[ACD].state(_code(request)))


async def patch_agent(request: web.Request) -> web.Response:
    patch = await body(request, AgentPatch)
    return ok(await update_agent(request.app[ACD], _code(request), patch))


async def login(request: web.Request) -> web.Response:
    data = await body(request, LoginIn)
    return ok(await request.app[ACD].login(_code(request), data.device))


async def logout(request: web.Request) -> web.Response:
    return ok(await request.app[ACD].logout(_code(request)))


async def pause(request: web.Request) -> web.Response:
    data = await body(request, PauseIn)
    return ok(await request.app[ACD].pause(_code(request), data.reason))


async def unpause(request: web.Request) -> web.Response:
    return ok(await request.app[ACD].unpause(_code(request)))


async def list_queues(request: web.Request) -> web.Response:
    queues = request.app[ACD].queues()
    return ok({"queues": queues, "count": len(queues)})


async def get_queue(request: web.Request) -> web.Response:
    return ok(request.app[ACD].queue(request.match_info["name"]))


async def stats_queues(request: web.Request) -> web.Response:
    q = query(request, WindowQuery)
    return ok(await request.app[KPI].queues(q.window))


async def stats_agents(request: web.Request) -> web.Response:
    q = query(request, WindowQuery)
    return ok(await request.app[KPI].agents(q.window))


async def stats_intervals(request: web.Request) -> web.Response:
    q = query(request, IntervalQuery)
    if q.queue is not None:
        request.app[ACD].queue(q.queue)  # 404 unknown-queue
    return ok(await request.app[KPI].intervals(q.date, q.minutes, q.queue))


QUEUE_REPORT_COLUMNS = ["from", "to", "queue", "offered", "answered", "abandoned",
                       "short_abandons", "answered_within_threshold", "threshold_seconds",
                       "service_level", "abandon_rate", "asa_seconds", "aht_seconds",
                       "talk_seconds", "hold_seconds", "wrap_up_seconds", "longest_wait_seconds",
                       "dispositions"]
STATES = ["available", "ringing", "on_call", "on_hold", "wrap_up", "paused"]
AGENT_REPORT_COLUMNS = ["date", "agent", "answered", "aht_seconds", "occupancy", *STATES]


def _report_query(request: web.Request) -> ReportQuery:
    q = query(request, ReportQuery)
    q.check()
    acd = request.app[ACD]
    if q.queue is not None and q.queue not in acd.config.queues:
        raise FieldError("queue", f"no queue {q.queue}; the queues: "
                         f"{', '.join(sorted(acd.config.queues))}")
    return q


async def report_queues(request: web.Request) -> web.StreamResponse:
    q = _report_query(request)
    report = await request.app[KPI].report_queues(q.date_from, q.date_to, q.by, q.queue)
    if q.format == "csv":
        rows = [{**r, "dispositions": " ".join(f"{k}:{n}" for k, n in r["dispositions"].items())}
                for r in report["rows"]]
        return csv_response(rows, QUEUE_REPORT_COLUMNS,
                            f"queues-{q.date_from}-{q.date_to}-{q.by}.csv")
    return ok(report)


async def report_agents(request: web.Request) -> web.StreamResponse:
    q = _report_query(request)
    if q.agent is not None and await request.app[ACD].store.get(q.agent) is None:
        raise FieldError("agent", f"no agent {q.agent}")
    report = await request.app[KPI].report_agents(q.date_from, q.date_to, q.agent)
    if q.format == "csv":
        rows = [{**r, **{s: r["seconds_by_state"].get(s, 0.0) for s in STATES}}
                for r in report["rows"]]
        return csv_response(rows, AGENT_REPORT_COLUMNS,
                            f"agents-{q.date_from}-{q.date_to}.csv")
    return ok(report)


async def acd_ws(request: web.Request) -> web.WebSocketResponse:
    """The wallboard's feed: every queue and agent first, then each change
    (``acd.agent``, ``acd.queue``) as the events come."""
    acd = request.app[ACD]
    snapshot = AcdNotifier.snapshot(acd.queues(), await acd.agents())
    return await stream_ws(request, request.app[BUS], BOARD_TOPICS, snapshot,
                           AcdNotifier.render)


async def wallboard_ws(request: web.Request) -> web.WebSocketResponse:
    """The wallboard's feed: every queue in numbers with its KPIs (today and
    the last 60 minutes) and thresholds, now and then twice a second."""
    acd = request.app[ACD]
    return await stream_ws(request, request.app[BUS], (WALLBOARD,), acd.wallboard(),
                           AcdNotifier.render)


# ---------------------------------------------------------------------- the agent's own
async def my_login(request: web.Request) -> web.Response:
    data = await body(request, LoginIn)
    return ok(await request.app[ACD].login(desk_agent(request), data.device))


async def my_pause(request: web.Request) -> web.Response:
    data = await body(request, PauseIn)
    return ok(await request.app[ACD].pause(desk_agent(request), data.reason))


async def my_day(request: web.Request) -> web.Response:
    """The signed-in agent's own day: their figures, and when their last call
    ended (the console ticks the time since)."""
    agent = desk_agent(request)
    day = await request.app[KPI].agent_day(agent)
    day["last_call_at"] = request.app[ACD].live(agent)["last_call_at"]
    return ok(day)


async def colleagues(request: web.Request) -> web.Response:
    """Who the agent can pass a call to: every signed-in agent with their live
    state, available ones first, and whether a transfer to them would be taken
    (the same rule the call controls apply: available, and not yourself)."""
    me = desk_agent(request)
    out = []
    for a in await request.app[ACD].agents():
        if a["state"] == "logged_out":
            continue
        ok_to = a["state"] == "available" and a["agent"] != me
        out.append({"agent": a["agent"], "name": a["name"], "state": a["state"],
                    "reason": a["reason"], "transferable": ok_to,
                    "why_not": None if ok_to else "you" if a["agent"] == me else a["state"]})
    out.sort(key=lambda a: (not a["transferable"], a["agent"]))
    return ok({"agents": out, "count": len(out)})


async def my_logout(request: web.Request) -> web.Response:
    return ok(await request.app[ACD].logout(desk_agent(request)))


async def my_unpause(request: web.Request) -> web.Response:
    return ok(await request.app[ACD].unpause(desk_agent(request)))


def add_routes(app: web.Application, bus: EventBus, acd: AcdService, kpi: KpiService) -> None:
    app[BUS], app[ACD], app[KPI] = bus, acd, kpi
    r = Routes(app)
    r.get("/api/v1/agents", list_agents, SUPERVISOR)
    r.post("/api/v1/agents", post_agent, ADMIN, audit="agent.create")
    r.get("/api/v1/agents/{code}", get_agent, SUPERVISOR)
    r.patch("/api/v1/agents/{code}", patch_agent, ADMIN, audit="agent.update")
    # a supervisor acting for an agent: each written to the audit log
    r.post("/api/v1/agents/{code}/login", login, SUPERVISOR, audit="agent.login")
    r.post("/api/v1/agents/{code}/logout", logout, SUPERVISOR, audit="agent.logout")
    r.post("/api/v1/agents/{code}/pause", pause, SUPERVISOR, audit="agent.pause")
    r.post("/api/v1/agents/{code}/unpause", unpause, SUPERVISOR, audit="agent.unpause")
    # the queues' names and callers: agents see them to pick a transfer target
    r.get("/api/v1/queues", list_queues, SIGNED_IN)
    r.get("/api/v1/queues/{name}", get_queue, SIGNED_IN)
    r.get("/api/v1/acd/ws", acd_ws, SUPERVISOR)  # the agent board's feed
    r.get("/api/v1/wallboard/ws", wallboard_ws, SUPERVISOR)
    r.get("/api/v1/stats/queues", stats_queues, SUPERVISOR)
    r.get("/api/v1/stats/agents", stats_agents, SUPERVISOR)
    r.get("/api/v1/stats/intervals", stats_intervals, SUPERVISOR)
    r.get("/api/v1/reports/queues", report_queues, SUPERVISOR)
    r.get("/api/v1/reports/agents", report_agents, SUPERVISOR)
    # the signed-in agent's own ACD session
    r.post("/api/v1/console/acd/login", my_login, DESK)
    r.post("/api/v1/console/acd/pause", my_pause, DESK)
    r.post("/api/v1/console/acd/logout", my_logout, DESK)
    r.post("/api/v1/console/acd/unpause", my_unpause, DESK)
    r.get("/api/v1/console/acd/day", my_day, DESK)  # the agent's own day, nobody else's
    r.get("/api/v1/console/acd/colleagues", colleagues, DESK)  # the transfer picker
