"""Event-core benchmark: recorded sandbox AMI traffic through two paths, same run.

    python -m bench.event_core [--repeat 7] [--copies 20]

baseline   panoramisk 1.4's AMIProtocol.data_received: decode, split, parse
           into Message objects and dispatch to a no-op callback
ours/parse our framing and parser alone (split on bytes, then decode each frame)
ours/whole our whole path: the connection's reader (framing, parse, reply
           matching, hand-off to the consumer), then the event pump: the call
           tracker and the agent/queue translator, and the domain events on
           the bus (a subscriber on call.*, agent.*, queue.*, member.*), with
           production logging configured (JSON lines, to /dev/null)

The traffic is tests/fixtures/burst_60_calls.ami (60 hotline calls recorded
from the sandbox), concatenated ``--copies`` times and fed in reads of
several sizes. Each figure is the median of ``--repeat`` runs; the ratios
compare paths measured in the same run, so machine noise cancels out.
Results go to bench/results/event_core.json and a plot to event_core.png.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from bench.panoramisk_baseline import bare_protocol
from bench.plotting import pyplot
from cti.ami import AmiActions, AmiConnection, ConnState
from cti.ami.connection import _Protocol
from cti.ami.parser import AmiParser
from cti.bus import EventBus
from cti.calls.agents import AgentEvents
from cti.calls.tracker import CallTracker
from cti.pump import EventPump

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "burst_60_calls.ami"
RESULTS = ROOT / "bench" / "results"
READ_SIZES = (1460, 16384, 65536)


class _NullTransport(asyncio.Transport):
    def write(self, data: bytes) -> None:  # type: ignore[override]
        pass

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


_ID = re.compile(rb"\b(1\d{9})\.(\d+)")


def _as_copy(body: bytes, k: int) -> bytes:
    """The recorded traffic as the k-th distinct set of calls: Uniqueids, Linkedids
    and timestamps moved k hours on, so no copy repeats another's call ids (the
    tracker ignores events of calls that already ended)."""
    if k == 0:
        return body
    return _ID.sub(lambda m: b"%d.%s" % (int(m.group(1)) + 3600 * k, m.group(2)), body)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def run_baseline(chunks: list[bytes]) -> int:
    count = 0

    def sink(msg: Any) -> None:
        nonlocal count
        count += 1

    proto = bare_protocol(sink)
    feed = proto.data_received
    for c in chunks:
        feed(c)
    return count


def run_parse(chunks: list[bytes]) -> int:
    parser = AmiParser()
    feed = parser.feed
    n = 0
    for c in chunks:
        n += len(feed(c))
    return n


def run_whole(chunks: list[bytes], expected_calls: int) -> int:
    async def go() -> int:
        conn = AmiConnection("127.0.0.1", 5038, "bench", "x")
        proto = _Protocol(conn)
        proto.connection_made(_NullTransport())
        proto.held = None  # logged in
        conn._protocol = proto
        conn.state = ConnState.CONNECTED
        bus = EventBus()
        ended: list[Any] = []
        bus.subscribe("call.*", lambda t, p: ended.append(p) if t == "call.ended" else None)
        for pattern in ("agent.*", "queue.*", "member.*"):  # the board's and pops' topics
            bus.subscribe(pattern, lambda t, p: None)
        tracker = CallTracker(bus)
        pump = EventPump(conn, AmiActions(conn), tracker, AgentEvents(bus), bus)
        dispatch = pump.dispatch
        feed = proto.data_received
        n = 0
        for c in chunks:
            feed(c)
            if conn._buffer:
                for item in await conn.next_batch():
                    dispatch(item)  # type: ignore[arg-type]
                    n += 1
        assert tracker.calls == {}, "every replayed call must end"
        assert len(ended) == expected_calls, f"{len(ended)} calls ended, not {expected_calls}"
        return n

    return asyncio.run(go())


def measure(fn: Callable[[list[bytes]], int], chunks: list[bytes], repeat: int) -> dict[str, Any]:
    rates = []
    count = 0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        count = fn(chunks)
        dt = time.perf_counter() - t0
        rates.append(count / dt)
    return {"events": count, "median_eps": statistics.median(rates), "runs_eps": rates}


def plot(results: dict[str, Any], out: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    sizes = [str(s) for s in READ_SIZES]
    paths = [("baseline", "panoramisk 1.4 parse+dispatch", "#8b99a8"),
             ("ours_parse", "ours: framing + parse", "#7aa2f7"),
             ("ours_whole", "ours: whole path (reader, tracker, bus, logs)", "#9ece6a")]
    fig, ax = plt.subplots(figsize=(8.5, 4.6), dpi=110)
    width = 0.26
    for i, (key, label, color) in enumerate(paths):
        vals = [results["by_read_size"][s][key]["median_eps"] / 1000 for s in sizes]
        xs = [j + (i - 1) * width for j in range(len(sizes))]
        bars = ax.bar(xs, vals, width, label=label, color=color)
        for b, v in zip(bars, vals, strict=True):
            ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.0f}", ha="center", va="bottom",
                    fontsize=8)
    ax.set_xticks(range(len(sizes)), [f"{s} B reads" for s in sizes])
    ax.set_ylabel("thousand events / s (median)")
    ax.set_title("AMI event core: recorded sandbox traffic, one core")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--copies", type=int, default=20)
    args = ap.parse_args(argv)

    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=structlog.PrintLoggerFactory(file=open(os.devnull, "w")),  # noqa: SIM115
        cache_logger_on_first_use=True,
    )
    raw = FIXTURE.read_bytes()
    banner_end = raw.index(b"\r\n\r\n") + 4  # the login answer: fed once, up front
    body = raw[banner_end:]
    data = raw[:banner_end] + b"".join(_as_copy(body, k) for k in range(args.copies))
    expected_calls = body.count(b"Event: OriginateResponse") * args.copies
    print(f"traffic: {FIXTURE.name} x{args.copies} = {len(data) / 1e6:.1f} MB; "
          f"median of {args.repeat} runs; Python {platform.python_version()}", flush=True)
    results: dict[str, Any] = {"fixture": FIXTURE.name, "copies": args.copies,
                               "bytes": len(data), "repeat": args.repeat,
                               "python": platform.python_version(), "by_read_size": {}}
    print(f"{'read size':>10} {'panoramisk':>12} {'ours parse':>12} {'ours whole':>12} "
          f"{'parse/base':>11} {'whole/base':>11}")
    for size in READ_SIZES:
        chunks = _chunks(data, size)
        row: dict[str, Any] = {}
        for key, fn in (("baseline", run_baseline), ("ours_parse", run_parse),
                        ("ours_whole", functools.partial(run_whole,
                                                         expected_calls=expected_calls))):
            if sys.stderr.isatty():
                print(f"  [{size} B reads] {key} ...", end="\r", file=sys.stderr, flush=True)
            row[key] = measure(fn, chunks, args.repeat)
        if sys.stderr.isatty():
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)
        base = row["baseline"]["median_eps"]
        row["parse_ratio"] = row["ours_parse"]["median_eps"] / base
        row["whole_ratio"] = row["ours_whole"]["median_eps"] / base
        results["by_read_size"][str(size)] = row
        print(f"{size:>10} {base:>12,.0f} {row['ours_parse']['median_eps']:>12,.0f} "
              f"{row['ours_whole']['median_eps']:>12,.0f} {row['parse_ratio']:>10.2f}x "
              f"{row['whole_ratio']:>10.2f}x", flush=True)
        if row["ours_whole"]["events"] < row["baseline"]["events"] - 1:
            print("  note: the baseline counted events our path did not", file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "event_core.json").write_text(json.dumps(results, indent=2))
    target = min(r["whole_ratio"] for r in results["by_read_size"].values())
    print(f"target: whole path >= 1.0x panoramisk's bare parse -> worst case {target:.2f}x "
          f"({'met' if target >= 1.0 else 'NOT met'})")
    if plot(results, RESULTS / "event_core.png"):
        print(f"plot: {RESULTS / 'event_core.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
