"""Calls the hotline places, against the real sandbox: the "press 1" offer in
the queue, the place kept among live callers and a VIP, the agent taking the
callback before the customer is dialled, the tries and their outcomes with
the simulated customers' phones (answer, no answer, busy), the do-not-call
list, one call however many triggers race, closing time, the follow-up
survey after a repair and the rating after a call."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from acd.board import AgentState
from acd.schemas import AgentIn, PauseReason
from acd.services import create_agent
from crm_bridge.callbacks import Callbacks
from crm_bridge.models import CallRecord, ServiceOutlet
from crm_bridge.schemas import CustomerIn, PhoneIn, TicketClose, TicketIn, TicketPatch
from cti.config.credentials import AmiCredentials
from cti.outbound.config import load_outbound
from cti.server import Core
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import FIXTURES, running_core, wait_async, wait_until

TV_LINE = "Local/4008008004@hotline"  # the TV line: straight to tv-zh


def device(code: str) -> str:
    return f"Local/{code}@sim-agent-phone/n"


@contextlib.asynccontextmanager
async def open_site(creds: AmiCredentials, tmp_path: Path, offer_every: int = 10,
                    survey_queue: str | None = None) -> AsyncIterator[Core]:
    """A core whose site is open day and night, retrying within seconds,
    offering callbacks every ``offer_every`` s, and (``survey_queue``) a
    queue whose callers rate the agent after the call."""
    acd = (Path(__file__).parents[2] / "acd" / "queues.yaml").read_text()
    acd = acd.replace("callback_offer_every: 60", f"callback_offer_every: {offer_every}")
    if survey_queue:
        acd = acd.replace(f"  {survey_queue}:\n",
                          f"  {survey_queue}:\n    survey_after_call: true\n")
    acd_file = tmp_path / "queues.yaml"
    acd_file.write_text(acd)
    async with running_core(creds, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
                            outbound_config=FIXTURES / "outbound-open.yaml",
                            acd_config=acd_file) as core:
        core.offers.tick = 1.0
        core.dialer.tick = 1.0
        yield core


async def call(core: Core, number: str, patience: int = 150) -> str:
    result = await core.actions.originate(TV_LINE, context="sim-caller", exten="s",
                                          caller_id=f'"客户" <{number}>',
                                          variables={"SIM_PATIENCE": str(patience)})
    return result.uniqueid


def waiting_numbers(core: Core) -> list[str]:
    return [w["caller_number"] for w in core.acd.queue("tv-zh")["callers"]]


async def queue_order(core: Core) -> list[str]:
    """The callers in tv-zh as app_queue has them, first in line first."""
    entries = [e for e in await core.actions.queue_status("tv-zh") if e.name == "QueueEntry"]
    return [e.text("CallerIDNum") for e in sorted(entries, key=lambda e: int(e.text("Position")))]


def caller_channel(core: Core, number: str) -> tuple[str, str]:
    for c in core.tracker.calls.values():
        if c.caller_number == number and c.callback_id is None:
            for leg in c.legs.values():
                if leg.role == "caller":
                    return c.call_id, leg.channel
    raise AssertionError(f"no live call from {number}")


async def take_the_offer(core: Core, number: str, store: Callbacks) -> dict[str, Any]:
    """The caller heard the offer; they press 1, then 1 again to confirm the
    number they call from (a key cuts the read-back short)."""
    call_id, _ = caller_channel(core, number)
    await wait_until(lambda: call_id in core.offers.last_offer, 30, f"the offer to {number}")
    channel = core.board.waiting["tv-zh"][call_id].channel  # the channel in the queue
    await core.actions.play_dtmf_in(channel, "1")

    async def booked() -> dict[str, Any] | None:
        entries = [e for e in await store.entries(("waiting", "dialling"))
                   if e["number"] == number]
        if entries:
            return entries[0]
        with contextlib.suppress(Exception):
            await core.actions.play_dtmf_in(channel, "1")  # confirms the read-back
        await asyncio.sleep(1.0)
        return None

    return await wait_async(booked, 40, f"{number}'s callback booked")  # type: ignore[no-any-return]


async def records(core: Core) -> list[Any]:
    async with core.engine.connect() as conn:
        return list((await conn.execute(select(CallRecord))).all())


async def test_callbacks_follow_ups_and_ratings_side_by_side(
    creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox
) -> None:
    """Four scenarios at once on one server, each on its own queue and agent
    (the server is judged under load, and the suite stays short): the place
    kept (tv-zh), the tries and their policy (fridge-zh), a follow-up survey
    after a repair, a rating after a call (washer-zh)."""
    async with open_site(creds, tmp_path, survey_queue="washer-zh") as core:
        await asyncio.gather(place_kept(core), tries_and_policy(core),
                             follow_up_survey(core), rating_after_the_call(core))


async def place_kept(core: Core) -> None:
    """A, B, C join; B takes a callback and hangs up; D joins; a VIP (V)
    joins; one agent frees up at a time: V, A, B's callback, C, D. The agent
    takes B's callback before B's phone rings; one wait, from B's first join;
    the records link B's first call and the callback."""
    store = Callbacks(core.engine)
    await core.crm.create_customer(CustomerIn(name="贵宾", vip=True,
                                              phones=[PhoneIn(number="13800138888")]))
    await create_agent(core.acd, AgentIn(code="8401", name="甲",
                                         skills={"tv": 5, "mandarin": 5}))
    await core.actions.setvar("SIM_AGENT_TALK_8401", "2")
    await core.acd.login("8401", device("8401"))
    await core.acd.pause("8401", PauseReason.BREAK)
    served: list[tuple[str, int | None]] = []
    core.bus.subscribe("agent.connected", lambda t, e: e.agent == "8401" and served.append(
        (core.tracker.calls[e.call_id].caller_number,
         core.tracker.calls[e.call_id].callback_id)))
    a, b, c, d, vip = ("13900000001", "13900000002", "13900000003", "13900000004",
                       "13800138888")
    for number in (a, b, c):
        await call(core, number)
        await wait_until(lambda n=number: n in waiting_numbers(core), 15, f"{number} waits")
        await asyncio.sleep(1.2)  # the place is kept to the second: joins apart
    b_call, _ = caller_channel(core, b)
    b_joined = core.tracker.calls[b_call].queued_at
    assert b_joined is not None

    entry = await take_the_offer(core, b, store)
    assert entry["kind"] == "keep_place" and entry["queue"] == "tv-zh"
    assert abs(entry["joined_at"].timestamp() - b_joined) < 1.0  # B's own place
    # B hangs up; the callback takes B's place in the queue, between A and C
    await wait_until(lambda: b_call not in core.tracker.calls, 30, "B hung up")
    await wait_async(lambda: _order_is(core, [a, b, c]), 20, "the callback in B's place")
    await call(core, d)
    await asyncio.sleep(1.2)
    await call(core, vip)
    await wait_async(lambda: _order_is(core, [vip, a, b, c, d]), 20, "V ahead of all")
    assert await queue_order(core) == [vip, a, b, c, d]

    await core.acd.unpause("8401")
    await wait_until(lambda: len(served) == 5, 150, "all five served")
    assert [n for n, _ in served] == [vip, a, b, c, d]
    assert served[2][1] == entry["id"]  # B's turn went to B's callback

    done = await wait_async(lambda: _status(store, entry["id"], "done"), 30, "answered")
    tries = await store.attempts_of(entry["id"])
    assert [(t["outcome"], t["agent"]) for t in tries] == [("answered", "8401")]
    await wait_async(lambda: _records_of(core, b, 2), 40, "B's two records")
    await wait_async(lambda: _records_of(core, d, 1), 40, "D's record")
    rows = {r.caller_number: r for r in await records(core)}
    first = next(r for r in await records(core) if r.linkedid == b_call)
    assert first.outcome == "callback_requested"
    back = next(r for r in await records(core) if r.callback_id == entry["id"])
    assert back.callback_of == b_call and back.outcome == "answered"
    assert back.agent == "8401" and rows[a].agent == "8401"
    # one wait, from B's first join: longer than A's, who was ahead of B
    assert back.wait_seconds > rows[a].wait_seconds
    assert done["attempts"] == 1
    await core.acd.logout("8401")


