"""SIP load: real SIP and RTP callers through the IVR into a queue.

    python -m bench.sip_load [--rates 20,40] [--seconds 30]

SIPp (Debian's sip-tester) calls the published hotline as the trunk does, at a
steady rate for ``--seconds``: each caller answers the language menu, the main
menu and the product menu with RFC 2833 key presses (1, 1, 4: 中文, products,
TV), waits in the TV queue up to 12 s for one of the 60 agents (signed in to
the server with the TV skill, 5 s talk), then hangs up. The whole server runs
as in the call-load benchmark (its own process, PostgreSQL with fsync on, the
consoles' websockets). Per rate:

sipp        calls SIPp counted successful / failed (a failed call: a SIP
            message missing or out of place, e.g. Asterisk refused the INVITE)
queued      callers that reached a queue (queue_log), and how many the TV one
path_right  call records with the walked path (language:1>main:1>products:4)
            and the TV queue; ``fallbacks``: callers the dialplan sent to the
            general queue because the server did not answer FastAGI in time
records     records against queue_log: missing, doubled, wrong outcome/agent
CPU         server and Asterisk, % of one core and ms per call

Results: bench/results/sip_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.call_load import (
    DRAIN_LIMIT,
    RESULTS,
    ROOT,
    Server,
    Ticker,
    Window,
    cpu_seconds,
    drain,
    log,
    machine_cpu,
    members_clear,
    rig,
    runq_wait,
    serving,
    watch_events,
)
from cti.tools import queuelog
from tests.support.dtmf_pcap import write_dtmf_pcap
from tests.support.postgres import free_port

SCENARIO = ROOT / "bench" / "sipp" / "ivr_queue_load.xml"
HOTLINE = "4008008000"
PATH = "language:1>main:1>products:4"
QUEUE = "tv-zh"


def sipp_stats(path: Path) -> dict[str, int]:
    """The last line of SIPp's statistics file: cumulative counters."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))
    return {"created": int(row.get("TotalCallCreated", 0)),
            "successful": int(row.get("SuccessfulCall(C)", 0)),
            "failed": int(row.get("FailedCall(C)", 0))}


async def records_since(database_url: str, since: float) -> dict[str, list[dict[str, Any]]]:
    from sqlalchemy import select

    from crm_bridge.db import make_engine
    from crm_bridge.models import CallRecord

    engine = make_engine(database_url)
    start = dt.datetime.fromtimestamp(since, dt.UTC)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(
                CallRecord.linkedid, CallRecord.outcome, CallRecord.agent, CallRecord.queue,
                CallRecord.ivr_path).where(CallRecord.caller_number == "sipp-trunk",
                                           CallRecord.started_at >= start))).all()
    finally:
        await engine.dispose()
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.linkedid, []).append({"outcome": r.outcome, "agent": r.agent,
                                               "queue": r.queue, "ivr_path": r.ivr_path})
    return out


