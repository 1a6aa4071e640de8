"""The demo as `make demo` runs it, against the real sandbox: the demo data,
`hotline demo start` (the server and the call simulator in the background),
what it prints, six simulated agents taking calls, known customers' cards
popping on signed-in consoles, and `hotline demo stop` leaving nothing
running. Only the call rate is higher than the demo's default, so a known
caller comes along within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from cti.ami import AmiActions
from cti.config.credentials import AmiCredentials
from cti.tools.demo import process_running
from tests.integration.conftest import wait_until
from tests.support.postgres import free_port

DEMO_AGENTS = [f"800{i}" for i in range(1, 7)]


def hotline(env: dict[str, str], *args: str,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti.tools.cli", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


class Console:
    """One agent's browser: its own cookies, the console's websocket."""

    def __init__(self, base: str, code: str) -> None:
        self.base, self.code = base, code
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          headers={"Origin": base})
        self.messages: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def open(self, password: str) -> None:
        async with self.http.post(f"{self.base}/api/v1/sign-in",
                                  json={"login": self.code, "password": password}) as resp:
            assert resp.status == 200, (self.code, await resp.text())
        ws = await self.http.ws_connect(f"{self.base}/api/v1/console/ws")

        async def read() -> None:
            async for msg in ws:
                self.messages.append(json.loads(msg.data))

        self.task = asyncio.create_task(read())

    def pops(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "pop"]

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.http.close()


async def test_the_demo_starts_takes_calls_pops_known_callers_cards_and_stops(
    creds: AmiCredentials, ami: AmiActions, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "HOTLINE_VAR_DIR": str(tmp_path), "HOTLINE_HTTP_PORT": str(port),
           "HOTLINE_AGI_PORT": str(free_port()), "HOTLINE_AMI_SECRET": creds.secret}
    base = f"http://127.0.0.1:{port}"

    seeded = await asyncio.to_thread(hotline, env, "db", "seed", "--demo", "--if-empty")
    assert seeded.returncode == 0, seeded.stderr
    assert "300 customers" in seeded.stdout and "6 agents" in seeded.stdout
    again = await asyncio.to_thread(hotline, env, "db", "seed", "--demo", "--if-empty")
    assert again.returncode == 0 and "left as it is" in again.stdout, again

    started = await asyncio.to_thread(hotline, env, "demo", "start", "--calls-per-minute", "40")
    demo = tmp_path / "demo"
    pids = {n: int((demo / f"{n}.pid").read_text()) for n in ("serve", "simulator")
            if (demo / f"{n}.pid").exists()}
    consoles = [Console(base, code) for code in DEMO_AGENTS]
    try:
        assert started.returncode == 0, (started.stdout, started.stderr)
        assert f"{base}/console" in started.stdout and f"{base}/healthz" in started.stdout
        assert set(pids) == {"serve", "simulator"} and all(map(process_running, pids.values()))

        # the users' passwords: generated, readable by root alone
        passwords_file = demo / "passwords.txt"
        assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600
        passwords = dict(line.split(" ", 1) for line in passwords_file.read_text().splitlines())
        assert sorted(passwords) == [*DEMO_AGENTS, "admin", "supervisor"]
        for c in consoles:
            await c.open(passwords[c.code])

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"{base}/api/v1/sign-in", json={
                    "login": "supervisor", "password": passwords["supervisor"]}) as resp:
                assert resp.status == 200 and (await resp.json())["user"]["role"] == "supervisor"

            async def agents() -> dict[str, str]:
                async with http.get(f"{base}/api/v1/agents") as resp:
                    return {a["agent"]: a["state"] for a in (await resp.json())["agents"]}

            # the simulator logs the six agents in, as their consoles would
            for _ in range(60):
                states = await agents()
                if all(states.get(a, "logged_out") != "logged_out" for a in DEMO_AGENTS):
                    break
                await asyncio.sleep(0.5)
            assert all(states.get(a, "logged_out") != "logged_out" for a in DEMO_AGENTS), states

            # a seeded customer rings: the card pops on the console of the agent rung
            def known() -> list[dict[str, Any]]:
                return [p for c in consoles for p in c.pops() if p["card"].get("known")]

            await wait_until(known, 90, "a known customer's card on a console")
            pop = known()[0]
            customer = pop["card"]["customer"]
            async with http.get(f"{base}/api/v1/customers/{customer['id']}") as resp:
                stored = await resp.json()
            assert stored["customer"]["name"] == customer["name"] == pop["caller_name"]
            assert pop["caller_number"] in {p["number"] for p in stored["customer"]["phones"]}
            assert [a["serial"] for a in pop["card"]["appliances"]] == [
                a["serial"] for a in stored["appliances"]]
            # and the calls are answered: someone is talking
            await wait_until(lambda: any(m.get("type") == "call.connected"
                                         for c in consoles for m in c.messages), 60,
                             "a simulated agent answering")
    finally:
        for c in consoles:
            await c.close()
        stopped = await asyncio.to_thread(hotline, env, "demo", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped serve" in stopped.stdout and "stopped simulator" in stopped.stdout
    assert not any(map(process_running, pids.values())), "a demo process outlived 'demo stop'"
    for log in ("serve.log", "simulator.log"):
        assert creds.secret not in (demo / log).read_text(errors="replace"), log
