"""``/metrics``: the server in Prometheus' text format (prometheus-client).

Counted as things happen: calls ended by outcome, the queue wait of each
call, the screen pop's latency (Asterisk's ring to the card on the agent's
websocket), HTTP requests by route, method and status. Read when scraped:
AMI sessions and reconnects, the AMI event lag and the event loop's lag
(p99 of the last minute), the bus queues' depth and drops, the call records
waiting in the spool, FastAGI sessions and failures, live calls.

Who may read it: a supervisor (their session), or a scraper sending the
scrape token (``metrics_token``, from HOTLINE_METRICS_TOKEN) as a bearer
token. The names and labels are the contract; no caller data is in it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cti.calls.model import Call
from cti.roles import Role
from cti.web.access import Forbidden
from cti.web.routes import PUBLIC, Routes
from cti.web.sessions import SESSIONS, token_of

Reading = Callable[[], Mapping[str, Any]]


class _Live(Collector):
    """Gauges and counters read from the server's own objects at scrape time."""

    def __init__(self, read: Reading) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        now = self.read()
        yield CounterMetricFamily("hotline_ami_sessions", "AMI sessions opened (a reconnect "
                                  "opens one more)", value=now["ami_sessions"])
        yield GaugeMetricFamily("hotline_ami_connected", "1 while the AMI session is up",
                                value=1.0 if now["ami_connected"] else 0.0)
        yield GaugeMetricFamily("hotline_ami_event_lag_p99_seconds", "Asterisk's event time "
                                "to the server handling it, p99 of the last minute",
                                value=now["event_lag_p99"])
        yield GaugeMetricFamily("hotline_loop_lag_p99_seconds", "the event loop's lag, p99 of "
                                "the last minute", value=now["loop_lag_p99"])
        yield GaugeMetricFamily("hotline_bus_queue_deepest", "items waiting in the deepest "
                                "bus queue", value=now["bus_deepest"])
        yield CounterMetricFamily("hotline_bus_dropped", "items dropped by bus consumers that "
                                  "fell behind (websockets)", value=now["bus_dropped"])
        yield GaugeMetricFamily("hotline_spool_bytes", "call records spooled, not yet in the "
                                "database", value=now["spool_bytes"])
        yield CounterMetricFamily("hotline_call_records_written", "call records written by "
                                  "this process", value=now["records_written"])
        yield CounterMetricFamily("hotline_agi_requests", "FastAGI sessions",
                                  value=now["agi_requests"])
        yield CounterMetricFamily("hotline_agi_failures", "FastAGI sessions that failed",
                                  value=now["agi_failures"])
        yield GaugeMetricFamily("hotline_live_calls", "calls up now", value=now["live_calls"])


class Metrics:
    def __init__(self, read: Reading, scrape_token: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.scrape_token = scrape_token
        self.calls = Counter("hotline_calls", "calls ended, by outcome", ["outcome"],
                             registry=self.registry)
        self.wait = Histogram("hotline_queue_wait_seconds", "how long callers waited in the "
                              "queue, by queue (from the first join)", ["queue"],
                              buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600),
                              registry=self.registry)
        self.pop = Histogram("hotline_screen_pop_seconds", "Asterisk's ring to the card on "
                             "the agent's websocket",
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                             registry=self.registry)
        self.http = Counter("hotline_http_requests", "HTTP requests by route, method and "
                            "status", ["route", "method", "status"], registry=self.registry)
        self.registry.register(_Live(read))

    # ------------------------------------------------------------------ feeds
    def on_call_ended(self, topic: str, call: Call) -> None:
        if call.backfilled:
            return
        self.calls.labels(call.outcome).inc()
        wait = call.wait_seconds
        if call.queue and wait is not None:
            self.wait.labels(call.queue).observe(wait)

    def on_pop(self, seconds: float) -> None:
        self.pop.observe(max(0.0, seconds))

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            self.http.labels(route, request.method, str(status)).inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def token_ok(self, request: web.Request) -> bool:
        """The scraper's bearer token, compared in constant time."""
        if not self.scrape_token:
            return False
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and hmac.compare_digest(
            auth[7:].encode(), self.scrape_token.encode())


METRICS: web.AppKey[Metrics] = web.AppKey("metrics")


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    if not m.token_ok(request):
        token, _ = token_of(request)
        who = await request.app[SESSIONS].identify(token)  # 401 without a session
        if not who.role.allows(Role.SUPERVISOR):
            raise Forbidden(f"needs the supervisor role or the scrape token; you are "
                            f"{who.role.value}", details={"needed": "supervisor"})
    return web.Response(body=request.app[METRICS].text(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST,
                                 "Cache-Control": "no-store"})


def add_routes(app: web.Application, m: Metrics) -> None:
    """``/metrics`` is checked here, not by a role alone: a supervisor's session,
    or the scrape token a Prometheus server is given."""
    app[METRICS] = m
    app.middlewares.insert(0, m.middleware)  # outermost: it sees the status sent
    Routes(app).get("/metrics", metrics, PUBLIC)
