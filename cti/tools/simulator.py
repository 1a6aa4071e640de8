"""A small call simulator for the demo: simulated agents and callers.

Agents are the demo's agents (8001...) logged in through the server's REST
API, as an agent console would, each on a Local channel to
``sim-agent-phone`` (it answers and talks for a while); now and then one
takes a break. Callers are Originates of ``Local/<number>@hotline`` (the
hotline's product-line numbers, as in acd/queues.yaml) whose other side runs
``sim-caller`` with a random patience. Names and numbers look like the
hotline's real callers; about a third are customers of the service database
(the demo's seeded ones), so their cards pop with appliances and orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import aiohttp
import structlog

from acd.config import load_config
from cti.ami import AmiActions, AmiConnection, AmiError
from cti.config.settings import Settings
from cti.server import ami_secret
from ivr.menus import load_menus

log = structlog.get_logger("cti.tools.simulator")

# the simulated phones' settings as extensions.conf's [globals] has them
SIM_DEFAULTS = {"SIM_AGENT_TALK": "5", "SIM_AGENT_RING": "", "SIM_AGENT_NOANSWER": "",
                "SIM_CUSTOMER_TALK": "5"}

KNOWN_CALLERS = [("张三", "13800138000")]  # in the demo data (crm_bridge/seed.py)
KNOWN_SHARE = 0.35  # of the simulated calls, from customers of the database
# what callers of the IVR's number press (W: a second's pause), see ivr/menus.yaml
IVR_KEYS = ["1WW1WW1", "1WW1WW4", "1WW1WW2", "1WW3", "1WW0", "2WW1WW1", "2WW0", "1WW4", "1"]
BREAKS = ["break", "lunch", "training", "meeting", "after_call_work"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰",
         "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "晶"]
MOBILE_PREFIXES = ["138", "139", "136", "137", "150", "151", "158", "186", "187", "135"]
AREA_CODES = ["010", "021", "020", "0571", "0755", "025", "027", "028", "0532", "0512"]


def random_caller(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    if rng.random() < 0.8:
        number = rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
    else:
        number = rng.choice(AREA_CODES) + "".join(rng.choice("0123456789") for _ in range(8))
    return name, number


def agent_interface(ext: int) -> str:
    return f"Local/{ext}@sim-agent-phone/n"


class ServerApi:
    """What the simulated agents do at their consoles: each signs in with its
    own password (the demo's passwords file) and logs in, pauses, unpauses
    and logs out through the console's own ACD endpoints."""

    def __init__(self, settings: Settings, passwords: dict[str, str]) -> None:
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "") else settings.http_host
        self.root = f"http://{host}:{settings.http_port}"
        self.passwords = passwords
        self.sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, code: str) -> aiohttp.ClientSession:
        s = self.sessions.get(code)
        if s is None:  # a browser of its own: its cookie, this server's Origin
            s = self.sessions[code] = aiohttp.ClientSession(
                self.root, cookie_jar=aiohttp.CookieJar(unsafe=True),
                headers={"Origin": self.root}, timeout=aiohttp.ClientTimeout(total=10))
        return s

    async def _post(self, code: str, path: str, body: dict[str, str] | None) -> int:
        try:
            async with self._session(code).post(path, json=body or {}) as resp:
                if resp.status >= 400 and resp.status != 401:
                    log.warning("simulator_api_refused", agent=code, path=path,
                                status=resp.status, body=(await resp.text())[:200])
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("simulator_api_unreachable", path=path, error=str(exc))
            return 0

    async def acd(self, code: str, verb: str, body: dict[str, str] | None = None) -> int:
        """``verb``: login, pause, unpause, logout, as agent ``code``; signs in
        first when the session has not begun or has ended."""
        path = f"/api/v1/console/acd/{verb}"
        status = await self._post(code, path, body)
        if status == 401:
            signed = await self._post(code, "/api/v1/sign-in", {
                "login": code, "password": self.passwords.get(code, "")})
            if signed != 200:
                log.warning("simulator_sign_in_refused", agent=code, status=signed)
                return signed
            status = await self._post(code, path, body)
        return status

    async def close(self) -> None:
        for s in self.sessions.values():
            await s.close()


