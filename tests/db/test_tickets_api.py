"""Tickets (work orders) through the REST API, on SQLite and PostgreSQL.

A repair goes through its whole life (booked on a call, sent to an outlet
with an appointment window, worked, resolved, closed) with a line of history
per change; the status flow refuses wrong moves; two agents changing one
ticket at once do not lose either change; every bad payload is a 4xx naming
the field, and nothing is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.accounts import Accounts
from crm_bridge.callbacks import Callbacks
from crm_bridge.dnc import DoNotCallList
from crm_bridge.http import add_routes
from crm_bridge.models import (
    Appliance,
    CallRecord,
    Customer,
    CustomerPhone,
    ServiceOutlet,
    Ticket,
    TicketEvent,
)
from crm_bridge.recordings import Recordings
from crm_bridge.services import CrmService
from crm_bridge.surveys import Surveys
from crm_bridge.tickets import TicketService
from cti.web import sessions as web_sessions
from cti.web.app import new_app
from cti.web.sessions import SessionService
from tests.support.users import FAST, bearer

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)  # 10:00 in Hangzhou
TOMORROW_9 = "2026-11-25T09:00:00"  # site time (Asia/Shanghai), no offset given
TOMORROW_12 = "2026-11-25T12:00:00"


@pytest.fixture
async def client(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async with engine.begin() as conn:
        await conn.execute(Customer.__table__.insert(), [
            {"id": 1, "name": "张三", "vip": True, "region": "浙江 杭州", "address": "",
             "notes": "", "created_at": NOW, "updated_at": NOW},
            {"id": 2, "name": "李四", "vip": False, "region": "浙江 宁波", "address": "",
             "notes": "", "created_at": NOW, "updated_at": NOW}])
        await conn.execute(CustomerPhone.__table__.insert(), [
            {"customer_id": 1, "number": "13800138000", "label": "mobile"}])
        await conn.execute(Appliance.__table__.insert(), [
            {"id": 1, "customer_id": 1, "category": "air_conditioner", "model": "KFR-35GW",
             "serial": "AC1", "purchase_date": dt.date(2025, 6, 1),
             "warranty_end": dt.date(2031, 6, 1)},
            {"id": 2, "customer_id": 2, "category": "tv", "model": "55E3", "serial": "TV2",
             "purchase_date": None, "warranty_end": None}])
        await conn.execute(ServiceOutlet.__table__.insert(), [
            {"id": 1, "name": "杭州西湖服务网点", "region": "浙江 杭州", "address": "",
             "contact_name": "王师傅", "contact_phone": "057188880001", "active": True},
            {"id": 2, "name": "杭州滨江服务网点", "region": "浙江 杭州", "address": "",
             "contact_name": "赵师傅", "contact_phone": "057188880002", "active": True},
            {"id": 3, "name": "已撤销网点", "region": "浙江 杭州", "address": "",
             "contact_name": "", "contact_phone": "", "active": False}])
    accounts = Accounts(engine)
    sessions = SessionService(accounts, hasher=FAST)
    app = new_app({})
    web_sessions.add_routes(app, sessions)
    add_routes(app, CrmService(engine, today=lambda: NOW.date()),
                   TicketService(engine, zone="Asia/Shanghai", now=lambda: NOW), accounts,
                   "Asia/Shanghai", Recordings(engine, tmp_path / "recordings", 90),
                   DoNotCallList(engine, local_area_code="0571"),
                   Callbacks(engine, local_area_code="0571"), Surveys(engine))
    async with await bearer(TestServer(app), sessions, accounts) as c:
        yield c


REPAIR = {"kind": "repair", "customer_id": 1, "appliance_id": 1, "summary": "空调不制冷",
          "notes": "客户说外机不转", "actor": "8001"}


async def ok(resp: Any, status: int = 200) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert resp.status == status, body
    return body


async def count(engine: AsyncEngine, model: type) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_repair_from_booking_to_closing_with_its_history(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    resp = await client.post("/api/v1/tickets", json=REPAIR)
    t = await ok(resp, 201)
    assert resp.headers["Location"] == f"/api/v1/tickets/{t['id']}"
    assert (t["status"], t["customer"]["name"], t["appliance"]["serial"]) == (
        "new", "张三", "AC1")
    assert t["next_statuses"] == ["cancelled", "closed", "dispatched", "resolved", "scheduled"]

    # dispatch to an outlet with a window the agent typed in local time
    t = await ok(await client.post(f"/api/v1/tickets/{t['id']}/assign", json={
        "outlet_id": 1, "appointment_start": TOMORROW_9, "appointment_end": TOMORROW_12,
        "note": "客户上午在家", "actor": "8001"}))
    assert t["status"] == "scheduled" and t["outlet"]["name"] == "杭州西湖服务网点"
    assert (t["appointment_start"], t["appointment_end"]) == (
        "2026-11-25T09:00:00+08:00", "2026-11-25T12:00:00+08:00")
    async with engine.connect() as conn:  # stored as the instant, in UTC, on both databases
        stored = (await conn.execute(select(Ticket.appointment_start))).scalar_one()
    assert stored == dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)

    # the outlet's technician works it; the agent closes it after the follow-up call
    await ok(await client.patch(f"/api/v1/tickets/{t['id']}",
                                json={"status": "in_progress", "actor": "outlet"}))
    await ok(await client.patch(f"/api/v1/tickets/{t['id']}",
                                json={"status": "resolved", "note": "更换电容", "actor": "outlet"}))
    t = await ok(await client.post(f"/api/v1/tickets/{t['id']}/close",
                                   json={"resolution": "回访确认已修好", "actor": "8002"}))
    assert t["status"] == "closed" and t["closed_at"] == NOW.isoformat()
    assert t["next_statuses"] == []
    assert all(n in t["notes"] for n in ("客户说外机不转", "更换电容", "回访确认已修好"))
    assert [(h["action"], h["from_status"], h["to_status"], h["actor"]) for h in t["history"]] == [
        ("created", None, "new", "8001"),
        ("outlet", None, None, "8001"),
        ("appointment", None, None, "8001"),
        ("note", None, None, "8001"),
        ("status", "new", "scheduled", "8001"),
        ("status", "scheduled", "in_progress", "outlet"),
        ("note", None, None, "outlet"),
        ("status", "in_progress", "resolved", "outlet"),
        ("status", "resolved", "closed", "8002"),
    ]
    assert t["history"][2]["detail"] == "2026-11-25 09:00–12:00"

    # closed: nothing but a note can change
    resp = await client.patch(f"/api/v1/tickets/{t['id']}", json={"summary": "改"})
    assert resp.status == 409 and (await resp.json())["error"]["id"] == "invalid-transition"
    t = await ok(await client.patch(f"/api/v1/tickets/{t['id']}", json={"note": "客户来电致谢"}))
    assert t["history"][-1]["action"] == "note" and t["status"] == "closed"
    # and it no longer shows on the caller's card
    card = await ok(await client.get("/api/v1/customers/1"))
    assert card["open_tickets"] == []


async def test_booking_with_an_outlet_is_dispatched_or_scheduled_at_once(
    client: TestClient[Any, Any]
) -> None:
    t = await ok(await client.post("/api/v1/tickets", json={**REPAIR, "outlet_id": 2}), 201)
    assert t["status"] == "dispatched"
    t = await ok(await client.post("/api/v1/tickets", json={
        **REPAIR, "kind": "installation", "outlet_id": 2,
        "appointment_start": "2026-11-26T14:00:00+08:00",
        "appointment_end": "2026-11-26T08:00:00Z"}), 201)
    assert t["status"] == "scheduled"
    # any offset in, the site's local time out
    assert t["appointment_end"] == "2026-11-26T16:00:00+08:00"


async def test_the_status_flow_refuses_wrong_moves_and_says_which_are_allowed(
    client: TestClient[Any, Any]
) -> None:
    t = await ok(await client.post("/api/v1/tickets", json=REPAIR), 201)
    resp = await client.patch(f"/api/v1/tickets/{t['id']}", json={"status": "in_progress"})
    err = (await resp.json())["error"]
    assert resp.status == 409 and err["id"] == "invalid-transition"
    assert err["details"]["allowed"] == ["cancelled", "closed", "dispatched", "resolved",
                                         "scheduled"]
    # dispatched needs an outlet, scheduled a window: named, not half-done
    resp = await client.patch(f"/api/v1/tickets/{t['id']}", json={"status": "dispatched"})
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["fields"][0]["field"] == "outlet_id"
    resp = await client.patch(f"/api/v1/tickets/{t['id']}",
                              json={"status": "scheduled", "outlet_id": 1})
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["fields"][0]["field"] == "appointment_start"
    t = await ok(await client.get(f"/api/v1/tickets/{t['id']}"))
    assert (t["status"], t["outlet"], len(t["history"])) == ("new", None, 1)
    # the customer cancels; a cancelled ticket cannot be reopened or closed
    t = await ok(await client.patch(f"/api/v1/tickets/{t['id']}",
                                    json={"status": "cancelled", "note": "客户自行解决"}))
    resp = await client.post(f"/api/v1/tickets/{t['id']}/close", json={"resolution": "x"})
    assert resp.status == 409


async def test_two_agents_changing_one_ticket_at_once_lose_nothing(
    client: TestClient[Any, Any]
) -> None:
    t = await ok(await client.post("/api/v1/tickets", json=REPAIR), 201)
    notes = [f"第{i}次来电" for i in range(8)]
    answers = await asyncio.gather(*(client.patch(f"/api/v1/tickets/{t['id']}",
                                                  json={"note": n, "actor": f"80{i:02d}"})
                                     for i, n in enumerate(notes)))
    assert [a.status for a in answers] == [200] * 8
    t = await ok(await client.get(f"/api/v1/tickets/{t['id']}"))
    assert all(n in t["notes"] for n in notes)
    assert sum(h["action"] == "note" for h in t["history"]) == 8
    # two agents close the resolved ticket at the same moment: one wins, one is told
    await ok(await client.patch(f"/api/v1/tickets/{t['id']}", json={"status": "resolved"}))
    answers = await asyncio.gather(*(client.post(f"/api/v1/tickets/{t['id']}/close",
                                                 json={"resolution": f"agent {i}"})
                                     for i in range(2)))
    assert sorted(a.status for a in answers) == [200, 409]
    t = await ok(await client.get(f"/api/v1/tickets/{t['id']}"))
    assert sum(h["to_status"] == "closed" for h in t["history"]) == 1


async def test_a_ticket_opened_on_a_call_is_linked_from_the_call_record(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(CallRecord.__table__.insert(), [{
            "linkedid": "1764000000.7", "caller_number": "13800138000", "caller_name": "",
            "dialled": "4008008000", "started_at": NOW, "ended_at": NOW, "ivr_path": "",
            "language": "zh", "outcome": "answered", "transfers": 0, "holds": 0,
            "customer_id": 1}])
    t = await ok(await client.post("/api/v1/tickets",
                                   json={**REPAIR, "call_id": "1764000000.7"}), 201)
    assert t["call_id"] == "1764000000.7"
    async with engine.connect() as conn:
        linked = (await conn.execute(select(CallRecord.ticket_id))).scalar_one()
    assert linked == t["id"]
    calls = await ok(await client.get("/api/v1/calls", params={"customer_id": "1"}))
    assert calls["calls"][0]["ticket_id"] == t["id"]


async def test_the_ivr_finds_an_order_with_the_tails_of_its_customer_phones(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    t = await ok(await client.post("/api/v1/tickets", json=REPAIR), 201)
    async with engine.begin() as conn:
        await conn.execute(CustomerPhone.__table__.insert(), [
            {"customer_id": 1, "number": "057188881234", "label": "home"}])
    tickets = TicketService(engine, zone="Asia/Shanghai", now=lambda: NOW)
    found = await tickets.find(t["id"])
    assert found is not None and (found["id"], found["status"]) == (t["id"], "new")
    # what a caller from another phone must type; no whole number given out
    assert found["phone_tails"] == ["1234", "8000"]
    assert "13800138000" not in repr(found) and "history" not in found
    assert await tickets.find(t["id"] + 1000) is None


async def test_search_by_customer_outlet_status_kind_and_open(
    client: TestClient[Any, Any]
) -> None:
    a = await ok(await client.post("/api/v1/tickets", json=REPAIR), 201)
    b = await ok(await client.post("/api/v1/tickets", json={**REPAIR, "outlet_id": 1}), 201)
    c = await ok(await client.post("/api/v1/tickets", json={
        "kind": "complaint", "customer_id": 2, "summary": "师傅迟到"}), 201)
    await ok(await client.post(f"/api/v1/tickets/{c['id']}/close",
                               json={"resolution": "已道歉"}))

    async def ids(**params: str) -> list[int]:
        body = await ok(await client.get("/api/v1/tickets", params=params))
        assert body["total"] == len(body["tickets"])
        return sorted(x["id"] for x in body["tickets"])

    assert await ids(customer_id="1") == [a["id"], b["id"]]
    assert await ids(outlet_id="1") == [b["id"]]
    assert await ids(status="new") == [a["id"]]
    assert await ids(kind="complaint") == [c["id"]]
    assert await ids(open="true") == [a["id"], b["id"]]
    assert await ids(open="false") == [c["id"]]
    assert "history" not in (await ok(await client.get("/api/v1/tickets")))["tickets"][0]


T1 = "/api/v1/tickets/1"
BAD = [
    # (method, path, kwargs, status, error id, field named)
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "kind": "visit"}}, 422,
     "invalid-request", "kind"),
    ("post", "/api/v1/tickets", {"json": {k: v for k, v in REPAIR.items() if k != "summary"}},
     422, "invalid-request", "summary"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "customer_id": 99}}, 422,
     "invalid-request", "customer_id"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "appliance_id": 2}}, 422,
     "invalid-request", "appliance_id"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "appliance_id": 77}}, 422,
     "invalid-request", "appliance_id"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "outlet_id": 3}}, 422,
     "invalid-request", "outlet_id"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "outlet_id": 9}}, 422,
     "invalid-request", "outlet_id"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "appointment_start": TOMORROW_9}}, 422,
     "invalid-request", "appointment_end"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "appointment_start": TOMORROW_12,
                                          "appointment_end": TOMORROW_9}}, 422,
     "invalid-request", "appointment_end"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "appointment_start": TOMORROW_9,
                                          "appointment_end": "2026-11-26T09:00:00"}}, 422,
     "invalid-request", "appointment_end"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "appointment_start": "2026-11-20T09:00",
                                          "appointment_end": "2026-11-20T12:00"}}, 422,
     "invalid-request", "appointment_start"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "appointment_start": "tomorrow 9am",
                                          "appointment_end": TOMORROW_12}}, 422,
     "invalid-request", "appointment_start"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "call_id": "abc"}}, 422,
     "invalid-request", "call_id"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "status": "closed"}}, 422,
     "invalid-request", "status"),
    ("post", "/api/v1/tickets", {"json": {**REPAIR, "actor": "x" * 21}}, 422,
     "invalid-request", "actor"),
    ("post", "/api/v1/tickets", {"data": "kind=repair"}, 415, "unsupported-media-type", None),
    ("post", "/api/v1/tickets", {"data": "{", "headers": {"Content-Type": "application/json"}},
     400, "invalid-json", None),
    ("get", "/api/v1/tickets/x", {}, 422, "invalid-request", "ticket_id"),
    ("get", "/api/v1/tickets/404", {}, 404, "ticket-not-found", None),
    ("get", "/api/v1/tickets", {"params": {"status": "done"}}, 422, "invalid-request", "status"),
    ("get", "/api/v1/tickets", {"params": {"open": "perhaps"}}, 422, "invalid-request", "open"),
    ("get", "/api/v1/tickets", {"params": {"limit": "0"}}, 422, "invalid-request", "limit"),
    ("patch", T1, {"json": {}}, 400, "invalid-request", None),
    ("patch", T1, {"json": {"actor": "8001"}}, 400, "invalid-request", None),
    ("patch", T1, {"json": {"summary": "空调不制冷"}}, 400, "invalid-request", None),
    ("patch", T1, {"json": {"status": "in_progress"}}, 409, "invalid-transition", "status"),
    ("patch", T1, {"json": {"status": "finished"}}, 422, "invalid-request", "status"),
    ("patch", T1, {"json": {"outlet_id": 3}}, 422, "invalid-request", "outlet_id"),
    ("patch", T1, {"json": {"appliance_id": 2}}, 422, "invalid-request", "appliance_id"),
    ("patch", T1, {"json": {"appointment_end": TOMORROW_12}}, 422, "invalid-request",
     "appointment_start"),
    ("patch", T1, {"json": {"note": ""}}, 422, "invalid-request", "note"),
    ("patch", T1, {"json": {"customer_id": 2}}, 422, "invalid-request", "customer_id"),
    ("patch", "/api/v1/tickets/404", {"json": {"note": "x"}}, 404, "ticket-not-found", None),
    ("post", f"{T1}/assign", {"json": {}}, 422, "invalid-request", "outlet_id"),
    ("post", f"{T1}/assign", {"json": {"outlet_id": 9}}, 422, "invalid-request", "outlet_id"),
    ("post", f"{T1}/assign", {"json": {"outlet_id": 1, "appointment_start": TOMORROW_9,
                                       "appointment_end": None}}, 422, "invalid-request",
     "appointment_end"),
    ("post", "/api/v1/tickets/404/assign", {"json": {"outlet_id": 1}}, 404, "ticket-not-found",
     None),
    ("post", f"{T1}/close", {"json": {}}, 422, "invalid-request", "resolution"),
    ("post", f"{T1}/close", {"json": {"resolution": "  "}}, 422, "invalid-request",
     "resolution"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "error_id", "field"), BAD,
                         ids=[f"{m} {p} {s} {f}" for m, p, _, s, _, f in BAD])
async def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    client: TestClient[Any, Any], engine: AsyncEngine, method: str, path: str,
    kwargs: dict[str, Any], status: int, error_id: str, field: str | None,
) -> None:
    first = await ok(await client.post("/api/v1/tickets", json=REPAIR), 201)
    assert first["id"] == 1
    before = (await count(engine, Ticket), await count(engine, TicketEvent),
              await ok(await client.get(T1)))
    resp = await getattr(client, method)(path, **kwargs)
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert body["error"]["id"] == error_id
    if field is not None:
        assert field in [f["field"] for f in body["error"]["details"]["fields"]]
    after = (await count(engine, Ticket), await count(engine, TicketEvent),
             await ok(await client.get(T1)))
    assert after == before
