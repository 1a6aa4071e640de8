"""The caller's card, read once per call.

A known caller's card (customer, appliances, open tickets, last calls) is
needed several times on one call: by the IVR's menus for the greeting and the
open order, and by the screen pop of every agent the call rings.
:class:`CallCards` reads it once, when first asked, and shares the read (even
one still under way) with whoever asks next about the same call; it is
dropped when the call ends. A read that failed (the database down) is tried
again on the next ask.

Routing a direct-line call needs only the caller at a glance (are they a
customer, a VIP): :meth:`CallCards.glance` reads that, in one query, or
takes it from the card if the card was read already.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from crm_bridge.services import CrmService
from cti.calls.model import Call


class CallCards:
    def __init__(self, crm: CrmService) -> None:
        self.crm = crm
        self._cards: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._glances: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.reads = 0

    @staticmethod
    def _usable(task: asyncio.Task[dict[str, Any]] | None) -> bool:
        return task is not None and not (task.done() and (
            task.cancelled() or task.exception() is not None))

    def _shared(self, kept: dict[str, asyncio.Task[dict[str, Any]]], call_id: str,
                read: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
                ) -> asyncio.Task[dict[str, Any]]:
        """The call's read under way or done, else a new one (kept by call)."""
        task = kept.get(call_id)
        if task is None or not self._usable(task):
            task = asyncio.create_task(read())
            self.reads += 1
            if call_id:
                kept[call_id] = task
        return task

    def card(self, call_id: str, number: str) -> asyncio.Task[dict[str, Any]]:
        """The card of the call's caller (awaitable; shield it before a timeout)."""
        return self._shared(self._cards, call_id, lambda: self.crm.customer_card(number))

    def fresh(self, call_id: str, number: str) -> asyncio.Task[dict[str, Any]]:
        """The card read again (the agent just made the caller a customer)."""
        for kept in (self._cards, self._glances):
            kept.pop(call_id, None)
        return self.card(call_id, number)

    def glance(self, call_id: str, number: str) -> asyncio.Task[dict[str, Any]]:
        """The caller at a glance (the card's ``known`` and ``customer`` id,
        name and VIP flag): from the card if it is being read, else one query."""
        card = self._cards.get(call_id)
        if card is not None and self._usable(card):
            return card
        return self._shared(self._glances, call_id, lambda: self.crm.caller(number))

    def on_call_ended(self, topic: str, call: Call) -> None:
        for kept in (self._cards, self._glances):
            task = kept.pop(call.call_id, None)
            if task is not None and not task.done():
                task.cancel()

    async def close(self) -> None:
        tasks = [*self._cards.values(), *self._glances.values()]
        self._cards.clear()
        self._glances.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