async def _order_is(core: Core, numbers: list[str]) -> bool:
    return await queue_order(core) == numbers


async def _status(store: Callbacks, cid: int, status: str) -> dict[str, Any] | None:
    entry = await store.get(cid)
    return entry if entry and entry["status"] == status else None


async def tries_and_policy(core: Core) -> None:
    """Busy, busy, then answered (spacing per the policy, a try each time an
    agent takes it); no answer twice spends the tries; a number on the
    do-not-call list is never dialled; eight racing triggers for one number
    make one entry and one call."""
    store = Callbacks(core.engine)
    await create_agent(core.acd, AgentIn(code="8402", name="乙",
                                         skills={"refrigerator": 5, "mandarin": 5}))
    await core.actions.setvar("SIM_AGENT_TALK_8402", "40")  # it waits out the ring
    busy, silent, blocked = "13900000011", "13900000012", "13900000013"
    await core.actions.db_put("sim-customer", busy, "busy")
    await core.actions.db_put("sim-customer", silent, "noanswer")
    await core.dnc.add(blocked, "asked not to be called", "test")
    try:
        await core.actions.setvar("HOTLINE_CALLBACK_RING", "4")
        joined = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
        results = await asyncio.gather(*(
            store.open(busy, "abandoned", queue="fridge-zh", joined_at=joined,
                       call_id=f"x.{k}")
            for k in range(8)))
        assert len({e["id"] for e, _ in results}) == 1
        b_entry = results[0][0]
        s_entry, _ = await store.open(silent, "abandoned", queue="fridge-zh",
                                      joined_at=joined)
        d_entry, _ = await store.open(blocked, "abandoned", queue="fridge-zh",
                                      joined_at=joined)
        await core.acd.login("8402", device("8402"))
        core.dialer.wake()
        await wait_async(lambda: _status(store, d_entry["id"], "dropped"), 20, "DNC dropped")
        # busy twice, then the line is free: answered on the third try
        await wait_async(lambda: _attempts(store, b_entry["id"], 2), 90, "two busy tries")
        await core.actions.db_put("sim-customer", busy, "answer:2")
        await wait_async(lambda: _status(store, b_entry["id"], "done"), 90, "answered")
        await wait_async(lambda: _status(store, s_entry["id"], "failed"), 120, "spent")
    finally:
        await core.actions.setvar("HOTLINE_CALLBACK_RING", "30")
        for n in (busy, silent):
            with contextlib.suppress(Exception):
                await core.actions.db_del("sim-customer", n)
    tries = await store.attempts_of(b_entry["id"])
    assert [t["outcome"] for t in tries] == ["busy", "busy", "answered"]
    # the policy's spacing (3 s, then twice that) between the end of one
    # try and the start of the next, at least
    gaps = [(tries[k + 1]["started_at"] - tries[k]["ended_at"]).total_seconds()
            for k in range(2)]
    assert gaps[0] >= 3.0 - 0.5 and gaps[1] >= 6.0 - 0.5, gaps
    assert [t["outcome"] for t in await store.attempts_of(s_entry["id"])] == \
        ["no_answer", "no_answer"]  # max_attempts 2
    assert await store.attempts_of(d_entry["id"]) == []
    await wait_async(lambda: _records_of(core, busy, 3), 30, "a record per try")
    rows = [r for r in await records(core) if r.caller_number in (busy, silent, blocked)]
    numbers = [r.caller_number for r in rows]
    assert blocked not in numbers
    assert numbers.count(busy) == 3  # one call per try, never two at once
    assert {r.callback_id for r in rows} == {b_entry["id"], s_entry["id"]}
    await wait_until(lambda: core.board.agent("8402").state is not AgentState.ON_CALL, 60)
    await core.acd.logout("8402")


