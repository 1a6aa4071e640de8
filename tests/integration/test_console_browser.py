"""The agent console in a real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright; no browser is downloaded), against the real sandbox:
the agent signs in, logs into the queues, a call rings and the right
customer's card appears, and the wrap-up's ticket lands in the database.
A screenshot of the popped card is kept in test-artifacts/."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select

from acd.schemas import AgentIn
from crm_bridge.models import CallWrapUp, Ticket
from crm_bridge.schemas import CustomerIn, PhoneIn
from cti.config import paths
from cti.server import Core, web_app
from tests.integration.conftest import place_call, sim_phones, wait_async
from tests.integration.test_console import PASSWORD, known_customer, make_agents
from tests.support.postgres import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = paths.PROJECT_ROOT / "test-artifacts"


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)",
                    pytrace=False)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
            # nothing but the page under test: no background calls to the internet
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        await b.close()


@contextlib.asynccontextmanager
async def serving(core: Core) -> AsyncIterator[str]:
    """The core's web app on a free port: its base URL."""
    runner = web.AppRunner(web_app(core))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def site(core: Core) -> AsyncIterator[str]:
    async with serving(core) as url:
        yield url


async def on_duty(page: Page, site: str, code: str) -> None:
    """Signed in on the page, logged into the queues with the simulated phone."""
    await page.goto(f"{site}/console")  # not signed in: sent to the sign-in page, and back
    await expect(page).to_have_url(f"{site}/sign-in?next=%2Fconsole")
    await page.fill("#signin-form input[name=login]", code)
    await page.fill("#signin-form input[name=password]", PASSWORD)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#console")).to_be_visible()
    await page.fill("#acd-login input[name=device]", f"Local/{code}@sim-agent-phone/n")
    await page.click("#acd-login button[type=submit]")
    await expect(page.locator("#state")).to_have_attribute("data-state", "available")


async def test_a_call_pops_the_card_in_the_browser_and_the_wrap_up_ticket_is_saved(
    core: Core, site: str, browser: Browser
) -> None:
    await make_agents(core, AgentIn(code="8701", name="周洁", skills={"mandarin": 5}))
    await known_customer(core, "13800007777", "郑十一", vip=False, category="washing_machine",
                         model="XQG100")
    async with sim_phones(core.actions, SIM_AGENT_RING_8701="4", SIM_AGENT_TALK_8701="3"):
        page = await browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        try:
            await on_duty(page, site, "8701")
            await expect(page.locator("#agent-name")).to_have_text("周洁")

            await place_call(core.actions, "郑十一", "13800007777", patience=20)
            pop = page.locator("#pop")
            await expect(pop).to_be_visible(timeout=15_000)
            await expect(page.locator("#pop-name")).to_have_text("郑十一")
            await expect(pop).to_have_attribute("data-state", "ringing")
            await expect(page.locator("#appliances")).to_contain_text("XQG100")
            await expect(page.locator("#appliances")).to_contain_text("在保")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "console-pop.png"), full_page=True)
            call_id = await pop.get_attribute("data-call-id")
            assert call_id
            # /metrics: the pop's latency, Asterisk's ring to the card sent
            assert b"hotline_screen_pop_seconds_count 1.0" in core.metrics.text()

            # the agent answers, the call ends: the wrap-up form, a repair ticket
            await expect(pop).to_have_attribute("data-state", "wrap_up", timeout=20_000)
            form = page.locator("#wrapup")
            await form.locator("input[name=make_ticket]").check()
            await form.locator("input[name=summary]").fill("洗衣机脱水异响")
            await form.locator("textarea[name=notes]").fill("客户周末在家")
            await form.locator("select[name=appliance_id]").select_option(
                label="洗衣机 washing machine XQG100")
            await form.locator("button[type=submit]").click()
            await expect(pop).to_be_hidden(timeout=5_000)

            async def saved() -> tuple[Ticket, CallWrapUp] | None:
                async with core.engine.connect() as conn:
                    t = (await conn.execute(select(Ticket))).first()
                    w = (await conn.execute(select(CallWrapUp))).first()
                return (t, w) if t is not None and w is not None else None  # type: ignore[return-value]

            ticket, wrap = await wait_async(saved, 5, "the ticket and the wrap-up")
            assert (ticket.summary, ticket.kind, ticket.call_linkedid) == (
                "洗衣机脱水异响", "repair", call_id)
            assert (wrap.agent, wrap.disposition, wrap.notes, wrap.ticket_id) == (
                "8701", "ticket_created", "客户周末在家", ticket.id)
        finally:
            await page.close()


