"""Who is owed a callback as calls end: a caller who gave up after waiting
longer than their queue allows (keeping their place and priority), not one who
left quickly, not a number on the do-not-call list or not callable; a caller
who gets through drops what their number was owed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cti.calls.model import Call, CallState
from cti.outbound.services import Owed

T0 = 1_796_000_000.0


class Store:
    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []
        self.dropped: list[str] = []

    async def open(self, number: str, kind: str, **kw: Any) -> tuple[dict[str, Any], bool]:
        self.opened.append({"number": number, "kind": kind, **kw})
        return {"id": len(self.opened)}, True

    async def drop_open(self, number: str, why: str) -> int:
        self.dropped.append(number)
        return 1


class Blocklist:
    async def blocked(self, raw: str) -> bool:
        return raw == "13900000000"


def call(number: str, *, waited: float, answered: bool, queue: str = "tv-zh",
         priority: int = 0) -> Call:
    c = Call(call_id=f"{T0}.{number[-3:]}", started_at=T0, caller_number=number, queue=queue,
             queued_at=T0 + 5, priority=priority)
    c.history = [(CallState.RINGING, T0), (CallState.QUEUED, T0 + 5)]
    if answered:
        c.answered_at = T0 + 5 + waited
    else:
        c.abandoned = True
    c.ended_at = T0 + 5 + waited + (60 if answered else 0)
    return c


def owed(store: Store) -> Owed:
    return Owed(store, Blocklist(), {"tv-zh": 30, "vip": 10, "english": None},
                lambda n: n.startswith("1") and len(n) == 11)


async def test_a_caller_who_gave_up_after_the_queues_limit_is_owed_a_callback() -> None:
    store = Store()
    o = owed(store)
    await o.on_call_ended(call("13800000001", waited=45, answered=False, priority=10))
    await o.on_call_ended(call("13800000002", waited=20, answered=False))  # left quickly
    await o.on_call_ended(call("13800000003", waited=45, answered=False, queue="english"))
    await o.on_call_ended(call("13900000000", waited=90, answered=False))  # do not call
    await o.on_call_ended(call("12345", waited=90, answered=False))  # no number to call
    await o.on_call_ended(call("13800000004", waited=12, answered=False, queue="vip"))
    assert [(e["number"], e["queue"], e["priority"]) for e in store.opened] == [
        ("13800000001", "tv-zh", 10), ("13800000004", "vip", 0)]
    first = store.opened[0]
    assert first["kind"] == "abandoned"
    assert first["joined_at"] == dt.datetime.fromtimestamp(T0 + 5, dt.UTC)  # their place


async def test_a_caller_who_gets_through_drops_what_their_number_was_owed() -> None:
    store = Store()
    o = owed(store)
    await o.on_call_ended(call("13800000001", waited=3, answered=True))
    assert store.dropped == ["13800000001"] and store.opened == []
