"""The machine's own scheduling delay: the baseline of the server's loop lag.

    python -m bench.ticker

A bare process that sleeps 50 ms at a time (the server's loop monitor's
tick) and measures how late it wakes, until SIGTERM; then prints one JSON
line: p50/p99/max lateness in ms and the time it spent runnable but without
a core (ms per second, /proc/self/schedstat). Run beside the server under
load, the difference between the two is the server's own.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

INTERVAL = 0.05


def _run_delay() -> float:
    return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9


def main() -> int:
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    lags: list[float] = []
    start, delay0 = time.monotonic(), _run_delay()
    while not stop:
        asked = time.monotonic() + INTERVAL
        time.sleep(INTERVAL)
        lags.append((time.monotonic() - asked) * 1000)
    wall = time.monotonic() - start
    lags.sort()

    def q(p: float) -> float:
        return round(lags[min(len(lags) - 1, int(p * (len(lags) - 1) + 0.5))], 1) if lags else 0

    print(json.dumps({"n": len(lags), "p50": q(.5), "p99": q(.99), "max": q(1.0),
                      "runq_ms_per_s": round(1000 * (_run_delay() - delay0) / wall, 1)}),
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
