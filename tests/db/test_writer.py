"""The call-record writer on SQLite and PostgreSQL: once per call, batched, spooled."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.bus_consume import CALL_RECORDS
from crm_bridge.models import CallRecord, Customer, CustomerPhone, Ticket
from crm_bridge.writer import CallRecordWriter
from cti.ami.parser import AmiMessage, AmiParser
from cti.bus import EventBus, Subscription
from cti.calls.tracker import CallTracker
from tests.conftest import fixture_bytes


def records(bus: EventBus) -> Subscription:
    """The writer's subscription, as the server makes it."""
    return bus.queue(*CALL_RECORDS, maxsize=0)


def burst_events() -> list[AmiMessage]:
    return [m for m in AmiParser().feed(fixture_bytes("burst_60_calls")) if m.is_event]


async def write_all(engine: AsyncEngine, events: list[AmiMessage], tmp_path: Path) -> None:
    """The events through the tracker, their calls' records written at once."""
    bus = EventBus()
    tracker = CallTracker(bus)
    writer = CallRecordWriter(engine, tmp_path / "spool", records(bus))
    for m in events:
        tracker.handle(m)
    await writer.spool_pending()
    assert await writer.flush()
    writer.close()


async def rows(engine: AsyncEngine) -> list[CallRecord]:
    async with engine.connect() as conn:
        result = await conn.execute(select(CallRecord).order_by(CallRecord.started_at))
        return list(result.all())  # type: ignore[arg-type]


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(CallRecord))).scalar_one())


