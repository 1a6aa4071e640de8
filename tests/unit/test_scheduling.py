"""The event loop's scheduling policy (cti/config/scheduling.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cti.config import scheduling

PROBE = """
import json, os, threading
from cti.config import scheduling
got, why = scheduling.apply("realtime")
seen = {}
t = threading.Thread(target=lambda: seen.update(thread=scheduling.current()))
t.start(); t.join()
child = os.popen("chrt -p $$").read()
print(json.dumps({"loop": got, "why": why, "thread": seen["thread"],
                  "child_fifo": "SCHED_FIFO" in child}))
"""


def test_realtime_is_for_the_loop_thread_only() -> None:
    """The loop's thread runs under SCHED_FIFO; threads it starts later (file
    syncs, encoding) and child processes run at normal priority."""
    assert os.geteuid() == 0, "a real-time policy needs root: make test runs as root"
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=30)
    got = json.loads(out.stdout)
    assert got == {"loop": "realtime", "why": None, "thread": "normal", "child_fifo": False}


def test_without_the_right_it_says_why_and_runs_normally(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refused)
    policy, why = scheduling.apply("realtime")
    assert policy == "normal"
    assert why is not None and "Operation not permitted" in why and "CAP_SYS_NICE" in why


def test_normal_leaves_the_policy_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "sched_setscheduler", lambda *a: calls.append(a))
    assert scheduling.apply("normal") == ("normal", None)
    assert calls == []
