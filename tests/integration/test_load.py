"""A burst of real calls through the hotline (FastAGI IVR, queue, simulated
agents) with the records held up against Asterisk's own queue_log: every
queued call has exactly one record, with the outcome and the agent
queue_log gives. Once with the server watching throughout, once with its AMI
session cut in the middle of the burst for a few seconds (the events of the
gap are lost; the resync completes the calls from Asterisk's own facts)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crm_bridge.models import CallRecord
from cti.ami import AmiActions, AmiError
from cti.config.credentials import AmiCredentials
from cti.server import Core
from cti.tools import queuelog
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import (
    HOTLINE,
    QUEUE,
    hangup_all,
    no_channels,
    running_core,
    sim_phones,
    wait_async,
    wait_until,
)
from tests.support.postgres import ThrowawayPostgres
from tests.support.tcprelay import Relay

CALLS = 300
SECONDS = 10.0
AGENTS = [f"Local/{ext}@sim-agent-phone/n" for ext in range(9101, 9121)]
# half the agents sign in a third of the way through (the queue's wrap-up
# keeps the first ten busy): they answer while the second test's AMI session
# is cut. Most talk 2 s (the call ends unseen); the last five talk 12 s (the
# call is still up at the resync, answered unseen)
EARLY, LATE = AGENTS[:10], AGENTS[10:]
TALK = {"SIM_AGENT_TALK": "2", **{f"SIM_AGENT_TALK_{ext}": "12" for ext in range(9116, 9121)}}


async def add_agents(ami: AmiActions, agents: list[str]) -> None:
    for iface in agents:
        ext = iface.split("/")[1].split("@")[0]
        await ami.queue_add(QUEUE, iface, member_name=f"agent-{ext}")


async def burst(ami: AmiActions, base: int, during: Callable[[int], Awaitable[None]]
                ) -> list[tuple[str, str]]:
    """300 callers within 10 s (each hangs up after 12 s: waiting in the
    queue, or talking). Returns (Linkedid, queue-side Uniqueid) of each call placed."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    pairs: list[tuple[str, str]] = []
    tasks: set[asyncio.Task[Any]] = set()

    async def one(n: int) -> None:
        # a call not placed has no queue_log lines and is not checked
        with contextlib.suppress(AmiError, TimeoutError):
            await ami.originate(HOTLINE, context="sim-caller", exten="s",
                                caller_id=f'"客户{n}" <138{n:08d}>',
                                variables={"SIM_PATIENCE": "12"},
                                channel_id=f"{base}.{2 * n}",
                                other_channel_id=f"{base}.{2 * n + 1}", ring_timeout=20)

    for n in range(CALLS):
        delay = t0 + n * SECONDS / CALLS - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await during(n)
        pairs.append((f"{base}.{2 * n}", f"{base}.{2 * n + 1}"))
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return pairs


async def records(core: Core, base: int) -> dict[str, list[dict[str, Any]]]:
    async with core.engine.connect() as conn:
        rows = (await conn.execute(
            select(CallRecord.linkedid, CallRecord.outcome, CallRecord.agent, CallRecord.queue,
                   CallRecord.extra).where(CallRecord.linkedid.like(f"{base}.%")))).all()
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.linkedid, []).append({"outcome": r.outcome, "agent": r.agent,
                                               "queue": r.queue, "extra": r.extra})
    return out


async def run_burst(core: Core, ami: AmiActions, sandbox: Sandbox,
                    during: Callable[[int], Awaitable[None]] | None = None
                    ) -> tuple[queuelog.Audit, dict[str, list[dict[str, Any]]]]:
    queue_log = sandbox.layout().host_base / "log" / "queue_log"
    mark = queue_log.stat().st_size
    base = int(time.time()) * 10
    async def at_a_third(n: int) -> None:
        if n == CALLS // 3:
            if during is not None:
                await during(n)
            await add_agents(ami, LATE)

    async with sim_phones(ami, **TALK):
        await add_agents(ami, EARLY)
        try:
            pairs = await burst(ami, base, at_a_third)
            await wait_async(lambda: no_channels(ami), 120, "every call of the burst to end")
        finally:
            for iface in AGENTS:
                with contextlib.suppress(AmiError):
                    await ami.queue_remove(QUEUE, iface)
    truth, _ = queuelog.read(queue_log, mark)
    queued = {linkedid for linkedid, callid in pairs
              if (t := truth.get(callid)) is not None and t.joined is not None}
    assert len(queued) >= CALLS * 0.8, f"only {len(queued)} of {CALLS} callers reached the queue"

    async def all_recorded() -> bool:
        return queued <= set(await records(core, base))

    with contextlib.suppress(AssertionError):  # the audit says which are missing
        await wait_async(all_recorded, 60, "a record of every queued call")
    await asyncio.sleep(1.0)  # and no second record comes
    found = await records(core, base)
    audit = queuelog.audit(pairs, truth, found)
    # every call has ended: each queued one is judged, none left unfinished
    assert audit.unfinished == 0 and audit.checked == len(queued), audit.as_dict()
    return audit, found


async def test_a_burst_of_300_calls_in_10_s_leaves_every_record_right(
    ami: AmiActions, creds: AmiCredentials, postgres: ThrowawayPostgres, sandbox: Sandbox,
    tmp_path: Path
) -> None:
    url = postgres.create_database("load_burst")
    async with running_core(creds, tmp_path, url) as core:
        audit, found = await run_burst(core, ami, sandbox)
        assert audit.clean, audit.as_dict()
        outcomes = [rows[0]["outcome"] for rows in found.values()]
        # 20 agents (2 s a call, then the queue's wrap-up) cannot take 30 calls/s:
        # both kinds are in the audit
        assert outcomes.count("answered") >= len(AGENTS), outcomes
        assert outcomes.count("abandoned") >= 100, outcomes
        assert core.pump.conn.session == 1  # Asterisk never dropped the server
        await hangup_all(core.actions)


async def test_the_ami_session_cut_mid_burst_still_leaves_every_record_right(
    ami: AmiActions, creds: AmiCredentials, postgres: ThrowawayPostgres, sandbox: Sandbox,
    tmp_path: Path
) -> None:
    url = postgres.create_database("load_cut")
    relay = await Relay(creds.host, creds.port).start()
    cutting: asyncio.Task[None] | None = None

    async def cut(n: int) -> None:  # 3.3 s in: 4 s without AMI, while calls go on
        nonlocal cutting
        cutting = asyncio.create_task(relay.cut(4.0))

    try:
        async with running_core(creds, tmp_path, url, ami_port=relay.port) as core:
            audit, found = await run_burst(core, ami, sandbox, cut)
            assert cutting is not None and cutting.done()
            await wait_until(lambda: core.pump.in_sync, 10, "the resync after the cut")
            assert core.conn.session == 2, "the cut did not end the server's AMI session"
            assert audit.clean, audit.as_dict()
            # the gap mattered: calls the server followed were answered unseen and
            # completed from Asterisk's ledger (ended in the gap) or its channels
            # (still up at the resync)
            mended: dict[str, int] = {}
            for rows in found.values():
                how = rows[0]["extra"].get("completed_from")
                if how and rows[0]["outcome"] == "answered":
                    mended[how] = mended.get(how, 0) + 1
            assert mended.get("ledger", 0) >= 3 and mended.get("asterisk", 0) >= 2, mended
            await hangup_all(core.actions)
    finally:
        await relay.close()
