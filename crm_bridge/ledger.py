"""Calls nobody watched: Asterisk's own ledger of hotline calls.

The server writes each call it sees (cti.calls.tracker, crm_bridge.writer). A call
that begins and ends while no server is connected to Asterisk (stopped,
restarting, the AMI link down) would leave no row. So the dialplan keeps a
ledger: a hangup handler on every hotline call writes one AstDB entry,
``hotline-ledger/<Linkedid>``, with what the call's channel knows (times,
caller, number dialled, queues, the agent who took it, the IVR path).

After each resync, and every minute, :func:`sweep` reads the ledger:

- an entry whose call is already in the database is deleted;
- an entry whose call the tracker knows (live, or ended and on its way to
  the database) is left for a later sweep;
- an entry of a call the tracker never saw, which ended before the resync
  (or more than :data:`STRAY_AFTER` s ago), is made into a call record
  (``extra.backfilled``), spooled durably like any other, then deleted.

The writer's ``ON CONFLICT (linkedid) DO NOTHING`` keeps it exactly once
even if a record of the same call is written another way.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.models import CallRecord
from crm_bridge.writer import BACKFILL_TOPIC, CallRecordWriter
from cti.ami import AmiActions, AmiError
from cti.bus import EventBus
from cti.calls.model import Call, CallState
from cti.calls.tracker import CallTracker

log = structlog.get_logger("crm_bridge.ledger")

FAMILY = "hotline-ledger"
STRAY_AFTER = 300.0  # s: an unknown call that ended after the resync, backfilled anyway
FIELDS = ("version", "started", "ended", "queued", "joined", "hold", "member", "agi_status",
          "dialled", "queues", "language", "number", "name", "path")


class LedgerError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    linkedid: str
    started: float
    ended: float
    queued: float | None  # first queue joined
    joined: float | None  # the last queue joined
    hold: float | None  # seconds waited in that queue before an agent answered
    member: str  # the agent who answered, if any
    agi_status: str
    dialled: str
    queues: list[str]
    language: str
    number: str
    name: str
    path: str


def _time(value: str) -> float | None:
    return float(value) if value else None


def parse(linkedid: str, value: str) -> Entry:
    """One AstDB value (see extensions.conf, ``hotline-ledger``)."""
    parts = value.split("|")
    if len(parts) != len(FIELDS) or parts[0] != "v1":
        raise LedgerError(f"ledger entry {linkedid}: not a v1 entry of {len(FIELDS)} fields")
    f = dict(zip(FIELDS, parts, strict=True))
    try:
        started, ended = float(f["started"]), float(f["ended"])
        queued, joined, hold = _time(f["queued"]), _time(f["joined"]), _time(f["hold"])
    except ValueError as exc:
        raise LedgerError(f"ledger entry {linkedid}: {exc}") from None
    text = urllib.parse.unquote
    return Entry(linkedid=linkedid, started=started, ended=ended, queued=queued,
                 joined=joined, hold=hold, member=f["member"], agi_status=f["agi_status"],
                 dialled=f["dialled"], queues=[q for q in f["queues"].split("+") if q],
                 language=f["language"], number=text(f["number"]), name=text(f["name"]),
                 path=text(f["path"]))


def call_of(e: Entry) -> Call:
    """The call as the tracker would have ended it, from what the ledger kept
    (answer time to the second: app_queue's hold time is whole seconds)."""
    call = Call(call_id=e.linkedid, started_at=e.started, caller_number=e.number,
                caller_name=e.name, dialled=e.dialled)
    call.history.append((CallState.RINGING, e.started))
    call.history.append((CallState.IN_IVR, e.started))
    call.ivr_path, call.language = e.path, e.language
    call.ivr_fallback = e.agi_status in ("FAILURE", "TIMEOUT")
    if e.queues:
        call.queue, call.queues = e.queues[0], list(e.queues)
        call.queued_at = e.queued if e.queued is not None else e.started
        call.history.append((CallState.QUEUED, call.queued_at))
    if e.member:
        call.agent = e.member
        answered = (e.joined or call.queued_at or e.started) + (e.hold or 0.0)
        call.answered_at = min(max(answered, e.started), e.ended)
        call.history.append((CallState.CONNECTED, call.answered_at))
        call.agent_spans.append((e.member, call.answered_at, e.ended))
    elif e.queues:
        call.abandoned = True
    call.ended_at = e.ended
    call.state = CallState.ENDED
    call.history.append((CallState.ENDED, e.ended))
    call.backfilled = True
    return call


async def entries(actions: AmiActions) -> dict[str, str]:
    """Linkedid -> value of every ledger entry."""
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
    ledger = await entries(actions)
    done = {"backfilled": 0, "deleted": 0, "kept": 0, "bad": 0}
    if not ledger:
        return done
    try:
        in_db = await recorded(engine, ledger)
    except Exception as exc:  # database down: nothing deleted, backfills still spooled
        log.warning("ledger_database_unreadable", error=f"{type(exc).__name__}: {exc}"[:200])
        in_db = set()
    backfill: list[Call] = []
    gone: list[str] = []
    for linkedid, value in ledger.items():
        if linkedid in in_db:
            gone.append(linkedid)
            continue
        if tracker.knows(linkedid):
            done["kept"] += 1
            continue
        try:
            entry = parse(linkedid, value)
        except LedgerError as exc:
            log.warning("ledger_entry_unreadable", call_id=linkedid, error=str(exc))
            done["bad"] += 1
            gone.append(linkedid)
            continue
        if entry.ended < resynced_at or entry.ended < now - STRAY_AFTER:
            backfill.append(call_of(entry))
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
        gone += [c.call_id for c in backfill]
    for linkedid in gone:
        try:
            await actions.db_del(FAMILY, linkedid)
            done["deleted"] += 1
        except AmiError as exc:  # gone already, or AMI down: the next sweep
            log.debug("ledger_delete_failed", call_id=linkedid, error=str(exc))
    return done
