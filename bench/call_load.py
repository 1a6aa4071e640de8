"""Call load: the whole server against Asterisk alone, rate by rate, same run.

    python -m bench.call_load [--quick] [--rates 10,25,35,50] [--seconds 40]
                              [--repeat 2] [--modes server,asterisk] [--talk 5]

Callers are Originated into the sandbox at a steady rate for ``--seconds``:
each dials the direct line as a known customer of the service database,
waits in the queue up to ``--patience`` seconds, and talks ``--talk`` seconds
with one of 60 simulated agents. Two modes, alternated, rate by rate:

server    the whole server (``hotline serve``, its own process): FastAGI with
          the known-caller look-up and routing, the ACD, the call records
          into a real PostgreSQL with fsync on; 60 agents signed in with a
          console websocket each, and a wallboard feed
asterisk  Asterisk alone: the same calls through an equivalent dialplan
          without the server (``[sim-hotline-bare]``), the same 60 members

Asterisk's own queue_log is the truth of every call. Per rate and mode:

offered      calls originated; ``failed`` if Asterisk refused the Originate
queued_3s    callers that joined the queue within 3 s of the call's start
completed    queued within 3 s and ended normally (answered, or gave up after
             their patience)
fallbacks    callers the dialplan sent to the general queue because the
             server did not answer FastAGI in time
records      (server) one row per call against queue_log: missing, doubled,
             wrong outcome or agent
CPU          the server's and Asterisk's CPU over the window, % of one core
             and ms per offered call; the server's RSS
loop lag     the server's event-loop lag (its own monitor), p50/p99/max
AMI lag      Asterisk's event time -> the server handling it, p50/p99/max
pop          Asterisk's AgentCalled time -> the card on the console, p50/p99

Results: bench/results/call_load.json, plots call_load.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.consoles import signed_in_console
from crm_bridge.db import make_engine
from crm_bridge.migrate import upgrade_async
from crm_bridge.seed import mobile_customers, seed_demo
from cti.ami import AmiActions, AmiConnection, AmiError, AmiMessage
from cti.config.credentials import AmiCredentials
from cti.tools import queuelog
from cti.tools.sandbox import Sandbox
from tests.support.postgres import ThrowawayPostgres, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
AGENTS = [str(9001 + i) for i in range(60)]
QUEUE = "general-service"
PASSWORD = "bench-load-password"
DIRECT_LINE = "4008008010"
TICK = 100  # clock ticks per second (/proc/<pid>/stat)
# seconds a window waits for Asterisk to finish its calls: past its limit it
# works through a backlog of Originates for minutes
DRAIN_LIMIT = 300.0


def log(text: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 2)


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / TICK, sum(fields) / TICK


def runq_wait(pid: int) -> float:
    """Seconds the process's main thread (the server's event loop) has spent
    runnable but waiting for a core (/proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


class Ticker:
    """bench/ticker.py in its own process: the machine's scheduling delay."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.ticker"], cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True)

    def stop(self) -> dict[str, Any] | None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        return dict(json.loads(out)) if out.strip() else None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# ---------------------------------------------------------------------- the server
class Server:
    """``hotline serve`` in its own process, with 60 signed-in consoles and a
    wallboard feed, as agents' browsers and a supervisor's TV hold them."""

    def __init__(self, creds: AmiCredentials, database_url: str, var: Path) -> None:
        self.creds, self.database_url, self.var = creds, database_url, var
        self.http_port, self.agi_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sessions: list[aiohttp.ClientSession] = []
        self.readers: list[asyncio.Task[None]] = []
        self.headers: dict[str, str] = {}
        self.pops: list[dict[str, Any]] = []
        self.wallboard_messages = 0

    async def start(self) -> None:
        env = {**os.environ, "HOTLINE_DATABASE_URL": self.database_url,
               "HOTLINE_VAR_DIR": str(self.var), "HOTLINE_AMI_SECRET": self.creds.secret,
               "HOTLINE_HTTP_PORT": str(self.http_port), "HOTLINE_AGI_PORT": str(self.agi_port),
               "HOTLINE_LOG_FORMAT": "json", "HOTLINE_LOG_LEVEL": "info"}
        out = (self.var / "serve.log").open("ab")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (it starts and returns)
            [sys.executable, "-m", "cti.tools.cli", "serve"], env=env, stdout=out,
            stderr=subprocess.STDOUT, cwd=ROOT)
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{self.base}/healthz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.3)
        raise SystemExit(f"the server did not become healthy; see {self.var / 'serve.log'}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def sign_in_agents(self, skills: dict[str, int] | None = None) -> None:
        from crm_bridge.accounts import Accounts
        from cti.roles import Role
        from cti.web.sessions import SessionService

        engine = make_engine(self.database_url)
        try:  # an admin for the bench: it makes the agents and reads the status
            accounts = Accounts(engine)
            auth = SessionService(accounts)
            if await accounts.account("bench") is None:
                await accounts.add_user("bench", "bench", Role.ADMIN)
            await auth.set_password("bench", PASSWORD)
            token, _ = await auth.sign_in("bench", PASSWORD)
            self.headers = {"Authorization": f"Bearer {token}"}
            http = aiohttp.ClientSession(base_url=self.base, headers=self.headers)
            self.sessions.append(http)
            for code in AGENTS:
                async with http.post("/api/v1/agents", json={
                        "code": code, "name": f"坐席{code}",
                        "skills": skills or {"mandarin": 5}}) as r:
                    assert r.status in (201, 409), await r.text()
            await asyncio.gather(*(auth.set_password(code, PASSWORD) for code in AGENTS))
        finally:
            await engine.dispose()
        for code in AGENTS:
            ws = await signed_in_console(self.base, code, PASSWORD, self.sessions)
            self.readers.append(asyncio.create_task(self._read(ws, pops=True)))
        self.readers.append(asyncio.create_task(self._read(await http.ws_connect(
            "/api/v1/acd/ws"), pops=False)))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, *, pops: bool) -> None:
        async for msg in ws:
            got = time.time()
            if not pops:
                self.wallboard_messages += 1
                continue
            data = json.loads(msg.data)
            if data.get("type") == "pop":
                self.pops.append({"got": got, "event_at": data["event_at"],
                                  "received_at": data["received_at"]})

    async def status(self, since: float) -> dict[str, Any]:
        async with aiohttp.ClientSession(headers=self.headers) as http, http.get(
                f"{self.base}/api/v1/status", params={"since": str(since)}) as r:
            return dict(await r.json())

    async def stop(self) -> None:
        for t in self.readers:
            t.cancel()
        for s in self.sessions:
            await s.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------------- one window
@dataclass
class Window:
    mode: str
    rate: float
    seconds: float
    base: int  # call ids: <base>.<2n> the caller, <base>.<2n+1> the queue side
    started: float = 0.0
    sent: dict[int, float] = field(default_factory=dict)  # n -> when originated
    failed: int = 0
    joined: dict[str, float] = field(default_factory=dict)  # queue-side id -> join time
    fallbacks: int = 0


async def watch_events(conn: AmiConnection, window: Window, stop: asyncio.Event) -> None:
    """The bench's own AMI session sees only QueueCallerJoin and fallbacks."""
    while not stop.is_set():
        try:
            batch = await asyncio.wait_for(conn.next_batch(), 0.5)
        except TimeoutError:
            continue
        for e in batch:
            if not isinstance(e, AmiMessage):
                continue
            if e.name == "QueueCallerJoin":
                ts = e.get("Timestamp")
                window.joined.setdefault(e.text("Uniqueid", ""),
                                         float(ts) if isinstance(ts, str) else time.time())
            elif e.name == "UserEvent" and e.text("Stage", "") == "fallback":
                window.fallbacks += 1


async def place_calls(ami: AmiActions, window: Window, numbers: list[str], context: str,
                      patience: int) -> None:
    total = int(window.rate * window.seconds)
    window.started = time.time()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    pending: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        try:
            await ami.originate(f"Local/{DIRECT_LINE}@{context}", context="sim-caller",
                                exten="s", caller_id=f'"压测" <{numbers[n % len(numbers)]}>',
                                variables={"SIM_PATIENCE": str(patience)},
                                channel_id=f"{window.base}.{2 * n}",
                                other_channel_id=f"{window.base}.{2 * n + 1}",
                                ring_timeout=20)
        except (AmiError, TimeoutError):
            window.failed += 1

    for n in range(total):
        delay = t0 + n / window.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        window.sent[n] = time.time()
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending, return_exceptions=True)


