"""The IVR's REST handlers: the traversal report (``/api/v1/stats/ivr``)."""

from __future__ import annotations

from aiohttp import web

from cti.web.parsing import query
from cti.web.responses import ok
from cti.web.routes import SUPERVISOR, Routes
from ivr.report import IvrReport
from ivr.schemas import DayQuery

REPORT: web.AppKey[IvrReport] = web.AppKey("ivr_report")


async def stats_ivr(request: web.Request) -> web.Response:
    q = query(request, DayQuery)
    return ok(await request.app[REPORT].day(q.date))


def add_routes(app: web.Application, report: IvrReport) -> None:
    app[REPORT] = report
    Routes(app).get("/api/v1/stats/ivr", stats_ivr, SUPERVISOR)
