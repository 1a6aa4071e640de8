"""Integration fixtures: the real Asterisk sandbox and a real PostgreSQL.

Nothing here skips: if Asterisk or PostgreSQL cannot start, the tests fail
and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cti.ami import AmiActions, AmiConnection, AmiError
from cti.config import paths
from cti.config.credentials import AmiCredentials
from cti.config.settings import load_settings
from cti.server import Core, build_core, running
from cti.tools.sandbox import Sandbox, SandboxError
from cti.tools.simulator import SIM_DEFAULTS
from tests.support.postgres import free_port

QUEUE = "general-service"
FIXTURES = Path(__file__).parent.parent / "fixtures"
HOTLINE = "Local/4008008010@hotline"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    box = Sandbox()
    try:
        box.up()
    except SandboxError as exc:
        pytest.fail(f"the Asterisk sandbox could not start: {exc}", pytrace=False)
    return box


@pytest.fixture(autouse=True)
def empty_ledger(sandbox: Sandbox) -> None:
    """Each test starts with an empty ledger (crm_bridge.ledger): the calls of the
    tests before would otherwise be calls nobody recorded, for this test's
    new database, and be backfilled into it."""
    with contextlib.suppress(SandboxError):  # a test that stopped Asterisk starts it again
        sandbox.cli("database deltree hotline-ledger")


@pytest.fixture(scope="session")
def creds(sandbox: Sandbox) -> AmiCredentials:
    c = sandbox.credentials()
    return c


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


async def wait_async(predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                     what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(AmiError, OSError):
            value = await predicate()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def ami(creds: AmiCredentials) -> AsyncIterator[AmiActions]:
    conn = AmiConnection(creds.host, creds.port, creds.username, creds.secret)
    await conn.start()
    assert conn.connected, conn.last_error
    actions = AmiActions(conn)
    await hangup_all(actions)
    await reset_sim_phones(actions)
    yield actions
    await hangup_all(actions)
    await conn.close()


async def hangup_all(actions: AmiActions) -> None:
    """Leave Asterisk as the test found it: no calls, no dynamic members in any queue."""
    for ev in await actions.queue_status():
        if ev.name == "QueueMember":
            with contextlib.suppress(AmiError):
                await actions.queue_remove(ev.text("Queue"),
                                           ev.text("Location", ev.text("Interface", "")))
    for ch in await actions.core_show_channels():
        with contextlib.suppress(AmiError):
            await actions.hangup(ch.text("Channel"))
    await wait_async(lambda: no_channels(actions), timeout=10, what="no channels left")


async def reset_sim_phones(actions: AmiActions) -> None:
    """The simulated phones as extensions.conf sets them: a test or a demo
    before may have left them ringing longer, talking longer, or not answering."""
    for name, value in SIM_DEFAULTS.items():
        await actions.setvar(name, value)


async def no_channels(actions: AmiActions) -> bool:
    return not await actions.core_show_channels()


@pytest.fixture
async def core(creds: AmiCredentials, tmp_path: Path, sandbox: Sandbox) -> AsyncIterator[Core]:
    """The CTI core (AMI connection, tracker, bus, FastAGI, call-record writer)
    in this process, on the embedded database."""
    async with running_core(creds, tmp_path,
                            f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}") as c:
        yield c


@contextlib.asynccontextmanager
async def running_core(creds: AmiCredentials, var_dir: Path, database_url: str,
                       fresh: bool = True, **overrides: Any) -> AsyncIterator[Core]:
    """A core in this process. ``fresh``: hang up every call at start and end
    (``fresh=False`` restarts a core in the middle of calls)."""
    # the sandbox's recordings, wherever this core keeps its own files
    overrides.setdefault("recordings_dir", paths.sandbox_spool(paths.var_dir()) / "monitor"
                         / "hotline")
    # calls out and callback offers only in the tests that open the site
    overrides.setdefault("outbound_config", FIXTURES / "outbound-closed.yaml")
    settings = load_settings(
        ami_secret=creds.secret, agi_port=free_port(), database_url=database_url,
        ami_ping_interval=1.0, var_dir=var_dir, **overrides,
    )
    c = build_core(settings)
    c.writer.retry_max = 2.0
    c.conn.backoff_initial, c.conn.backoff_max = 0.2, 1.0
    async with running(c):
        assert c.conn.connected, c.conn.last_error
        await wait_until(lambda: c.pump.in_sync and c.schema_ready, 15, "resync and schema")
        await point_dialplan_at(c)
        if fresh:
            await hangup_all(c.actions)
            await reset_sim_phones(c.actions)
        yield c
        if fresh and c.conn.connected:
            await hangup_all(c.actions)


async def point_dialplan_at(c: Core) -> None:
    """The hotline's AGI() reaches this test's FastAGI server."""
    await c.actions.setvar("HOTLINE_AGI", f"agi://127.0.0.1:{c.agi.port}")


async def add_agent(actions: AmiActions, ext: int, talk: int = 3) -> str:
    iface = f"Local/{ext}@sim-agent-phone/n"
    await actions.setvar("SIM_AGENT_TALK", str(talk))
    await actions.queue_add(QUEUE, iface, member_name=f"agent-{ext}")
    return iface


@contextlib.asynccontextmanager
async def sim_phones(actions: AmiActions, **settings: str) -> AsyncIterator[None]:
    """Per-agent behaviour of the simulated phones (SIM_AGENT_RING_<ext>,
    SIM_AGENT_TALK_<ext>) for one test, cleared after it."""
    for name, value in settings.items():
        await actions.setvar(name, value)
    try:
        yield
    finally:
        for name in settings:
            with contextlib.suppress(AmiError):
                await actions.setvar(name, "")


@contextlib.asynccontextmanager
async def silent_agi_server() -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:
    """A FastAGI port held by a hung process: it accepts, reads the headers,
    never answers. Yields the port and the connections it held."""
    held: list[asyncio.StreamWriter] = []

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], held
    finally:
        for w in held:
            w.close()
        server.close()


async def place_call(actions: AmiActions, name: str, number: str, patience: int = 30) -> str:
    result = await actions.originate(HOTLINE, context="sim-caller", exten="s",
                                     caller_id=f'"{name}" <{number}>',
                                     variables={"SIM_PATIENCE": str(patience)})
    return result.uniqueid