async def channels_left(ami: AmiActions) -> int:
    try:
        return len(await ami.core_show_channels())
    except AmiError:
        return -1


async def drain(ami: AmiActions, timeout: float) -> int:
    """Until Asterisk has no channel left (Originates it took late still
    start calls after an overload: twice in a row, 2 s apart), at most
    ``timeout`` s; returns the channels left."""
    deadline = time.monotonic() + timeout
    quiet, left, said = 0, -1, time.monotonic()
    while time.monotonic() < deadline and quiet < 2:
        left = await channels_left(ami)
        quiet = quiet + 1 if left == 0 else 0
        if left and time.monotonic() - said > 30:
            log(f"  ... Asterisk still has {left} channels")
            said = time.monotonic()
        await asyncio.sleep(2.0 if left == 0 else 1.0)
    return left


async def records_of(database_url: str, window: Window) -> dict[str, list[dict[str, Any]]]:
    from sqlalchemy import select

    from crm_bridge.models import CallRecord

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(
                CallRecord.linkedid, CallRecord.outcome, CallRecord.agent, CallRecord.queue,
                CallRecord.extra).where(CallRecord.linkedid.like(f"{window.base}.%")))).all()
    finally:
        await engine.dispose()
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.linkedid, []).append(
            {"outcome": r.outcome, "agent": r.agent, "queue": r.queue, "extra": r.extra})
    return out