def read_passwords(path: Path) -> dict[str, str]:
    """``login password`` per line (the demo's passwords file)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        login, _, password = line.partition(" ")
        if login and password:
            out[login] = password
    return out


async def known_callers(settings: Settings, limit: int = 60) -> list[tuple[str, str]]:
    """Customers of the service database to call as (name, mobile number);
    张三 alone when the database cannot say."""
    from crm_bridge import db
    from crm_bridge.seed import mobile_customers

    engine = db.make_engine(settings.effective_database_url)
    rows: list[tuple[str, str]] = []
    try:
        rows = await mobile_customers(engine, limit)
    except Exception as exc:  # no database yet: the demo still calls
        log.warning("simulator_no_customers", error=f"{type(exc).__name__}: {exc}"[:200])
    finally:
        await engine.dispose()
    return rows or KNOWN_CALLERS


async def run_simulator(settings: Settings, *, agents: int, rate: float, duration: float,
                        talk: float, passwords: dict[str, str], ring: float = 4.0,
                        no_answer: int = 10, seed: int | None = None) -> None:
    """``ring``: seconds a simulated agent's phone rings before it is picked
    up (so the screen pop is seen ringing); ``no_answer``: the percentage of
    rings nobody picks up (the queue then offers the caller to the next)."""
    conn = AmiConnection(settings.ami_host, settings.ami_port, settings.ami_username,
                         ami_secret(settings))
    await conn.start()
    if not conn.connected:
        raise AmiError(f"cannot reach Asterisk at {settings.ami_host}:{settings.ami_port}")
    actions = AmiActions(conn)
    api = ServerApi(settings, passwords)
    rng = random.Random(seed)
    numbers = sorted(load_config(settings.acd_config).numbers)
    ivr_numbers = set(load_menus(settings.ivr_menus).numbers)
    exts = [8001 + i for i in range(agents)]
    customers = await known_callers(settings)
    await actions.setvar("SIM_AGENT_TALK", str(int(talk)))  # back to SIM_DEFAULTS at the end
    await actions.setvar("SIM_AGENT_RING", str(int(ring)) if ring > 0 else "")
    await actions.setvar("SIM_AGENT_NOANSWER", str(int(no_answer)) if no_answer > 0 else "")
    for ext in exts:  # until the server answers (it may still be starting)
        for _ in range(30):
            if await api.acd(str(ext), "login", {"device": agent_interface(ext)}) in (
                    200, 401, 403, 404, 409, 422, 429):
                break
            await asyncio.sleep(1)
    log.info("simulator_started", agents=agents, calls_per_minute=rate,
             known_callers=len(customers))
    calls: set[asyncio.Task[None]] = set()

    async def one_call() -> None:
        name, number = (rng.choice(customers) if rng.random() < KNOWN_SHARE
                        else random_caller(rng))
        patience = rng.randint(20, 90)
        dialled = rng.choice(numbers)
        variables = {"SIM_PATIENCE": str(patience)}
        if dialled in ivr_numbers:
            variables["SIM_DTMF"] = rng.choice(IVR_KEYS)
        try:
            await actions.originate(
                f"Local/{dialled}@hotline", context="sim-caller", exten="s",
                caller_id=f'"{name}" <{number}>', variables=variables, ring_timeout=20,
            )
        except AmiError as exc:
            log.warning("simulated_call_failed", error=str(exc))

    async def breaks() -> None:
        while True:
            await asyncio.sleep(rng.uniform(40, 90))
            ext = rng.choice(exts)
            if await api.acd(str(ext), "pause", {"reason": rng.choice(BREAKS)}) == 200:
                await asyncio.sleep(rng.uniform(15, 40))
                await api.acd(str(ext), "unpause")

    deadline = time.monotonic() + duration if duration > 0 else float("inf")
    pauser = asyncio.create_task(breaks())
    try:
        while time.monotonic() < deadline:
            task = asyncio.create_task(one_call())
            calls.add(task)
            task.add_done_callback(calls.discard)
            await asyncio.sleep(rng.expovariate(rate / 60.0) if rate > 0 else 3600)
    finally:
        pauser.cancel()
        for task in calls:
            task.cancel()
        for ext in exts:
            await api.acd(str(ext), "logout")
        for name, value in SIM_DEFAULTS.items():  # Asterisk as it was
            with contextlib.suppress(AmiError):
                await actions.setvar(name, value)
        await api.close()
        await conn.close()
