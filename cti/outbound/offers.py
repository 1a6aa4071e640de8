"""The "press 1 to be called back" offer, made to callers likely to wait long.

Every few seconds, for each queue with ``callback_offer_after``
(acd/queues.yaml): a caller whose estimated wait (the ACD's estimate) is over
it, who has waited ``callback_offer_every`` seconds since joining or since
their last offer, hears the offer whispered over the hold music without
leaving the queue (ChanSpy in whisper mode on their channel, from a channel
the server places for itself: ``svc-`` ids, no call). Before that the server
marks their channel (HOTLINE_CB_OFFERED), so a 1 pressed then takes them to
the callback dialogue (ivr/callback.py); a 1 pressed without an offer puts
them back in their place. Offers are made only while the site's calendar is
open (a callback could not be made otherwise) and never to a number on the
do-not-call list.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import structlog

from cti.ami import AmiError
from cti.calls.model import Call
from cti.outbound.dialer import Telephony
from cti.outbound.services import Blocklist
from cti.tasks import TaskSet, uncancelled

log = structlog.get_logger("cti.outbound.offers")


class Waiting(Protocol):
    @property
    def call_id(self) -> str: ...
    @property
    def joined_at(self) -> float: ...
    @property
    def uniqueid(self) -> str: ...  # the channel waiting in the queue
    @property
    def channel(self) -> str: ...


class WaitEstimates(Protocol):
    """Each caller waiting in a queue with their estimated wait (acd/board.py)."""

    def estimated_waits(self, name: str) -> Sequence[tuple[Waiting, float]]: ...


class LiveCalls(Protocol):
    def get(self, call_id: str) -> Call | None: ...


class OfferTelephony(Telephony, Protocol):
    """What the offer asks of Asterisk: mark the caller's channel, place the whisper."""

    async def setvar(self, name: str, value: str, channel: str | None = None) -> None: ...


class Offers:
    def __init__(self, waits: WaitEstimates, calls: LiveCalls, telephony: OfferTelephony,
                 blocklist: Blocklist,
                 queues: Mapping[str, tuple[int, int]], is_open: Callable[[], bool], *,
                 tick: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        """``queues``: queue -> (estimated wait over which to offer, seconds
        between offers)."""
        self.waits, self.calls, self.telephony = waits, calls, telephony
        self.blocklist = blocklist
        self.queues, self.is_open = dict(queues), is_open
        self.tick, self.clock = tick, clock
        self.last_offer: dict[str, float] = {}  # call -> when last offered
        self._ids = itertools.count(1)
        self._tasks = TaskSet()

    async def run(self) -> None:
        while True:
            try:
                await uncancelled(self.step())
            except Exception as exc:
                log.warning("offers_step_failed", error=f"{type(exc).__name__}: {exc}"[:200])
            await asyncio.sleep(self.tick)

    async def step(self) -> None:
        if not self.queues or not self.is_open():
            self.last_offer.clear()
            return
        now = self.clock()
        seen: set[str] = set()
        for queue, (over, every) in self.queues.items():
            for waiting, estimate in self.waits.estimated_waits(queue):
                seen.add(waiting.call_id)
                since = self.last_offer.get(waiting.call_id, waiting.joined_at)
                if estimate < over or now - since < every:
                    continue
                call = self.calls.get(waiting.call_id)
                if call is None or call.callback_id is not None:  # a callback waits: no offer
                    continue
                self.last_offer[waiting.call_id] = now
                await self.offer(call, waiting)
        for gone in set(self.last_offer) - seen:
            del self.last_offer[gone]

    async def offer(self, call: Call, waiting: Waiting) -> None:
        if not waiting.channel or not call.caller_number:
            return
        if await self.blocklist.blocked(call.caller_number):
            return
        try:  # on the channel in the queue: the one whose keys Queue() hears
            await self.telephony.setvar("HOTLINE_CB_OFFERED", "1", waiting.channel)
        except AmiError:
            return  # gone meanwhile
        language = call.language if call.language in ("zh", "en") else "zh"
        self._tasks.spawn(self._whisper(waiting.uniqueid, language, next(self._ids)))
        log.info("callback_offered", call_id=call.call_id, queue=call.queue)

    async def _whisper(self, uniqueid: str, language: str, n: int) -> None:
        ident = f"svc-offer-{int(self.clock())}-{n}"
        try:
            await self.telephony.originate(
                f"Local/{language}@hotline-callback-offer", application="ChanSpy",
                data=f"{uniqueid},qwuE", ring_timeout=10, channel_id=ident,
                other_channel_id=f"{ident}-2")
        except AmiError as exc:
            log.info("callback_offer_not_played", error=str(exc)[:200])

    async def close(self) -> None:
        await self._tasks.close()
