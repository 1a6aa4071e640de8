"""Callbacks and campaigns in the agent's console, in a real headless
Chromium against the real sandbox: a callback rings the agent with the card
that says so (since when the caller is in line) before the customer's phone
rings; a campaign's preview shows the contact, their card and the questions,
the agent dials (their phone first) and the answers land in the database.
Screenshots in test-artifacts/."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from acd.schemas import AgentIn
from crm_bridge.callbacks import Callbacks
from cti.config.credentials import AmiCredentials
from cti.server import Core
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import sim_phones, wait_async
from tests.integration.test_callbacks import open_site
from tests.integration.test_console import known_customer, make_agents
from tests.integration.test_console_browser import (
    ARTIFACTS,
    browser,
    chromium,
    on_duty,
    serving,
)

__all__ = ["browser", "chromium"]  # the fixtures, from the console's browser tests


@pytest.fixture
async def open_core(creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox
                    ) -> AsyncIterator[Core]:
    async with open_site(creds, tmp_path) as core:
        yield core


@pytest.fixture
async def site(open_core: Core) -> AsyncIterator[str]:
    async with serving(open_core) as url:
        yield url


async def test_the_callback_card_and_a_campaign_preview_in_the_console(
    open_core: Core, site: str, browser: Browser
) -> None:
    core = open_core
    await make_agents(core, AgentIn(code="8801", name="许静", skills={"tv": 5, "mandarin": 5}))
    await known_customer(core, "13800008801", "冯十三", vip=False, category="tv",
                         model="55E8")
    store = Callbacks(core.engine)
    async with sim_phones(core.actions, SIM_AGENT_RING_8801="4", SIM_AGENT_TALK_8801="6"):
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        try:
            await on_duty(page, site, "8801")
            # a callback owed since three minutes ago rings the agent first
            entry, _ = await store.open("13800008801", "keep_place", queue="tv-zh",
                                        joined_at=dt.datetime.now(dt.UTC)
                                        - dt.timedelta(minutes=3))
            core.dialer.wake()
            pop = page.locator("#pop")
            await expect(pop).to_be_visible(timeout=20_000)
            await expect(pop).to_have_attribute("data-state", "ringing")
            banner = page.locator("#pop-callback")
            await expect(banner).to_be_visible()
            await expect(banner).to_contain_text("回电 Callback")
            await expect(banner).to_contain_text("3 分钟")
            await expect(page.locator("#pop-name")).to_have_text("冯十三")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "console-callback.png"), full_page=True)

            async def reached() -> bool:
                e = await store.get(entry["id"])
                return bool(e and e["status"] == "done")

            await wait_async(reached, 40, "the callback answered")
            await expect(pop).to_have_attribute("data-state", "wrap_up", timeout=30_000)
            await page.locator("#wrapup button[type=submit]").click()
            await expect(pop).to_be_hidden(timeout=10_000)

            # a campaign: the preview first, then the agent dials
            campaign = await core.campaigns.create("新款电视满意度", [
                {"id": "q1", "text": "画质满意度", "kind": "scale", "options": []},
                {"id": "q2", "text": "购买渠道", "kind": "choice", "options": ["门店", "网络"]}],
                "boss")
            await core.campaigns.import_contacts(campaign["id"], "13800008801,冯十三\n")
            await core.campaigns.set_status(campaign["id"], "running")
            await page.click("#campaign-next")
            box = page.locator("#campaign")
            await expect(box).to_be_visible()
            await expect(page.locator("#cp-number")).to_have_text("13800008801")
            await expect(page.locator("#cp-card")).to_contain_text("55E8")
            await expect(box.locator("[data-question=q2] option")).to_have_count(3)
            await page.screenshot(path=str(ARTIFACTS / "console-campaign.png"), full_page=True)
            calls_before = len(core.tracker.calls)
            await page.click("#cp-dial")
            await wait_async(lambda: _rang(core, calls_before), 20, "the agent's phone rings")
            await box.locator("[data-question=q1]").select_option("5")
            await box.locator("[data-question=q2]").select_option("网络")
            await box.locator("select[name=outcome]").select_option("answered")
            await box.locator("button[type=submit]").click()
            await expect(box).to_be_hidden(timeout=5_000)
            rows = await core.campaigns.contacts(campaign["id"])
            assert [(r["status"], r["agent"], r["answers"]) for r in rows] == [
                ("done", "8801", {"q1": 5, "q2": "网络"})]
        finally:
            await page.close()


async def _rang(core: Core, before: int) -> bool:
    return core.board.agent("8801").state.value in ("ringing", "on_call") or \
        len(core.tracker.calls) > before