async def sip_window(rate: float, args: argparse.Namespace, r: Any, server: Server,
                     work: Path) -> dict[str, Any]:
    sipp = shutil.which("sipp")
    if not sipp:
        raise SystemExit("sipp not found: apt-get install sip-tester")
    total = int(rate * args.seconds)
    stats = work / f"sipp-{rate:g}.csv"
    window = Window("sip", rate, args.seconds, base=0)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_events(r.conn, window, stop))
    mark = r.queue_log.stat().st_size
    pids = {"asterisk": r.asterisk_pid, "server": server.pid}
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    machine0 = machine_cpu()
    wait0 = runq_wait(server.pid)
    ticker = Ticker()
    started = time.time()
    log(f"sip      {rate:5.0f} calls/s for {args.seconds:.0f} s ({total} calls) ...")
    proc = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(SCENARIO), "-s", HOTLINE, "127.0.0.1:5060", "-i", "127.0.0.1",
        "-mi", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()),
        "-r", f"{rate:g}", "-rp", "1000", "-m", str(total), "-l", str(int(rate * 40)),
        "-timeout", str(int(args.seconds + 120)), "-trace_stat", "-stf", str(stats),
        "-fd", "1", "-trace_err", "-error_file", str(work / f"sipp-{rate:g}-errors.log"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=work)
    _, err = await proc.communicate()
    await drain(r.ami, DRAIN_LIMIT)
    wall = time.time() - started
    cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
    machine1 = machine_cpu()
    waited = runq_wait(server.pid) - wait0
    bare = ticker.stop()
    await asyncio.sleep(2.0)
    stop.set()
    await watcher
    await asyncio.sleep(3.0)  # the last records
    truth, _ = queuelog.read(r.queue_log, mark)
    records = await records_since(r.database_url, started - 1)
    # a SIP caller's channel is both the call (Linkedid) and the one in the queue
    ids = sorted(set(truth) | set(records))
    audit = queuelog.audit(((c, c) for c in ids), truth, records)
    rows = [rs[0] for rs in records.values()]
    sip = sipp_stats(stats)
    result = {
        "mode": "sip", "rate": rate, "seconds": args.seconds, "offered": total,
        "sipp": sip, "sipp_exit": proc.returncode,
        "sipp_stderr": err.decode(errors="replace")[-300:] if proc.returncode not in (0, 1)
        else "",
        "queued": sum(1 for t in truth.values() if t.joined is not None),
        "queued_tv": sum(1 for t in truth.values() if t.queue == QUEUE),
        "answered": sum(1 for t in truth.values() if t.agent),
        "fallbacks": window.fallbacks,
        "path_right": sum(1 for row in rows if row["ivr_path"] == PATH
                          and row["queue"] == QUEUE),
        "records": audit.as_dict(), "wall_s": round(wall, 1),
        "server_cpu_pct": round(100 * cpu["server"] / wall, 1),
        "server_ms_per_call": round(1000 * cpu["server"] / total, 2),
        "asterisk_cpu_pct": round(100 * cpu["asterisk"] / wall, 1),
        "asterisk_ms_per_call": round(1000 * cpu["asterisk"] / total, 2),
        "server_runq_wait_ms_per_s": round(1000 * waited / wall, 1),
        "machine_lag_ms": bare,
        "machine_busy_pct": round(100 * (machine1[0] - machine0[0])
                                  / max(1e-9, machine1[1] - machine0[1]), 1),
        "loop_lag_ms": (status := await server.status(started)).get("loop", {}).get("lag_ms"),
        "ami_lag_ms": status.get("ami", {}).get("event_lag_ms"),
        "ami_sessions": status.get("ami", {}).get("session"),
    }
    log(f"sip      {rate:5.0f}/s: sipp {sip}, queued {result['queued']} "
        f"(TV {result['queued_tv']}), path right {result['path_right']}, fallbacks "
        f"{window.fallbacks}, records {audit.as_dict()}, server "
        f"{result['server_ms_per_call']} ms/call, Asterisk {result['asterisk_ms_per_call']}, "
        f"loop lag {result['loop_lag_ms']}, the machine's {bare}")
    return result


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    for press, digit in enumerate("114"):
        write_dtmf_pcap(work / f"key{press + 1}.pcap", digit, press)
    results = []
    async with rig(args) as (r, _pg):
        await members_clear(r.ami)
        async with serving(r, work, {"mandarin": 5, "tv": 5}) as server:
            for rate in (float(x) for x in args.rates.split(",")):
                results.append(await sip_window(rate, args, r, server, work))
    return {"results": results, "server_log": str(work / "serve.log")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="20,40")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--talk", type=int, default=5)
    args = ap.parse_args(argv)
    report = asyncio.run(measure(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    report.update(python=platform.python_version(), cpus=os.cpu_count(), args=vars(args))
    (RESULTS / "sip_load.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report["results"], indent=1, ensure_ascii=False))
    failed = [r for r in report["results"] if r["sipp_exit"] not in (0, 1)]
    if failed:
        print(f"sipp did not run: {failed[0]['sipp_stderr']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
