"""Who may use each route, walked over the whole application's router: every
route declares a rule, anonymous requests get 401, an agent gets 403 on
supervisor and admin routes, a supervisor 403 on admin routes and on an agent's
desk; cookie sessions refuse requests from another origin; audited actions
are written with who, what, to whom and when."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from crm_bridge.models import Agent
from cti.config.settings import load_settings
from cti.roles import Role
from cti.server import Core, build_core, subscriptions, web_app
from cti.web.routes import declared
from tests.support.users import FAST, bearer, browser, make_user, token_for

PARAMS = {"customer_id": "1", "ticket_id": "1", "call_id": "1764000000.1", "code": "8001",
          "login": "8001", "name": "tv-zh", "filename": "x"}


@pytest.fixture
async def core(db_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    """The whole application (not running: no Asterisk needed to check access)."""
    settings = load_settings(ami_secret="not-used", database_url=db_url, var_dir=tmp_path)
    c = build_core(settings)
    c.sessions.hasher = FAST
    async with c.engine.begin() as conn:
        await conn.execute(insert(Agent).values(code="8001", name="林晓", active=True))
        await conn.execute(insert(Agent).values(code="8002", name="赵敏", active=True))
    yield c
    c.writer.close()
    await c.database.close()




def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PARAMS.get(m.group(1), "x"), path)


def routes(core: Core) -> list[tuple[str, str, Any]]:
    return [(m, p, r) for m, p, r in declared(web_app(core)) if not p.startswith("/static/")]


async def call(client: TestClient[Any, Any], method: str, path: str) -> tuple[int, str, str]:
    kw: dict[str, Any] = {"json": {}} if method in ("POST", "PATCH") else {}
    resp = await client.request(method, concrete(path), **kw)
    return resp.status, resp.content_type, await resp.text()


async def test_every_route_declares_who_may_use_it(core: Core) -> None:
    found = routes(core)
    assert len(found) > 50
    assert [(m, p) for m, p, rule in found if rule is None] == []
    public = sorted(p for m, p, rule in found if rule.role is None)
    # /metrics checks in its handler: a supervisor's session or the scrape token
    assert public == ["/api/v1/sign-in", "/api/v1/sign-out", "/healthz", "/metrics",
                      "/sign-in"]


async def test_anonymous_gets_401_on_every_route_but_the_public_ones(
    core: Core, server: TestServer
) -> None:
    async with TestClient(server) as anonymous:
        for method, path, rule in routes(core):
            if rule.role is None:
                continue
            status, kind, text = await call(anonymous, method, path)
            assert status == 401, (method, path, status, text)
            if rule.page:  # a page says so and sends the browser to sign in
                assert kind == "text/html" and "/sign-in?next=" in text, (path, text)
            else:
                assert '"not-signed-in"' in text, (method, path, text)


async def test_each_role_is_refused_what_is_above_it(core: Core, server: TestServer) -> None:
    agent = await bearer(server, core.sessions, core.accounts, "8001", Role.AGENT)
    supervisor = await bearer(server, core.sessions, core.accounts, "wang", Role.SUPERVISOR)
    admin = await bearer(server, core.sessions, core.accounts, "root", Role.ADMIN)
    try:
        for method, path, rule in routes(core):
            if rule.role is None:
                continue
            for client, role, has_desk in ((agent, Role.AGENT, True),
                                           (supervisor, Role.SUPERVISOR, False),
                                           (admin, Role.ADMIN, False)):
                status, _, text = await call(client, method, path)
                allowed = role.allows(rule.role) and (has_desk or not rule.desk)
                if allowed:
                    assert status not in (401, 403), (role, method, path, status, text)
                else:
                    assert status == 403, (role, method, path, status, text)
                    if not rule.page:
                        assert '"forbidden"' in text, (role, path, text)
    finally:
        for c in (agent, supervisor, admin):
            await c.close()


async def test_an_agent_sees_only_their_own_calls(core: Core, server: TestServer) -> None:
    agent = await bearer(server, core.sessions, core.accounts, "8001", Role.AGENT)
    try:
        resp = await agent.get("/api/v1/calls", params={"agent": "8002"})
        assert resp.status == 403
        resp = await agent.get("/api/v1/calls")
        assert resp.status == 200 and (await resp.json())["calls"] == []
        resp = await agent.get("/api/v1/screen-pop", params={"number": "13800138000"})
        assert resp.status == 403  # any number's card: supervisors only
    finally:
        await agent.close()


async def test_cookie_sessions_refuse_requests_and_websockets_from_another_origin(
    core: Core, server: TestServer
) -> None:
    await make_user(core.sessions, core.accounts, "wang", Role.SUPERVISOR)
    page = await browser(server, "wang")  # sends this server's Origin, as its pages do
    try:
        body = {"name": "张三", "phones": [{"number": "13800138000"}]}
        resp = await page.post("/api/v1/customers", json=body)
        assert resp.status == 201
        for origin in ("http://evil.example", "null", str(server.make_url("")).replace(
                "127.0.0.1", "localhost")):
            resp = await page.post("/api/v1/customers", json=body, headers={"Origin": origin})
            assert resp.status == 403, origin
            assert (await resp.json())["error"]["id"] == "foreign-origin"
        async with aiohttp.ClientSession(str(server.make_url("")),
                                         cookie_jar=page.session.cookie_jar) as bare:
            # a cookie and no Origin nor Referer: refused too
            resp = await bare.post("/api/v1/customers", json=body)
            assert resp.status == 403 and (await resp.json())["error"]["id"] == "foreign-origin"
            # no Origin, a Referer: that decides
            resp = await bare.post("/api/v1/customers", json=body,
                                   headers={"Referer": "http://evil.example/form"})
            assert resp.status == 403 and (await resp.json())["error"]["id"] == "foreign-origin"
            resp = await bare.post("/api/v1/customers", json={**body, "name": "张三丰"},
                                   headers={"Referer": str(server.make_url("/console"))})
            assert resp.status == 201
            # reading needs no proof: a link from elsewhere opens the page
            resp = await bare.get("/api/v1/customers", params={"name": "张三"},
                                  headers={"Referer": "http://evil.example/"})
            assert resp.status == 200
        resp = await page.get("/api/v1/acd/ws", headers={
            "Origin": "http://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert resp.status == 403
        assert (await resp.json())["error"]["id"] == "foreign-origin"
        # a bearer token is never sent by a browser on its own: no Origin needed
        api = await bearer(server, core.sessions, core.accounts, "root", Role.ADMIN)
        resp = await api.post("/api/v1/customers", json={
            "name": "李四", "phones": [{"number": "13900139000"}]})
        assert resp.status == 201
        await api.close()
    finally:
        await page.close()


async def test_admins_manage_users_and_every_change_is_in_the_audit_log(
    core: Core, server: TestServer
) -> None:
    admin = await bearer(server, core.sessions, core.accounts, "root", Role.ADMIN)
    try:
        resp = await admin.post("/api/v1/users", json={
            "login": "li", "name": "李组长", "role": "supervisor", "agent": "8002",
            "password": "lead the team"})
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["agent"] == "8002"
        for bad, field in (({"login": "a b", "name": "x", "role": "agent"}, "login"),
                           ({"login": "zz", "name": "x", "role": "boss"}, "role"),
                           ({"login": "zz", "name": "x", "role": "agent"}, "agent"),
                           ({"login": "yy", "name": "x", "role": "admin", "password": "short"},
                            "password")):
            resp = await admin.post("/api/v1/users", json=bad)
            err = (await resp.json())["error"]
            assert resp.status == 422, err
            assert field in [f["field"] for f in err["details"]["fields"]], err
        resp = await admin.post("/api/v1/users", json={"login": "li", "name": "x",
                                                       "role": "agent", "agent": "8001"})
        assert resp.status == 409 and (await resp.json())["error"]["id"] == "user-exists"
        resp = await admin.patch("/api/v1/users/root", json={"role": "agent"})
        assert resp.status == 422  # an admin cannot lock themselves out
        resp = await admin.patch("/api/v1/users/li", json={"role": "admin"})
        assert resp.status == 200 and (await resp.json())["role"] == "admin"
        resp = await admin.patch("/api/v1/users/nobody", json={"role": "admin"})
        assert resp.status == 404 and (await resp.json())["error"]["id"] == "user-not-found"
        users = {u["login"]: u for u in (await (await admin.get("/api/v1/users")).json())["users"]}
        assert users["li"]["role"] == "admin" and users["li"]["has_password"]
        assert "password_hash" not in users["li"]

        resp = await admin.get("/api/v1/audit", params={"from": "2020-01-01", "to": "2020-12-31"})
        assert (await resp.json())["entries"] == []
        import datetime as dt
        from zoneinfo import ZoneInfo
        site_today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the site's day
        today = site_today.isoformat()
        resp = await admin.get("/api/v1/audit", params={"from": today, "to": today})
        entries = (await resp.json())["entries"]
        assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
            ("root", "user.update", "li"), ("root", "user.add", "li")]
        assert entries[1]["details"]["request"]["login"] == "li"
        assert "password" not in entries[1]["details"]["request"]  # never in the log
        assert entries[0]["at"].endswith("+08:00")  # in the site's zone
        for params, field in (({"from": today, "to": "2020-01-01"}, "to"),
                              ({"from": "2020-01-01", "to": today}, "to"),
                              ({"from": "yesterday", "to": today}, "from")):
            resp = await admin.get("/api/v1/audit", params=params)
            assert resp.status == 422, params
            assert (await resp.json())["error"]["details"]["fields"][0]["field"] == field
    finally:
        await admin.close()


async def test_anyone_learns_only_up_or_down_a_supervisor_the_details(
    core: Core, server: TestServer
) -> None:
    """/healthz is for monitors: each component up or down, no address, file
    path or error; the details are a supervisor's, in /api/v1/status."""
    boss = await bearer(server, core.sessions, core.accounts, "boss", Role.SUPERVISOR)
    try:
        async with aiohttp.ClientSession() as anonymous, \
                anonymous.get(boss.make_url("/healthz")) as resp:
            body, text = await resp.json(), await resp.text()
        assert set(body) == {"status", "components"}
        assert all(set(c) == {"status"} for c in body["components"].values())
        assert "database" in body["components"] and "sqlite" not in text
        status = await (await boss.get("/api/v1/status")).json()
        assert "url" in status["components"]["database"]  # which database, for the supervisor
        resp = await boss.get("/api/v1/status", params={"since": "nan"})
        assert resp.status == 422
    finally:
        await boss.close()