async def test_a_consultation_cancelled_then_a_blind_transfer_move_the_card_between_consoles(
    core: Core, site: str, browser: Browser
) -> None:
    await make_agents(core, AgentIn(code="8711", name="林晓", skills={"mandarin": 5}),
                      AgentIn(code="8712", name="Amy", skills={"english": 5}))
    await core.crm.create_customer(CustomerIn(name="王十二", phones=[
        PhoneIn(number="13800007788")]))
    async with sim_phones(core.actions, SIM_AGENT_TALK_8711="60", SIM_AGENT_RING_8712="1",
                          SIM_AGENT_TALK_8712="60"):
        lin_ctx, amy_ctx = await browser.new_context(), await browser.new_context()  # own cookies
        lin, amy = await lin_ctx.new_page(), await amy_ctx.new_page()
        try:
            for page, code in ((lin, "8711"), (amy, "8712")):
                await on_duty(page, site, code)
            await place_call(core.actions, "王十二", "13800007788", patience=90)
            await expect(lin.locator("#pop")).to_have_attribute("data-state", "talking",
                                                               timeout=15_000)
            await lin.locator("#wrapup textarea[name=notes]").fill("客户要英文服务")
            form = lin.locator("#transfer-form")
            await form.locator("select[name=to]").select_option("agent")
            await form.locator("input[name=target]").fill("8712")

            # consult 8712: the card and the notes are on Amy's console while she talks
            await form.locator("button[value=consult]").click()
            await expect(lin.locator("#consulting")).to_be_visible()
            await expect(amy.locator("#pop-name")).to_have_text("王十二", timeout=10_000)
            await expect(amy.locator("#pop-notes")).to_contain_text("客户要英文服务")
            await expect(amy.locator("#pop")).to_have_attribute("data-state", "talking",
                                                               timeout=10_000)
            # cancelled: the caller is back with 林晓, Amy's card leaves the call
            await lin.click("#btn-cancel")
            await expect(amy.locator("#pop")).to_have_attribute("data-state", "wrap_up",
                                                               timeout=10_000)
            await expect(lin.locator("#pop")).to_have_attribute("data-state", "talking")
            await amy.click("#btn-dismiss")
            await expect(amy.locator("#pop")).to_be_hidden()

            # a blind transfer: the call and the card move to Amy; 林晓 is in wrap-up
            await expect(amy.locator("#state")).to_have_attribute("data-state", "available",
                                                                 timeout=15_000)
            await form.locator("input[name=target]").fill("8712")
            await form.locator("button[value=transfer]").click()
            await expect(lin.locator("#pop")).to_have_attribute("data-state", "wrap_up",
                                                               timeout=10_000)
            await expect(amy.locator("#pop")).to_have_attribute("data-state", "talking",
                                                               timeout=15_000)
            await expect(amy.locator("#pop-name")).to_have_text("王十二")
            await expect(amy.locator("#pop-notes")).to_contain_text("客户要英文服务")
            ARTIFACTS.mkdir(exist_ok=True)
            await amy.screenshot(path=str(ARTIFACTS / "console-transferred.png"), full_page=True)
            await amy.click("#btn-hangup")
            await expect(amy.locator("#pop")).to_have_attribute("data-state", "wrap_up",
                                                               timeout=10_000)
        finally:
            await lin_ctx.close()
            await amy_ctx.close()


async def test_an_unknown_caller_gets_a_prefilled_form_that_makes_them_a_customer(
    core: Core, site: str, browser: Browser
) -> None:
    from crm_bridge.models import CustomerPhone

    await make_agents(core, AgentIn(code="8721", name="陈静", skills={"mandarin": 5}))
    async with sim_phones(core.actions, SIM_AGENT_TALK_8721="30"):
        page = await browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        try:
            await on_duty(page, site, "8721")
            await place_call(core.actions, "", "13900007721", patience=40)
            form = page.locator("#new-customer")
            await expect(form).to_be_visible(timeout=15_000)
            await expect(page.locator("#pop")).to_have_attribute("data-known", "no")
            await expect(form.locator("input[name=number]")).to_have_value("13900007721")
            await form.locator("input[name=name]").fill("冯十三")
            await form.locator("input[name=region]").fill("浙江 杭州")
            await form.locator("button[type=submit]").click()
            await expect(page.locator("#pop-name")).to_have_text("冯十三", timeout=5_000)
            await expect(form).to_be_hidden()
            async with core.engine.connect() as conn:
                phone = (await conn.execute(select(CustomerPhone).where(
                    CustomerPhone.number == "13900007721"))).first()
            assert phone is not None
        finally:
            await page.close()
