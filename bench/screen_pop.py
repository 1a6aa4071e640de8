"""Screen-pop latency against the real sandbox: from the AgentCalled event
reaching the server to the card arriving on the agent's console websocket.

    python -m bench.screen_pop [--calls 40] [--agents 6]

Needs the Asterisk sandbox up (``make bench`` starts it). A server (core,
HTTP, websockets) runs in this process on a throwaway SQLite database with
agents signed in over HTTP and one websocket console each, as a browser
holds it. Callers (half of them known customers, so real cards are read)
dial the direct line; each agent's phone rings a second before answering.

Per pop, times on one clock:

pop        the server receiving AgentCalled -> the console receiving the card
asterisk   Asterisk's event Timestamp -> the console receiving the card
baseline   a websocket message of the same size, server -> the same console,
           sent in the same run (what any push costs here)

Medians and 95th percentiles; the target is a pop under 100 ms. Results go
to bench/results/screen_pop.json and a plot to screen_pop.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from acd.schemas import AgentIn
from acd.services import create_agent
from bench.consoles import signed_in_console
from bench.plotting import pyplot
from crm_bridge.schemas import CustomerIn, PhoneIn
from cti.config.logs import configure_logging
from cti.config.settings import load_settings
from cti.server import build_core, running, web_app
from cti.tools.sandbox import Sandbox

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
TARGET_MS = 100.0
PASSWORD = "bench-password-1"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def until(done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110 (polling state)
        await asyncio.sleep(0.05)


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values), 2), "p95_ms": round(pct(values, .95), 2),
            "max_ms": round(max(values), 2), "n": len(values)}


async def measure(calls: int, agents: int) -> dict[str, Any]:
    box = Sandbox()
    if not box.status().get("ami_listening"):
        raise SystemExit("the Asterisk sandbox is not up: run 'hotline asterisk up'")
    creds = box.credentials()
    var = Path(tempfile.mkdtemp(prefix="bench-pop-"))
    settings = load_settings(ami_secret=creds.secret, agi_port=0, var_dir=var,
                             database_url=f"sqlite+aiosqlite:///{var / 'bench.db'}",
                             log_level="warning", log_format="json")
    configure_logging("warning", "json")
    core = build_core(settings)
    async with running(core):
        await until(lambda: core.pump.in_sync and core.schema_ready, 30)
        await core.actions.setvar("HOTLINE_AGI", f"agi://127.0.0.1:{core.agi.port}")
        runner = web.AppRunner(web_app(core))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        codes = [str(8950 + i) for i in range(agents)]
        for code in codes:
            await create_agent(core.acd, AgentIn(code=code, name=f"坐席{code}",
                                                 skills={"mandarin": 5}))
            await core.sessions.set_password(code, PASSWORD)
            await core.actions.setvar(f"SIM_AGENT_RING_{code}", "1")
            await core.actions.setvar(f"SIM_AGENT_TALK_{code}", "1")
        known = [f"1380000{n:04d}" for n in range(calls // 2)]
        for n, number in enumerate(known):
            await core.crm.create_customer(CustomerIn(name=f"客户{n}", phones=[
                PhoneIn(number=number)]))
        pops: list[dict[str, Any]] = []
        echo: list[float] = []
        sessions: list[aiohttp.ClientSession] = []
        readers: list[asyncio.Task[None]] = []
        try:
            for code in codes:
                ws = await signed_in_console(base, code, PASSWORD, sessions)

                async def read(ws: aiohttp.ClientWebSocketResponse = ws) -> None:
                    async for msg in ws:
                        got = time.time()
                        data = json.loads(msg.data)
                        if data.get("type") == "pop":
                            pops.append({**data, "got": got, "bytes": len(msg.data)})
                        elif data.get("type") == "bench.echo":
                            echo.append((got - data["sent"]) * 1000)
                readers.append(asyncio.create_task(read()))
            for k in range(calls):
                number = known[k // 2] if k % 2 == 0 and k // 2 < len(known) \
                    else f"1390000{k:04d}"
                await core.actions.originate(
                    "Local/4008008010@hotline", context="sim-caller", exten="s",
                    caller_id=f'"bench" <{number}>', variables={"SIM_PATIENCE": "60"})
                # the baseline: a message as big as a pop, pushed to a console now
                size = int(statistics.median([p["bytes"] for p in pops])) if pops else 2000
                core.notifier.push(codes[k % agents], {"type": "bench.echo", "sent": time.time(),
                                                    "pad": "x" * size})
                print(f"\r[bench] calls {k + 1}/{calls}, pops {len(pops)}", end="",
                      file=sys.stderr, flush=True)
                await asyncio.sleep(1.5)
            await until(lambda: len(pops) >= calls, 60)
            print(f"\r[bench] calls {calls}/{calls}, pops {len(pops)}", file=sys.stderr)
        finally:
            for t in readers:
                t.cancel()
            for s in sessions:
                await s.close()
            for code in codes:
                with contextlib.suppress(Exception):
                    await core.acd.logout(code)
            await runner.cleanup()
    pop_ms = [(p["got"] - p["received_at"]) * 1000 for p in pops]
    ast_ms = [(p["got"] - p["event_at"]) * 1000 for p in pops]
    base = summary(echo)
    pop = summary(pop_ms)
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "calls": calls, "agents": agents, "pops": len(pops),
        "known_callers": sum(1 for p in pops if p["card"].get("known")),
        "pop": pop, "asterisk_to_console": summary(ast_ms), "baseline_push": base,
        "ratio_pop_to_baseline_median": round(pop["median_ms"] / base["median_ms"], 2),
        "target_ms": TARGET_MS, "samples_ms": {"pop": pop_ms, "asterisk": ast_ms,
                                              "baseline": echo},
    }


def plot(results: dict[str, Any], out: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    s = results["samples_ms"]
    fig, ax = plt.subplots(figsize=(8.5, 4.2), dpi=110)
    parts = [("baseline", "a websocket push of the same size", "#9e9e9e"),
             ("pop", "screen pop: AgentCalled at the server -> console", "#1f77b4"),
             ("asterisk", "screen pop: Asterisk's event time -> console", "#2ca02c")]
    ax.boxplot([s[k] for k, _, _ in parts], orientation="horizontal", widths=0.5,
               tick_labels=[label for _, label, _ in parts], showfliers=True)
    ax.axvline(TARGET_MS, color="#d62728", linestyle="--", linewidth=1)
    ax.text(TARGET_MS, 3.45, f"target {TARGET_MS:.0f} ms ", color="#d62728", fontsize=8, ha="right")
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale)")
    ax.set_title(f"Screen pops: {results['pops']} calls, {results['agents']} consoles, "
                 f"median {results['pop']['median_ms']} ms")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--agents", type=int, default=6)
    args = p.parse_args()
    results = asyncio.run(measure(args.calls, args.agents))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "screen_pop.json").write_text(json.dumps(results, indent=2))
    pop, base = results["pop"], results["baseline_push"]
    print(f"screen pops: {results['pops']}/{results['calls']} "
          f"({results['known_callers']} known callers)")
    print(f"  pop (server receipt -> console): median {pop['median_ms']} ms, "
          f"p95 {pop['p95_ms']} ms, max {pop['max_ms']} ms; target {TARGET_MS:.0f} ms")
    a = results["asterisk_to_console"]
    print(f"  Asterisk event time -> console:  median {a['median_ms']} ms, p95 {a['p95_ms']} ms")
    print(f"  baseline push of the same size:  median {base['median_ms']} ms, "
          f"p95 {base['p95_ms']} ms; pop/baseline (medians) "
          f"{results['ratio_pop_to_baseline_median']}x")
    if plot(results, RESULTS / "screen_pop.png"):
        print(f"plot: {RESULTS / 'screen_pop.png'}")


if __name__ == "__main__":
    main()