async def _records_of(core: Core, number: str, n: int) -> list[Any] | None:
    rows = [r for r in await records(core) if r.caller_number == number]
    return rows if len(rows) >= n else None


async def _attempts(store: Callbacks, cid: int, n: int) -> list[Any] | None:
    tries = await store.attempts_of(cid)
    return tries if len([t for t in tries if t["ended_at"]]) >= n else None


async def test_nothing_goes_out_while_the_site_is_closed_and_a_waiting_callback_keeps_its_place(
    creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox
) -> None:
    """Open: a callback waits in its queue for an agent. Closing time: it
    leaves the queue, no try counted, and nothing is dialled until the site
    opens again; then it is back in the queue with the same place."""
    async with open_site(creds, tmp_path) as core:
        store = Callbacks(core.engine)
        joined = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        entry, _ = await store.open("13900000041", "keep_place", queue="tv-zh",
                                    joined_at=joined)
        core.dialer.wake()
        await wait_async(lambda: _order_is(core, ["13900000041"]), 15, "in the queue")
        opened = core.dialer.config
        core.dialer.config = load_outbound(FIXTURES / "outbound-closed.yaml")
        core.dialer.wake()
        await wait_async(lambda: _order_is(core, []), 15, "out of the queue at closing")
        await wait_async(lambda: _status(store, entry["id"], "waiting"), 15, "waiting again")
        await asyncio.sleep(3)  # several ticks while closed
        assert await queue_order(core) == []
        assert await store.attempts_of(entry["id"]) == []
        core.dialer.config = opened
        core.dialer.wake()
        await wait_async(lambda: _order_is(core, ["13900000041"]), 15, "back when open")
        back = [e for e in await core.actions.queue_status("tv-zh") if e.name == "QueueEntry"]
        # the rank of its first join: the same place as before
        rank = 99999999 - (int(joined.timestamp()) - 1767225600) % 100000000
        assert back[0].text("Priority") == str(rank)


