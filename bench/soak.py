"""Soak: the whole server at a steady call rate for half an hour.

    python -m bench.soak [--minutes 30] [--rate 10]

The call-load benchmark's set-up (its own server process, PostgreSQL with
fsync on, 60 signed-in consoles, the wallboard feed; callers on the direct
line, 5 s talk) at one rate both modes hold, for ``--minutes``. Every 10 s:
the server's RSS, its open file descriptors, the calls it tracks and its CPU.
After the last call: the calls it tracks must be back to zero, and every
record right against queue_log. Slopes per hour are fitted after a warm-up
of a tenth of the run.

Results: bench/results/soak.json and soak.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.call_load import (
    DRAIN_LIMIT,
    RESULTS,
    Window,
    cpu_seconds,
    drain,
    log,
    members_clear,
    open_fds,
    place_calls,
    rig,
    rss_mb,
    serving,
    settled_records,
    watch_events,
)
from cti.tools import queuelog


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if not var:
        return None
    return round(3600 * sum((t - mx) * (v - my) for t, v in points) / var, 2)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    async with rig(args) as (r, _pg):
        await members_clear(r.ami)
        var = Path(tempfile.mkdtemp(prefix="bench-soak-"))
        async with serving(r, var) as server:
            window = Window("soak", args.rate, args.minutes * 60,
                            base=8_000_000_000 + r.run_id * 1000)
            mark = r.queue_log.stat().st_size
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_events(r.conn, window, stop))
            start = time.time()
            cpu0 = cpu_seconds(server.pid)

            async def sample() -> None:
                while True:
                    status = await server.status(time.time() - 10)
                    samples.append({
                        "t": round(time.time() - start, 1), "rss_mb": rss_mb(server.pid),
                        "fds": open_fds(server.pid),
                        "live_calls": status.get("calls", {}).get("live"),
                        "cpu_s": round(cpu_seconds(server.pid) - cpu0, 2),
                        "loop_p99_ms": status.get("loop", {}).get("lag_ms", {}).get("p99"),
                    })
                    if len(samples) % 18 == 0:
                        s = samples[-1]
                        log(f"soak {s['t'] / 60:5.1f} min: RSS {s['rss_mb']} MB, fds {s['fds']}, "
                            f"live calls {s['live_calls']}, loop p99 {s['loop_p99_ms']} ms")
                    await asyncio.sleep(10.0)

            sampler = asyncio.create_task(sample())
            log(f"soak: {args.rate:g} calls/s for {args.minutes:g} min ...")
            await place_calls(r.ami, window, r.numbers, "hotline", args.patience)
            await drain(r.ami, DRAIN_LIMIT)
            await asyncio.sleep(15.0)  # past the last records and one more sample
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
            stop.set()
            await watcher
            final = await server.status(time.time() - 10)
            truth, _ = queuelog.read(r.queue_log, mark)
            records = await settled_records(r.database_url, window)
            audit = queuelog.audit(
                ((f"{window.base}.{2 * n}", f"{window.base}.{2 * n + 1}") for n in window.sent),
                truth, records)
    warm = args.minutes * 6  # seconds: a tenth of the run
    steady = [s for s in samples if s["t"] >= warm]
    offered = len(window.sent)
    return {
        "rate": args.rate, "minutes": args.minutes, "offered": offered,
        "failed": window.failed, "fallbacks": window.fallbacks,
        "records": audit.as_dict(),
        "live_calls_after": final.get("calls", {}).get("live"),
        "rss_mb": {"first": samples[0]["rss_mb"] if samples else None,
                   "max": max((s["rss_mb"] for s in samples), default=None),
                   "last": samples[-1]["rss_mb"] if samples else None,
                   "slope_per_hour": slope_per_hour([(s["t"], s["rss_mb"]) for s in steady])},
        "fds": {"first": samples[0]["fds"] if samples else None,
                "max": max((s["fds"] for s in samples), default=None),
                "last": samples[-1]["fds"] if samples else None,
                "slope_per_hour": slope_per_hour([(s["t"], s["fds"]) for s in steady])},
        "server_ms_per_call": round(1000 * samples[-1]["cpu_s"] / offered, 2)
        if samples and offered else None,
        "samples": samples,
    }


def plot(report: dict[str, Any], path: Path) -> bool:
    from bench.plotting import pyplot

    plt = pyplot()
    if plt is None:
        return False
    samples = report["samples"]
    minutes = [s["t"] / 60 for s in samples]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key, title in ((axes[0], "rss_mb", "server RSS (MB)"),
                           (axes[1], "fds", "open file descriptors"),
                           (axes[2], "live_calls", "calls the server tracks")):
        ax.plot(minutes, [s[key] for s in samples], "-")
        ax.set(title=title, xlabel="minutes", ylim=(0, None))
    fig.suptitle(f"soak: {report['rate']:g} calls/s for {report['minutes']:g} min")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--talk", type=int, default=5)
    ap.add_argument("--patience", type=int, default=10)
    args = ap.parse_args(argv)
    report = asyncio.run(soak(args))
    report.update(python=platform.python_version(), cpus=os.cpu_count())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1,
                     ensure_ascii=False))
    if plot(report, RESULTS / "soak.png"):
        print(f"plot: {RESULTS / 'soak.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
