"""One truth for each agent's state under concurrent commands: the server's
view, the database's and Asterisk's queue members never diverge, whoever
sends the commands (the agent's console, a supervisor, other API clients) and
however they race; a device held by another agent is named; strays are
repaired at resync."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cti.roles import Role
from cti.server import Core
from tests.integration.conftest import QUEUE, place_call, wait_until
from tests.support.users import bearer, browser, make_user

A, B = "Local/8211@sim-agent-phone/n", "Local/8212@sim-agent-phone/n"




@pytest.fixture
async def admin(core: Core, server: TestServer) -> AsyncIterator[TestClient[Any, Any]]:
    client = await bearer(server, core.sessions, core.accounts)
    for code, name in (("8211", "钱坤"), ("8212", "孙丽")):
        resp = await client.post("/api/v1/agents", json={
            "code": code, "name": name, "skills": {"mandarin": 4, "tv": 3}})
        assert resp.status == 201, await resp.text()
    yield client
    await client.close()


async def members(core: Core) -> dict[str, set[tuple[str, str, bool]]]:
    """Asterisk's queue members of the two agents: name -> {(queue, device, paused)}."""
    out: dict[str, set[tuple[str, str, bool]]] = {"8211": set(), "8212": set()}
    for e in await core.actions.queue_status():
        if e.name == "QueueMember" and e.get("Name") in out:
            out[e["Name"]].add((e["Queue"], e.get("StateInterface") or e["Location"],
                                e.get("Paused") == "1"))
    return out


async def agree(core: Core, code: str) -> None:
    """The database, the board and Asterisk say the same of ``code``."""
    row = await core.acd.store.get(code)
    assert row is not None
    async def same() -> bool:
        got = (await members(core))[code]
        live = core.board.agent(code)
        if row.device is None:
            return not got and not live.queues
        return bool(got) and {d for _, d, _ in got} == {row.device} \
            and {p for _, _, p in got} == {row.paused} and live.paused == row.paused \
            and set(live.queues) == {q for q, _, _ in got}
    for _ in range(50):  # the board follows Asterisk's events by a few ms
        row = await core.acd.store.get(code)
        assert row is not None
        if await same():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{code}: database {row.device, row.paused}, Asterisk "
                         f"{(await members(core))[code]}, board {core.board.agent(code)}")


async def test_two_log_ins_on_two_devices_at_once_leave_one_member_and_name_the_device(
    core: Core, admin: TestClient[Any, Any]
) -> None:
    first, second = await asyncio.gather(
        admin.post("/api/v1/agents/8211/login", json={"device": A}),
        admin.post("/api/v1/agents/8211/login", json={"device": B}))
    answers = sorted([(first.status, await first.json()), (second.status, await second.json())],
                     key=lambda r: r[0])
    assert [s for s, _ in answers] == [200, 409], answers
    refused = answers[1][1]["error"]
    assert refused["id"] == "already-logged-in"
    assert refused["details"]["device"] == answers[0][1]["device"]
    await agree(core, "8211")
    assert len({d for _, d, _ in (await members(core))["8211"]}) == 1


async def test_a_device_held_by_another_agent_is_refused_naming_them(
    core: Core, admin: TestClient[Any, Any]
) -> None:
    resp = await admin.post("/api/v1/agents/8211/login", json={"device": A})
    assert resp.status == 200
    resp = await admin.post("/api/v1/agents/8212/login", json={"device": A})
    body = await resp.json()
    assert resp.status == 409, body
    assert body["error"]["id"] == "device-in-use"
    assert body["error"]["details"] == {"device": A, "agent": "8211"}
    assert (await members(core))["8212"] == set()  # nothing changed in Asterisk
    # both at once on one free device: one gets it
    r1, r2 = await asyncio.gather(
        admin.post("/api/v1/agents/8211/logout"),
        admin.post("/api/v1/agents/8212/login", json={"device": B}))
    assert (r1.status, r2.status) == (200, 200)
    a, b = await asyncio.gather(
        admin.post("/api/v1/agents/8211/login", json={"device": B}),
        admin.post("/api/v1/agents/8212/logout"))
    assert b.status == 200 and a.status in (200, 409)
    await agree(core, "8211")
    await agree(core, "8212")


