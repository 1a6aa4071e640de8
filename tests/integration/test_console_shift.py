"""The console through a shift, in Chromium against the real sandbox: the
card shows the caller's real wait, follows hold with its timer, the transfer
picker shows who can take the call and refuses who cannot before the click,
the wrap-up's disposition reaches the call log, and the agent's own day counts
the call. Screenshots in test-artifacts/ (copies in docs/img)."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect
from sqlalchemy import select

from acd.schemas import AgentIn, PauseReason
from crm_bridge.models import CallRecord
from cti.server import Core
from tests.integration.conftest import place_call, sim_phones, wait_async, wait_until
from tests.integration.test_console import device, make_agents
from tests.integration.test_console_browser import (  # noqa: F401
    ARTIFACTS,
    browser,
    chromium,
    on_duty,
    site,
)


def seconds(text: str) -> int:
    m, s = text.split(":")
    return int(m) * 60 + int(s)


async def test_a_call_through_the_console_wait_hold_picker_disposition_and_my_day(
    core: Core, site: str, browser: Browser  # noqa: F811
) -> None:
    await make_agents(core, AgentIn(code="8751", name="郭婷", skills={"mandarin": 5}),
                      AgentIn(code="8752", name="马超", skills={"mandarin": 5}),
                      AgentIn(code="8753", name="唐悦", skills={"mandarin": 5}),
                      AgentIn(code="8755", name="罗兰", skills={"mandarin": 5}))
    await core.acd.login("8752", device("8752"))  # a colleague free to take a call
    await core.acd.login("8753", device("8753"))
    await core.acd.pause("8753", PauseReason.LUNCH)  # and one at lunch
    async with sim_phones(core.actions, SIM_AGENT_TALK_8751="60", SIM_AGENT_RING_8751="2",
                          SIM_AGENT_TALK_8752="60"):
        page = await browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        try:
            await on_duty(page, site, "8751")
            await expect(page.locator("#day-answered")).to_have_text("0")
            # the caller waits about 10 s (8751 paused, 8752 busy) before the ring
            await page.select_option("#pause-form select[name=reason]", "break")
            await page.click("#pause-form button[type=submit]")
            await expect(page.locator("#state")).to_have_attribute("data-state", "paused")
            await place_call(core.actions, "占线", "13900008752", patience=60)
            await wait_until(lambda: core.board.agent("8752").state.value == "on_call", 15,
                             "8752 busy")
            await place_call(core.actions, "久等", "13900008751", patience=60)
            await wait_until(lambda: core.board.queue_summary("general-service")["waiting"]
                             == 1, 15, "the caller waiting")
            await page.wait_for_timeout(10_000)
            await page.click("#unpause")
            pop = page.locator("#pop")
            await expect(pop).to_have_attribute("data-state", "ringing", timeout=15_000)
            await expect(pop).to_have_attribute("data-state", "talking", timeout=15_000)
            waited = seconds(await page.locator("#pop-wait").inner_text())
            assert 10 <= waited <= 14, waited  # ~10 s queued, ~2 s ringing
            await page.wait_for_timeout(1500)
            assert seconds(await page.locator("#pop-wait").inner_text()) == waited  # final
            await expect(page.locator("#pop-talk")).to_have_text(re.compile(r"0:0[1-9]"))

            # hold: the card says so and the hold timer runs; resume with the keyboard
            await page.keyboard.press("Alt+h")
            await expect(pop).to_have_attribute("data-state", "on_hold", timeout=10_000)
            await expect(page.locator("#pop-state")).to_contain_text("保持")
            await expect(page.locator("#pop-hold")).to_have_text(re.compile(r"0:0[2-9]"),
                                                                timeout=8_000)
            await page.keyboard.press("Alt+r")
            await expect(pop).to_have_attribute("data-state", "talking", timeout=10_000)

            # the picker: queues, a free colleague; one on a call and one at lunch are
            # refused up front, as the API would
            await core.acd.login("8755", device("8755"))
            await page.keyboard.press("Alt+t")
            await expect(page.locator("#picker-filter")).to_be_focused()
            items = page.locator("#picker-list li")
            colleagues = page.locator('#picker-list li[data-to="agent"]')
            await expect(colleagues.first).to_contain_text("罗兰 8755")  # available first
            await expect(items.filter(has_text="罗兰 8755")).not_to_have_attribute(
                "aria-disabled", "true")
            await expect(items.filter(has_text="马超 8752")).to_contain_text("通话中")
            lunch = items.filter(has_text="唐悦 8753")
            await expect(lunch).to_have_attribute("aria-disabled", "true")
            await expect(lunch).to_contain_text("午餐 lunch")
            await expect(items.filter(has_text="郭婷 8751")).to_have_attribute(
                "aria-disabled", "true")  # yourself
            await expect(items.filter(has_text="综合服务")).to_have_count(1)
            await page.fill("#picker-filter", "唐")
            await expect(items).to_have_count(1)
            await items.first.click(force=True)  # a user can click it: it says why not
            await expect(page.locator("#action-error")).to_contain_text("不能转接")
            assert await page.locator("#transfer-form input[name=target]").input_value() == ""
            await page.fill("#picker-filter", "8755")
            await items.filter(has_text="罗兰").click()
            assert await page.locator("#transfer-form input[name=target]").input_value() \
                == "8755"
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "console-call.png"), full_page=True)

            # the agent hangs up, wraps up: the disposition is on the call's record
            await page.keyboard.press("Alt+x")
            await expect(pop).to_have_attribute("data-state", "wrap_up", timeout=10_000)
            call_id = await pop.get_attribute("data-call-id")
            await page.select_option("#wrapup select[name=disposition]", "information_given")
            await page.keyboard.press("Alt+s")
            await expect(pop).to_be_hidden(timeout=10_000)

            async def logged() -> dict[str, str] | None:
                async with core.engine.connect() as conn:
                    row = (await conn.execute(select(CallRecord.disposition).where(
                        CallRecord.linkedid == call_id))).first()
                return {"disposition": row.disposition} if row and row.disposition else None
            assert (await wait_async(logged, 20, "the disposition on the record")) == {
                "disposition": "information_given"}
            # my day: one call answered, it tops my last calls with its disposition
            await expect(page.locator("#day-answered")).to_have_text("1", timeout=10_000)
            await page.click("#day summary")
            await expect(page.locator("#day-calls tbody tr").first).to_contain_text(
                "已告知信息 information given")
            await expect(page.locator("#day-since")).to_have_text(re.compile(r"0:0\d"))
            await page.screenshot(path=str(ARTIFACTS / "console-day.png"), full_page=True)
        finally:
            await page.close()


async def test_the_console_fits_a_narrow_window(
    core: Core, site: str, browser: Browser  # noqa: F811
) -> None:
    await make_agents(core, AgentIn(code="8754", name="韩雪", skills={"mandarin": 5}))
    page = await browser.new_page(viewport={"width": 800, "height": 900}, locale="zh-CN")
    try:
        await on_duty(page, site, "8754")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, f"the console needs {width} px at 800 px wide"
    finally:
        await page.close()
