"""Real calls into the sandbox, written to a real PostgreSQL that goes away,
by a server that may crash in the middle."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import subprocess
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.db import make_engine
from crm_bridge.models import CallRecord
from cti.ami import AmiActions
from cti.config.credentials import AmiCredentials
from cti.server import Core
from tests.integration.conftest import (
    hangup_all,
    place_call,
    running_core,
    wait_async,
    wait_until,
)
from tests.integration.test_serve import start_serve, wait_health
from tests.support.postgres import ThrowawayPostgres, free_port

CALLS = 200


async def count_rows(core: Core) -> int:
    async with core.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(CallRecord)))
                   .scalar_one())


async def test_database_down_for_30_s_while_200_calls_end_gives_exactly_200_rows(
    creds: AmiCredentials, postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = postgres.create_database("records_outage")
    with postgres.outage():
        await _outage_with_core(creds, postgres, tmp_path, url)


async def _outage_with_core(creds: AmiCredentials, postgres: ThrowawayPostgres,
                            tmp_path: Path, url: str) -> None:
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
        spool = tmp_path / "spool" / "calls.jsonl"
        await wait_until(lambda: _spooled(spool) == CALLS, 5, "every call in the spool")
        await asyncio.sleep(max(0.0, 30 - (asyncio.get_running_loop().time() - t_down)))

        await asyncio.to_thread(postgres.start_server)
        await wait_until(lambda: core.writer.database_ok and not core.writer.backlog, 30,
                         f"the spool to drain ({core.writer.last_error})")
        assert await count_rows(core) == CALLS
        async with core.engine.connect() as conn:
            ids = set((await conn.execute(select(CallRecord.linkedid))).scalars())
        assert ids == set(ended)
        await hangup_all(core.actions)


def _serve(tmp_path: Path, creds: AmiCredentials, url: str, agi_port: int,
           log_name: str) -> tuple[subprocess.Popen[str], int]:
    env = {"HOTLINE_DATABASE_URL": url, "HOTLINE_VAR_DIR": str(tmp_path / "var"),
           "HOTLINE_AMI_SECRET": creds.secret, "HOTLINE_AGI_PORT": str(agi_port)}
    return start_serve(env, tmp_path, log_name=log_name)


async def live_call_ids(ami: AmiActions) -> set[str]:
    return {ch.text("Linkedid") for ch in await ami.core_show_channels()}


async def test_database_down_and_the_cti_killed_in_the_middle_still_gives_exactly_200_rows(
    creds: AmiCredentials, postgres: ThrowawayPostgres, ami: AmiActions, tmp_path: Path
) -> None:
    """100 callers give up while the first server runs; it is then killed
    (SIGKILL) while 100 more wait in the queue, and those hang up while no
    server runs at all. A new server starts; PostgreSQL comes back after 30 s."""
    url = postgres.create_database("records_restart")
    with postgres.outage():
        await _outage_with_restart(creds, postgres, ami, tmp_path, url)


async def _outage_with_restart(creds: AmiCredentials, postgres: ThrowawayPostgres,
                               ami: AmiActions, tmp_path: Path, url: str) -> None:
    agi_port = free_port()
    first, port = _serve(tmp_path, creds, url, agi_port, "serve-1.log")
    second = None
    try:
        await asyncio.to_thread(wait_health, port, 200)  # schema migrated
        await ami.setvar("HOTLINE_AGI", f"agi://127.0.0.1:{agi_port}")
        await asyncio.to_thread(postgres.stop_server)
        t_down = asyncio.get_running_loop().time()
        sem = asyncio.Semaphore(20)

        async def call(i: int, patience: int) -> str:
            async with sem:
                return await place_call(ami, "测试", f"13{i:09d}", patience=patience)

        waiting = set(await asyncio.gather(*(call(i, 14) for i in range(100))))
        # 3 s: they give up in the queue, not before it (20 at once, with the
        # database down, the server takes up to 2 s to route a caller here)
        quick = set(await asyncio.gather(*(call(i, 3) for i in range(100, 200))))
        assert len(waiting | quick) == CALLS
        await wait_async(lambda: _only(ami, waiting), 30, "the quick callers to hang up")
        await asyncio.sleep(1.0)  # the server has seen them end
        first.kill()  # a crash: no shutdown, no last save
        assert first.wait(timeout=10) == -signal.SIGKILL
        await wait_async(lambda: _only(ami, set()), 30, "the waiting callers to hang up")

        second, port = _serve(tmp_path, creds, url, agi_port, "serve-2.log")
        await asyncio.to_thread(wait_health, port, 503)  # up, database still down
        spool = tmp_path / "var" / "spool" / "calls.jsonl"
        await wait_until(lambda: _spooled(spool) >= CALLS, 30, "every call in the spool")
        await asyncio.sleep(max(0.0, 30 - (asyncio.get_running_loop().time() - t_down)))

        await asyncio.to_thread(postgres.start_server)
        await asyncio.to_thread(wait_health, port, 200, 40)
        engine = make_engine(url)
        try:
            await wait_async(lambda: _has_rows(engine, CALLS), 30, "200 rows")
            await asyncio.sleep(1.0)  # and no more come
            async with engine.connect() as conn:
                got = {r.linkedid: r for r in (await conn.execute(select(CallRecord))).all()}
        finally:
            await engine.dispose()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
    assert set(got) == waiting | quick
    assert all(r.outcome == "abandoned" and r.queue == "general-service" for r in got.values())
    # the waiting callers ended unseen: recorded from the saved live calls
    assert all(got[c].extra["end_observed"] is False for c in waiting)
    assert all(got[c].ended_at - got[c].started_at < dt.timedelta(seconds=8) for c in quick)
    started = [line for line in _log_lines(tmp_path / "serve-2.log")
               if line.get("event") == "core_started"]
    assert [line["restored_calls"] for line in started] == [100]


def _log_lines(path: Path) -> list[dict[str, object]]:
    """The server's JSON log lines (anything else it printed is left out)."""
    lines = []
    for text in path.read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


async def _only(ami: AmiActions, expected: set[str]) -> bool:
    return await live_call_ids(ami) == expected


def _spooled(spool: Path) -> int:
    return len({json.loads(line)["linkedid"] for line in spool.read_text().splitlines()})


async def _has_rows(engine: AsyncEngine, n: int) -> bool:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(CallRecord)))
                   .scalar_one()) >= n
