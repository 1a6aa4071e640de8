"""Listen, whisper, barge on the real sandbox: the supervisor's simulated phone
is originated into ChanSpy on the agent's channel (seen in Asterisk's own
channel list), the mode changes without dropping it, it ends with the call,
each step is in the audit log, and the spy's channel is never a call record.
Refused with the field named when there is no call; nothing placed then."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from crm_bridge.models import CallRecord
from cti.roles import Role
from cti.server import Core
from tests.integration.conftest import place_call, sim_phones, wait_async, wait_until
from tests.support.users import bearer

SUPERVISOR_PHONE = "Local/9101@sim-agent-phone/n"


@pytest.fixture
async def clients(core: Core, server: TestServer
                  ) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    admin = await bearer(server, core.sessions, core.accounts)
    boss = await bearer(server, core.sessions, core.accounts, "wang", Role.SUPERVISOR)
    yield admin, boss
    await boss.close()
    await admin.close()


async def spy_channels(core: Core) -> list[dict[str, str]]:
    return [{"channel": c.text("Channel", ""), "app": c.text("Application", ""),
             "data": c.text("ApplicationData", ""), "linkedid": c.text("Linkedid", "")}
            for c in await core.actions.core_show_channels()
            if c.text("Application", "") == "ChanSpy"]


async def test_a_supervisor_listens_then_whispers_and_the_spy_ends_with_the_call(
    core: Core, clients: tuple[TestClient[Any, Any], TestClient[Any, Any]]
) -> None:
    admin, boss = clients
    resp = await admin.post("/api/v1/agents", json={"code": "8231", "name": "何欣",
                                                    "skills": {"mandarin": 5}})
    assert resp.status == 201
    async with sim_phones(core.actions, SIM_AGENT_TALK_8231="12", SIM_AGENT_TALK_9101="30"):
        resp = await admin.post("/api/v1/agents/8231/login",
                                json={"device": "Local/8231@sim-agent-phone/n"})
        assert resp.status == 200
        # no call yet: refused, naming the field, and no phone rings
        resp = await boss.post("/api/v1/supervisor/spy", json={
            "agent": "8231", "mode": "listen", "device": SUPERVISOR_PHONE})
        body = await resp.json()
        assert resp.status == 409 and body["error"]["id"] == "no-call", body
        assert body["error"]["details"]["fields"][0]["field"] == "agent"
        assert await spy_channels(core) == []

        call_id = await place_call(core.actions, "听众", "13900008231", patience=30)
        await wait_until(lambda: core.board.agent("8231").state.value == "on_call", 15,
                         "the agent talking")
        for bad, field in (({"agent": "8231", "mode": "listen", "device": "SIP/9101"},
                            "device"),
                           ({"agent": "8231", "mode": "shout", "device": SUPERVISOR_PHONE},
                            "mode")):
            resp = await boss.post("/api/v1/supervisor/spy", json=bad)
            assert resp.status == 422, await resp.text()
            assert (await resp.json())["error"]["details"]["fields"][0]["field"] == field
        resp = await boss.post("/api/v1/supervisor/spy", json={
            "agent": "8231", "mode": "listen", "device": SUPERVISOR_PHONE})
        started = await resp.json()
        assert resp.status == 201, started
        assert started["call_id"] == core.board.agent("8231").call_id
        spies = await wait_async(lambda: spy_channels(core), 5, "ChanSpy in Asterisk")
        assert len(spies) == 1 and spies[0]["linkedid"].startswith("svc-")
        target = next(leg.uniqueid for leg in core.tracker.calls[started["call_id"]].legs.values()
                      if leg.agent == "8231")
        assert spies[0]["data"] == f"{target},quE"  # by unique id, quiet, ends with the call
        assert all(not c.startswith("svc-") for c in core.tracker.calls)  # no call of its own

        resp = await boss.post("/api/v1/supervisor/spy/mode", json={"mode": "whisper"})
        assert resp.status == 200 and (await resp.json())["mode"] == "whisper"

        async def whispering() -> bool:
            now = await spy_channels(core)
            return len(now) == 1 and now[0]["data"].endswith(",quEw") \
                and now[0]["channel"] == spies[0]["channel"]  # the same phone, still up
        await wait_async(whispering, 5, "ChanSpy again, whispering, on the same channel")

        # the call ends (the agent's phone hangs up after 12 s): so does the spy
        await wait_until(lambda: core.tracker.get(call_id) is None, 30, "the call's end")
        await wait_async(lambda: _none(spy_channels(core)), 10, "the spy gone")
        await wait_until(lambda: core.spy.current("wang") is None, 5, "the session closed")

    site_today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    entries = (await (await admin.get("/api/v1/audit", params={
        "from": site_today, "to": site_today, "actor": "wang"})).json())["entries"]
    actions = [(e["action"], e["target"]) for e in reversed(entries)]
    assert actions == [("spy.start", "8231"), ("spy.mode", "8231"), ("spy.end", "8231")]
    assert entries[0]["details"]["seconds"] > 0
    # the call is recorded once; the supervisor's phone is no call
    await asyncio.sleep(1.5)
    async with core.engine.connect() as conn:
        records = (await conn.execute(select(func.count()).select_from(CallRecord))).scalar()
    assert records == 1


async def _none(pending: Any) -> bool:
    return not await pending