async def drain(writer: CallRecordWriter, expect: int, engine: AsyncEngine,
                timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await count(engine) < expect or writer.spool.pending_bytes:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{await count(engine)} rows, expected {expect}")
        await asyncio.sleep(0.05)


async def test_every_call_of_a_burst_is_written_once_with_its_outcome(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as conn:
        await conn.execute(Customer.__table__.insert(), [{"id": 1, "name": "张三", "vip": True,
                                                          "region": "浙江 杭州", "address": "",
                                                          "notes": ""}])
        await conn.execute(CustomerPhone.__table__.insert(),
                           [{"customer_id": 1, "number": "13800130000", "label": "mobile"}])
    bus = EventBus()
    tracker = CallTracker(bus)
    writer = CallRecordWriter(engine, tmp_path / "spool", records(bus), flush_interval=0.05)
    task = asyncio.create_task(writer.run())
    events = burst_events()
    for m in events:
        tracker.handle(m)
    await drain(writer, 60, engine)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    got = await rows(engine)
    assert len(got) == 60 and len({r.linkedid for r in got}) == 60
    answered = {m.text("Linkedid") for m in events if m.name == "AgentConnect"}
    assert {r.linkedid for r in got if r.outcome == "answered"} == answered
    assert {r.outcome for r in got} == {"answered", "abandoned"}
    assert all(r.queue == "general-service" and r.caller_name for r in got)
    [linked] = [r for r in got if r.caller_number == "13800130000"]
    assert linked.customer_id == 1
    assert writer.batches < 60  # batched, not one transaction per call
    assert writer.written == 60  # what /healthz reports
    for r in got:
        if r.outcome == "answered":
            assert r.answered_at >= r.started_at and r.agent and r.wait_seconds is not None


async def test_duplicated_replayed_and_reordered_events_never_double_a_row(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    bus = EventBus()
    tracker = CallTracker(bus)
    writer = CallRecordWriter(engine, tmp_path / "spool", records(bus), flush_interval=0.05)
    task = asyncio.create_task(writer.run())
    events = burst_events()
    rng = random.Random(7)
    shuffled = events[:]
    for i in range(0, len(shuffled) - 3, 3):  # local reordering, as a slow reader might see
        window = shuffled[i:i + 3]
        rng.shuffle(window)
        shuffled[i:i + 3] = window
    for m in shuffled:
        tracker.handle(m)
        if m.name == "Hangup":
            tracker.handle(m)  # duplicated Hangup
    for m in events:  # the whole stream replayed
        tracker.handle(m)
    ended_once = tracker.ended_count
    # and the same finished calls published again
    await drain(writer, 60, engine)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await count(engine) == 60
    assert ended_once >= 59  # reordering may leave a call to the resync, never a double


async def test_spool_is_replayed_after_a_restart_without_doubles(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    bus = EventBus()
    tracker = CallTracker(bus)
    writer = CallRecordWriter(engine, spool, records(bus))
    # the writer is not running: calls end, are spooled, and the process dies
    for m in burst_events():
        tracker.handle(m)
    await writer.spool_pending()
    writer.close()
    lines = (spool / "calls.jsonl").read_text().splitlines()
    assert len(lines) == 60 and json.loads(lines[0])["linkedid"]
    # a torn last line from a crash mid-write is not parsed
    with (spool / "calls.jsonl").open("a") as fh:
        fh.write('{"linkedid": "half')
    # a new process replays the spool
    writer2 = CallRecordWriter(engine, spool, records(EventBus()), flush_interval=0.01)
    assert await writer2.flush()
    writer2.close()
    assert await count(engine) == 60
    # a crash between the commit and the offset update replays again: still 60
    (spool / "calls.offset").write_text("0")
    writer3 = CallRecordWriter(engine, spool, records(EventBus()))
    assert await writer3.flush()
    writer3.close()
    assert await count(engine) == 60
    assert (writer2.written, writer3.written) == (60, 0)  # the replayed ones were not new


async def test_a_wrap_up_saved_during_the_call_is_on_the_record_when_it_is_written(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Two agents wrapped the call up while it was on: the later decision is kept."""
    import datetime as dt

    from crm_bridge.models import CallWrapUp

    events = burst_events()
    first = next(m.text("Linkedid") for m in events if m.name == "AgentConnect")
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(CallWrapUp.__table__.insert(), [
            {"call_linkedid": first, "agent": "8001", "disposition": "transferred",
             "notes": "", "created_at": now, "updated_at": now},
            {"call_linkedid": first, "agent": "8002", "disposition": "resolved", "notes": "",
             "created_at": now, "updated_at": now + dt.timedelta(seconds=5)}])
    await write_all(engine, events, tmp_path)
    got = {r.linkedid: r.disposition for r in await rows(engine)}
    assert got.pop(first) == "resolved"
    assert set(got.values()) == {None}


def test_calls_wrapped_up_before_the_upgrade_get_their_disposition(tmp_path: Path) -> None:
    import sqlite3

    from crm_bridge.migrate import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0006")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO calls (linkedid, caller_number, caller_name, dialled, started_at,"
                   " ended_at, ivr_path, language, outcome, transfers, holds, extra) VALUES"
                   " ('1.1', '', '', '', '2026-11-01 00:00:00', '2026-11-01 00:01:00', '', '',"
                   " 'answered', 0, 0, '{}'), ('1.2', '', '', '', '2026-11-01 00:00:00',"
                   " '2026-11-01 00:01:00', '', '', 'answered', 0, 0, '{}')")
        db.execute("INSERT INTO call_wrapups (call_linkedid, agent, disposition, notes,"
                   " created_at, updated_at) VALUES ('1.1', '8001', 'transferred', '',"
                   " '2026-11-01 00:02:00', '2026-11-01 00:02:00'), ('1.1', '8002', 'resolved',"
                   " '', '2026-11-01 00:03:00', '2026-11-01 00:03:00')")
    upgrade(url)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT linkedid, disposition FROM calls ORDER BY linkedid"
                          ).fetchall() == [("1.1", "resolved"), ("1.2", None)]


async def test_a_ticket_opened_during_the_call_is_linked_when_the_record_is_written(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    events = burst_events()
    first = next(m.text("Linkedid") for m in events if m.name == "AgentConnect")
    async with engine.begin() as conn:
        await conn.execute(Customer.__table__.insert(), [{"id": 1, "name": "张三", "vip": False,
                                                          "region": "", "address": "",
                                                          "notes": ""}])
        await conn.execute(Ticket.__table__.insert(), [
            {"id": 5, "kind": "repair", "status": "new", "customer_id": 1, "summary": "空调不制冷",
             "notes": "", "created_by": "8001", "call_linkedid": first}])
    await write_all(engine, events, tmp_path)
    got = {r.linkedid: r.ticket_id for r in await rows(engine)}
    assert got.pop(first) == 5
    assert set(got.values()) == {None}


async def test_while_the_database_is_down_calls_are_spooled_at_once_and_retries_back_off(
    tmp_path: Path
) -> None:
    from crm_bridge.db import make_engine
    from tests.support.postgres import free_port

    dead = make_engine(f"postgresql+asyncpg://hotline@127.0.0.1:{free_port()}/hotline")
    bus = EventBus()
    tracker = CallTracker(bus)
    writer = CallRecordWriter(dead, tmp_path / "spool", records(bus), flush_interval=0.05)
    attempts = 0
    real_write = writer._write

    async def counted(records: Any) -> None:
        nonlocal attempts
        attempts += 1
        await real_write(records)

    writer._write = counted  # type: ignore[method-assign]
    task = asyncio.create_task(writer.run())
    ends = burst_events()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    spool = tmp_path / "spool" / "calls.jsonl"
    # calls keep ending for 4 s, a little at a time
    step = len(ends) // 16
    for i in range(16):
        for m in ends[i * step:(i + 1) * step]:
            tracker.handle(m)
        await asyncio.sleep(0.1)
        ended = tracker.ended_count
        # every ended call is on disk within a moment, database or not
        await asyncio.sleep(0.15)
        assert spool.read_text().count("\n") >= ended
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await dead.dispose()
    took = loop.time() - t0
    # 0.5, 1, 2 s ... apart: a handful of tries, not one per call or per batch
    assert writer.database_ok is False and 2 <= attempts <= 5, (attempts, took)
