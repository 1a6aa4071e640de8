"""The event loop's place in the CPU queue, beside Asterisk.

On a machine Asterisk keeps busy, a process that wakes hundreds of times a
second (an AMI read, a FastAGI command, a websocket push) waits for a core at
each wake-up: at 25 calls/s on two cores the loop's thread waited ~400 ms of
every second, and its lag reached seconds; the FastAGI watchdog then sent
callers to the fallback queue. Niceness does not help (a nice -15 process
waits as long); a real-time policy does.

So the loop's thread asks for SCHED_FIFO at the lowest real-time priority
(1): it runs as soon as it wakes, ahead of Asterisk's normal threads, and
behind an Asterisk started with ``-p`` (its own real-time priority is
higher). The loop's CPU is small and bounded by design (nothing heavy runs on
it, see docs/ami.md), and the kernel keeps 5 % of every second for the rest
(``kernel.sched_rt_runtime_us``). SCHED_RESET_ON_FORK: threads the server
starts later (file syncs, encoding off the loop) and child processes run at
normal priority.

It needs root or CAP_SYS_NICE (systemd: ``AmbientCapabilities=CAP_SYS_NICE``,
or ``LimitRTPRIO=1``); without it the server runs at normal priority and says
so at start. ``loop_scheduling = "normal"`` turns it off.
"""

from __future__ import annotations

import os
from typing import Literal

RT_PRIORITY = 1
Scheduling = Literal["realtime", "normal"]


def current() -> Scheduling:
    """The calling thread's policy, as the status reports it."""
    policy = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    return "realtime" if policy in (os.SCHED_FIFO, os.SCHED_RR) else "normal"


def apply(wanted: Scheduling) -> tuple[Scheduling, str | None]:
    """Put the calling thread (call it from the loop's thread) under
    ``wanted``; returns what it runs under and, when that is not what was
    wanted, why."""
    if wanted == "normal":
        return current(), None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK,
                              os.sched_param(RT_PRIORITY))
    except OSError as exc:
        return current(), (f"{exc.strerror or exc}: run as root or grant CAP_SYS_NICE "
                           "(systemd: AmbientCapabilities=CAP_SYS_NICE)")
    return current(), None
