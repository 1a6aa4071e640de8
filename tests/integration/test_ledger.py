"""Calls that begin and end while no server runs are still recorded, once:
Asterisk's own ledger (the dialplan's hangup handler, AstDB) is read by the
next server (crm_bridge.ledger). Real calls in the sandbox with no server at all:
one answered by an agent, one given up in the queue, one hung up before the
menus; then a server starts on an empty database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge import ledger
from crm_bridge.models import CallRecord
from cti.ami import AmiActions
from cti.config.credentials import AmiCredentials
from tests.integration.conftest import (
    QUEUE,
    hangup_all,
    no_channels,
    place_call,
    running_core,
    silent_agi_server,
    sim_phones,
    wait_async,
)

AGENT = "Local/8701@sim-agent-phone/n"


async def rows(engine: AsyncEngine) -> dict[str, CallRecord]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(CallRecord))).all()
    return {r.caller_number: r for r in found}  # type: ignore[misc]


async def test_calls_no_server_saw_are_written_once_from_the_ledger(
    ami: AmiActions, creds: AmiCredentials, tmp_path: Path
) -> None:
    # no server: a hung process holds the FastAGI port (it accepts and never
    # answers), so each caller spends the dialplan's 3 s watchdog there before
    # the dialplan queues them itself; one hangs up before that
    began = time.time()
    async with silent_agi_server() as (port, _), sim_phones(ami, SIM_AGENT_TALK_8701="3"):
        await ami.setvar("HOTLINE_AGI", f"agi://127.0.0.1:{port}")
        await ami.queue_add(QUEUE, AGENT, member_name="8701")
        try:
            await place_call(ami, "张三", "13800138000", patience=30)  # the agent takes it
            await asyncio.sleep(2.5)
            await place_call(ami, "李四", "13900001111", patience=6)  # gives up waiting
            await ami.originate("Local/4008008000@hotline", context="sim-caller", exten="s",
                                caller_id='"王五" <13900002222>',
                                variables={"SIM_PATIENCE": "0"})  # hangs up at once
            await wait_async(lambda: no_channels(ami), 30, "every call to end")
        finally:
            await ami.queue_remove(QUEUE, AGENT)
    ended = time.time()
    assert len(await ledger.entries(ami)) == 3

    db = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    async with running_core(creds, tmp_path, db) as core:
        got = await wait_async(lambda: _count(core.engine, 3), 20, "three backfilled records")
        answered, gave_up, hung_up = (got["13800138000"], got["13900001111"],
                                      got["13900002222"])
        assert (answered.outcome, answered.agent, answered.queue) == ("answered", "8701", QUEUE)
        assert answered.caller_name == "张三" and answered.dialled == "4008008010"
        assert began <= answered.started_at.timestamp() < answered.answered_at.timestamp() \
            < answered.ended_at.timestamp() <= ended + 1
        talk = answered.ended_at.timestamp() - answered.answered_at.timestamp()
        assert 2.0 <= talk <= 5.0, talk  # the agent's 3 s, the answer time to the second
        assert (gave_up.outcome, gave_up.agent, gave_up.answered_at) == ("abandoned", None, None)
        assert gave_up.wait_seconds is not None and 1.5 <= gave_up.wait_seconds <= 6
        assert (hung_up.outcome, hung_up.queue) == ("ivr_only", None)
        for r in (answered, gave_up, hung_up):
            assert r.extra["backfilled"] is True, r.extra
        assert answered.extra["ivr_fallback"] is True  # the dialplan's own queue
        # written, so the entries are gone; a second pass adds nothing
        assert await ledger.entries(core.actions) == {}
        again = await ledger.sweep(core.actions, core.tracker, core.bus, core.writer,
                                   core.engine, time.time())
        assert again["backfilled"] == 0

        # a call the server sees is written the usual way, and its entry cleared
        await place_call(core.actions, "赵六", "13900003333", patience=1)
        seen = (await wait_async(lambda: _count(core.engine, 4), 20, "the fourth record")
                )["13900003333"]
        assert "backfilled" not in seen.extra
        done = await ledger.sweep(core.actions, core.tracker, core.bus, core.writer,
                                  core.engine, time.time())
        assert (done["backfilled"], done["deleted"]) == (0, 1)
        assert await ledger.entries(core.actions) == {}
        assert len(await rows(core.engine)) == 4
        await hangup_all(core.actions)


async def _count(engine: AsyncEngine, n: int) -> dict[str, CallRecord] | None:
    got = await rows(engine)
    return got if len(got) >= n else None
