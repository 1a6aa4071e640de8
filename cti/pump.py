"""The event pump: AMI events -> the call tracker and the agent translator ->
domain events on the bus, with a resync per AMI session.

The pump is the only consumer of the AMI connection's event stream. It takes
events in batches (so the socket reader never waits on subscribers) and
hands each to the two translators of :mod:`cti.calls`; they publish what
happened as domain events. Raw AMI never reaches the bus.

When a new AMI session starts, the pump re-reads Asterisk's state
(CoreShowChannels, QueueStatus), rebuilds the tracker, and publishes
``asterisk.resynced`` with the queue members and waiting callers, before it
handles the events that follow. It waits for Asterisk's ``FullyBooted``
(sent at login once boot is done) first: an AMI session can open while a
restarting Asterisk is still loading app_queue.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from cti.ami import AmiActions, AmiConnection, AmiError, AmiMessage, Connected, Disconnected
from cti.bus import EventBus
from cti.calls import events as ev
from cti.calls.agents import AgentEvents, queue_snapshot
from cti.calls.events import Resynced
from cti.calls.headers import event_time
from cti.calls.ledger import (
    CHANNEL_VARIABLES,
    FAMILY,
    Entry,
    LedgerError,
    by_call,
    entry_of_channel,
    parse,
)
from cti.calls.tracker import CallTracker
from cti.monitor import Lags

log = structlog.get_logger("cti.pump")

YIELD_EVERY = 200  # events handled between two turns of the loop (a few ms)


class EventPump:
    def __init__(self, conn: AmiConnection, actions: AmiActions, tracker: CallTracker,
                 agents: AgentEvents, bus: EventBus) -> None:
        self.conn = conn
        self.actions = actions
        self.tracker = tracker
        self.agents = agents
        self.bus = bus
        self.events_seen = 0
        self.resynced_session = 0
        self.resyncing = False
        self.last_resync: dict[str, object] | None = None
        self.event_lags = Lags()  # Asterisk's event time -> handled here
        self._awaiting_boot: int | None = None  # session waiting for FullyBooted

    @property
    def in_sync(self) -> bool:
        return (self.conn.connected and not self.resyncing
                and self.resynced_session == self.conn.session)

    def dispatch(self, msg: AmiMessage) -> None:
        self.events_seen += 1
        now = time.time()
        at = event_time(msg, now)
        self.event_lags.add(now - at, now)
        self.tracker.handle(msg, at)
        self.agents.handle(msg, at)

    async def run(self) -> None:
        conn = self.conn
        while True:
            batch = await conn.next_batch()
            for n, item in enumerate(batch, 1):
                if n % YIELD_EVERY == 0:  # a long backlog: let the reader and the rest run
                    await asyncio.sleep(0)
                if type(item) is AmiMessage:
                    if item.name == "FullyBooted" and self._awaiting_boot is not None:
                        session, self._awaiting_boot = self._awaiting_boot, None
                        await self.resync(session)
                    self.dispatch(item)
                elif isinstance(item, Connected):
                    self._awaiting_boot = item.session
                    self.resyncing = True
                elif isinstance(item, Disconnected):
                    self._awaiting_boot = None
                    self.bus.publish(ev.ASTERISK_DISCONNECTED, item)

    async def resync(self, session: int) -> None:
        """Re-read Asterisk's channels and queues and rebuild the live calls.
        Retried with backoff while this AMI session lasts.

        The events of the gap are lost, so what they would have said is read
        from Asterisk: the ledger entries of the calls that ended unseen, and
        the ledger's variables on the live channels (cti/calls/ledger.py).
        Without them (an older dialplan, an action refused) the calls are
        still rebuilt; their records say the end was not observed."""
        self.resyncing = True
        t0 = time.monotonic()
        delay = 0.2
        try:
            while True:
                try:
                    # the channels' facts first: a call that hangs up between this
                    # and the snapshot is then gone from the snapshot, and its
                    # ledger entry (written as it hangs up) is read after both
                    facts = await self._channel_facts()
                    channels = await self.actions.core_show_channels()
                    queues = await self.actions.queue_status()
                    break
                except AmiError as exc:
                    log.warning("resync_failed", session=session, error=str(exc),
                                retry_in=delay)
                    if not self.conn.connected or self.conn.session != session:
                        return  # the next session will resync
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            ledger = await self._ledger_of_gone(channels)
        finally:
            self.resyncing = False
        result = self.tracker.resync(channels, queues, ledger=ledger, facts=facts)
        self.resynced_session = session
        at = time.time()
        self.last_resync = {"session": session, "at": at,
                            "took_ms": round((time.monotonic() - t0) * 1000, 1), **result}
        log.info("ami_resynced", session=session, channels=len(channels), **result)
        members, callers = queue_snapshot(queues)
        self.bus.publish(ev.ASTERISK_RESYNCED, Resynced(session, at, members, callers))

    async def sweep_gone(self, grace: float = 10.0) -> int:
        """Between resyncs: the tracked calls Asterisk no longer has (their
        hangup was never seen) are ended, from the ledger where it has them,
        so no call stays live for ever and memory stays bounded. Calls that
        began in the last ``grace`` seconds are left alone."""
        listed_at = time.time()
        channels = await self.actions.core_show_channels()
        ledger = await self._ledger_of_gone(channels)
        live = {ch.text("Linkedid", "") for ch in channels}
        ended, completed = self.tracker.end_gone(live, time.time(), ledger=ledger,
                                                 started_before=listed_at - grace)
        if ended:
            log.warning("calls_gone_unseen", ended=ended, completed_from_ledger=completed)
        return ended

    async def _channel_facts(self) -> dict[str, Entry]:
        """The ledger's facts of every live hotline call, by Linkedid (empty
        if Asterisk will not say: the calls are still rebuilt)."""
        try:
            status = await self.actions.status(CHANNEL_VARIABLES)
        except AmiError as exc:
            if not self.conn.connected:
                raise
            log.warning("resync_channel_facts_unreadable", error=str(exc))
            return {}
        now = time.time()
        facts: dict[str, Entry] = {}
        for msg in status:
            entry = entry_of_channel(msg, now)
            if entry is not None and entry.linkedid:
                facts[entry.linkedid] = entry
        return facts

    async def _ledger_of_gone(self, channels: list[AmiMessage]) -> dict[str, Entry]:
        """Ledger entries of the tracked calls that are gone, by Linkedid."""
        live = {ch.text("Linkedid", "") for ch in channels}
        gone = [cid for cid in self.tracker.calls if cid not in live]
        ledger: dict[str, Entry] = {}
        if not gone:
            return ledger
        try:
            values = by_call(await self.actions.db_tree(FAMILY))
        except AmiError as exc:
            log.warning("resync_ledger_unreadable", error=str(exc))
            return ledger
        for cid in gone:
            if cid in values:
                try:
                    ledger[cid] = parse(cid, values[cid])
                except LedgerError as exc:
                    log.warning("ledger_entry_unreadable", call_id=cid, error=str(exc))
        return ledger
