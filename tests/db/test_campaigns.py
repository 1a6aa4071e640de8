"""Survey campaigns over HTTP, on both databases: questions checked (a survey
with no questions refused), the list imported all or nothing with the bad
lines named and do-not-call numbers never called, one contact per agent
however they race, the answers checked against the questions, results for
the charts and as CSV."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.accounts import Accounts
from crm_bridge.agents import AgentDirectory
from crm_bridge.campaigns import Campaigns
from crm_bridge.dnc import DoNotCallList
from crm_bridge.services import CrmService
from cti.outbound.campaigns import CampaignDesk
from cti.outbound.http import add_routes
from cti.roles import Role
from cti.web import sessions as web_sessions
from cti.web.app import new_app
from cti.web.sessions import SessionService
from tests.support.users import FAST, bearer

QUESTIONS = [
    {"id": "q1", "text": "您对新款空调的外观满意吗？", "kind": "scale"},
    {"id": "q2", "text": "您从哪里知道新品？", "kind": "choice",
     "options": ["电视", "网络", "门店"]},
    {"id": "q3", "text": "其他建议", "kind": "text"},
]


@pytest.fixture
async def clients(engine: AsyncEngine) -> AsyncIterator[dict[str, TestClient[Any, Any]]]:
    accounts = Accounts(engine)
    sessions = SessionService(accounts, hasher=FAST)
    app = new_app({})
    web_sessions.add_routes(app, sessions)
    store = Campaigns(engine, local_area_code="0571")
    dnc = DoNotCallList(engine, local_area_code="0571")
    await dnc.add("13900000003", "不要打扰", "test")
    desk = CampaignDesk(store, cast(Any, None), dnc, cast(Any, None),
                        CrmService(engine, local_area_code="0571"), lambda: True)
    add_routes(app, store, desk)
    server = TestServer(app)
    out = {"boss": await bearer(server, sessions, accounts, "boss", Role.SUPERVISOR)}
    for code in ("8001", "8002"):
        await AgentDirectory(engine).create(code, f"坐席{code}", {"mandarin": 5})
        out[code] = await bearer(server, sessions, accounts, f"a{code}", Role.AGENT, agent=code)
    try:
        yield out
    finally:
        for c in out.values():
            await c.close()


async def test_a_campaign_from_questions_and_list_to_answers_and_charts(
    clients: dict[str, TestClient[Any, Any]]
) -> None:
    boss = clients["boss"]
    for bad, field in (({"name": "空", "questions": []}, "questions"),
                       ({"name": "x", "questions": [{"id": "q1", "text": "?", "kind": "choice",
                                                     "options": ["只有一个"]}]}, "questions.0"),
                       ({"name": "", "questions": QUESTIONS}, "name")):
        resp = await boss.post("/api/v1/campaigns", json=bad)
        err = (await resp.json())["error"]
        assert resp.status == 422 and err["details"]["fields"][0]["field"] == field, err
    resp = await boss.post("/api/v1/campaigns",
                           json={"name": "新款空调调查", "questions": QUESTIONS})
    campaign = await resp.json()
    assert resp.status == 201 and campaign["status"] == "draft"
    cid = campaign["id"]

    broken = "number,name\n13900000001,张\nnot-a-number,李\n13900000002,王\n"
    resp = await boss.post(f"/api/v1/campaigns/{cid}/contacts", data=broken.encode(),
                           headers={"Content-Type": "text/csv"})
    err = (await resp.json())["error"]
    assert resp.status == 422 and err["id"] == "invalid-csv"
    assert [p["line"] for p in err["details"]["lines"]] == [3]
    assert (await (await boss.get(f"/api/v1/campaigns/{cid}")).json())["contacts"]["pending"] == 0
    good = "number,name\n13900000001,张\n13900000002,王\n13900000003,赵\n13900000001,张\n"
    resp = await boss.post(f"/api/v1/campaigns/{cid}/contacts", data=good.encode(),
                           headers={"Content-Type": "text/csv"})
    assert (await resp.json()) == {"imported": 3, "do_not_call": 1, "rows": 4}

    # a draft gives agents nothing; running, two racing agents get two contacts
    first = await (await clients["8001"].post("/api/v1/console/campaign/next")).json()
    assert first == {"contact": None}
    await boss.post(f"/api/v1/campaigns/{cid}/status", json={"status": "running"})
    a, b = await asyncio.gather(*(clients[k].post("/api/v1/console/campaign/next")
                                  for k in ("8001", "8002")))
    a, b = await a.json(), await b.json()
    assert {a["contact"]["number"], b["contact"]["number"]} == {"13900000001", "13900000002"}
    assert a["campaign"]["questions"][1]["options"] == ["电视", "网络", "门店"]
    again = await (await clients["8001"].post("/api/v1/console/campaign/next")).json()
    assert again["contact"]["id"] == a["contact"]["id"]  # still the one on screen
    mine, theirs = a["contact"]["id"], b["contact"]["id"]

    resp = await clients["8001"].post(f"/api/v1/console/campaign/{theirs}/result",
                                      json={"outcome": "answered", "answers": {}})
    assert resp.status == 409 and (await resp.json())["error"]["id"] == "contact-not-yours"
    resp = await clients["8001"].post(f"/api/v1/console/campaign/{mine}/result", json={
        "outcome": "answered", "answers": {"q1": "7"}})
    err = (await resp.json())["error"]
    assert resp.status == 422 and err["details"]["fields"][0]["field"] == "answers.q1"
    resp = await clients["8001"].post(f"/api/v1/console/campaign/{mine}/result", json={
        "outcome": "answered", "answers": {"q1": "4", "q2": "网络", "q3": "希望更安静"}})
    assert resp.status == 200 and (await resp.json())["status"] == "done"
    resp = await clients["8002"].post(f"/api/v1/console/campaign/{theirs}/result",
                                      json={"outcome": "no_answer"})
    assert (await resp.json())["status"] == "pending"  # tried again later
    nobody = await (await clients["8002"].post("/api/v1/console/campaign/next")).json()
    assert nobody == {"contact": None}  # 13900000003 is on the do-not-call list

    results = await (await boss.get(f"/api/v1/campaigns/{cid}/results")).json()
    assert results["answered"] == 1
    q1, q2, q3 = results["questions"]
    assert q1["counts"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    assert q2["counts"] == {"电视": 0, "网络": 1, "门店": 0} and q3["texts"] == ["希望更安静"]
    csv = await (await boss.get(f"/api/v1/campaigns/{cid}/results.csv")).text()
    lines = csv.lstrip("\ufeff").splitlines()
    assert lines[0] == "number,name,status,attempts,last_outcome,agent,q1,q2,q3"
    # who got which contact is the race's: 8001's is done with its answers
    line = f"{a['contact']['number']},{a['contact']['name']},done,1,answered,8001,4,网络,希望更安静"
    assert line in lines
    assert any(line.startswith("13900000003,赵,skipped,0,do_not_call") for line in lines)
    listed = await (await boss.get("/api/v1/campaigns")).json()
    assert listed["campaigns"][0]["contacts"] == {"pending": 1, "preview": 0, "done": 1,
                                                  "failed": 0, "skipped": 1}
    resp = await clients["8001"].get("/api/v1/campaigns")
    assert resp.status == 403  # an agent sees only their own contact
