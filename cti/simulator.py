"""A small call simulator for the demo: simulated agents and callers.

Agents are Local channels to ``sim-agent-phone`` (they answer and talk for a
while) added to the general queue. Callers are Originates of
``Local/<hotline>@hotline`` whose other side runs ``sim-caller`` with a
random patience. Names and numbers look like the hotline's real callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import structlog

from cti.ami import AmiActionFailed, AmiActions, AmiConnection, AmiError
from cti.app import ami_secret
from cti.settings import Settings

log = structlog.get_logger("cti.simulator")

HOTLINE_NUMBER = "4008008000"
QUEUE = "general-service"
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


async def run_simulator(settings: Settings, *, agents: int, rate: float, duration: float,
                        talk: float, seed: int | None = None) -> None:
    conn = AmiConnection(settings.ami_host, settings.ami_port, settings.ami_username,
                         ami_secret(settings))
    await conn.start()
    if not conn.connected:
        raise AmiError(f"cannot reach Asterisk at {settings.ami_host}:{settings.ami_port}")
    actions = AmiActions(conn)
    rng = random.Random(seed)
    exts = [8001 + i for i in range(agents)]
    await actions.setvar("SIM_AGENT_TALK", str(int(talk)))
    for ext in exts:
        with contextlib.suppress(AmiActionFailed):  # already a member
            await actions.queue_add(QUEUE, agent_interface(ext), member_name=f"agent-{ext}")
    log.info("simulator_started", agents=agents, calls_per_minute=rate)
    calls: set[asyncio.Task[None]] = set()

    async def one_call() -> None:
        name, number = random_caller(rng)
        patience = rng.randint(20, 90)
        try:
            await actions.originate(
                f"Local/{HOTLINE_NUMBER}@hotline", context="sim-caller", exten="s",
                caller_id=f'"{name}" <{number}>', variables={"SIM_PATIENCE": str(patience)},
                ring_timeout=20,
            )
        except AmiError as exc:
            log.warning("simulated_call_failed", error=str(exc))

    deadline = time.monotonic() + duration if duration > 0 else float("inf")
    try:
        while time.monotonic() < deadline:
            task = asyncio.create_task(one_call())
            calls.add(task)
            task.add_done_callback(calls.discard)
            await asyncio.sleep(rng.expovariate(rate / 60.0) if rate > 0 else 3600)
    finally:
        for task in calls:
            task.cancel()
        for ext in exts:
            with contextlib.suppress(AmiError):
                await actions.queue_remove(QUEUE, agent_interface(ext))
        await conn.close()