async def test_metrics_for_a_supervisor_or_the_scraper_and_nobody_else(
    core: Core, server: TestServer
) -> None:
    """Prometheus' text: calls by outcome, waits, HTTP requests by route, the
    live gauges; a supervisor's session or the scrape token, else 401/403."""
    from cti.calls import events as ev
    from cti.calls.model import Call

    core.metrics.scrape_token = "scrape-token-0123456789"
    call = Call("1764000000.9", started_at=1764000000.0)
    call.queue, call.queued_at, call.answered_at = "tv-zh", 1764000001.0, 1764000013.0
    assert (ev.CALL_ENDED, core.metrics.on_call_ended) in subscriptions(core)  # as wired
    core.metrics.on_call_ended(ev.CALL_ENDED, call)
    boss = await bearer(server, core.sessions, core.accounts, "boss", Role.SUPERVISOR)
    agent = await bearer(server, core.sessions, core.accounts, "8001", Role.AGENT)
    try:
        resp = await boss.get("/metrics")
        text = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert 'hotline_calls_total{outcome="answered"} 1.0' in text
        assert 'hotline_queue_wait_seconds_bucket{le="20.0",queue="tv-zh"} 1.0' in text
        assert "hotline_ami_connected 0.0" in text and "hotline_live_calls 0.0" in text
        resp = await agent.get("/metrics")
        assert resp.status == 403 and (await resp.json())["error"]["id"] == "forbidden"
        async with aiohttp.ClientSession() as scraper:
            for header, want in (("Bearer scrape-token-0123456789", 200),
                                 ("Bearer wrong", 401), (None, 401)):
                headers = {"Authorization": header} if header else {}
                async with scraper.get(boss.make_url("/metrics"), headers=headers) as r:
                    assert r.status == want, (header, await r.text())
        text = await (await boss.get("/metrics")).text()
        # every request counted by its route, not its path (no ids in the labels)
        assert ('hotline_http_requests_total{method="GET",route="/metrics",status="403"} 1.0'
                in text)
    finally:
        await boss.close()
        await agent.close()


async def test_a_live_feed_closes_when_its_session_ends(
    core: Core, server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A websocket is checked when it opens and again while it is open: signed
    out (or expired, deactivated, given another role), the feed closes (4401)."""
    from cti.web import streams

    monkeypatch.setattr(streams, "RECHECK_SECONDS", 0.2)
    token = await token_for(core.sessions, core.accounts, "boss", Role.SUPERVISOR)
    client: TestClient[Any, Any] = TestClient(server,
                                              headers={"Authorization": f"Bearer {token}"})
    await client.start_server()
    try:
        ws = await client.ws_connect("/api/v1/acd/ws")
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        await asyncio.sleep(0.5)
        assert not ws.closed  # still signed in: the feed goes on
        await core.sessions.sign_out(token)
        msg = await ws.receive(timeout=5)
        while msg.type == aiohttp.WSMsgType.TEXT:
            msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == streams.SESSION_ENDED
    finally:
        await client.close()
