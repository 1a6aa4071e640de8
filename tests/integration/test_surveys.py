"""Surveys against the real sandbox: the follow-up call (回访) a closed repair
owes, answered on the simulated customer's keypad and linked to the ticket
and its outlet; the post-call rating linked to the call and the agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from acd.schemas import AgentIn
from acd.services import create_agent
from crm_bridge.models import CallRecord, ServiceOutlet
from crm_bridge.schemas import CustomerIn, PhoneIn, TicketClose, TicketIn, TicketPatch
from cti.config.credentials import AmiCredentials
from cti.server import Core
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import FIXTURES, running_core, wait_async, wait_until

CUSTOMER = "13900000021"


async def _answered(core: Core, **where: Any) -> list[dict[str, Any]] | None:
    answers = await core.surveys.answers(**where)
    return answers or None


async def test_a_closed_repair_gets_its_follow_up_and_the_answers_land_on_ticket_and_outlet(
    creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox
) -> None:
    async with running_core(creds, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
                            outbound_config=FIXTURES / "outbound-open.yaml") as core:
        core.dialer.tick = 1.0
        customer = await core.crm.create_customer(CustomerIn(
            name="回访客户", phones=[PhoneIn(number="0571 8888 0021", label="home"),
                                  PhoneIn(number=CUSTOMER, label="mobile")]))
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
        # the customer answers: 5 during the greeting (kept), 1 (solved), then says nothing
        await core.actions.db_put("sim-customer", CUSTOMER, "answer:40:WW5WWWWWW1")
        try:
            await core.tickets.close(ticket["id"], TicketClose(resolution="换了电容", actor="8001"))
            answers = await wait_async(lambda: _answered(core, ticket_id=ticket["id"]), 90,
                                       "the follow-up answered")
        finally:
            await core.actions.db_del("sim-customer", CUSTOMER)
        (a,) = answers
        assert a["kind"] == "follow_up" and a["outlet_id"] == outlet
        assert a["satisfaction"] == 5 and a["solved"] is True
        owed = await core.callbacks.get(a["callback_id"])
        assert owed is not None and owed["number"] == CUSTOMER  # the mobile, not the home
        assert owed["kind"] == "follow_up" and owed["ticket_id"] == ticket["id"]
        await wait_async(lambda: _done(core, a["callback_id"]), 60, "the follow-up done")
        report = await core.surveys.satisfaction(*_today())
        assert report["outlets"] == [{"outlet_id": outlet, "outlet": "西湖网点", "surveys": 1,
                                      "scored": 1, "satisfaction": 5.0, "solved_rate": 100.0}]


async def _done(core: Core, cid: int) -> dict[str, Any] | None:
    entry = await core.callbacks.get(cid)
    return entry if entry and entry["status"] == "done" else None


async def _record(core: Core, number: str) -> Any:
    async with core.engine.connect() as conn:
        return (await conn.execute(select(CallRecord).where(
            CallRecord.caller_number == number))).first()


def _today() -> tuple[Any, Any]:
    import datetime as dt
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(days=1), now + dt.timedelta(days=1)


async def test_the_caller_rates_the_agent_after_the_call(
    creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox
) -> None:
    acd = (Path(__file__).parents[2] / "acd" / "queues.yaml").read_text()
    acd_file = tmp_path / "queues.yaml"
    acd_file.write_text(acd.replace("    title: 电视 TVs\n",
                                    "    title: 电视 TVs\n    survey_after_call: true\n"))
    async with running_core(creds, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
                            acd_config=acd_file) as core:
        await create_agent(core.acd, AgentIn(code="8501", name="丙",
                                             skills={"tv": 5, "mandarin": 5}))
        await core.actions.setvar("SIM_AGENT_TALK", "2")
        await core.acd.login("8501", "Local/8501@sim-agent-phone/n")
        await core.actions.originate(
            "Local/4008008004@hotline", context="sim-caller", exten="s",
            caller_id='"客户" <13900000031>',
            variables={"SIM_PATIENCE": "40", "SIM_DTMF": "WWWWWW4WWW4WWW4WWW4"})
        answers = await wait_async(lambda: _answered(core), 60, "the rating")
        (a,) = answers
        assert a["kind"] == "post_call" and a["agent"] == "8501" and a["satisfaction"] == 4
        assert a["ticket_id"] is None and a["solved"] is None
        record = await wait_async(lambda: _record(core, "13900000031"), 60, "the call's record")
        assert a["call_id"] == record.linkedid and record.agent == "8501"
        report = await core.surveys.satisfaction(*_today())
        assert report["agents"] == [{"agent": "8501", "surveys": 1, "scored": 1,
                                     "satisfaction": 4.0}]
        await wait_until(lambda: core.board.agent("8501").state.value != "on_call", 30)
        await core.acd.logout("8501")
