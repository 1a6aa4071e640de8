"""The IVR's watchdog: armed at once, re-armed as the menus go on, never
more often than it needs (the integration test shows Asterisk acting on it)."""

from __future__ import annotations

from typing import Any

import pytest

from ivr import runner
from ivr.runner import Watchdog


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_command(self, command: str) -> dict[str, Any]:
        self.sent.append(command)
        return {"result": ("1", "")}


async def test_rearmed_once_a_third_has_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: now[0])
    request = Recorder()
    dog = Watchdog(request, 60)  # type: ignore[arg-type]
    await dog.keep_alive()
    assert request.sent == []  # not armed yet: nothing to keep alive
    await dog.arm()
    assert request.sent == ["SET VARIABLE TIMEOUT(absolute) 60"]
    for t in (105.0, 119.0, 120.0):  # within the first third: no extra command
        now[0] = t
        await dog.keep_alive()
    assert len(request.sent) == 1
    now[0] = 120.5
    await dog.keep_alive()
    assert request.sent[-1] == "SET VARIABLE TIMEOUT(absolute) 60" and len(request.sent) == 2
    now[0] = 130.0
    await dog.keep_alive()  # counted from the re-arm
    assert len(request.sent) == 2
