"""What the outbound side hears on the bus: the calls that ended, queued
(its decisions read and write the database)."""

from __future__ import annotations

from cti.calls import events as ev

CALLS_ENDED = (ev.CALL_ENDED,)
CALLS_ENDED_HELD = 10_000
# the callbacks' tries as the dialplan reports them (never dropped: each is a
# row to write)
CALLBACK_PROGRESS = (ev.CALLBACK_PROGRESS,)
