"""The lag monitors: percentiles over a window, the worst of each slot kept,
old samples forgotten, and the loop's lag seen when something blocks it."""

from __future__ import annotations

import asyncio
import time

from cti.monitor import Lags, LoopMonitor


def test_percentiles_cover_the_samples_since_the_given_time() -> None:
    now = [1000.0]
    lags = Lags(slot=0.0, clock=lambda: now[0])
    for k in range(100):
        now[0] = 1000.0 + k
        lags.add(k / 1000)  # 0 .. 99 ms
    all_ = lags.stats(since=0)
    assert (all_["n"], all_["p50"], all_["p99"], all_["max"]) == (100, 50.0, 98.0, 99.0)
    late = lags.stats(since=1090.0)
    assert late["n"] == 10 and late["max"] == 99.0 and late["p50"] == 95.0
    assert Lags().stats() == {"n": 0, "p50": None, "p99": None, "max": None}


def test_a_slot_keeps_its_worst_sample_and_old_samples_go() -> None:
    now = [0.0]
    lags = Lags(keep=10.0, slot=1.0, clock=lambda: now[0])
    for t, lag in ((0.1, 0.001), (0.5, 0.250), (0.9, 0.002), (1.2, 0.003)):
        now[0] = t
        lags.add(lag)
    assert lags.stats(since=0)["max"] == 250.0  # the spike inside a slot is not lost
    now[0] = 30.0
    lags.add(0.004)
    assert lags.stats(since=0)["n"] == 1  # the slots older than `keep` are forgotten
    assert lags.count == 5


async def test_the_loop_monitor_sees_a_blocked_loop() -> None:
    monitor = LoopMonitor(interval=0.01)
    task = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.05)
    time.sleep(0.2)  # noqa: ASYNC251 (the point: something blocks the loop)
    await asyncio.sleep(0.05)
    task.cancel()
    assert monitor.lags.stats(since=0)["max"] >= 150.0
