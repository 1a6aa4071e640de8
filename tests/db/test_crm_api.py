"""The CRM REST API on SQLite and PostgreSQL: customers, screen pop, call log.

Every endpoint is also fed bad input: each answer is a 4xx whose JSON names
the field, and nothing is written.
"""

from __future__ import annotations

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
from crm_bridge.models import Appliance, CallRecord, Customer, CustomerPhone, Ticket
from crm_bridge.recordings import Recordings
from crm_bridge.services import CrmService
from crm_bridge.surveys import Surveys
from crm_bridge.tickets import TicketService
from cti.web import sessions as web_sessions
from cti.web.app import new_app
from cti.web.sessions import SessionService
from tests.support.users import FAST, bearer

TODAY = dt.date(2026, 11, 24)


@pytest.fixture
async def client(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    accounts = Accounts(engine)
    sessions = SessionService(accounts, hasher=FAST)
    app = new_app({})
    web_sessions.add_routes(app, sessions)
    add_routes(app, CrmService(engine, local_area_code="0571", today=lambda: TODAY),
                   TicketService(engine), accounts, "Asia/Shanghai",
                   Recordings(engine, tmp_path / "recordings", 90),
                   DoNotCallList(engine, local_area_code="0571"),
                   Callbacks(engine, local_area_code="0571"), Surveys(engine))
    async with await bearer(TestServer(app), sessions, accounts) as c:
        yield c


async def rows(engine: AsyncEngine, model: type) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


ZHANG = {"name": "张三", "vip": True, "region": "浙江 杭州", "address": "西湖区文三路 100 号",
         "phones": [{"number": "+86 138-0013-8000", "label": "mobile"},
                    {"number": "(0571) 8888 1234", "label": "home"}]}


async def test_create_then_find_the_customer_by_any_form_of_the_number(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    resp = await client.post("/api/v1/customers", json=ZHANG)
    assert resp.status == 201, await resp.text()
    card = await resp.json()
    cid = card["customer"]["id"]
    assert resp.headers["Location"] == f"/api/v1/customers/{cid}"
    assert [p["number"] for p in card["customer"]["phones"]] == ["13800138000", "057188881234"]
    for form in ("13800138000", "+8613800138000", "0086 138 0013 8000", "88881234",
                 "0571-88881234", "+86 571 8888 1234"):
        resp = await client.get("/api/v1/customers", params={"phone": form})
        body = await resp.json()
        assert resp.status == 200 and [c["id"] for c in body["customers"]] == [cid], form
    resp = await client.get("/api/v1/customers", params={"name": "张"})
    assert [c["name"] for c in (await resp.json())["customers"]] == ["张三"]


async def test_screen_pop_card_for_a_known_and_an_unknown_caller(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    cid = (await (await client.post("/api/v1/customers", json=ZHANG)).json())["customer"]["id"]
    async with engine.begin() as conn:
        await conn.execute(Appliance.__table__.insert(), [
            {"customer_id": cid, "category": "air_conditioner", "model": "KFR-35GW",
             "serial": "AC1", "purchase_date": dt.date(2024, 6, 1),
             "warranty_end": dt.date(2030, 6, 1)},
            {"customer_id": cid, "category": "tv", "model": "55U7H", "serial": "TV1",
             "purchase_date": dt.date(2020, 1, 1), "warranty_end": dt.date(2023, 1, 1)}])
        await conn.execute(Ticket.__table__.insert(), [
            {"kind": "repair", "status": "scheduled", "customer_id": cid, "summary": "空调不制冷",
             "notes": "", "created_by": "8001", "created_at": dt.datetime.now(dt.UTC),
             "updated_at": dt.datetime.now(dt.UTC)},
            {"kind": "consultation", "status": "closed", "customer_id": cid,
             "summary": "保修政策咨询", "notes": "", "created_by": "8001",
             "created_at": dt.datetime.now(dt.UTC), "updated_at": dt.datetime.now(dt.UTC)}])
        now = dt.datetime.now(dt.UTC)
        await conn.execute(CallRecord.__table__.insert(), [
            {"linkedid": f"1.{i}", "caller_number": "13800138000", "caller_name": "张三",
             "dialled": "4008008000", "started_at": now - dt.timedelta(days=i),
             "ended_at": now - dt.timedelta(days=i) + dt.timedelta(minutes=3),
             "ivr_path": "", "language": "zh", "outcome": "answered", "transfers": 0,
             "holds": 0, "customer_id": cid} for i in range(7)])
    resp = await client.get("/api/v1/screen-pop", params={"number": "138 0013 8000"})
    card = await resp.json()
    assert card["known"] and card["customer"]["name"] == "张三" and card["customer"]["vip"]
    assert card["number_display"] == "138 0013 8000"
    assert [(a["serial"], a["in_warranty"]) for a in card["appliances"]] == [
        ("AC1", True), ("TV1", False)]
    assert [t["summary"] for t in card["open_tickets"]] == ["空调不制冷"]
    assert [c["linkedid"] for c in card["last_calls"]] == ["1.0", "1.1", "1.2", "1.3", "1.4"]

    resp = await client.get("/api/v1/screen-pop", params={"number": "+86 139 1234 5678"})
    card = await resp.json()
    assert resp.status == 200
    assert card == {"known": False, "number": "13912345678", "number_display": "139 1234 5678",
                    "customer": None, "other_matches": []}


async def test_update_customer_replaces_phones(client: TestClient[Any, Any]) -> None:
    cid = (await (await client.post("/api/v1/customers", json=ZHANG)).json())["customer"]["id"]
    resp = await client.patch(f"/api/v1/customers/{cid}",
                              json={"vip": False, "phones": [{"number": "13912345678"}]})
    body = await resp.json()
    assert resp.status == 200 and body["customer"]["vip"] is False
    assert [p["number"] for p in body["customer"]["phones"]] == ["13912345678"]
    assert (await (await client.get("/api/v1/screen-pop",
                                    params={"number": "13800138000"})).json())["known"] is False


BAD = [
    # (method, path, kwargs, status, error id, field named)
    ("post", "/api/v1/customers", {"json": {"phones": [{"number": "13800138000"}]}}, 422,
     "invalid-request", "name"),
    ("post", "/api/v1/customers", {"json": {**ZHANG, "phones": []}}, 422, "invalid-request",
     "phones"),
    ("post", "/api/v1/customers", {"json": {**ZHANG, "phones": [{"number": "abc"}]}}, 422,
     "invalid-request", "phones.0.number"),
    ("post", "/api/v1/customers", {"json": {**ZHANG, "age": 3}}, 422, "invalid-request", "age"),
    ("post", "/api/v1/customers", {"json": {**ZHANG, "vip": "maybe"}}, 422, "invalid-request",
     "vip"),
    ("post", "/api/v1/customers", {"json": {**ZHANG, "name": "x" * 101}}, 422,
     "invalid-request", "name"),
    ("post", "/api/v1/customers", {"data": "{not json", "headers": {
        "Content-Type": "application/json"}}, 400, "invalid-json", None),
    ("post", "/api/v1/customers", {"data": "name=张三"}, 415, "unsupported-media-type", None),
    ("post", "/api/v1/customers", {"json": ["张三"]}, 422, "invalid-request", "(body)"),
    ("get", "/api/v1/customers", {}, 400, "invalid-request", "phone"),
    ("get", "/api/v1/customers", {"params": {"phone": "1"}}, 422, "invalid-request", "phone"),
    ("get", "/api/v1/customers", {"params": {"name": "张", "limit": "0"}}, 422,
     "invalid-request", "limit"),
    ("get", "/api/v1/customers/abc", {}, 422, "invalid-request", "customer_id"),
    ("get", "/api/v1/customers/999999", {}, 404, "customer-not-found", None),
    ("patch", "/api/v1/customers/999999", {"json": {"vip": True}}, 404, "customer-not-found",
     None),
    ("patch", "/api/v1/customers/1", {"json": {}}, 400, "invalid-request", None),
    ("patch", "/api/v1/customers/1", {"json": {"name": ""}}, 422, "invalid-request", "name"),
    ("get", "/api/v1/screen-pop", {}, 422, "invalid-request", "number"),
    ("get", "/api/v1/calls", {"params": {"outcome": "lost"}}, 422, "invalid-request", "outcome"),
    ("get", "/api/v1/calls", {"params": {"from": "2026-13-01"}}, 422, "invalid-request", "from"),
    ("get", "/api/v1/calls", {"params": {"from": "2026-11-24", "to": "2026-11-01"}}, 400,
     "invalid-request", "to"),
    ("get", "/api/v1/calls", {"params": {"limit": "100000"}}, 422, "invalid-request", "limit"),
    ("get", "/api/v1/calls", {"params": {"format": "xml"}}, 422, "invalid-request", "format"),
    ("get", "/api/v1/calls", {"params": {"agnet": "8001"}}, 422, "invalid-request", "agnet"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "error_id", "field"), BAD,
                         ids=[f"{m} {p} {s} {f}" for m, p, _, s, _, f in BAD])
async def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    client: TestClient[Any, Any], engine: AsyncEngine, method: str, path: str,
    kwargs: dict[str, Any], status: int, error_id: str, field: str | None,
) -> None:
    cid = (await (await client.post("/api/v1/customers", json=ZHANG)).json())["customer"]["id"]
    assert cid == 1
    before = (await rows(engine, Customer), await rows(engine, CustomerPhone))
    resp = await getattr(client, method)(path, **kwargs)
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert body["error"]["id"] == error_id
    if field is not None:
        assert field in [f["field"] for f in body["error"]["details"]["fields"]]
    assert (await rows(engine, Customer), await rows(engine, CustomerPhone)) == before
    card = await (await client.get("/api/v1/customers/1")).json()
    assert card["customer"]["name"] == "张三" and len(card["customer"]["phones"]) == 2


async def test_call_log_filters_and_csv_export(client: TestClient[Any, Any],
                                               engine: AsyncEngine) -> None:
    base = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(CallRecord.__table__.insert(), [
            {"linkedid": f"9.{i}", "caller_number": f"1380000000{i}", "caller_name": "王晶",
             "dialled": "4008008000", "started_at": base + dt.timedelta(days=i % 3, minutes=i),
             "ended_at": base + dt.timedelta(days=i % 3, minutes=i + 2), "ivr_path": "",
             "language": "zh", "queue": "ac-zh" if i % 2 else "tv-zh",
             "agent": "agent-8001" if i < 5 else "agent-8002",
             "outcome": "answered" if i % 4 else "abandoned", "transfers": 0, "holds": 0}
            for i in range(10)])
    resp = await client.get("/api/v1/calls", params={"queue": "ac-zh", "agent": "agent-8001"})
    body = await resp.json()
    assert sorted(c["linkedid"] for c in body["calls"]) == ["9.1", "9.3"]
    resp = await client.get("/api/v1/calls", params={"outcome": "abandoned"})
    assert sorted(c["linkedid"] for c in (await resp.json())["calls"]) == ["9.0", "9.4", "9.8"]
    resp = await client.get("/api/v1/calls", params={"from": "2026-11-21", "to": "2026-11-21"})
    assert sorted(c["linkedid"] for c in (await resp.json())["calls"]) == ["9.1", "9.4", "9.7"]
    resp = await client.get("/api/v1/calls", params={"format": "csv", "limit": "3"})
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert resp.headers["X-Total-Count"] == "10"
    text = (await resp.read()).decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].startswith("linkedid,started_at,answered_at")
    assert len(lines) == 4 and "王晶" in lines[1]


async def test_the_call_log_shows_the_calls_detail_and_the_csv_runs_no_formula(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(CallRecord.__table__.insert(), [
            {"linkedid": "9.1", "caller_number": "13800000001", "caller_name": "=1+2",
             "dialled": "4008008000", "started_at": now - dt.timedelta(minutes=5),
             "answered_at": now - dt.timedelta(minutes=4), "ended_at": now,
             "ivr_path": "language:1>main:1", "language": "zh", "queue": "tv-zh",
             "agent": "8001", "wait_seconds": 12.5, "outcome": "answered", "transfers": 1,
             "holds": 2, "hold_seconds": 30.0, "recording_file": "20261130/9.1.wav",
             "recording_seconds": 238.4,
             "extra": {"queues": ["tv-zh", "general-service"], "end_observed": False,
                       "resynced": True,
                       "agents": [{"agent": "8001", "seconds": 150.0},
                                  {"agent": "8002", "seconds": 90.0}]}},
            {"linkedid": "9.2", "caller_number": "@SUM(A1)", "caller_name": "-cmd",
             "dialled": "4008008000", "started_at": now - dt.timedelta(minutes=3),
             "answered_at": None, "ended_at": now, "ivr_path": "", "language": "",
             "queue": None, "agent": None, "wait_seconds": None, "outcome": "ivr_only",
             "transfers": 0, "holds": 0, "hold_seconds": 0.0, "recording_file": None,
             "recording_seconds": None, "extra": {"backfilled": True}}])
    body = await (await client.get("/api/v1/calls")).json()
    detail = {c["linkedid"]: c for c in body["calls"]}
    one = detail["9.1"]
    assert one["queues"] == ["tv-zh", "general-service"]
    assert [a["agent"] for a in one["agents"]] == ["8001", "8002"]
    assert (one["holds"], one["hold_seconds"], one["transfers"]) == (2, 30.0, 1)
    assert one["recording"] == {"file": "20261130/9.1.wav", "seconds": 238.4,
                                "url": "/api/v1/calls/9.1/recording"}
    assert one["end"] == {"observed": False, "resynced": True, "completed_from": None,
                          "backfilled": False}
    assert one["ivr_path"] == "language:1>main:1"
    assert detail["9.2"]["end"]["backfilled"] and detail["9.2"]["recording"] is None

    resp = await client.get("/api/v1/calls", params={"format": "csv"})
    text = await resp.text()
    import csv as csv_mod
    import io
    rows = {r["linkedid"]: r for r in csv_mod.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert rows["9.1"]["caller_name"] == "'=1+2"
    assert rows["9.2"]["caller_number"] == "'@SUM(A1)" and rows["9.2"]["caller_name"] == "'-cmd"
    assert rows["9.1"]["agents"] == "8001:150.0 8002:90.0"
    assert rows["9.1"]["end"] == "estimated" and rows["9.2"]["end"] == "backfilled"
    assert rows["9.1"]["recording_seconds"] == "238.4" and rows["9.1"]["wait_seconds"] == "12.5"


async def test_the_call_log_counts_the_sites_days_and_gives_times_in_its_zone(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    """A call at 07:30 in Hangzhou is 23:30 UTC the day before: it belongs to
    the site's day, and its time reads +08:00."""
    started = dt.datetime(2026, 11, 24, 23, 30, tzinfo=dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(CallRecord.__table__.insert(), [
            {"linkedid": "8.1", "caller_number": "13800000008", "caller_name": "早",
             "dialled": "4008008000", "started_at": started, "answered_at": None,
             "ended_at": started + dt.timedelta(minutes=1), "ivr_path": "", "language": "",
             "queue": None, "agent": None, "wait_seconds": None, "outcome": "ivr_only",
             "transfers": 0, "holds": 0, "hold_seconds": 0.0, "recording_file": None,
             "recording_seconds": None, "extra": {}}])
    site_day = await (await client.get("/api/v1/calls", params={
        "from": "2026-11-25", "to": "2026-11-25"})).json()
    assert [c["linkedid"] for c in site_day["calls"]] == ["8.1"]
    assert site_day["calls"][0]["started_at"] == "2026-11-25T07:30:00+08:00"
    utc_day = await (await client.get("/api/v1/calls", params={
        "from": "2026-11-24", "to": "2026-11-24"})).json()
    assert utc_day["calls"] == []


async def test_the_do_not_call_list_by_hand_and_by_csv_all_or_nothing(
    client: TestClient[Any, Any]
) -> None:
    resp = await client.post("/api/v1/do-not-call", json={"number": "+86 138-0013-8000",
                                                           "reason": "客户要求"})
    assert resp.status == 201 and (await resp.json())["number"] == "13800138000"
    for bad in ("12345", "abc", "+1 415 555 0100", "0000000000"):
        resp = await client.post("/api/v1/do-not-call", json={"number": bad})
        err = (await resp.json())["error"]
        assert resp.status == 422 and err["details"]["fields"][0]["field"] == "number", bad
    broken = "number,reason\n13900139000,不要回访\nnot-a-number,x\n0571 8888 1234\n1,2,3\n"
    resp = await client.post("/api/v1/do-not-call/import", data=broken.encode(),
                             headers={"Content-Type": "text/csv"})
    err = (await resp.json())["error"]
    assert resp.status == 422 and err["id"] == "invalid-csv"
    assert [p["line"] for p in err["details"]["lines"]] == [3, 5]
    listed = await (await client.get("/api/v1/do-not-call")).json()
    assert [n["number"] for n in listed["numbers"]] == ["13800138000"]  # nothing imported
    good = "\ufeffnumber,reason\n13900139000,不要回访\n0571 8888 1234\n+86 139 0013 9000,again\n"
    resp = await client.post("/api/v1/do-not-call/import", data=good.encode(),
                             headers={"Content-Type": "text/csv"})
    assert resp.status == 201 and (await resp.json()) == {"imported": 3, "numbers": 2}
    listed = await (await client.get("/api/v1/do-not-call")).json()
    assert {n["number"]: n["reason"] for n in listed["numbers"]} == {
        "13800138000": "客户要求", "13900139000": "again", "057188881234": ""}
    resp = await client.delete("/api/v1/do-not-call/13800138000")
    assert resp.status == 200
    resp = await client.delete("/api/v1/do-not-call/13800138000")
    assert resp.status == 404 and (await resp.json())["error"]["id"] == "not-on-list"
    resp = await client.post("/api/v1/do-not-call/import", data=b"",
                             headers={"Content-Type": "text/csv"})
    assert resp.status == 422


async def test_callbacks_booked_by_hand_listed_in_owed_order_and_cancelled(
    client: TestClient[Any, Any]
) -> None:
    for bad in ("12345", "not a number", "+1 415 555 0100"):
        resp = await client.post("/api/v1/callbacks", json={"number": bad})
        err = (await resp.json())["error"]
        assert resp.status == 422 and err["details"]["fields"][0]["field"] == "number", bad
    resp = await client.post("/api/v1/callbacks", json={"number": "+86 138-0013-8000",
                                                        "queue": "tv-zh", "note": "投诉回电"})
    first = await resp.json()
    assert resp.status == 201 and first["number"] == "13800138000"
    assert first["status"] == "waiting" and first["joined_at"].endswith("+08:00")
    resp = await client.post("/api/v1/callbacks", json={"number": "13800138000"})
    assert resp.status == 409 and (await resp.json())["error"]["id"] == "callback-open"
    await client.post("/api/v1/callbacks", json={"number": "8888 1234"})  # the local area
    owed = await (await client.get("/api/v1/callbacks")).json()
    assert [c["number"] for c in owed["callbacks"]] == ["13800138000", "057188881234"]
    one = await (await client.get(f"/api/v1/callbacks/{first['id']}")).json()
    assert one["tries"] == [] and one["note"] == "投诉回电"
    resp = await client.delete(f"/api/v1/callbacks/{first['id']}")
    assert resp.status == 200 and (await resp.json())["status"] == "dropped"
    resp = await client.delete(f"/api/v1/callbacks/{first['id']}")
    assert resp.status == 409 and (await resp.json())["error"]["id"] == "callback-closed"
    resp = await client.get("/api/v1/callbacks/999")
    assert resp.status == 404 and (await resp.json())["error"]["id"] == "callback-not-found"
    resp = await client.get("/api/v1/callbacks", params={"status": "everything"})
    assert resp.status == 422
    dropped = await (await client.get("/api/v1/callbacks", params={"status": "dropped"})).json()
    assert [c["id"] for c in dropped["callbacks"]] == [first["id"]]
