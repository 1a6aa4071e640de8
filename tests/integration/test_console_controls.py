"""Call controls from the console against the real sandbox: hold and unhold,
a blind transfer to another agent carrying the card and the notes, an
attended transfer cancelled (the caller is back) and then completed, and the
call record splitting the time per agent without counting any twice."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from acd.schemas import AgentIn
from crm_bridge.models import CallRecord
from cti.calls.model import CallState
from cti.server import Core
from tests.integration.conftest import place_call, sim_phones, wait_async, wait_until
from tests.integration.test_console import (
    Feed,
    agent_client,
    device,
    known_customer,
    make_agents,
)


@contextlib.asynccontextmanager
async def consoles(server: TestServer, *codes: str
                   ) -> AsyncIterator[list[tuple[TestClient[Any, Any], Feed]]]:
    """Agents signed in, in the queues, each with a console feed; closed after."""
    opened = [await on_console(server, code) for code in codes]
    try:
        yield opened
    finally:
        for client, feed in opened:
            await feed.close()
            await client.close()


async def on_console(server: TestServer, code: str) -> tuple[TestClient[Any, Any], Feed]:
    client = await agent_client(server, code)
    resp = await client.post("/api/v1/console/acd/login", json={"device": device(code)})
    assert resp.status == 200, await resp.text()
    feed = Feed(await client.ws_connect("/api/v1/console/ws"))
    await wait_until(lambda: feed.of("hello"), 5, f"{code}'s hello")
    return client, feed


async def post(client: TestClient[Any, Any], path: str, body: Any = None,
               status: int = 200) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/console/{path}", json=body)
    data: dict[str, Any] = await resp.json()
    assert resp.status == status, data
    return data


async def record_of(core: Core, call_id: str) -> CallRecord:
    async def written() -> CallRecord | None:
        async with core.engine.connect() as conn:
            return (await conn.execute(select(CallRecord).where(  # type: ignore[return-value]
                CallRecord.linkedid == call_id))).first()
    return await wait_async(written, 20, f"the record of {call_id}")  # type: ignore[no-any-return]


async def test_hold_then_a_blind_transfer_takes_the_card_and_notes_to_the_next_agent(
    core: Core, server: TestServer
) -> None:
    await make_agents(core, AgentIn(code="8801", name="林晓", skills={"mandarin": 5}),
                      AgentIn(code="8802", name="Amy", skills={"english": 5}))
    card = await known_customer(core, "13800008801")
    async with sim_phones(core.actions, SIM_AGENT_TALK_8801="60", SIM_AGENT_RING_8802="1",
                          SIM_AGENT_TALK_8802="3"), consoles(server, "8801", "8802") as (
            (lin, lin_feed), (amy, amy_feed)):
        await place_call(core.actions, "吴十", "13800008801", patience=60)
        await wait_until(lambda: lin_feed.of("call.connected") and lin_feed.of("pop"), 15,
                         "8801 answering, the card shown")
        call_id = lin_feed.of("pop")[0]["call_id"]
        call = core.tracker.get(call_id)
        assert call is not None

        await post(lin, "call/unhold", status=409)  # not on hold: refused, named
        await post(lin, "call/hold")
        assert call.state is CallState.ON_HOLD
        await post(lin, "call/hold", status=409)
        await post(lin, "call/unhold")
        assert call.state is CallState.CONNECTED and call.hold_count == 1

        bad = await post(lin, "call/transfer", {"to": "queue", "target": "golf-zh"}, status=422)
        assert bad["error"]["details"]["fields"][0]["field"] == "target"
        await post(lin, "call/transfer", {"to": "agent", "target": "8801"}, status=422)
        await post(lin, "call/transfer", {"to": "agent", "target": "8802",
                                          "notes": "冰箱异响，已指导断电重启"})
        await wait_until(lambda: lin_feed.of("call.ended"), 10, "8801 free after the transfer")
        await wait_until(lambda: amy_feed.of("pop"), 10, "the card on 8802's console")
        pop = amy_feed.of("pop")[0]
        assert pop["call_id"] == call_id
        assert pop["card"]["customer"]["id"] == card["customer"]["id"]
        assert [n["notes"] for n in pop["notes"]] == ["冰箱异响，已指导断电重启"]
        await wait_until(lambda: amy_feed.of("call.connected"), 10, "8802 answering")
        await wait_until(lambda: amy_feed.of("call.ended"), 15, "the call ending")

        row = await record_of(core, call_id)
        split = {a["agent"]: a["seconds"] for a in row.extra["agents"]}
        assert set(split) == {"8801", "8802"} and all(s > 0 for s in split.values())
        talked = (row.ended_at - row.answered_at).total_seconds()
        assert sum(split.values()) <= talked + 0.5, (split, talked)  # nobody counted twice
        assert split["8802"] == pytest.approx(3, abs=1.5)
        assert (row.agent, row.transfers, row.holds) == ("8801", 1, 1)
        assert row.hold_seconds > 0
        resp = await amy.post(f"/api/v1/console/calls/{call_id}/wrap-up",
                              json={"disposition": "resolved"})
        assert resp.status == 201, await resp.text()  # 8802 may wrap up the call they took


async def test_an_attended_transfer_cancelled_returns_the_caller_and_another_completes(
    core: Core, server: TestServer
) -> None:
    await make_agents(core, AgentIn(code="8803", name="陈静", skills={"mandarin": 5}),
                      AgentIn(code="8804", name="Bob", skills={"english": 5}))
    async with sim_phones(core.actions, SIM_AGENT_TALK_8803="60", SIM_AGENT_RING_8804="1",
                          SIM_AGENT_TALK_8804="60"), consoles(server, "8803", "8804") as (
            (chen, chen_feed), (bob, bob_feed)):
        await place_call(core.actions, "路人", "13900008803", patience=60)
        await wait_until(lambda: chen_feed.of("call.connected") and chen_feed.of("pop"), 15,
                         "8803 answering, the card shown")
        call_id = chen_feed.of("pop")[0]["call_id"]
        call = core.tracker.get(call_id)
        assert call is not None

        await post(chen, "call/consult", {"to": "agent", "target": "8804",
                                          "notes": "要英文服务"})
        await wait_until(lambda: bob_feed.of("pop"), 10, "the card on 8804 while consulted")
        assert bob_feed.of("pop")[0]["notes"][0]["notes"] == "要英文服务"
        await wait_until(lambda: bob_feed.of("call.connected"), 10, "8804 answering")
        await post(chen, "call/consult", {"to": "agent", "target": "8804"}, status=409)
        await post(chen, "call/consult/cancel")
        await wait_until(lambda: bob_feed.of("call.ended") or bob_feed.of("pop.gone"), 10,
                         "8804 let go")

        def back_together() -> bool:
            legs = [lg for lg in call.legs.values() if lg.bridge]
            agent = [lg for lg in legs if lg.agent == "8803"]
            return bool(agent) and sum(lg.bridge == agent[0].bridge for lg in legs) >= 2
        await wait_until(back_together, 10, "the caller back with 8803")
        assert core.tracker.get(call_id) is not None and not chen_feed.of("call.ended")
        dismissed = await bob.post(f"/api/v1/console/calls/{call_id}/dismiss")
        assert dismissed.status == 200, await dismissed.text()
        # Asterisk leaves the agent's channel without its bridge features after
        # a cancelled consultation: hold and a second consultation are refused,
        # saying why (never a tone sent to the caller)
        held = await post(chen, "call/hold", status=409)
        assert held["error"]["id"] == "hold-unavailable"
        again = await post(chen, "call/consult", {"to": "agent", "target": "8804"}, status=409)
        assert again["error"]["id"] == "consulted-already"
        await post(chen, "call/hangup")
        await wait_until(lambda: core.tracker.get(call_id) is None, 10, "the first call ending")
        await wait_until(lambda: core.board.agent("8804").state.value == "available", 15,
                         "8804 free again")
        await wait_until(lambda: core.board.agent("8803").state.value == "available", 15,
                         "8803 through the wrap-up")

        # a second caller: consulted, then completed
        await place_call(core.actions, "路人乙", "13900008804", patience=60)
        await wait_until(lambda: len(chen_feed.of("pop")) >= 2, 15, "the second call's pop")
        call_id = chen_feed.of("pop")[-1]["call_id"]
        await wait_until(lambda: len(chen_feed.of("call.connected")) >= 2, 15,
                         "8803 answering the second call")
        call = core.tracker.get(call_id)
        assert call is not None
        ended_before = len(chen_feed.of("call.ended"))
        await post(chen, "call/consult", {"to": "agent", "target": "8804"})
        await wait_until(lambda: len(bob_feed.of("call.connected")) >= 2, 10,
                         "8804 answering the consultation")
        await post(chen, "call/consult/complete")
        await wait_until(lambda: len(chen_feed.of("call.ended")) > ended_before, 10,
                         "8803 out of the call")

        def caller_with_bob() -> bool:
            legs = [lg for lg in call.legs.values() if lg.bridge]
            bob_legs = [lg for lg in legs if lg.agent == "8804"]
            return bool(bob_legs) and sum(lg.bridge == bob_legs[-1].bridge
                                          for lg in legs) >= 2 and not any(
                lg.agent == "8803" for lg in legs)
        await wait_until(caller_with_bob, 10, "the caller talking to 8804")
        await post(bob, "call/hangup")
        row = await record_of(core, call_id)
        split = {a["agent"]: a["seconds"] for a in row.extra["agents"]}
        assert set(split) == {"8803", "8804"}
        assert row.transfers >= 1


async def test_call_controls_without_a_call_or_a_session_are_refused(
    core: Core, server: TestServer
) -> None:
    await make_agents(core, AgentIn(code="8805", name="王磊", skills={"mandarin": 3}))
    async with aiohttp.ClientSession() as anonymous, anonymous.post(  # no session cookie
            server.make_url("/api/v1/console/call/hangup")) as resp:
        assert resp.status == 401
    client = await agent_client(server, "8805")
    try:
        for verb in ("hangup", "hold", "unhold", "consult/complete", "consult/cancel"):
            body = await post(client, f"call/{verb}", status=409)
            assert body["error"]["id"] in ("no-call", "not-consulting"), body
        body = await post(client, "call/transfer", {"to": "number", "target": "12"},
                          status=422)
        assert body["error"]["details"]["fields"][0]["field"] == "target"
        body = await post(client, "call/transfer", {"to": "fax", "target": "1"}, status=422)
        assert body["error"]["details"]["fields"][0]["field"] == "to"
    finally:
        await client.close()


async def test_blind_transfers_to_a_queue_and_to_an_outside_number(
    core: Core, server: TestServer
) -> None:
    await make_agents(core, AgentIn(code="8806", name="孙鹏", skills={"mandarin": 5}),
                      AgentIn(code="8807", name="Eve", skills={"english": 5}))
    async with sim_phones(core.actions, SIM_AGENT_TALK_8806="60", SIM_AGENT_TALK_8807="2"), \
            consoles(server, "8806", "8807") as ((sun, sun_feed), (_eve, eve_feed)):
        # to the English queue: Eve (its only agent) gets the card and the notes
        await place_call(core.actions, "Tom", "13900008806", patience=60)
        await wait_until(lambda: sun_feed.of("call.connected") and sun_feed.of("pop"), 15,
                         "8806 answering, the card shown")
        first = sun_feed.of("pop")[0]["call_id"]
        await post(sun, "call/transfer", {"to": "queue", "target": "english",
                                          "notes": "English speaker, fridge noise"})
        await wait_until(lambda: eve_feed.of("pop"), 15, "the card on 8807 via the queue")
        pop = eve_feed.of("pop")[0]
        assert (pop["call_id"], pop["queue"]) == (first, "english")
        assert pop["notes"][0]["notes"] == "English speaker, fridge noise"
        await wait_until(lambda: eve_feed.of("call.ended"), 20, "Eve's call ending")
        row = await record_of(core, first)
        assert row.extra["queues"] == ["general-service", "english"]
        assert {a["agent"] for a in row.extra["agents"]} == {"8806", "8807"}
        # the queue's wrap-up, then Sun is offered calls again
        await wait_until(lambda: core.board.agent("8806").state.value == "available", 20,
                         "8806 back to available after the wrap-up")
        # and the console says so (its push follows the board by a moment)
        await wait_until(lambda: sun_feed.of("agent")[-1]["agent"]["state"] == "available",
                         5, "8806's console showing available")

        # to an outside number (a simulated customer's phone answers)
        await place_call(core.actions, "路人丙", "13900008807", patience=60)
        await wait_until(lambda: len(sun_feed.of("call.connected")) >= 2
                         and len(sun_feed.of("pop")) >= 2, 15, "8806 answering again")
        second = sun_feed.of("pop")[-1]["call_id"]
        await post(sun, "call/transfer", {"to": "number", "target": "057188880001"})
        await wait_until(lambda: len(sun_feed.of("call.ended")) >= 2, 10, "8806 free")
        row = await record_of(core, second)
        assert row.transfers == 1 and row.agent == "8806"
        assert row.ended_at > row.answered_at


async def test_a_consultation_nobody_answers_ends_with_the_agent_back_with_the_caller(
    core: Core, server: TestServer
) -> None:
    await make_agents(core, AgentIn(code="8808", name="赵敏", skills={"mandarin": 5}),
                      AgentIn(code="8809", name="Kim", skills={"english": 5}))
    joined: list[str] = []
    core.bus.subscribe("queue.joined", lambda t, c: joined.append(c.channel))
    await core.actions.setvar("HOTLINE_TRANSFER_RING", "2")  # the consulted phone rings 2 s
    try:
        async with sim_phones(core.actions, SIM_AGENT_TALK_8808="60",
                              SIM_AGENT_RING_8809="30"), consoles(server, "8808", "8809") as (
                (zhao, zhao_feed), (_kim, kim_feed)):
            await place_call(core.actions, "路人丁", "13900008808", patience=60)
            await wait_until(lambda: zhao_feed.of("call.connected") and zhao_feed.of("pop"), 15,
                             "8808 answering, the card shown")
            call_id = zhao_feed.of("pop")[0]["call_id"]
            call = core.tracker.get(call_id)
            assert call is not None
            await post(zhao, "call/consult", {"to": "agent", "target": "8809"})
            await wait_until(lambda: kim_feed.of("pop"), 10, "8809's phone ringing")
            await wait_until(lambda: kim_feed.of("pop.gone"), 10, "the ring given up")

            def back_together() -> bool:  # and the consultation's channel gone
                if any(lg.channel.startswith("Local/*0@") for lg in call.legs.values()):
                    return False
                legs = [lg for lg in call.legs.values() if lg.bridge]
                mine = [lg for lg in legs if lg.agent == "8808"]
                return bool(mine) and sum(lg.bridge == mine[0].bridge for lg in legs) == 2
            await wait_until(back_together, 10, "the caller back with 8808")
            # the consultation is over, not re-queued as a caller, and the
            # console says so instead of hanging up the call on "complete"
            body = await post(zhao, "call/consult/complete", status=409)
            assert body["error"]["id"] == "not-consulting"
            assert core.tracker.get(call_id) is not None
            assert len(joined) == 1, joined  # only the caller ever joined a queue
            await post(zhao, "call/hangup")
    finally:
        await core.actions.setvar("HOTLINE_TRANSFER_RING", "20")
