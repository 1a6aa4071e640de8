"""What the supervisor's side hears on the bus: one table, topic -> handler."""

from __future__ import annotations

from cti.bus import Handler
from cti.calls import events as ev
from cti.supervisor.services import SpyService


def subscriptions(spy: SpyService) -> list[tuple[str, Handler]]:
    return [(ev.SERVICE_CHANNEL_ENDED, spy.on_channel_ended)]
