"""Real calls into the sandbox, written to a real PostgreSQL that goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from crm_bridge.models import CallRecord
from cti.app import Core
from cti.sandbox import AmiCredentials
from tests.integration.conftest import hangup_all, place_call, running_core, wait_until
from tests.support.postgres import ThrowawayPostgres

CALLS = 200


async def count_rows(core: Core) -> int:
    async with core.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(CallRecord)))
                   .scalar_one())


async def test_database_down_for_30_s_while_200_calls_end_gives_exactly_200_rows(
    creds: AmiCredentials, postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = postgres.create_database("records_outage")
    async with running_core(creds, tmp_path, url) as core:
        ended: list[str] = []
        core.bus.subscribe("call.ended", lambda t, call: ended.append(call.call_id))
        await asyncio.to_thread(postgres.stop_server)
        t_down = asyncio.get_running_loop().time()
        # 200 callers who give up in the queue after a second (no agent is logged in)
        sem = asyncio.Semaphore(20)

        async def one(i: int) -> None:
            async with sem:
                await place_call(core.actions, "测试", f"13{i:09d}", patience=1)

        await asyncio.gather(*(one(i) for i in range(CALLS)))
        await wait_until(lambda: len(ended) == CALLS, 60, "200 calls to end")
        await wait_until(lambda: core.writer.database_ok is False, 20, "the writer to notice")
        assert core.writer.backlog > 0  # they wait in the spool
        spooled = (tmp_path / "spool" / "calls.jsonl").read_text().count("\n")
        assert spooled == CALLS
        await asyncio.sleep(max(0.0, 30 - (asyncio.get_running_loop().time() - t_down)))

        await asyncio.to_thread(postgres.start_server)
        await wait_until(lambda: core.writer.database_ok and not core.writer.backlog, 30,
                         f"the spool to drain ({core.writer.last_error})")
        assert await count_rows(core) == CALLS
        async with core.engine.connect() as conn:
            ids = set((await conn.execute(select(CallRecord.linkedid))).scalars())
        assert ids == set(ended)
        await hangup_all(core.actions)
