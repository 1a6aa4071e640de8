"""How late the server is: the event loop's lag and Asterisk's events' lag.

* :class:`LoopMonitor` wakes every ``interval`` seconds and records how much
  later than asked it woke: the time anything on the loop (an AMI read, a
  FastAGI answer, a websocket push) may have waited.
* :class:`Lags` keeps such delays for the last minutes, at most one sample per
  ``slot`` (the largest of the slot, so the tail is never understated), and
  answers percentiles since a given time. The event pump feeds one with each
  AMI event's delay (Asterisk's ``Timestamp`` to the pump handling it).

Both are read by ``/healthz`` and ``/api/v1/status`` (cti/web/health.py) and
by the call-load benchmark.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable


class Lags:
    def __init__(self, keep: float = 900.0, slot: float = 0.01,
                 clock: Callable[[], float] = time.time) -> None:
        self.keep, self.slot, self.clock = keep, slot, clock
        self._samples: collections.deque[tuple[float, float]] = collections.deque()
        self._slot_at = 0.0
        self._slot_max = -1.0
        self.count = 0

    def add(self, lag: float, at: float | None = None) -> None:
        """A delay in seconds, observed at ``at`` (now by default)."""
        now = self.clock() if at is None else at
        self.count += 1
        if now - self._slot_at < self.slot:
            if lag > self._slot_max:
                self._slot_max = lag
            return
        if self._slot_max >= 0.0:
            self._samples.append((self._slot_at, self._slot_max))
        self._slot_at, self._slot_max = now, lag
        horizon = now - self.keep
        samples = self._samples
        while samples and samples[0][0] < horizon:
            samples.popleft()

    def stats(self, since: float | None = None) -> dict[str, float | int | None]:
        """p50, p99 and max in milliseconds of the samples since ``since``
        (epoch seconds; the last minute if None)."""
        since = self.clock() - 60.0 if since is None else since
        values = sorted(lag for at, lag in self._samples if at >= since)
        if self._slot_max >= 0.0 and self._slot_at >= since:
            values.append(self._slot_max)
            values.sort()
        if not values:
            return {"n": 0, "p50": None, "p99": None, "max": None}

        def q(p: float) -> float:
            return round(values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))] * 1000,
                         1)

        return {"n": len(values), "p50": q(0.5), "p99": q(0.99), "max": q(1.0)}


class LoopMonitor:
    def __init__(self, interval: float = 0.05, lags: Lags | None = None) -> None:
        self.interval = interval
        self.lags = lags or Lags(slot=0.0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.lags.add(max(0.0, loop.time() - asked))
