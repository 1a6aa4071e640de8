"""The supervisor's pages in a real headless Chromium against the real
sandbox: the wallboard under a load of 30 calls shows what the live model and
the API say; from the agent board a supervisor listens in (ChanSpy in
Asterisk) and forces a pause and a logout (audited); a recording plays in the
reports' page; an agent is refused every supervisor page. Screenshots of the
wallboard, the agent board and a report are kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, expect

from cti.roles import Role
from cti.server import Core
from tests.integration.conftest import QUEUE, place_call, sim_phones, wait_async, wait_until
from tests.integration.test_console_browser import ARTIFACTS, browser, chromium, site  # noqa: F401
from tests.support.users import PASSWORD, bearer, make_user

AGENTS = ("8261", "8262", "8263")


@pytest.fixture
async def admin(core: Core, server: TestServer) -> AsyncIterator[TestClient[Any, Any]]:
    client = await bearer(server, core.sessions, core.accounts)
    for code in AGENTS:
        resp = await client.post("/api/v1/agents", json={"code": code, "name": f"坐席{code}",
                                                         "skills": {"mandarin": 5}})
        assert resp.status == 201
    await make_user(core.sessions, core.accounts, "wang", Role.SUPERVISOR)
    yield client
    await client.close()


async def signed_in(page: Page, site: str, login: str, goto: str) -> None:  # noqa: F811
    """Through the one sign-in page, sent back to ``goto``."""
    await page.goto(f"{site}{goto}")
    await expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    await page.fill("#signin-form input[name=login]", login)
    await page.fill("#signin-form input[name=password]", PASSWORD)
    await page.click("#signin-form button[type=submit]")
    await expect(page).to_have_url(f"{site}{goto}")


def cell(page: Page, queue: str, name: str) -> Any:
    return page.locator(f'#board tr[data-queue="{queue}"] td.{name}')


async def test_the_wallboard_shows_what_the_model_and_the_api_say_under_30_calls(
    core: Core, site: str, browser: Browser, admin: TestClient[Any, Any]  # noqa: F811
) -> None:
    talks = {f"SIM_AGENT_TALK_{c}": "2" for c in AGENTS}
    async with sim_phones(core.actions, **talks):
        for code in AGENTS:
            resp = await admin.post(f"/api/v1/agents/{code}/login",
                                    json={"device": f"Local/{code}@sim-agent-phone/n"})
            assert resp.status == 200
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        try:
            await signed_in(page, site, "wang", "/wallboard")
            # four calls answered and done: today's figures on the board are the API's
            for i in range(4):
                await place_call(core.actions, "早到", f"1390000{i:04d}", patience=30)
            await wait_until(lambda: core.acd.tally.view(QUEUE)["today"]["offered"] == 4, 30,
                             "four calls counted")

            async def api_today() -> dict[str, Any] | None:
                stats = await (await admin.get("/api/v1/stats/queues",
                                               params={"window": "today"})).json()
                row = next((q for q in stats["queues"] if q["queue"] == QUEUE), None)
                return row if row and row["offered"] == 4 else None
            today = await wait_async(api_today, 20, "the records of the four calls")
            sl = f"{today['service_level'] * 100:.1f}%"
            await expect(cell(page, QUEUE, "sl")).to_contain_text(f"今日 {sl}")
            await expect(cell(page, QUEUE, "sl")).to_contain_text(sl)  # the last 60 min too

            # thirty callers at once; the three agents stay on their calls a minute
            for code in AGENTS:
                await core.actions.setvar(f"SIM_AGENT_TALK_{code}", "60")
            await asyncio.gather(*(place_call(core.actions, "排队", f"1370000{i:04d}",
                                              patience=90) for i in range(30)))
            await wait_until(lambda: core.board.queue_summary(QUEUE)["waiting"] == 27, 30,
                             "27 callers waiting, 3 talking")
            model = core.board.queue_summary(QUEUE)
            rest = await (await admin.get(f"/api/v1/queues/{QUEUE}")).json()
            assert rest["waiting"] == model["waiting"] == 27
            await expect(cell(page, QUEUE, "waiting")).to_have_text("27")
            await expect(cell(page, QUEUE, "agents")).to_have_text("0 · 3 · 0 · 0")
            assert model["agents"]["on_call"] == 3 and rest["agents_available"] == 0
            await expect(page.locator("#total-talking")).to_have_text("3")
            # the longest wait ticks on the page between messages
            first = await cell(page, QUEUE, "longest").inner_text()
            await asyncio.sleep(2.2)
            later = await cell(page, QUEUE, "longest").inner_text()
            assert later != first and re.fullmatch(r"\d+:\d\d", later), (first, later)
            # coloured by the queue's thresholds: 27 waiting is past the alarm (8)
            await expect(cell(page, QUEUE, "waiting")).to_have_attribute("data-level", "alarm")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
        finally:
            await page.close()


async def test_from_the_agent_board_a_supervisor_listens_and_forces_a_pause_and_a_logout(
    core: Core, site: str, browser: Browser, admin: TestClient[Any, Any]  # noqa: F811
) -> None:
    async with sim_phones(core.actions, SIM_AGENT_TALK_8261="40", SIM_AGENT_TALK_9261="40"):
        for code in ("8261", "8262"):
            resp = await admin.post(f"/api/v1/agents/{code}/login",
                                    json={"device": f"Local/{code}@sim-agent-phone/n"})
            assert resp.status == 200
        resp = await admin.post("/api/v1/agents/8262/pause", json={"reason": "lunch"})
        assert resp.status == 200
        await place_call(core.actions, "被监听", "13900008261", patience=60)
        await wait_until(lambda: core.board.agent("8261").state.value == "on_call", 15,
                         "8261 talking")
        page = await browser.new_page(viewport={"width": 1500, "height": 900}, locale="zh-CN")
        try:
            await signed_in(page, site, "wang", "/supervisor")
            row = page.locator('#agents tr[data-agent="8261"]')
            await expect(row.locator(".state")).to_have_attribute("data-state", "on_call")
            await expect(row).to_contain_text("13900008261")
            await page.fill("#my-phone", "Local/9261@sim-agent-phone/n")
            await row.locator('button[data-action="listen"]').click()

            async def spying() -> bool:
                return any(c.text("Application", "") == "ChanSpy"
                           for c in await core.actions.core_show_channels())
            await wait_async(spying, 10, "ChanSpy in Asterisk")
            await expect(page.locator("#action-error")).to_be_hidden()

            # 8262 is back from lunch: resume, then force a pause for a meeting
            other = page.locator('#agents tr[data-agent="8262"]')
            await expect(other.locator(".state")).to_have_attribute("data-state", "paused")
            await other.locator('button[data-action="unpause"]').click()
            await expect(other.locator(".state")).to_have_attribute("data-state", "available")
            await other.locator('select[data-action="reason"]').select_option("meeting")
            await other.locator('button[data-action="pause"]').click()
            await expect(other.locator(".reason")).to_have_text(re.compile("会议 meeting"))
            assert core.board.agent("8262").pause_reason == "meeting"
            page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
            await other.locator('button[data-action="logout"]').click()
            await expect(other.locator(".state")).to_have_attribute("data-state", "logged_out")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "agent-board.png"), full_page=True)
        finally:
            await page.close()
    site_today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    entries = (await (await admin.get("/api/v1/audit", params={
        "from": site_today, "to": site_today, "actor": "wang"})).json())["entries"]
    done = [(e["action"], e["target"]) for e in reversed(entries)]
    assert done[:4] == [("spy.start", "8261"), ("agent.unpause", "8262"),
                        ("agent.pause", "8262"), ("agent.logout", "8262")], done
    assert entries[-3]["details"]["request"] == {"reason": "meeting"}


async def test_a_recording_plays_in_the_reports_page(
    core: Core, site: str, browser: Browser, admin: TestClient[Any, Any]  # noqa: F811
) -> None:
    async with sim_phones(core.actions, SIM_AGENT_TALK_8263="3"):
        resp = await admin.post("/api/v1/agents/8263/login",
                                json={"device": "Local/8263@sim-agent-phone/n"})
        assert resp.status == 200
        call_id = await place_call(core.actions, "录音回放", "13900008263", patience=20)

        async def recorded() -> bool:
            calls = (await (await admin.get("/api/v1/calls")).json())["calls"]
            return any(c["linkedid"] == call_id and c["recording"]
                       and c["recording"]["seconds"] for c in calls)
        await wait_async(recorded, 30, "the call recorded and measured")
    page = await browser.new_page(viewport={"width": 1400, "height": 1600}, locale="zh-CN")
    try:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await signed_in(page, site, "wang", "/reports")
        await expect(page.locator("#calls-table tbody tr")).not_to_have_count(0)
        await expect(page.locator("#action-error")).to_be_hidden()
        audio = page.locator(f'#calls-table tr[data-call="{call_id}"] audio')
        await expect(audio).to_have_count(1)
        duration = await audio.evaluate(
            """a => new Promise((ok, fail) => {
                 if (a.readyState >= 1) return ok(a.duration);
                 a.addEventListener('loadedmetadata', () => ok(a.duration));
                 a.addEventListener('error', () => fail(new Error('cannot load')));
                 a.load(); })""")
        assert duration > 0
        await expect(page.locator("#queues-table tbody tr")).not_to_have_count(0)
        await expect(page.locator("#queues-table th").nth(5)).to_contain_text("服务水平")
        await expect(page.locator("#formula-list")).to_contain_text("answered within T s")
        assert errors == []  # the page's script ran without an error
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)
    finally:
        await page.close()


async def test_an_agent_is_refused_every_supervisor_page(
    core: Core, site: str, browser: Browser, admin: TestClient[Any, Any]  # noqa: F811
) -> None:
    await make_user(core.sessions, core.accounts, "8261", Role.AGENT)
    page = await browser.new_page(locale="zh-CN")
    try:
        await signed_in(page, site, "8261", "/console")
        for path in ("/supervisor", "/wallboard", "/reports", "/"):
            resp = await page.goto(f"{site}{path}")
            assert resp is not None and resp.status == 403, path
            await expect(page.locator("h1")).to_contain_text("无权访问")
        resp = await page.goto(f"{site}/api/v1/acd/ws")
        assert resp is not None and resp.status == 403
    finally:
        await page.close()
