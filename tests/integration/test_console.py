"""The agent console over HTTP and its websocket, against the real sandbox:
sign-in, the ACD from the console, the screen pop reaching only the agent
whose phone rings (and taken back when the caller hangs up first), the
wrap-up writing a ticket linked to the call, the signed CRM webhook."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, select

from acd.schemas import AgentIn
from acd.services import create_agent
from crm_bridge.models import Appliance, CallWrapUp, Ticket
from crm_bridge.schemas import CustomerIn, PhoneIn
from crm_bridge.webhook import verify
from cti.config.credentials import AmiCredentials
from cti.server import Core, web_app
from tests.integration.conftest import (
    place_call,
    running_core,
    sim_phones,
    wait_async,
    wait_until,
)
from tests.support.users import browser

PASSWORD = "hotline-test-pw"
SECRET = "webhook-secret-for-tests-0123456789"


def device(code: str) -> str:
    return f"Local/{code}@sim-agent-phone/n"


class Feed:
    """A console's websocket, every message kept."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.messages = ws, []  # type: ignore[var-annotated]
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            self.messages.append(json.loads(msg.data))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def agent_client(server: TestServer, code: str) -> TestClient[Any, Any]:
    """A browser of its own (cookies, this server's Origin) on the one server."""
    return await browser(server, code, PASSWORD)


