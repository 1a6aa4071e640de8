"""Calls into the real sandbox, tracked from start to end."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_bridge.models import CallRecord
from cti.calls.events import CallStateChange
from cti.calls.model import Call, CallState
from cti.server import Core
from tests.integration.conftest import add_agent, place_call, wait_until

S = CallState


def collect(core: Core) -> tuple[list[tuple[str, str, str]], list[Call]]:
    changes: list[tuple[str, str, str]] = []
    ended: list[Call] = []

    def on(topic: str, payload: Any) -> None:
        if isinstance(payload, CallStateChange):
            changes.append((payload.call.call_id, payload.old.value, payload.new.value))
        elif topic == "call.ended":
            ended.append(payload)

    core.bus.subscribe("call.*", on)
    return changes, ended


async def test_queue_call_is_tracked_from_start_to_end(core: Core) -> None:
    changes, ended = collect(core)
    await add_agent(core.actions, 8001, talk=2)
    call_id = await place_call(core.actions, "张三", "13800138000")
    call = await wait_until(lambda: core.tracker.get(call_id), 5, "the call to appear")
    assert call.caller_name == "张三"  # UTF-8 intact from the real Asterisk
    await wait_until(lambda: ended, 20, "the call to end")
    [done] = ended
    assert done.call_id == call_id
    assert done.states == [S.RINGING, S.IN_IVR, S.QUEUED, S.AGENT_RINGING, S.CONNECTED, S.ENDED]
    assert [new for cid, _, new in changes if cid == call_id] == [s.value for s in done.states[1:]]
    assert done.caller_number == "13800138000" and done.dialled == "4008008010"
    assert done.queue == "general-service" and done.agent == "agent-8001"
    assert not done.ivr_fallback and not done.abandoned
    assert done.answered_at is not None and done.ended_at is not None
    assert 1.5 <= done.ended_at - done.answered_at <= 5  # the agent talked about 2 s
    assert core.tracker.calls == {}
    assert core.tracker.unexpected_transitions == 0
    # and it is written, once, into the service database
    await wait_until(lambda: core.writer.written == 1 and not core.writer.backlog, 10,
                     "the call record")
    async with core.engine.connect() as conn:
        [row] = (await conn.execute(select(CallRecord))).all()
    assert row.linkedid == call_id and row.outcome == "answered"
    assert row.caller_name == "张三" and row.agent == "agent-8001"
    assert row.queue == "general-service" and row.dialled == "4008008010"


async def test_caller_who_gives_up_in_the_queue_is_tracked_as_abandoned(core: Core) -> None:
    _, ended = collect(core)
    call_id = await place_call(core.actions, "王晶", "057188881234", patience=2)
    await wait_until(lambda: ended, 15, "the call to end")
    [done] = ended
    assert done.call_id == call_id
    assert done.states == [S.RINGING, S.IN_IVR, S.QUEUED, S.ENDED]
    assert done.abandoned and done.answered_at is None


async def test_caller_reaches_the_queue_when_the_fastagi_server_is_down(core: Core) -> None:
    _, ended = collect(core)
    await core.agi.close()
    await add_agent(core.actions, 8002, talk=1)
    call_id = await place_call(core.actions, "李四", "13912345678")
    await wait_until(lambda: ended, 20, "the call to end")
    [done] = ended
    assert done.call_id == call_id
    assert done.ivr_fallback
    assert done.agent == "agent-8002" and S.CONNECTED in done.states


async def test_live_calls_show_every_call_in_a_small_burst(core: Core) -> None:
    _, ended = collect(core)
    for ext in (8001, 8002, 8003):
        await add_agent(core.actions, ext, talk=2)
    ids = [await place_call(core.actions, n, f"1380000000{i}") for i, n in
           enumerate(["赵六", "陈晨", "刘洋", "黄磊", "周杰"])]
    await wait_until(lambda: len(ended) == 5, 40, "five calls to end")
    assert sorted(c.call_id for c in ended) == sorted(ids)
    assert {c.caller_name for c in ended} == {"赵六", "陈晨", "刘洋", "黄磊", "周杰"}
    assert all(c.answered_at for c in ended)
    assert len({c.agent for c in ended}) == 3
