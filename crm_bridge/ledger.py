"""Calls nobody watched: Asterisk's own ledger of hotline calls.

The server writes each call it sees (cti.calls.tracker, crm_bridge.writer). A call
that begins and ends while no server is connected to Asterisk (stopped,
restarting, the AMI link down) would leave no row. So the dialplan keeps a
ledger: a hangup handler on every hotline call writes one AstDB entry,
``hotline-ledger/<Linkedid>``, with what the call's channel knows (times,
caller, number dialled, queues, the agent who took it, the IVR path; the
format and its reading are in the core, cti/calls/ledger.py).

At a resync the tracker completes from the ledger the calls it was
following that ended unseen (cti/calls/ledger.py). After each resync, and
every minute, :func:`sweep` reads the ledger:

- an entry whose call is already in the database is finished;
- an entry whose call the tracker knows (live, or ended and on its way to
  the database) is left for a later sweep;
- an entry of a call the tracker never saw, which ended before the resync
  (or more than :data:`STRAY_AFTER` s ago), is made into a call record
  (``extra.backfilled``), spooled durably like any other, then finished.

Entries are kept in one bucket per minute; a bucket whose entries are all
finished is deleted with one action (a busy hour's 90,000 calls are 60
deletions, not 90,000).

The writer's ``ON CONFLICT (linkedid) DO NOTHING`` keeps it exactly once
even if a record of the same call is written another way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.models import CallRecord
from crm_bridge.writer import BACKFILL_TOPIC, CallRecordWriter
from cti.ami import AmiActions, AmiError
from cti.bus import EventBus
from cti.calls.ledger import FAMILY, LedgerError, call_of, key_parts, parse
from cti.calls.model import Call
from cti.calls.tracker import CallTracker

log = structlog.get_logger("crm_bridge.ledger")

STRAY_AFTER = 300.0  # s: an unknown call that ended after the resync, backfilled anyway


async def entries(actions: AmiActions) -> dict[str, str]:
    """Key (``<minute>/<Linkedid>``) -> value of every ledger entry."""
    return await actions.db_tree(FAMILY)


async def recorded(engine: AsyncEngine, ids: Iterable[str]) -> set[str]:
    ids = list(ids)
    found: set[str] = set()
    async with engine.connect() as conn:
        for i in range(0, len(ids), 500):
            rows = await conn.execute(select(CallRecord.linkedid)
                                      .where(CallRecord.linkedid.in_(ids[i:i + 500])))
            found.update(r[0] for r in rows)
    return found


async def sweep(actions: AmiActions, tracker: CallTracker, bus: EventBus,
                writer: CallRecordWriter, engine: AsyncEngine, resynced_at: float,
                now: float | None = None) -> dict[str, int]:
    """One pass over the ledger (see the module's text); what it did."""
    now = time.time() if now is None else now
    keys = await entries(actions)
    done = {"backfilled": 0, "deleted": 0, "kept": 0, "bad": 0}
    if not keys:
        return done
    calls = {key: key_parts(key)[1] for key in keys}
    try:
        in_db = await recorded(engine, calls.values())
    except Exception as exc:  # database down: nothing deleted, backfills still spooled
        log.warning("ledger_database_unreadable", error=f"{type(exc).__name__}: {exc}"[:200])
        in_db = set()
    backfill: list[Call] = []
    finished: set[str] = set()  # keys whose call needs the entry no more
    for key, value in keys.items():
        linkedid = calls[key]
        if linkedid in in_db:
            finished.add(key)
            continue
        if tracker.knows(linkedid):
            done["kept"] += 1
            continue
        try:
            entry = parse(linkedid, value)
        except LedgerError as exc:
            log.warning("ledger_entry_unreadable", call_id=linkedid, error=str(exc))
            done["bad"] += 1
            finished.add(key)
            continue
        if entry.ended < resynced_at or entry.ended < now - STRAY_AFTER:
            backfill.append(call_of(entry))
            finished.add(key)
        else:
            done["kept"] += 1
    if backfill:
        for call in backfill:
            bus.publish(BACKFILL_TOPIC, call)
        await writer.spool_pending()  # spooled and fsynced before the entries go
        for call in backfill:
            log.info("call_backfilled", call_id=call.call_id, caller=call.caller_number,
                     queue=call.queue, agent=call.agent)
        done["backfilled"] = len(backfill)
    done["deleted"] = await _delete(actions, keys, finished)
    return done


async def _delete(actions: AmiActions, keys: Iterable[str], finished: set[str]) -> int:
    """A minute's bucket goes in one action once every entry read in it is
    finished (an entry that lands in it meanwhile is of a call whose end
    this AMI session has already read: Asterisk sends the Hangup before it
    answers the deletion); older entries without a bucket go one by one."""
    buckets: dict[str | None, list[str]] = {}
    for key in keys:
        buckets.setdefault(key_parts(key)[0], []).append(key)
    deleted = 0
    for bucket, members in buckets.items():
        try:
            if bucket is None:
                for key in members:
                    if key in finished:
                        await actions.db_del(FAMILY, key)
                        deleted += 1
            elif all(key in finished for key in members):
                await actions.db_del_tree(FAMILY, bucket)
                deleted += len(members)
        except AmiError as exc:  # gone already, or AMI down: the next sweep
            log.debug("ledger_delete_failed", bucket=bucket, error=str(exc))
    return deleted
