"""Call recordings on the real sandbox: an answered call is recorded to one
file named by its id, its length on the record; a supervisor plays it with
HTTP Range, an agent is refused; a caller nobody answered leaves no file; a
queue whose policy is "none" records nothing; old files are swept away."""

from __future__ import annotations

import os
import time
from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from crm_bridge.models import CallRecord
from cti.roles import Role
from cti.server import Core
from tests.integration.conftest import place_call, sim_phones, wait_async, wait_until
from tests.support.users import bearer


async def record(core: Core, call_id: str) -> Any:
    async def written() -> Any:
        async with core.engine.connect() as conn:
            row = (await conn.execute(select(CallRecord).where(
                CallRecord.linkedid == call_id))).first()
        return row if (row is not None and row.recording_seconds is not None) \
            or (row is not None and row.recording_file is None and row.outcome != "answered") \
            else None
    return await wait_async(written, 30, f"the record of {call_id} with its recording")


async def test_an_answered_call_is_recorded_and_a_supervisor_plays_it(
    core: Core, server: TestServer
) -> None:
    admin = await bearer(server, core.sessions, core.accounts)
    resp = await admin.post("/api/v1/agents", json={"code": "8241", "name": "叶青",
                                                    "skills": {"mandarin": 5}})
    assert resp.status == 201
    async with sim_phones(core.actions, SIM_AGENT_TALK_8241="3"):
        resp = await admin.post("/api/v1/agents/8241/login",
                                json={"device": "Local/8241@sim-agent-phone/n"})
        assert resp.status == 200
        call_id = await place_call(core.actions, "录音", "13900008241", patience=20)
        row = await record(core, call_id)
    assert row.outcome == "answered"
    assert row.recording_file.endswith(f"/{call_id}.wav")
    assert 2.0 <= row.recording_seconds <= 5.0  # the 3 s the agent talked, no more
    path = core.recordings.path(row.recording_file)
    assert path.exists() and path.stat().st_size > 44

    resp = await admin.get(f"/api/v1/calls/{call_id}/recording")
    assert resp.status == 200 and resp.content_type == "audio/wav"
    whole = await resp.read()
    assert whole[:4] == b"RIFF" and len(whole) == path.stat().st_size
    resp = await admin.get(f"/api/v1/calls/{call_id}/recording",
                           headers={"Range": "bytes=0-99"})
    assert resp.status == 206 and len(await resp.read()) == 100
    listed = (await (await admin.get("/api/v1/calls")).json())["calls"]
    assert listed[0]["recording"]["seconds"] == row.recording_seconds

    agent = await bearer(server, core.sessions, core.accounts, "8241", Role.AGENT)
    resp = await agent.get(f"/api/v1/calls/{call_id}/recording")
    assert resp.status == 403
    resp = await admin.get("/api/v1/calls/1.2/recording")
    assert resp.status == 404 and (await resp.json())["error"]["id"] == "call-not-found"

    # kept N days: an old file is swept, and asking for it says so
    old = time.time() - (core.recordings.retention_days + 1) * 86400
    os.utime(path, (old, old))
    assert core.recordings.sweep() == 1 and not path.exists()
    resp = await admin.get(f"/api/v1/calls/{call_id}/recording")
    assert resp.status == 410 and (await resp.json())["error"]["id"] == "recording-gone"
    await agent.close()
    await admin.close()


async def test_a_caller_nobody_answered_leaves_no_recording(
    core: Core, server: TestServer
) -> None:
    call_id = await place_call(core.actions, "无人", "13900008242", patience=2)
    await wait_until(lambda: core.tracker.get(call_id) is None, 15, "the caller gone")
    row = await record(core, call_id)
    assert row.outcome == "abandoned" and row.recording_file is None
    day_dirs = list(core.recordings.root.glob(f"*/{call_id}.wav"))
    assert day_dirs == []  # measured, found empty, removed
