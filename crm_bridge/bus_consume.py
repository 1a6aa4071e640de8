"""What the service database hears on the bus: one table, topic -> handler,
and the topics of its two queued consumers. The server's composition root
makes the subscriptions (cti/server.py)."""

from __future__ import annotations

from crm_bridge.cards import CallCards
from crm_bridge.recordings import Recordings
from crm_bridge.writer import BACKFILL_TOPIC
from cti.bus import Handler
from cti.calls import events as ev


def subscriptions(cards: CallCards, recordings: Recordings) -> list[tuple[str, Handler]]:
    return [
        (ev.CALL_ENDED, cards.on_call_ended),
        (ev.CALL_ENDED, recordings.on_call_ended),
    ]


# every call that ended, and every call rebuilt from Asterisk's ledger:
# one row each in ``calls`` (crm_bridge/writer.py); never dropped
CALL_RECORDS = (ev.CALL_ENDED, BACKFILL_TOPIC)
# the agents' closed state intervals (the ACD's notifier publishes them):
# ``agent_intervals`` (crm_bridge/intervals.py); bounded while the database is down
AGENT_INTERVALS = ("acd.interval",)
AGENT_INTERVALS_HELD = 100_000
