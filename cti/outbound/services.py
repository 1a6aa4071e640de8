"""What the hotline owes callers, decided as calls end.

A caller who hung up after waiting longer than their queue's
``callback_after_abandon`` (acd/queues.yaml) is owed a callback that keeps
their place (the time they first joined, their priority); a number on the
do-not-call list is owed none. A caller who gets through by themselves drops
the callback their number was owed. The entries live in the service database
(:class:`CallbackStore`: crm_bridge/callbacks.py), one open per number.
Consumed from a bus queue: the event loop never waits on the database for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from cti.bus import Subscription
from cti.calls.model import Call
from cti.tasks import uncancelled

log = structlog.get_logger("cti.outbound")


class CallbackStore(Protocol):
    async def open(self, number: str, kind: str, *, queue: str | None = None,
                   priority: int = 0, joined_at: dt.datetime | None = None,
                   call_id: str | None = None, ticket_id: int | None = None,
                   note: str = "", due_at: dt.datetime | None = None
                   ) -> tuple[dict[str, Any], bool]: ...

    async def drop_open(self, number: str, why: str) -> int: ...


class Blocklist(Protocol):
    async def blocked(self, raw: str) -> bool: ...


class Owed:
    def __init__(self, store: CallbackStore, blocklist: Blocklist,
                 abandon_after: Mapping[str, int | None],
                 is_phone: Callable[[str], bool]) -> None:
        """``abandon_after``: queue -> seconds of waiting after which a caller
        who gave up is owed a callback (None: never); ``is_phone``: a number a
        call can be placed to."""
        self.store, self.blocklist = store, blocklist
        self.abandon_after = abandon_after
        self.is_phone = is_phone
        self.opened = 0
        self.dropped = 0

    async def on_call_ended(self, call: Call) -> None:
        number = call.caller_number
        if not number or call.backfilled or call.callback_id is not None:
            return  # a callback's own call: the dialler records how it went
        if call.outcome == "answered":
            dropped = await self.store.drop_open(number, f"got through on call {call.call_id}")
            self.dropped += dropped
            return
        if call.outcome != "abandoned" or call.queue is None or call.queued_at is None:
            return
        after = self.abandon_after.get(call.queue)
        wait = call.wait_seconds or 0.0
        if after is None or wait <= after or not self.is_phone(number):
            return
        if await self.blocklist.blocked(number):
            log.info("callback_not_owed_dnc", call_id=call.call_id)
            return
        entry, created = await self.store.open(
            number, "abandoned", queue=call.queue, priority=call.priority,
            joined_at=dt.datetime.fromtimestamp(call.queued_at, dt.UTC), call_id=call.call_id,
            note=f"hung up after {wait:.0f} s in {call.queue}")
        if created:
            self.opened += 1
            log.info("callback_owed", call_id=call.call_id, callback=entry["id"],
                     queue=call.queue, waited=round(wait, 1))

    async def run(self, ended: Subscription) -> None:
        async for _, call in ended:
            try:
                await uncancelled(self.on_call_ended(call))
            except Exception as exc:  # the database is away: this call's decision is lost
                log.error("callback_decision_failed", call_id=call.call_id,
                          error=f"{type(exc).__name__}: {exc}"[:200])


class Booking:
    """A callback the caller asked for in the queue ("press 1"), for the IVR's
    callback dialogue (ivr/callback.py): the number must be callable and not
    on the do-not-call list; the entry keeps the place of the caller's first
    join, and the dialler looks at once."""

    def __init__(self, store: CallbackStore, blocklist: Blocklist,
                 is_phone: Callable[[str], bool], wake: Callable[[], None]) -> None:
        self.store, self.blocklist, self.is_phone, self.wake = store, blocklist, is_phone, wake

    def callable(self, number: str) -> bool:
        return self.is_phone(number)

    async def book(self, number: str, *, queue: str | None, priority: int,
                   joined_at: float | None, call_id: str) -> str:
        """``booked``, ``invalid`` (not a number a call can go to) or
        ``blocked`` (on the do-not-call list)."""
        if not self.is_phone(number):
            return "invalid"
        if await self.blocklist.blocked(number):
            return "blocked"
        entry, created = await self.store.open(
            number, "keep_place", queue=queue, priority=priority,
            joined_at=dt.datetime.fromtimestamp(joined_at, dt.UTC) if joined_at else None,
            call_id=call_id, note="asked for in the queue")
        log.info("callback_booked", call_id=call_id, callback=entry["id"], queue=queue,
                 new=created)
        self.wake()
        return "booked"