async def test_a_logout_racing_a_log_in_leaves_no_member_behind_and_no_call_reaches_them(
    core: Core, admin: TestClient[Any, Any]
) -> None:
    for _ in range(3):
        login, logout = await asyncio.gather(
            admin.post("/api/v1/agents/8211/login", json={"device": A}),
            admin.post("/api/v1/agents/8211/logout"))
        assert login.status == 200
        if logout.status == 409:  # the logout ran first: nothing to log out yet
            resp = await admin.post("/api/v1/agents/8211/logout")
            assert resp.status == 200
        await agree(core, "8211")
        assert (await members(core))["8211"] == set()
    await place_call(core.actions, "来电", "13900008211", patience=3)
    await asyncio.sleep(4)
    assert core.board.agent("8211").calls_today == 0


async def test_console_supervisor_and_api_commands_in_a_storm_end_in_one_truth(
    core: Core, server: TestServer, admin: TestClient[Any, Any]
) -> None:
    """The agent's console, a supervisor and another API client all at once,
    forty times over: after each burst the database, the board and Asterisk
    say the same."""
    await make_user(core.sessions, core.accounts, "8211", Role.AGENT)
    console = await browser(server, "8211")
    supervisor = await bearer(server, core.sessions, core.accounts, "wang", Role.SUPERVISOR)
    rng = random.Random(7)
    moves = [
        (console, "/api/v1/console/acd/login", {"device": A}),
        (console, "/api/v1/console/acd/pause", {"reason": "break"}),
        (console, "/api/v1/console/acd/unpause", None),
        (console, "/api/v1/console/acd/logout", None),
        (supervisor, "/api/v1/agents/8211/pause", {"reason": "meeting"}),
        (supervisor, "/api/v1/agents/8211/logout", None),
        (admin, "/api/v1/agents/8211/login", {"device": A}),
        (admin, "/api/v1/agents/8211/unpause", None),
    ]
    try:
        for _ in range(40):
            burst = rng.sample(moves, 4)
            answers = await asyncio.gather(*(c.post(p, json=b) for c, p, b in burst))
            for (_, path, _), resp in zip(burst, answers, strict=True):
                assert resp.status in (200, 409), (path, resp.status, await resp.text())
            await agree(core, "8211")
    finally:
        await console.close()
        await supervisor.close()


async def test_stray_members_are_repaired_at_resync_and_deactivating_answers_200(
    core: Core, admin: TestClient[Any, Any]
) -> None:
    # a member in Asterisk the server never decided (left by someone at the CLI)
    await core.actions.queue_add(QUEUE, B, member_name="8212")
    # and a logged-in agent whom Asterisk lost
    resp = await admin.post("/api/v1/agents/8211/login", json={"device": A})
    assert resp.status == 200
    await admin.post("/api/v1/agents/8211/pause", json={"reason": "lunch"})
    for q, device, _ in (await members(core))["8211"]:
        await core.actions.queue_remove(q, device)
    await wait_until(lambda: bool(core.board.agent("8212").queues), 5, "the stray on the board")
    assert (await members(core))["8211"] == set()
    core.conn.drop()  # the network drops the AMI socket: a resync, then the repair
    await wait_until(lambda: not core.pump.in_sync, 5, "the drop")
    await wait_until(lambda: core.pump.in_sync, 15, "the resync")
    await agree(core, "8212")
    await agree(core, "8211")
    assert all(paused for _, _, paused in (await members(core))["8211"])

    resp = await admin.patch("/api/v1/agents/8212", json={"active": False})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["active"] is False
    resp = await admin.patch("/api/v1/agents/8211", json={"active": False})
    assert resp.status == 409  # logged in: log out first
    assert (await resp.json())["error"]["id"] == "agent-logged-in"
