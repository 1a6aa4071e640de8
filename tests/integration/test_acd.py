"""The ACD against the real sandbox: agents log in by skill, pause with
reasons, take queue calls through their states, and keep their state across
a CTI restart and an Asterisk restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from acd.board import AgentState
from acd.exceptions import AcdError, UnknownDevice, UnknownQueue
from acd.schemas import AgentIn, PauseReason
from acd.services import create_agent
from cti.config.credentials import AmiCredentials
from cti.server import Core
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import hangup_all, running_core, wait_async, wait_until

AC_EXPERT = AgentIn(code="8101", name="王芳", skills={"air_conditioner": 5, "mandarin": 5})
TV_NOVICE = AgentIn(code="8102", name="李强", skills={"tv": 1, "mandarin": 4})


def device(code: str) -> str:
    return f"Local/{code}@sim-agent-phone/n"


async def members(core: Core) -> dict[tuple[str, str], dict[str, str]]:
    out = {}
    for ev in await core.actions.queue_status():
        if ev.name == "QueueMember":
            out[(ev.text("Queue"), ev.text("Name"))] = {
                "penalty": ev.text("Penalty"), "paused": ev.text("Paused"),
                "reason": ev.text("PausedReason")}
    return out


async def logout_all(core: Core) -> None:
    for a in list(core.board.agents.values()):
        if a.state is not AgentState.LOGGED_OUT:
            await core.acd.logout(a.code)


async def test_login_pause_with_reasons_unpause_logout(core: Core) -> None:
    intervals: list[dict[str, Any]] = []
    core.bus.subscribe("acd.interval", lambda t, i: intervals.append(i))
    await create_agent(core.acd, AC_EXPERT)
    state = await core.acd.login("8101", device("8101"))
    assert state["state"] == "available"
    assert state["queues"] == {"ac-zh": 0, "general-service": 0}
    got = await members(core)
    assert got[("ac-zh", "8101")]["penalty"] == "0" and ("tv-zh", "8101") not in got

    await core.acd.pause("8101", PauseReason.BREAK)
    await wait_until(lambda: core.board.agent("8101").state is AgentState.PAUSED, 5, "paused")
    assert (await members(core))[("ac-zh", "8101")]["reason"] == "break"
    await core.acd.pause("8101", PauseReason.LUNCH)  # a new reason splits the interval
    await wait_until(lambda: core.board.agent("8101").reason == "lunch", 5, "reason lunch")
    await core.acd.unpause("8101")
    await wait_until(lambda: core.board.agent("8101").state is AgentState.AVAILABLE, 5, "back")
    assert [(i["state"], i["reason"]) for i in intervals] == [
        ("available", None), ("paused", "break"), ("paused", "lunch")]

    with pytest.raises(AcdError) as err:
        await core.acd.unpause("8101")
    assert err.value.error_id == "agent-not-paused"
    await core.acd.logout("8101")
    await wait_until(lambda: core.board.agent("8101").state is AgentState.LOGGED_OUT, 5, "out")
    assert not [k for k in await members(core) if k[1] == "8101"]
    with pytest.raises(AcdError) as err:
        await core.acd.pause("8101", PauseReason.BREAK)
    assert (err.value.error_id, err.value.status) == ("agent-logged-out", 409)
    with pytest.raises(UnknownDevice):
        await core.acd.login("8101", "Local/8101@no-such-context/n")
    with pytest.raises(UnknownDevice):
        await core.acd.login("8101", "PJSIP/no-such-phone")
    with pytest.raises(UnknownQueue):
        core.acd.queue("dishwasher-zh")


async def test_a_queue_call_takes_the_agent_through_ringing_talk_and_wrap_up(
    core: Core
) -> None:
    states: list[str] = []
    core.bus.subscribe("acd.agent.8101", lambda t, s: states.append(s["state"]))
    await create_agent(core.acd, AC_EXPERT)
    await create_agent(core.acd, TV_NOVICE)
    await core.actions.setvar("SIM_AGENT_TALK", "2")
    await core.acd.login("8101", device("8101"))
    await core.acd.login("8102", device("8102"))
    await core.actions.originate("Local/4008008001@hotline", context="sim-caller", exten="s",
                                 caller_id='"张三" <13800138000>',
                                 variables={"SIM_PATIENCE": "30"})
    await wait_until(lambda: "wrap_up" in states, 20, "the call to end")
    assert states[:4] == ["available", "ringing", "on_call", "wrap_up"]
    assert core.board.agent("8102").calls_today == 0  # a TV agent is not offered AC calls
    a = core.board.agent("8101")
    assert a.calls_today == 1 and a.wrap_until is not None
    await wait_until(lambda: core.board.agent_view("8101")["state"] == "available", 15,
                     "the 10 s wrap-up to end")
    assert 9.0 <= core.board.agent("8101").since - (a.last_call_at or 0) <= 11.5
    await logout_all(core)


async def test_agent_state_survives_a_cti_restart(
    creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    async with running_core(creds, tmp_path, db, fresh=False) as core:  # members stay
        await hangup_all(core.actions)
        await create_agent(core.acd, AC_EXPERT)
        await create_agent(core.acd, TV_NOVICE)
        await core.acd.login("8101", device("8101"))
        await core.acd.login("8102", device("8102"))
        await core.acd.pause("8102", PauseReason.TRAINING)
        await wait_until(lambda: core.board.agent("8102").state is AgentState.PAUSED, 5)
        before = {c: (a.state, a.reason, dict(a.queues)) for c, a in core.board.agents.items()}
    async with running_core(creds, tmp_path, db, fresh=False) as core:  # members still there
        await wait_until(lambda: core.board.agent("8102").state is AgentState.PAUSED, 10,
                         "the board rebuilt from QueueStatus")
        after = {c: (a.state, a.reason, dict(a.queues)) for c, a in core.board.agents.items()}
        assert after == before
        assert after["8102"][:2] == (AgentState.PAUSED, "training")
        assert await core.acd.reconcile() == []  # rebuilt from Asterisk: nothing to put back
        await logout_all(core)


async def test_members_come_back_paused_after_an_asterisk_restart(
    creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    async with running_core(creds, tmp_path, db) as core:
        await create_agent(core.acd, AC_EXPERT)
        await create_agent(core.acd, TV_NOVICE)
        await core.acd.login("8101", device("8101"))
        await core.acd.login("8102", device("8102"))
        await core.acd.pause("8102", PauseReason.MEETING)
        await asyncio.to_thread(sandbox.kill)
        await asyncio.to_thread(sandbox.up)
        await wait_async(lambda: _restored(core), 30, "members put back")
        got = await members(core)
        assert got[("tv-zh", "8102")] == {"penalty": "4", "paused": "1", "reason": "meeting"}
        assert got[("ac-zh", "8101")]["paused"] == "0"
        await wait_until(lambda: core.board.agent("8102").state is AgentState.PAUSED, 10)
        await logout_all(core)


async def _restored(core: Core) -> bool:
    got = await members(core)
    return ("tv-zh", "8102") in got and ("ac-zh", "8101") in got


async def test_a_paused_agent_is_never_offered_a_call_and_a_vip_jumps_the_queue(
    core: Core
) -> None:
    from crm_bridge.schemas import CustomerIn, PhoneIn

    await core.crm.create_customer(CustomerIn(name="贵宾", vip=True,
                                              phones=[PhoneIn(number="13800138888")]))
    offered: list[str] = []
    answered: list[str] = []
    joined: dict[str, int] = {}
    core.bus.subscribe("agent.ringing", lambda t, e: offered.append(e.agent))
    core.bus.subscribe("agent.connected", lambda t, e: answered.append(
        core.tracker.calls[e.call_id].caller_number))
    core.bus.subscribe("queue.joined", lambda t, c: joined.__setitem__(
        c.caller_number, c.position))
    await create_agent(core.acd, AgentIn(code="8301", name="甲", skills={"tv": 5, "mandarin": 5}))
    await create_agent(core.acd, AgentIn(code="8302", name="乙", skills={"tv": 5, "mandarin": 5}))
    await core.actions.setvar("SIM_AGENT_TALK", "3")
    await core.acd.login("8301", device("8301"))
    await core.acd.login("8302", device("8302"))
    await core.acd.pause("8301", PauseReason.BREAK)

    async def call(number: str) -> None:
        await core.actions.originate("Local/4008008004@hotline", context="sim-caller",
                                     exten="s", caller_id=f'"客户" <{number}>',
                                     variables={"SIM_PATIENCE": "40"})

    await call("13900000001")  # 8302 takes it
    await wait_until(lambda: core.board.agent("8302").state is AgentState.ON_CALL, 10)
    await call("13900000002")  # waits: position 1
    await wait_until(lambda: "13900000002" in joined, 10)
    await call("13800138888")  # the VIP joins ahead of 13900000002
    await wait_until(lambda: "13800138888" in joined, 10)
    assert joined["13900000002"] == 1 and joined["13800138888"] == 1
    assert [(w["caller_number"], w["priority"]) for w in core.acd.queue("tv-zh")["callers"]] \
        == [("13800138888", 10), ("13900000002", 0)]  # as the agent board lists them
    await wait_until(lambda: len(answered) == 3, 40, "all three answered")
    assert answered == ["13900000001", "13800138888", "13900000002"]
    assert set(offered) == {"8302"}  # never the paused agent
    await logout_all(core)
