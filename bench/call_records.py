"""Call-record benchmark: a burst of ending calls written to PostgreSQL.

    python -m bench.call_records [--calls 5000] [--repeat 5]

baseline     one transaction per call: look the caller up, INSERT ... ON
             CONFLICT DO NOTHING, COMMIT (what a naive CDR writer does)
writer       ours, end to end: ``call.ended`` published on the bus for every
             call at once; the writer spools them (fsync), then writes
             batches (customer and ticket lookups, one INSERT per batch);
             timed until the last batch is committed and confirmed
replay       ours, the database coming back after an outage: the same number
             of records already in the spool, drained

The calls are the 60 hotline calls of tests/fixtures/burst_60_calls.ami,
copied with their own Linkedids and caller numbers, into a database holding
the demo data set (300 customers), so about one call in twenty is linked to a
customer. PostgreSQL runs with its production defaults (fsync and
synchronous commit on), started afresh for the run; SQLite (the embedded
default) is measured the same way for reference. Each figure is the median
of ``--repeat`` runs, each on an emptied ``calls`` table; the ratios compare
paths measured in the same run. Results go to bench/results/call_records.json
and a plot to call_records.png.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.plotting import pyplot
from crm_bridge.bus_consume import CALL_RECORDS
from crm_bridge.db import make_engine
from crm_bridge.migrate import upgrade_async
from crm_bridge.models import CallRecord, CustomerPhone
from crm_bridge.seed import Bar, seed_demo
from crm_bridge.writer import CallRecordWriter, record_of, row_of
from cti.ami.parser import AmiParser
from cti.bus import EventBus
from cti.calls.model import Call
from cti.calls.tracker import CallTracker
from tests.support.postgres import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "burst_60_calls.ami"
RESULTS = ROOT / "bench" / "results"
TARGET = 2000.0  # records/s into PostgreSQL


class _QuietBar(Bar):
    def step(self, k: int = 1) -> None:
        self.n += k


def burst(n: int, known_numbers: list[str]) -> list[Call]:
    """``n`` finished calls: the recorded ones, copied with fresh ids and numbers."""
    ended: list[Call] = []
    bus = EventBus()
    bus.subscribe("call.ended", lambda t, c: ended.append(c))
    tracker = CallTracker(bus)
    for m in AmiParser().feed(FIXTURE.read_bytes()):
        if m.is_event:
            tracker.handle(m)
    calls = []
    for i in range(n):
        c = ended[i % len(ended)]
        number = known_numbers[i % len(known_numbers)] if i % 20 == 0 else f"139{i:08d}"
        calls.append(dataclasses.replace(c, call_id=f"{1_900_000_000 + i // 1000}.{i}",
                                         caller_number=number, legs={}))
    return calls


async def empty(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(CallRecord))


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(CallRecord)))
                   .scalar_one())


async def run_baseline(engine: AsyncEngine, calls: list[Call], spool: Path) -> float:
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(CallRecord).on_conflict_do_nothing(index_elements=["linkedid"])
    t0 = time.perf_counter()
    for call in calls:
        record = record_of(call)
        async with engine.begin() as conn:
            customer = (await conn.execute(
                select(CustomerPhone.customer_id)
                .where(CustomerPhone.number == record["caller_number"]).limit(1)
            )).scalar_one_or_none()
            await conn.execute(stmt, [row_of(record, customer, None)])
    return time.perf_counter() - t0


async def run_writer(engine: AsyncEngine, calls: list[Call], spool: Path) -> float:
    bus = EventBus()
    writer = CallRecordWriter(engine, spool, bus.queue(*CALL_RECORDS, maxsize=0))
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0.05)  # the writer is waiting for calls
    t0 = time.perf_counter()
    for call in calls:
        bus.publish("call.ended", call)
    while writer.written < len(calls) or writer.spool.pending_bytes:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    took = time.perf_counter() - t0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return took


async def run_replay(engine: AsyncEngine, calls: list[Call], spool: Path) -> float:
    writer = CallRecordWriter(engine, spool, EventBus().queue(*CALL_RECORDS, maxsize=0))
    writer.spool.append([record_of(c) for c in calls])  # spooled during an outage
    t0 = time.perf_counter()
    ok = await writer.flush()
    took = time.perf_counter() - t0
    writer.close()
    assert ok, writer.last_error
    return took


PATHS: dict[str, Callable[[AsyncEngine, list[Call], Path], Awaitable[float]]] = {
    "baseline": run_baseline, "writer": run_writer, "replay": run_replay}


async def measure(engine: AsyncEngine, calls: list[Call], repeat: int,
                  label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, fn in PATHS.items():
        rates = []
        runs = repeat if key != "baseline" else max(1, (repeat + 1) // 2)
        for r in range(runs):
            print(f"  {label}: {key} run {r + 1}/{runs} ...", end="\r", file=sys.stderr,
                  flush=True)
            await empty(engine)
            with tempfile.TemporaryDirectory(prefix="hotline-spool-") as spool:
                took = await fn(engine, calls, Path(spool))
            written = await count(engine)
            if written != len(calls):
                raise AssertionError(f"{label}/{key}: {written} rows for {len(calls)} calls")
            rates.append(len(calls) / took)
        print("\x1b[K", end="", file=sys.stderr, flush=True)
        out[key] = {"runs": [round(x, 1) for x in rates],
                    "median_rps": round(statistics.median(rates), 1)}
    base = out["baseline"]["median_rps"]
    for key in ("writer", "replay"):
        out[key]["ratio"] = round(out[key]["median_rps"] / base, 2)
    return out


async def prepare(url: str) -> tuple[AsyncEngine, list[str]]:
    await upgrade_async(url)
    engine = make_engine(url)
    await seed_demo(engine, customers=300, progress=_QuietBar)
    async with engine.connect() as conn:
        numbers = list((await conn.execute(select(CustomerPhone.number))).scalars())
    return engine, numbers


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"calls": args.calls, "repeat": args.repeat,
                               "python": platform.python_version(), "cpus": os.cpu_count(),
                               "databases": {}}
    print("starting a throwaway PostgreSQL (fsync on) ...", file=sys.stderr, flush=True)
    pg = ThrowawayPostgres(durable=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
            for name, url in (("postgresql", pg.url),
                              ("sqlite", f"sqlite+aiosqlite:///{tmp}/hotline.db")):
                engine, numbers = await prepare(url)
                calls = burst(args.calls, numbers)
                try:
                    row = await measure(engine, calls, args.repeat, name)
                finally:
                    await engine.dispose()
                results["databases"][name] = row
                print(f"{name:>10} {row['baseline']['median_rps']:>12,.0f} "
                      f"{row['writer']['median_rps']:>12,.0f} "
                      f"{row['replay']['median_rps']:>12,.0f} "
                      f"{row['writer']['ratio']:>9.1f}x {row['replay']['ratio']:>9.1f}x",
                      flush=True)
    finally:
        pg.stop()
    return results


def plot(results: dict[str, Any], out: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    labels = {"baseline": "one transaction per call", "writer": "writer (spool + batches)",
              "replay": "spool replay after an outage"}
    colours = {"baseline": "#9e9e9e", "writer": "#1f77b4", "replay": "#2ca02c"}
    dbs = list(results["databases"])
    fig, ax = plt.subplots(figsize=(8.5, 4.6), dpi=110)
    width = 0.26
    for i, key in enumerate(labels):
        values = [results["databases"][d][key]["median_rps"] for d in dbs]
        xs = [j + (i - 1) * width for j in range(len(dbs))]
        bars = ax.bar(xs, values, width, label=labels[key], color=colours[key])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8, padding=2)
    ax.axhline(TARGET, color="#d62728", linestyle="--", linewidth=1)
    ax.text(0.5, TARGET * 1.04, f"target {TARGET:,.0f}/s (PostgreSQL)", color="#d62728",
            va="bottom", ha="center", fontsize=8)
    ax.set_xticks(range(len(dbs)), [f"{d}\n{results['calls']:,} calls" for d in dbs])
    ax.set_ylabel("call records written per second (median)")
    ax.set_yscale("log")
    ax.set_title("Call records from a burst of ending calls")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"burst: {args.calls:,} calls; median of {args.repeat} runs "
          f"(baseline {max(1, (args.repeat + 1) // 2)}); Python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs", flush=True)
    print(f"{'database':>10} {'baseline/s':>12} {'writer/s':>12} {'replay/s':>12} "
          f"{'writer':>10} {'replay':>10}")
    results = asyncio.run(bench(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "call_records.json").write_text(json.dumps(results, indent=2))
    pg = results["databases"]["postgresql"]["writer"]["median_rps"]
    print(f"target: >= {TARGET:,.0f} records/s into PostgreSQL -> {pg:,.0f}/s "
          f"({'met' if pg >= TARGET else 'NOT met'})")
    if plot(results, RESULTS / "call_records.png"):
        print(f"plot: {RESULTS / 'call_records.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
