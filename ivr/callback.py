"""The callback dialogue (FastAGI route ``callback``): a caller who pressed 1
after the offer (cti/outbound/offers.py) confirms the number they call from
or keys another, and is told they will be called back in their place.

The dialplan (``hotline-queue-keys``) passes the call's id, the queue, when
the caller first joined, their priority and language. Whatever goes wrong
here (a number refused three times, a number on the do-not-call list, no key,
a fault of ours) the caller is not dropped: HOTLINE_CALLBACK stays unset and
the dialplan puts them back in the queue, in the same place.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from panoramisk.fast_agi import Request

from cti.agi import AgiHandler
from ivr.menus import Menus
from ivr.runner import CallerHungUp, IvrSession

log = structlog.get_logger("ivr.callback")

TRIES = 3  # numbers keyed before the caller goes back to the queue
NUMBER_DIGITS = 12  # a landline with its area code: 0 + 11


class CallbackBooking(Protocol):
    """Books the callback (cti/outbound/services.py: ``Booking``)."""

    def callable(self, number: str) -> bool: ...

    async def book(self, number: str, *, queue: str | None, priority: int,
                   joined_at: float | None, call_id: str) -> str: ...


def callback_entry(booking: CallbackBooking, menus: Menus) -> AgiHandler:
    async def entry(request: Request) -> None:
        h = request.headers
        call_id, queue = h.get("agi_arg_1", ""), h.get("agi_arg_2") or None
        try:
            joined_at: float | None = float(h.get("agi_arg_3", ""))
        except ValueError:
            joined_at = None
        prio = h.get("agi_arg_4", "")
        language = h.get("agi_arg_5", "") if h.get("agi_arg_5") in ("zh", "en") else "zh"
        caller = h.get("agi_callerid", "")
        session = IvrSession(request, menus, call_id=call_id)
        session.language = language
        try:
            number = await ask_number(session, booking, "" if caller == "unknown" else caller)
            if number is None:
                return
            result = await booking.book(number, queue=queue,
                                        priority=int(prio) if prio.isdigit() else 0,
                                        joined_at=joined_at, call_id=call_id)
            if result != "booked":
                log.info("callback_not_booked", call_id=call_id, why=result)
                await session.play("callback-not-possible")
                return
            await session.play("callback-booked")
            await request.send_command("SET VARIABLE HOTLINE_CALLBACK booked")
        except CallerHungUp:
            log.info("callback_dialogue_hangup", call_id=call_id)

    return entry


async def ask_number(session: IvrSession, booking: CallbackBooking, caller: str) -> str | None:
    """The number to call back: the caller's own, confirmed with 1, or one
    they key (2, then the digits and #), read back. None: back to the queue."""
    number = caller if caller and booking.callable(caller) else ""
    refused = 0
    while refused < TRIES:
        if number:
            key = await session.play("callback-confirm")
            for d in number:
                key = key or await session.play(f"digit-{d}")
            key = key or await session.play("callback-confirm-keys")
            if not key:
                key = await session.wait_key(6)
            if key == "1":
                return number
            if key != "2":
                return None
        typed = await session.typed("callback-enter-number", NUMBER_DIGITS)
        if typed and booking.callable(typed):
            number = typed
            continue  # read back, confirmed with 1
        await session.play("callback-invalid-number")
        number, refused = "", refused + 1
    return None
