"""The ACD's REST API over HTTP: invalid operations are 4xx with a stable
error id, and nothing changes in Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cti.server import Core, web_app
from tests.integration.conftest import QUEUE, place_call
from tests.support.users import bearer


@pytest.fixture
async def client(core: Core) -> AsyncIterator[TestClient[Any, Any]]:
    async with await bearer(TestServer(web_app(core)), core.sessions, core.accounts) as c:
        resp = await c.post("/api/v1/agents", json={
            "code": "8201", "name": "赵敏", "skills": {"tv": 3, "mandarin": 5}})
        assert resp.status == 201, await resp.text()
        yield c


BAD = [
    ("post", "/api/v1/agents/8201/pause", {"json": {"reason": "break"}}, 409,
     "agent-logged-out", None),
    ("post", "/api/v1/agents/8201/unpause", {}, 409, "agent-logged-out", None),
    ("post", "/api/v1/agents/8201/logout", {}, 409, "agent-logged-out", None),
    ("post", "/api/v1/agents/8201/login", {"json": {"device": "PJSIP/nobody"}}, 422,
     "unknown-device", None),
    ("post", "/api/v1/agents/8201/login", {"json": {"device": "Local/1@nowhere/n"}}, 422,
     "unknown-device", None),
    ("post", "/api/v1/agents/8201/login", {"json": {"device": "SIP/8201"}}, 422,
     "unknown-device", None),
    ("post", "/api/v1/agents/8201/login", {"json": {}}, 422, "invalid-request", "device"),
    ("post", "/api/v1/agents/9999/login", {"json": {"device": "PJSIP/x"}}, 404,
     "agent-not-found", None),
    ("post", "/api/v1/agents/8201/pause", {"json": {"reason": "nap"}}, 422,
     "invalid-request", "reason"),
    ("get", "/api/v1/queues/dishwasher-zh", {}, 404, "unknown-queue", None),
    ("get", "/api/v1/agents/9999", {}, 404, "agent-not-found", None),
    ("post", "/api/v1/agents", {"json": {"code": "8201", "name": "x"}}, 409, "agent-exists",
     None),
    ("post", "/api/v1/agents", {"json": {"code": "8202", "name": "x", "skills": {"golf": 3}}},
     422, "invalid-request", "skills.golf"),
    ("post", "/api/v1/agents", {"json": {"code": "8202", "name": "x", "skills": {"tv": 9}}},
     422, "invalid-request", "skills.tv"),
    ("post", "/api/v1/agents", {"json": {"code": "8 2", "name": "x"}}, 422,
     "invalid-request", "code"),
    ("patch", "/api/v1/agents/8201", {"json": {"skills": {"tv": 0}}}, 422,
     "invalid-request", "skills.tv"),
    ("get", "/api/v1/stats/queues", {"params": {"window": "week"}}, 422, "invalid-request",
     "window"),
    ("get", "/api/v1/stats/intervals", {"params": {"date": "2026-11-24", "minutes": "20"}},
     422, "invalid-request", "minutes"),
    ("get", "/api/v1/stats/intervals", {"params": {}}, 422, "invalid-request", "date"),
    ("get", "/api/v1/stats/ivr", {"params": {"date": "yesterday"}}, 422, "invalid-request",
     "date"),
    ("get", "/api/v1/stats/intervals", {"params": {"date": "2026-11-24", "queue": "x"}},
     404, "unknown-queue", None),
    # reports: a range backwards, over a year, intervals over a month, no such queue or agent
    ("get", "/api/v1/reports/queues", {"params": {"from": "2026-11-24", "to": "2026-11-01"}},
     422, "invalid-request", "to"),
    ("get", "/api/v1/reports/queues", {"params": {"from": "2025-01-01", "to": "2026-11-24"}},
     422, "invalid-request", "to"),
    ("get", "/api/v1/reports/queues", {"params": {"from": "2026-09-01", "to": "2026-11-24",
                                                   "by": "15"}}, 422, "invalid-request", "by"),
    ("get", "/api/v1/reports/queues", {"params": {"from": "2026-11-01", "to": "2026-11-24",
                                                   "by": "20"}}, 422, "invalid-request", "by"),
    ("get", "/api/v1/reports/queues", {"params": {"from": "2026-11-01", "to": "2026-11-24",
                                                   "queue": "dishwasher-zh"}},
     422, "invalid-request", "queue"),
    ("get", "/api/v1/reports/agents", {"params": {"from": "2026-11-01", "to": "2026-11-24",
                                                   "agent": "9999"}},
     422, "invalid-request", "agent"),
    ("get", "/api/v1/reports/ivr", {"params": {"from": "2026-11-24", "to": "2026-11-01"}},
     422, "invalid-request", "to"),
    ("get", "/api/v1/reports/agents", {"params": {"to": "2026-11-01"}},
     422, "invalid-request", "from"),
    # a supervisor's actions on an agent who does not exist, or a call that is not there
    ("post", "/api/v1/agents/9999/pause", {"json": {"reason": "break"}}, 404,
     "agent-not-found", None),
    ("post", "/api/v1/agents/9999/logout", {}, 404, "agent-not-found", None),
    ("post", "/api/v1/supervisor/spy", {"json": {"agent": "8201", "device": "PJSIP/x"}},
     409, "no-call", "agent"),
    ("post", "/api/v1/supervisor/spy", {"json": {"agent": "9999", "device": "PJSIP/x"}},
     409, "no-call", "agent"),
    ("post", "/api/v1/supervisor/spy/mode", {"json": {"mode": "barge"}}, 409, "not-spying",
     None),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "error_id", "field"), BAD,
                         ids=[f"{m} {p} {s}" for m, p, _, s, _, _ in BAD])
async def test_invalid_operations_are_4xx_with_a_stable_error_id(
    client: TestClient[Any, Any], core: Core, method: str, path: str,
    kwargs: dict[str, Any], status: int, error_id: str, field: str | None,
) -> None:
    resp = await getattr(client, method)(path, **kwargs)
    body = await resp.json()
    assert resp.status == status, body
    assert body["error"]["id"] == error_id
    if field:
        assert field in [f["field"] for f in body["error"]["details"]["fields"]]
    agent = await (await client.get("/api/v1/agents/8201")).json()
    assert agent["state"] == "logged_out" and agent["skills"] == {"mandarin": 5, "tv": 3}
    assert not [e for e in await core.actions.queue_status() if e.name == "QueueMember"]


async def test_login_pause_and_the_queue_view_over_http(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/agents/8201/login",
                             json={"device": "Local/8201@sim-agent-phone/n"})
    agent = await resp.json()
    assert resp.status == 200 and agent["queues"] == {"general-service": 0, "tv-zh": 2}
    resp = await client.post("/api/v1/agents/8201/pause", json={"reason": "lunch"})
    agent = await resp.json()
    assert (agent["state"], agent["reason"]) == ("paused", "lunch")
    tv = await (await client.get("/api/v1/queues/tv-zh")).json()
    assert tv["queue"] == "tv-zh" and tv["agents_logged_in"] == 1 and tv["waiting"] == 0
    all_queues = await (await client.get("/api/v1/queues")).json()
    assert {q["queue"] for q in all_queues["queues"]} >= {"ac-zh", "tv-zh", "english"}
    resp = await client.post("/api/v1/agents/8201/logout")
    assert resp.status == 200 and (await resp.json())["state"] == "logged_out"
    stats = await (await client.get("/api/v1/stats/queues", params={"window": "15m"})).json()
    assert {q["queue"] for q in stats["queues"]} >= {"tv-zh", "ac-zh"}
    day = await (await client.get("/api/v1/stats/intervals",
                                  params={"date": "2026-11-24", "minutes": "60"})).json()
    assert len(day["intervals"]) == 24


async def test_the_wallboard_feed_sends_a_snapshot_then_each_change(
    client: TestClient[Any, Any]
) -> None:
    async with client.ws_connect("/api/v1/acd/ws") as ws:
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "snapshot"
        assert {q["queue"] for q in first["queues"]} >= {"tv-zh", "general-service"}
        assert [a["agent"] for a in first["agents"]] == ["8201"]
        resp = await client.post("/api/v1/agents/8201/login",
                                 json={"device": "Local/8201@sim-agent-phone/n"})
        assert resp.status == 200
        seen: list[dict[str, Any]] = []
        while not any(m["type"] == "acd.queue" and m["queue"]["queue"] == "tv-zh"
                      and m["queue"]["agents"]["available"] == ["8201"] for m in seen):
            seen.append(await ws.receive_json(timeout=5))
        assert any(m["type"] == "acd.agent" and m["agent"]["agent"] == "8201"
                   and m["agent"]["state"] == "available" for m in seen)
        await client.post("/api/v1/agents/8201/logout")
        while True:
            m = await ws.receive_json(timeout=5)
            if m["type"] == "acd.agent" and m["agent"]["state"] == "logged_out":
                break


async def test_a_long_queue_shows_the_first_20_callers_on_the_wallboard_and_all_over_rest(
    client: TestClient[Any, Any], core: Core
) -> None:
    """A queue of 25 callers: the wallboard feed (four times a second) lists
    the first 20 in line and counts all 25; the REST view lists all 25."""
    async with client.ws_connect("/api/v1/acd/ws") as ws:
        await ws.receive_json(timeout=5)  # the snapshot
        await asyncio.gather(*(place_call(core.actions, "排队", f"1390000{i:04d}", patience=60)
                               for i in range(25)))
        view: dict[str, Any] = {}
        while view.get("waiting") != 25:
            m = await ws.receive_json(timeout=10)
            if m["type"] == "acd.queue" and m["queue"]["queue"] == QUEUE:
                view = m["queue"]
        assert len(view["callers"]) == 20
        assert [c["position"] for c in view["callers"]] == list(range(1, 21))
        rest = await (await client.get(f"/api/v1/queues/{QUEUE}")).json()
        assert rest["waiting"] == 25 and len(rest["callers"]) == 25
