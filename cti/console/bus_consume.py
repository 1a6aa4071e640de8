"""What the console hears on the bus: one table, topic -> handler. The
server's composition root subscribes each (cti/server.py)."""

from __future__ import annotations

from cti.bus import Handler
from cti.calls import events as ev
from cti.console.controls import CallControls
from cti.console.services import ScreenPops


def subscriptions(pops: ScreenPops, controls: CallControls) -> list[tuple[str, Handler]]:
    return [
        (ev.QUEUE_JOINED, pops.on_caller_joined),
        (ev.QUEUE_ABANDONED, pops.on_caller_abandoned),
        (ev.AGENT_RINGING, pops.on_ringing),
        (ev.AGENT_NOT_ANSWERED, pops.on_not_answered),
        (ev.AGENT_CONNECTED, pops.on_connected),
        (ev.AGENT_RELEASED, pops.on_released),
        (ev.AGENT_HUNG_UP, pops.on_hung_up),
        (ev.CALL_ENDED, pops.on_call_ended),
        (ev.CALL_LEG_ENDED, controls.on_leg_ended),
    ]
