"""The IVR's REST handlers: the traversal report (``/api/v1/stats/ivr``)."""

from __future__ import annotations

from aiohttp import web

from cti.web.parsing import query
from cti.web.responses import csv_response, ok
from cti.web.routes import SUPERVISOR, Routes
from ivr.report import IvrReport
from ivr.schemas import DayQuery, RangeQuery

REPORT: web.AppKey[IvrReport] = web.AppKey("ivr_report")


async def stats_ivr(request: web.Request) -> web.Response:
    q = query(request, DayQuery)
    return ok(await request.app[REPORT].day(q.date))


async def report_ivr(request: web.Request) -> web.StreamResponse:
    q = query(request, RangeQuery)
    q.check()
    report = await request.app[REPORT].between(q.date_from, q.date_to)
    if q.format == "csv":
        rows = [{"menu": menu, "callers": node["callers"], "visits": node["visits"],
                 "hangups": node["hangups"], "key": key, "chosen": n}
                for menu, node in report["nodes"].items() for key, n in node["keys"].items()]
        return csv_response(rows, ["menu", "callers", "visits", "hangups", "key", "chosen"],
                            f"ivr-{q.date_from}-{q.date_to}.csv")
    return ok(report)


def add_routes(app: web.Application, report: IvrReport) -> None:
    app[REPORT] = report
    r = Routes(app)
    r.get("/api/v1/stats/ivr", stats_ivr, SUPERVISOR)
    r.get("/api/v1/reports/ivr", report_ivr, SUPERVISOR)
