"""Callers walk the IVR in the sandbox: a Local channel whose other side
presses keys with SendDTMF. They reach the queue their keys chose, in their
language, and the call record has the path."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_bridge.models import CallRecord
from cti.app import Core
from tests.integration.conftest import wait_async, wait_until

IVR_NUMBER = "Local/4008008000@hotline"


async def walk(core: Core, keys: str, number: str, patience: int = 4) -> dict[str, str]:
    """Call the IVR, press ``keys`` (W: wait a second), stay ``patience``
    seconds after the last key."""
    joined: dict[str, str] = {}
    core.bus.subscribe("ami.QueueCallerJoin", lambda t, m: joined.setdefault(
        m.text("CallerIDNum"), m.text("Queue")))
    await core.actions.originate(IVR_NUMBER, context="sim-caller", exten="s",
                                 caller_id=f'"测试" <{number}>',
                                 variables={"SIM_DTMF": keys, "SIM_PATIENCE": str(patience)})
    await wait_until(lambda: number in joined, 60, f"the caller pressing {keys} to queue")
    return joined


async def record(core: Core, number: str) -> CallRecord:
    async def written() -> CallRecord | None:
        async with core.engine.connect() as conn:
            row = (await conn.execute(select(CallRecord).where(
                CallRecord.caller_number == number))).first()
        return row  # type: ignore[return-value]

    return await wait_async(written, 30, f"the record of {number}")  # type: ignore[no-any-return]


@pytest.mark.parametrize(("keys", "queue", "language", "path"), [
    ("1WW1WW4", "tv-zh", "zh", "language:1>main:1>products:4"),
    ("2WW1WW1", "english", "en", "language:2>main:1>products:1"),
    ("1WW3", "complaints", "zh", "language:1>main:3"),
    ("2WW0", "english", "en", "language:2>main:0"),
])
async def test_keys_lead_to_the_queue_in_the_callers_language(
    core: Core, keys: str, queue: str, language: str, path: str
) -> None:
    number = "1390000" + "".join(c for c in keys if c.isdigit()).ljust(4, "0")[:4]
    joined = await walk(core, keys, number)
    assert joined[number] == queue
    row = await record(core, number)
    assert (row.ivr_path, row.language, row.queue) == (path, language, queue)


async def test_three_invalid_keys_send_the_caller_to_an_agent(core: Core) -> None:
    number = "13900009999"
    joined = await walk(core, "1WW9WWWW9WWWW9", number, patience=15)
    assert joined[number] == "general-service"
    row = await record(core, number)
    assert row.ivr_path == "language:1>main:9>main:9>main:9"