async def settled_records(database_url: str, window: Window,
                          limit: float = 60.0) -> dict[str, list[dict[str, Any]]]:
    """The window's records once no more come (the writer may still be
    working through a backlog after an overload)."""
    deadline = time.monotonic() + limit
    records = await records_of(database_url, window)
    while time.monotonic() < deadline:
        await asyncio.sleep(3.0)
        again = await records_of(database_url, window)
        if len(again) == len(records):
            return again
        records = again
    return records


async def run_window(mode: str, rate: float, args: argparse.Namespace, rig: Rig,
                     server: Server | None) -> dict[str, Any]:
    rig.windows += 1
    window = Window(mode, rate, args.seconds, base=7_000_000_000 + rig.run_id * 1000
                    + rig.windows)
    context = "hotline" if mode == "server" else "sim-hotline-bare"
    log_mark = rig.queue_log.stat().st_size
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_events(rig.conn, window, stop))
    pids = {"asterisk": rig.asterisk_pid}
    events0 = 0
    if server is not None:
        pids["server"] = server.pid
        server.pops.clear()
        events0 = int((await server.status(time.time()))["ami"]["events"])
    pids["bench"] = os.getpid()
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    machine0 = machine_cpu()
    wait0 = runq_wait(server.pid) if server is not None else 0.0
    ticker = Ticker()
    sys0 = {k: cpu_times(p)[1] for k, p in pids.items()}
    rss_max = 0.0
    sampling = True

    async def sample() -> None:
        nonlocal rss_max
        while sampling and server is not None:
            rss_max = max(rss_max, rss_mb(server.pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    spy = None
    if server is not None and args.profile:
        out = Path(args.profile) / f"server-{rate:g}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(  # noqa: ASYNC220 (it starts and returns)
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
             str(server.pid), "--duration", str(int(args.seconds)), "--rate", "200",
             "--format", "raw", "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log(f"{mode:8} {rate:5.0f} calls/s for {args.seconds:.0f} s ...")
    await place_calls(rig.ami, window, rig.numbers, context, args.patience)
    left = await drain(rig.ami, DRAIN_LIMIT)
    if spy is not None:
        await asyncio.to_thread(spy.wait)
    wall = time.time() - window.started
    cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
    machine1 = machine_cpu()
    busy = (machine1[0] - machine0[0]) / max(1e-9, machine1[1] - machine0[1])
    system = {k: cpu_times(p)[1] - sys0[k] for k, p in pids.items()}
    bare = ticker.stop()
    sampling = False
    sampler.cancel()
    await asyncio.sleep(2.0)  # the last QueueCallerJoin events
    stop.set()
    await watcher
    truth, _ = queuelog.read(rig.queue_log, log_mark)
    offered = len(window.sent)
    delays = []
    for n, sent in window.sent.items():
        joined = window.joined.get(f"{window.base}.{2 * n + 1}")
        if joined is not None:
            delays.append(joined - sent)
    queued_3s = {n for n, sent in window.sent.items()
                 if (j := window.joined.get(f"{window.base}.{2 * n + 1}")) is not None
                 and j - sent <= 3.0}
    completed = sum(1 for n in queued_3s
                    if (t := truth.get(f"{window.base}.{2 * n + 1}")) is not None and t.ended)
    answered = sum(1 for n in window.sent
                   if (t := truth.get(f"{window.base}.{2 * n + 1}")) is not None and t.agent)
    result: dict[str, Any] = {
        "mode": mode, "rate": rate, "seconds": args.seconds, "offered": offered,
        "failed": window.failed, "queued_3s": len(queued_3s), "answered": answered,
        "completed": completed, "completed_share": round(completed / offered, 4) if offered
        else 0.0, "fallbacks": window.fallbacks,
        "join_s": {"p50": pct(delays, .5), "p95": pct(delays, .95), "max": pct(delays, 1.0)},
        "wall_s": round(wall, 1), "channels_left": left,
        "asterisk_cpu_pct": round(100 * cpu["asterisk"] / wall, 1),
        "asterisk_ms_per_call": round(1000 * cpu["asterisk"] / offered, 2) if offered else None,
        # the whole machine (every core) and the load generator itself: past
        # ~95 % busy every process waits for a core, the server's loop too
        "machine_busy_pct": round(100 * busy, 1),
        "bench_cpu_pct": round(100 * cpu["bench"] / wall, 1),
        # a bare process ticking as the server's loop monitor does: how late
        # the machine itself wakes anyone (the baseline of the loop lag)
        "machine_lag_ms": bare,
    }
    if server is not None:
        records = await settled_records(rig.database_url, window)
        result["records"] = queuelog.audit(
            ((f"{window.base}.{2 * n}", f"{window.base}.{2 * n + 1}") for n in window.sent),
            truth, records).as_dict()
        status = await server.status(window.started)
        result.update({
            "server_cpu_pct": round(100 * cpu["server"] / wall, 1),
            "server_ms_per_call": round(1000 * cpu["server"] / offered, 2) if offered else None,
            # the loop's thread runnable but without a core: lag that is the
            # machine's, not the server's
            "server_runq_wait_ms_per_s": round(1000 * (runq_wait(server.pid) - wait0) / wall,
                                               1),
            "server_system_share": round(system["server"] / cpu["server"], 2)
            if cpu["server"] else None,
            "server_rss_mb": rss_max or rss_mb(server.pid),
            "loop_lag_ms": status.get("loop", {}).get("lag_ms"),
            "ami_lag_ms": status.get("ami", {}).get("event_lag_ms"),
            "pop_ms": {"n": len(server.pops),
                       "p50": pct([(p["got"] - p["event_at"]) * 1000 for p in server.pops], .5),
                       "p99": pct([(p["got"] - p["event_at"]) * 1000 for p in server.pops],
                                  .99)},
            "ami_sessions": status.get("ami", {}).get("session"),
            "events_per_call": round((int(status["ami"]["events"]) - events0) / offered, 1)
            if offered else None,
        })
    log(f"{mode:8} {rate:5.0f}/s: offered {offered}, queued<=3s {len(queued_3s)}, "
        f"completed {completed} ({100 * result['completed_share']:.1f}%), "
        f"fallbacks {window.fallbacks}, join p50 {result['join_s']['p50']} s"
        + (f", records {result['records']}, server {result['server_ms_per_call']} ms/call, "
           f"loop {result['loop_lag_ms']}, pop {result['pop_ms']}" if server else ""))
    return result


# ---------------------------------------------------------------------- the rig
@dataclass
class Rig:
    conn: AmiConnection
    ami: AmiActions
    asterisk_pid: int
    queue_log: Path
    database_url: str
    numbers: list[str]
    run_id: int
    windows: int = 0


@contextlib.asynccontextmanager
async def serving(r: Rig, var: Path,
                  skills: dict[str, int] | None = None) -> AsyncIterator[Server]:
    """The whole server, its agents signed in, the dialplan's FastAGI pointed
    at it; afterwards stopped and the dialplan pointed back."""
    server = Server(Sandbox().credentials(), r.database_url, var)
    before = (await r.ami.getvar("HOTLINE_AGI")) or "agi://127.0.0.1:4573"
    try:
        await server.start()
        await r.ami.setvar("HOTLINE_AGI", f"agi://127.0.0.1:{server.agi_port}")
        await server.sign_in_agents(skills)
        yield server
    finally:
        await server.stop()
        await r.ami.setvar("HOTLINE_AGI", before)


async def agents_in_queue(ami: AmiActions, present: bool) -> None:
    """Asterisk alone: the same 60 agents as members of the queue."""
    for code in AGENTS:
        with contextlib.suppress(AmiError):
            if present:
                await ami.queue_add(QUEUE, f"Local/{code}@sim-agent-phone/n", member_name=code)
            else:
                await ami.queue_remove(QUEUE, f"Local/{code}@sim-agent-phone/n")


@contextlib.asynccontextmanager
async def rig(args: argparse.Namespace) -> AsyncIterator[tuple[Rig, ThrowawayPostgres]]:
    box = Sandbox()
    creds = box.up()
    pid = box.pid()
    assert pid is not None
    log("a throwaway PostgreSQL (fsync on) ...")
    pg = ThrowawayPostgres(durable=True).start()
    try:
        url = pg.create_database("load")
        await upgrade_async(url)
        engine = make_engine(url)
        try:
            await seed_demo(engine, customers=300)
            numbers = [n for _, n in await mobile_customers(engine, 300)]
        finally:
            await engine.dispose()
        conn = AmiConnection(creds.host, creds.port, creds.username, creds.secret,
                             action_timeout=30)
        await conn.start()
        ami = AmiActions(conn)
        for pattern in ("Event: OriginateResponse", "Event: QueueCallerJoin",
                        "Stage: fallback"):
            await ami.event_filter(pattern)
        await ami.setvar("SIM_AGENT_TALK", str(args.talk))
        queue_log = box.layout().host_base / "log" / "queue_log"
        try:
            yield Rig(conn, ami, pid, queue_log, url, numbers, int(time.time()) % 1000), pg
        finally:
            await members_clear(ami)
            await clean_ledger(ami)
            await conn.close()
    finally:
        pg.stop()


async def members_clear(ami: AmiActions) -> None:
    """No member left in any queue (whoever put them there)."""
    for ev in await ami.queue_status():
        if ev.name == "QueueMember":
            with contextlib.suppress(AmiError):
                await ami.queue_remove(ev.text("Queue", ""),
                                       ev.text("Location", "") or ev.text("Interface", ""))


async def clean_ledger(ami: AmiActions) -> None:
    with contextlib.suppress(AmiError):
        await ami.db_del_tree("hotline-ledger")


def _save_partial(results: list[dict[str, Any]]) -> None:
    """The windows so far, should a long run be cut short."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "call_load.partial.json").write_text(json.dumps(results, ensure_ascii=False))


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Mode by mode, rate by rate, ``--repeat`` times: Asterisk alone has no
    server connected at all; the server starts afresh for each of its blocks."""
    rates = [float(r) for r in args.rates.split(",")]
    modes = args.modes.split(",")
    results: list[dict[str, Any]] = []
    logs: list[str] = []
    async with rig(args) as (r, _pg):
        for repeat in range(args.repeat):
            for mode in modes:
                await members_clear(r.ami)
                await clean_ledger(r.ami)
                if mode == "asterisk":
                    await agents_in_queue(r.ami, True)
                    for rate in rates:
                        res = await run_window(mode, rate, args, r, None)
                        results.append({**res, "repeat": repeat})
                        _save_partial(results)
                    await members_clear(r.ami)
                    continue
                var = Path(tempfile.mkdtemp(prefix="bench-load-"))
                try:
                    async with serving(r, var) as server:
                        for rate in rates:
                            res = await run_window(mode, rate, args, r, server)
                            results.append({**res, "repeat": repeat})
                            _save_partial(results)
                finally:
                    logs.append(str(var / "serve.log"))
    return {"results": results, "server_logs": logs}


# ---------------------------------------------------------------------- summary
def _med(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else round((ordered[mid - 1] + ordered[mid]) / 2, 4)


def by_rate(results: list[dict[str, Any]], mode: str,
            value: Any) -> dict[float, list[float]]:
    """The repeats of one figure, per rate, for one mode (None left out)."""
    out: dict[float, list[float]] = {}
    for r in results:
        if r["mode"] != mode:
            continue
        v = value(r)
        if v is not None:
            out.setdefault(float(r["rate"]), []).append(float(v))
    return dict(sorted(out.items()))


def limit(results: list[dict[str, Any]], mode: str, share: float = 0.99) -> float | None:
    """The highest rate up to which the median run completed >= ``share`` of
    its calls at that rate and every rate below."""
    best = None
    for rate, shares in by_rate(results, mode, lambda r: r["completed_share"]).items():
        median = _med(shares)
        if median is None or median < share:
            break
        best = rate
    return best


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, each with the figures it is judged on."""
    alone, served = limit(results, "asterisk"), limit(results, "server")
    out: dict[str, Any] = {"asterisk_limit": alone, "server_limit": served}
    if alone and served is not None:
        out["limit_ratio"] = round(served / alone, 2)
    server = [r for r in results if r["mode"] == "server"]
    totals = {k: sum(r.get("records", {}).get(k, 0) for r in server)
              for k in ("checked", "missing", "doubled", "wrong")}
    out["records"] = totals
    within = [rate for rate in by_rate(results, "server", lambda r: 1) if alone is None
              or rate <= alone]
    half = [rate for rate in within if alone is not None and rate <= alone / 2]
    if half:
        p99s = by_rate(results, "server", lambda r: r.get("pop_ms", {}).get("p99"))
        out["pop_p99_ms_at_half_limit"] = {"rate": half[-1],
                                           "median": _med(p99s.get(half[-1], []))}
    cpu = by_rate(results, "server", lambda r: r.get("server_ms_per_call"))
    medians = {rate: _med(v) for rate, v in cpu.items() if rate in within}
    if medians:
        values = [v for v in medians.values() if v is not None]
        mid = (max(values) + min(values)) / 2
        out["server_ms_per_call"] = {
            "by_rate": medians, "spread_pct": round(100 * (max(values) - mid) / mid, 1),
            "max": max(values)}
    alone_cpu = by_rate(results, "asterisk", lambda r: r.get("asterisk_ms_per_call"))
    if alone_cpu and medians:
        shares = [v / m for rate, v in medians.items() if v is not None
                  and (m := _med(alone_cpu.get(rate, []))) is not None]
        if shares:
            out["server_vs_asterisk_cpu_share"] = round(max(shares), 3)
    lag = {rate: {"p99": max(v["p99"] for v in lags), "max": max(v["max"] for v in lags)}
           for rate, lags in _lags(server).items() if rate in within}
    for rate, v in lag.items():  # the machine's own, in the same windows
        bare = [r["machine_lag_ms"] for r in server
                if float(r["rate"]) == rate and r.get("machine_lag_ms")]
        if bare:
            v["machine_p99"] = max(b["p99"] for b in bare)
            v["machine_max"] = max(b["max"] for b in bare)
    out["loop_lag_ms"] = lag
    t = out.setdefault("targets", {})
    if alone:
        t["limit_ratio>=0.95"] = out.get("limit_ratio", 0) >= 0.95
    t["records_right"] = totals["missing"] == totals["doubled"] == totals["wrong"] == 0
    if "pop_p99_ms_at_half_limit" in out:
        t["pop_p99<=50ms"] = (out["pop_p99_ms_at_half_limit"]["median"] or 1e9) <= 50
    if "server_ms_per_call" in out:
        t["cpu_per_call_flat_30pct"] = out["server_ms_per_call"]["spread_pct"] <= 30
        t["cpu_per_call<=5ms"] = out["server_ms_per_call"]["max"] <= 5
    if lag:
        t["loop_p99<50ms"] = all(v["p99"] < 50 for v in lag.values())
        t["loop_max<200ms"] = all(v["max"] < 200 for v in lag.values())
    return out


def _lags(server: list[dict[str, Any]]) -> dict[float, list[dict[str, float]]]:
    out: dict[float, list[dict[str, float]]] = {}
    for r in server:
        lag = r.get("loop_lag_ms") or {}
        if lag.get("p99") is not None:
            out.setdefault(float(r["rate"]), []).append(lag)
    return out


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    """Completion and pop latency against the offered rate, with and without
    the server: medians of the repeats, bars from min to max."""
    from bench.plotting import pyplot

    plt = pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))

    def line(ax: Any, data: dict[float, list[float]], label: str, fmt: str,
             scale: float = 1.0) -> None:
        if not data:
            return
        rates = list(data)
        med = [(_med(v) or 0) * scale for v in data.values()]
        lo = [m - min(v) * scale for m, v in zip(med, data.values(), strict=True)]
        hi = [max(v) * scale - m for m, v in zip(med, data.values(), strict=True)]
        ax.errorbar(rates, med, yerr=[lo, hi], fmt=fmt, capsize=4, label=label)

    ax = axes[0]
    line(ax, by_rate(results, "asterisk", lambda r: r["completed_share"]), "Asterisk alone",
         "s--", 100)
    line(ax, by_rate(results, "server", lambda r: r["completed_share"]), "with the server",
         "o-", 100)
    ax.axhline(99, color="grey", lw=0.8, ls=":")
    ax.set(title="calls completed (queued within 3 s, ended normally)",
           xlabel="offered calls/s", ylabel="% of offered", ylim=(0, 105))
    ax.legend()
    ax = axes[1]
    line(ax, by_rate(results, "server", lambda r: r.get("pop_ms", {}).get("p50")), "pop p50",
         "o-")
    line(ax, by_rate(results, "server", lambda r: r.get("pop_ms", {}).get("p99")), "pop p99",
         "^-")
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.set(title="screen pop: AgentCalled -> console", xlabel="offered calls/s",
           ylabel="ms (log)", yscale="log")
    ax.legend()
    ax = axes[2]
    line(ax, by_rate(results, "server", lambda r: r.get("server_ms_per_call")), "server",
         "o-")
    line(ax, by_rate(results, "asterisk", lambda r: r.get("asterisk_ms_per_call")),
         "Asterisk alone", "s--")
    line(ax, by_rate(results, "server", lambda r: r.get("asterisk_ms_per_call")),
         "Asterisk with the server", "d:")
    ax.set(title="CPU per offered call", xlabel="offered calls/s", ylabel="ms of one core",
           yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="10,25,35,50")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--modes", default="server,asterisk")
    ap.add_argument("--talk", type=int, default=5)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="10 and 25 calls/s, 15 s, once")
    ap.add_argument("--profile", help="a folder: py-spy samples of the server, per rate")
    args = ap.parse_args(argv)
    if args.quick:
        args.rates, args.seconds, args.repeat = "10,25", 15.0, 1
    report = asyncio.run(measure(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    report.update(python=platform.python_version(), cpus=os.cpu_count(), args=vars(args))
    report["summary"] = summarise(report["results"])
    name = "call_load_quick" if args.quick else "call_load"
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report["summary"], indent=1, ensure_ascii=False))
    if plot(report["results"], RESULTS / f"{name}.png"):
        print(f"plot: {RESULTS / f'{name}.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