@contextlib.asynccontextmanager
async def receiver(fail_first: int) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An external CRM: refuses ``fail_first`` deliveries with 503, then takes them."""
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        got.append({"headers": dict(request.headers), "body": body})
        return web.Response(status=503 if len(got) <= fail_first else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/hook")), got
    finally:
        await server.close()


@pytest.fixture
async def hooked_core(creds: AmiCredentials, tmp_path: Path) -> AsyncIterator[
        tuple[Core, list[dict[str, Any]]]]:
    async with receiver(fail_first=2) as (url, got), running_core(
            creds, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}",
            crm_webhook_url=url, crm_webhook_secret=SECRET) as core:
        core.webhook.first_delay = 0.2  # type: ignore[union-attr]
        yield core, got


async def make_agents(core: Core, *agents: AgentIn) -> None:
    for a in agents:
        await create_agent(core.acd, a)
        await core.sessions.set_password(a.code, PASSWORD)


async def known_customer(core: Core, number: str, name: str = "吴十", *, vip: bool = True,
                         category: str = "refrigerator", model: str = "BCD-520W"
                         ) -> dict[str, Any]:
    """A customer with one appliance bought 400 days ago, in warranty 330 more."""
    card = await core.crm.create_customer(CustomerIn(name=name, vip=vip, phones=[
        PhoneIn(number=number)]))
    today = dt.date.today()
    async with core.engine.begin() as conn:
        await conn.execute(insert(Appliance).values(
            customer_id=card["customer"]["id"], category=category, model=model,
            serial=f"{model}-{number}", purchase_date=today - dt.timedelta(days=400),
            warranty_end=today + dt.timedelta(days=330)))
    return card


async def test_the_pop_reaches_only_the_rung_agent_and_the_wrap_up_writes_a_ticket(
    hooked_core: tuple[Core, list[dict[str, Any]]]
) -> None:
    core, webhook_got = hooked_core
    await make_agents(core, AgentIn(code="8601", name="林晓", skills={"mandarin": 5}),
                      AgentIn(code="8602", name="Amy", skills={"english": 5}))
    card = await known_customer(core, "13800005555")
    async with sim_phones(core.actions, SIM_AGENT_RING_8601="2", SIM_AGENT_TALK_8601="3"):
        server = TestServer(web_app(core))
        lin, amy = await agent_client(server, "8601"), await agent_client(server, "8602")
        try:
            for client, code in ((lin, "8601"), (amy, "8602")):
                resp = await client.post("/api/v1/console/acd/login", json={"device": device(code)})
                assert resp.status == 200, await resp.text()
            lin_feed = Feed(await lin.ws_connect("/api/v1/console/ws"))
            amy_feed = Feed(await amy.ws_connect("/api/v1/console/ws"))
            await wait_until(lambda: lin_feed.of("hello") and amy_feed.of("hello"), 5, "hellos")
            assert lin_feed.of("hello")[0]["agent"]["state"] == "available"

            await place_call(core.actions, "吴十", "13800005555", patience=20)
            await wait_until(lambda: lin_feed.of("pop"), 15, "the pop on 8601's console")
            pop = lin_feed.of("pop")[0]
            assert pop["state"] == "ringing" and pop["queue"] == "general-service"
            assert pop["card"]["customer"]["id"] == card["customer"]["id"]
            assert pop["card"]["customer"]["vip"] is True
            assert pop["card"]["appliances"][0]["in_warranty"] is True
            call_id = pop["call_id"]

            # a console opened (or reloaded) while it rings shows the same card
            again = Feed(await lin.ws_connect("/api/v1/console/ws"))
            await wait_until(lambda: again.of("hello"), 5, "a second hello")
            assert again.of("hello")[0]["offer"]["call_id"] == call_id
            await again.close()

            await wait_until(lambda: lin_feed.of("call.connected"), 10, "the agent answering")
            await wait_until(lambda: lin_feed.of("call.ended"), 15, "the call ending")
            assert not amy_feed.of("pop"), "8602's phone never rang, yet got a pop"

            # wrap-up: someone else's call is refused, a bad disposition names the field
            resp = await amy.post(f"/api/v1/console/calls/{call_id}/wrap-up",
                                  json={"disposition": "resolved"})
            assert resp.status == 409 and (await resp.json())["error"]["id"] == "not-your-call"
            resp = await lin.post(f"/api/v1/console/calls/{call_id}/wrap-up",
                                  json={"disposition": "nap"})
            body = await resp.json()
            assert resp.status == 422 and body["error"]["details"]["fields"][0]["field"] == \
                "disposition"
            resp = await lin.post(f"/api/v1/console/calls/{call_id}/wrap-up", json={
                "disposition": "ticket_created", "notes": "冰箱不制冷，约明天上门",
                "new_ticket": {"kind": "repair", "customer_id": card["customer"]["id"],
                               "summary": "冰箱不制冷", "appliance_id": pop["card"]["appliances"][
                                   0]["id"]}})
            saved = await resp.json()
            assert resp.status == 201, saved
            await wait_until(lambda: lin_feed.of("pop.closed"), 5, "the card closing")

            async with core.engine.connect() as conn:
                ticket = (await conn.execute(select(Ticket))).one()
                wrap = (await conn.execute(select(CallWrapUp))).one()
            assert (ticket.id, ticket.call_linkedid, ticket.kind) == (
                saved["ticket"]["id"], call_id, "repair")
            assert (wrap.call_linkedid, wrap.agent, wrap.disposition, wrap.ticket_id) == (
                call_id, "8601", "ticket_created", ticket.id)

            # the external CRM got the same card, signed, after two refusals
            await wait_until(lambda: len(webhook_got) >= 3, 10, "the webhook's third try")
            ids = {g["headers"]["X-Hotline-Delivery"] for g in webhook_got[:3]}
            assert len(ids) == 1, "a retry must keep its delivery id"
            last = webhook_got[2]
            assert verify(SECRET.encode(), last["headers"]["X-Hotline-Timestamp"], last["body"],
                          last["headers"]["X-Hotline-Signature"])
            data = json.loads(last["body"])["data"]
            assert (data["call_id"], data["agent"]) == (call_id, "8601")
            assert data["card"]["customer"]["id"] == card["customer"]["id"]
            assert not verify(b"another-secret-entirely", last["headers"]["X-Hotline-Timestamp"],
                              last["body"], last["headers"]["X-Hotline-Signature"])
            await lin_feed.close()
            await amy_feed.close()
        finally:
            await lin.close()
            await amy.close()


async def test_a_pop_is_taken_back_when_the_caller_hangs_up_while_it_rings(core: Core) -> None:
    await make_agents(core, AgentIn(code="8603", name="陈静", skills={"mandarin": 5}))
    async with sim_phones(core.actions, SIM_AGENT_RING_8603="10"):
        client = await agent_client(TestServer(web_app(core)), "8603")
        try:
            resp = await client.post("/api/v1/console/acd/login", json={"device": device("8603")})
            assert resp.status == 200, await resp.text()
            feed = Feed(await client.ws_connect("/api/v1/console/ws"))
            await place_call(core.actions, "路人", "13900001212", patience=3)
            await wait_until(lambda: feed.of("pop"), 15, "the pop")
            pop = feed.of("pop")[0]
            assert pop["card"]["known"] is False and pop["caller_number"] == "13900001212"
            await wait_until(lambda: feed.of("pop.gone"), 15, "the pop taken back")
            gone = feed.of("pop.gone")[0]
            assert gone["call_id"] == pop["call_id"]
            assert gone["reason"] in ("caller_hung_up", "call_ended")
            assert core.pops.current("8603") is None
            # a console opened now shows no card for the call that has gone
            late = Feed(await client.ws_connect("/api/v1/console/ws"))
            await wait_until(lambda: late.of("hello"), 5, "hello")
            assert late.of("hello")[0]["offer"] is None
            await late.close()
            await feed.close()
        finally:
            await client.close()


async def test_sign_in_mistakes_get_clear_errors_and_the_console_needs_a_session(
    core: Core
) -> None:
    await make_agents(core, AgentIn(code="8604", name="王磊", skills={"mandarin": 3}))
    client = await browser(TestServer(web_app(core)))
    try:
        async def sign_in(body: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
            resp = await client.post("/api/v1/sign-in", json=body, **kw)
            return resp.status, await resp.json()

        status, body = await sign_in({"code": "8604", "password": "wrong-password"})
        assert (status, body["error"]["id"]) == (401, "sign-in-failed")
        status, other = await sign_in({"code": "9999", "password": "wrong-password"})
        assert (status, other["error"]["message"]) == (401, body["error"]["message"])
        status, body = await sign_in({"code": "8604"})
        assert status == 422 and body["error"]["details"]["fields"][0]["field"] == "password"
        resp = await client.post("/api/v1/sign-in", data="code=8604",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status == 415
        for path in ("/api/v1/console/me", "/api/v1/console/ws"):
            resp = await client.get(path)
            assert resp.status == 401 and (await resp.json())["error"]["id"] == "not-signed-in"
        resp = await client.post("/api/v1/console/acd/login", json={"device": device("8604")})
        assert resp.status == 401
        assert core.board.agent("8604").state.value == "logged_out"

        status, body = await sign_in({"code": "8604", "password": PASSWORD})
        assert status == 200 and body["user"]["name"] == "王磊"
        assert body["user"]["home"] == "/console" and body["user"]["agent"] == "8604"
        resp = await client.get("/api/v1/console/me")
        assert resp.status == 200 and (await resp.json())["agent"]["agent"] == "8604"
        resp = await client.post("/api/v1/sign-out")
        assert resp.status == 200
        assert (await client.get("/api/v1/console/me")).status == 401

        for _ in range(5):  # five failures (a success clears the count), then refused
            await sign_in({"code": "8604", "password": "wrong-password"})
        status, body = await sign_in({"code": "8604", "password": PASSWORD})
        assert (status, body["error"]["id"]) == (429, "too-many-attempts")
    finally:
        await client.close()


async def test_a_wrap_up_books_a_repair_visit_and_a_second_save_updates_a_ticket(
    core: Core
) -> None:
    from crm_bridge.models import ServiceOutlet, TicketEvent

    await make_agents(core, AgentIn(code="8605", name="周洁", skills={"mandarin": 5}))
    card = await known_customer(core, "13800006666")
    async with core.engine.begin() as conn:
        outlet = (await conn.execute(insert(ServiceOutlet).values(
            name="杭州西湖服务网点", region="浙江 杭州", address="", contact_name="王师傅",
            contact_phone="057188880001", active=True).returning(ServiceOutlet.id))).scalar_one()
    async with sim_phones(core.actions, SIM_AGENT_TALK_8605="2"):
        client = await agent_client(TestServer(web_app(core)), "8605")
        try:
            resp = await client.post("/api/v1/console/acd/login", json={"device": device("8605")})
            assert resp.status == 200, await resp.text()
            feed = Feed(await client.ws_connect("/api/v1/console/ws"))
            await place_call(core.actions, "吴十", "13800006666", patience=20)
            await wait_until(lambda: feed.of("call.ended"), 20, "the call to end")
            call_id = feed.of("pop")[0]["call_id"]
            appliance = feed.of("pop")[0]["card"]["appliances"][0]["id"]
            tomorrow = dt.date.today() + dt.timedelta(days=1)
            url = f"/api/v1/console/calls/{call_id}/wrap-up"

            def repair(start: str, end: str) -> dict[str, Any]:
                return {"kind": "repair", "customer_id": card["customer"]["id"],
                        "summary": "冰箱不制冷", "appliance_id": appliance, "outlet_id": outlet,
                        "appointment_start": f"{tomorrow}T{start}:00",
                        "appointment_end": f"{tomorrow}T{end}:00"}

            # a window longer than the rules allow: refused, field named, nothing saved
            resp = await client.post(url, json={"disposition": "ticket_created",
                                                "new_ticket": repair("08:00", "22:00")})
            body = await resp.json()
            assert resp.status == 422, body
            assert "appointment" in body["error"]["details"]["fields"][0]["field"]
            async with core.engine.connect() as conn:
                assert (await conn.execute(select(Ticket))).first() is None
                assert (await conn.execute(select(CallWrapUp))).first() is None

            resp = await client.post(url, json={"disposition": "ticket_created",
                                                "notes": "约明早上门",
                                                "new_ticket": repair("09:00", "11:00")})
            saved = await resp.json()
            assert resp.status == 201, saved
            ticket = saved["ticket"]
            assert (ticket["status"], ticket["outlet"]["id"], ticket["call_id"]) == (
                "scheduled", outlet, call_id)
            assert ticket["appointment_start"].startswith(f"{tomorrow}T09:00")

            # saved again: the same wrap-up row, now updating the ticket with a note
            resp = await client.post(url, json={
                "disposition": "ticket_updated", "notes": "客户改约下午",
                "ticket_update": {"id": ticket["id"], "change": {"note": "客户来电改约下午"}}})
            assert resp.status == 201, await resp.text()
            async with core.engine.connect() as conn:
                wraps = (await conn.execute(select(CallWrapUp))).all()
                events = (await conn.execute(select(TicketEvent.detail).where(
                    TicketEvent.ticket_id == ticket["id"]))).scalars().all()
            assert [(w.disposition, w.notes, w.ticket_id) for w in wraps] == [
                ("ticket_updated", "客户改约下午", ticket["id"])]
            assert "客户来电改约下午" in events
            # the call's record keeps the agent's last decision: the call log shows it
            async def logged() -> Any:
                calls = (await (await client.get("/api/v1/calls")).json())["calls"]
                found = [c for c in calls if c["linkedid"] == call_id]
                return found[0] if found and found[0]["disposition"] else None
            logged_call = await wait_async(logged, 20, "the record with its disposition")
            assert (logged_call["disposition"], logged_call["ticket_id"]) == (
                "ticket_updated", ticket["id"])
            await feed.close()
        finally:
            await client.close()
