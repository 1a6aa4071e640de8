"""The core against Asterisk crashing, freezing, and refusing the login."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cti.ami import AmiAuthError, AmiConnection
from cti.calls.model import Call, CallState
from cti.config.credentials import AmiCredentials
from cti.server import Core
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import (
    add_agent,
    place_call,
    point_dialplan_at,
    wait_until,
)

S = CallState


async def test_core_reconnects_resyncs_and_tracks_the_next_call_after_asterisk_is_killed(
    core: Core, sandbox: Sandbox
) -> None:
    ended: list[Call] = []
    core.bus.subscribe("call.ended", lambda t, p: ended.append(p))
    await add_agent(core.actions, 8001, talk=60)
    first = await place_call(core.actions, "张三", "13800138000", patience=120)
    await wait_until(lambda: (c := core.tracker.get(first)) and c.state is S.CONNECTED, 15,
                     "the first call to be connected")
    session = core.conn.session

    sandbox.kill()  # SIGKILL, mid-call
    await wait_until(lambda: not core.conn.connected, 10, "the core to notice")
    assert core.tracker.get(first) is not None  # not trusted yet, not forgotten yet
    health = core.pump.in_sync
    assert health is False

    await asyncio.to_thread(sandbox.up)
    await wait_until(lambda: core.conn.session > session and core.pump.in_sync, 30,
                     "reconnect and resync")
    # the call died with Asterisk: the resync ended it
    [gone] = [c for c in ended if c.call_id == first]
    assert gone.hangup_cause == "ended while the CTI was not watching"
    assert core.tracker.calls == {}

    # and the next call is tracked as usual
    await point_dialplan_at(core)  # Asterisk restarted with its own globals
    await add_agent(core.actions, 8001, talk=1)
    second = await place_call(core.actions, "李四", "13912345678")
    await wait_until(lambda: any(c.call_id == second for c in ended), 20, "the second call")
    [done] = [c for c in ended if c.call_id == second]
    assert done.states == [S.RINGING, S.IN_IVR, S.QUEUED, S.AGENT_RINGING, S.CONNECTED, S.ENDED]
    assert done.caller_name == "李四"


async def test_calls_that_began_during_the_outage_are_adopted_on_resync(
    core: Core, sandbox: Sandbox
) -> None:
    await add_agent(core.actions, 8001, talk=30)
    core.conn.drop()  # the network drops the AMI socket; Asterisk lives on
    # a second AMI session places a call while the core is away
    creds = sandbox.credentials()
    other = AmiConnection(creds.host, creds.port, creds.username, creds.secret)
    await other.start()
    from cti.ami import AmiActions

    call_id = await place_call(AmiActions(other), "王五", "13700001111", patience=60)
    await other.close()
    await wait_until(lambda: core.pump.in_sync and core.tracker.get(call_id), 15,
                     "the core to resync and adopt the call")
    call = core.tracker.get(call_id)
    assert call is not None and call.resynced
    await wait_until(lambda: call.state in (S.CONNECTED, S.QUEUED, S.AGENT_RINGING), 10,
                     "a live state")
    assert call.caller_name == "王五"


async def test_a_frozen_asterisk_is_noticed_by_the_unanswered_ping(core: Core,
                                                                   sandbox: Sandbox) -> None:
    pid = sandbox.pid()
    assert pid is not None
    session = core.conn.session
    os.kill(pid, signal.SIGSTOP)  # the socket stays open; nothing answers
    try:
        await wait_until(lambda: not core.conn.connected, 15, "the half-open socket to be dropped")
    finally:
        os.kill(pid, signal.SIGCONT)
    await wait_until(lambda: core.conn.session > session and core.pump.in_sync, 30,
                     "reconnect after Asterisk thaws")


async def test_wrong_secret_raises_a_clear_error(creds: AmiCredentials) -> None:
    conn = AmiConnection(creds.host, creds.port, creds.username, "not-the-secret")
    with pytest.raises(AmiAuthError) as err:
        await asyncio.wait_for(conn.start(), 10)
    assert f"{creds.host}:{creds.port}" in str(err.value)
    assert repr(creds.username) in str(err.value)
    assert "not-the-secret" not in str(err.value)


def test_serve_with_a_wrong_secret_exits_non_zero_within_10_s(creds: AmiCredentials,
                                                              tmp_path: Path) -> None:
    env = dict(os.environ, HOTLINE_AMI_SECRET="not-the-secret", HOTLINE_HTTP_PORT="0",
               HOTLINE_AGI_PORT="0", HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cti.tools.cli", "serve"], env=env,
                          capture_output=True, text=True, timeout=15)
    took = time.monotonic() - t0
    assert proc.returncode == 3
    assert took < 10
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("hotline: Asterisk at 127.0.0.1:5038 refused AMI login for user "
                           "'hotline-cti'")
    assert "not-the-secret" not in proc.stderr + proc.stdout