async def follow_up_survey(core: Core) -> None:
    """A closed repair owes a follow-up to the customer's mobile; the customer
    answers on the keypad (5 during the greeting, then 1: solved); the
    answers land on the ticket and its outlet; the report shows the outlet."""
    number = "13900000021"
    customer = await core.crm.create_customer(CustomerIn(
        name="回访客户", phones=[PhoneIn(number="0571 8888 0021", label="home"),
                              PhoneIn(number=number, label="mobile")]))
    async with core.engine.begin() as conn:
        outlet = (await conn.execute(insert(ServiceOutlet).values(
            name="西湖网点", region="浙江 杭州", active=True).returning(
                ServiceOutlet.id))).scalar_one()
    ticket = await core.tickets.create(TicketIn(
        kind="repair", customer_id=customer["customer"]["id"], outlet_id=outlet,
        summary="空调不制冷", actor="8001"))
    if ticket["status"] != "resolved":
        ticket = await core.tickets.update(ticket["id"], TicketPatch(status="resolved",
                                                                     actor="8001"))
    await core.actions.db_put("sim-customer", number, "answer:40:WW5WWWWWW1")
    try:
        await core.tickets.close(ticket["id"], TicketClose(resolution="换了电容", actor="8001"))
        answers = await wait_async(lambda: _answered(core, ticket_id=ticket["id"]), 90,
                                   "the follow-up answered")
    finally:
        await core.actions.db_del("sim-customer", number)
    (a,) = answers
    assert a["kind"] == "follow_up" and a["outlet_id"] == outlet
    assert a["satisfaction"] == 5 and a["solved"] is True
    owed = await core.callbacks.get(a["callback_id"])
    assert owed is not None and owed["number"] == number  # the mobile, not the home
    assert owed["kind"] == "follow_up" and owed["ticket_id"] == ticket["id"]
    await wait_async(lambda: _status(Callbacks(core.engine), a["callback_id"], "done"), 60,
                     "the follow-up done")
    report = await core.surveys.satisfaction(*_today())
    assert report["outlets"] == [{"outlet_id": outlet, "outlet": "西湖网点", "surveys": 1,
                                  "scored": 1, "satisfaction": 5.0, "solved_rate": 100.0}]


async def rating_after_the_call(core: Core) -> None:
    """A caller on a queue with the rating after the call rates the agent 4:
    linked to the call's record and the agent."""
    await create_agent(core.acd, AgentIn(code="8501", name="丙",
                                         skills={"washing_machine": 5, "mandarin": 5}))
    await core.actions.setvar("SIM_AGENT_TALK_8501", "2")
    await core.acd.login("8501", device("8501"))
    await core.actions.originate(
        "Local/4008008003@hotline", context="sim-caller", exten="s",
        caller_id='"客户" <13900000031>',
        variables={"SIM_PATIENCE": "40", "SIM_DTMF": "WWWWWW4WWW4WWW4WWW4"})
    answers = await wait_async(lambda: _answered(core, kind="post_call"), 60, "the rating")
    (a,) = answers
    assert a["agent"] == "8501" and a["satisfaction"] == 4
    assert a["ticket_id"] is None and a["solved"] is None
    record = await wait_async(lambda: _records_of(core, "13900000031", 1), 60,
                              "the call's record")
    assert a["call_id"] == record[0].linkedid and record[0].agent == "8501"
    report = await core.surveys.satisfaction(*_today())
    assert report["agents"] == [{"agent": "8501", "surveys": 1, "scored": 1,
                                 "satisfaction": 4.0}]
    await wait_until(lambda: core.board.agent("8501").state.value != "on_call", 30)
    await core.acd.logout("8501")


async def _answered(core: Core, kind: str | None = None, **where: Any
                    ) -> list[dict[str, Any]] | None:
    answers = [a for a in await core.surveys.answers(**where) if kind in (None, a["kind"])]
    return answers or None


def _today() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(days=1), now + dt.timedelta(days=1)
