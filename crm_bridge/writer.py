"""The call-record writer: every finished call written once into ``calls``.

It takes ``call.ended`` (and ``ledger.backfill``, crm_bridge/ledger.py) from
its bus subscription, which never drops. Each record goes first to the
durable spool (append + fsync, one fsync per batch), then to the database in
batches, one transaction each, with ``INSERT ... ON CONFLICT (linkedid) DO
NOTHING``: a duplicated or replayed call never doubles a row. When the
database is unreachable, records wait in the spool and are retried with
backoff, in order; after a restart the spool is replayed from the last
confirmed offset. Every disk write and fsync of the spool happens in a worker
thread, one at a time: the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.models import CallOutcome, CallRecord, CallWrapUp, CustomerPhone, Ticket
from crm_bridge.phones import normalize
from crm_bridge.spool import Spool
from cti.bus import Subscription
from cti.calls.model import Call

log = structlog.get_logger("crm_bridge.writer")
T = TypeVar("T")

FIELDS = ("linkedid", "caller_number", "caller_name", "dialled", "started_at", "answered_at",
          "ended_at", "ivr_path", "language", "queue", "wait_seconds", "agent", "outcome",
          "transfers", "holds", "hold_seconds", "recording_file", "disposition", "hangup_cause",
          "ticket_id", "callback_id", "callback_of", "extra")


# calls nobody saw, from Asterisk's ledger (crm_bridge.ledger): for the writer only
BACKFILL_TOPIC = "ledger.backfill"


def outcome_of(call: Call) -> CallOutcome:
    return CallOutcome(call.outcome)


def record_of(call: Call) -> dict[str, Any]:
    """A finished call as a spool line (JSON-friendly: times are epoch seconds)."""
    agents = call.agent_seconds(call.ended_at if call.ended_at is not None else call.started_at)
    return {
        "linkedid": call.call_id,
        "caller_number": call.caller_number,
        "caller_name": call.caller_name,
        "dialled": call.dialled,
        "started_at": call.started_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at if call.ended_at is not None else call.started_at,
        "ivr_path": call.ivr_path,
        "language": call.language,
        "queue": call.queue,
        "wait_seconds": round(call.wait_seconds, 3) if call.wait_seconds is not None else None,
        # who answered; after transfers, extra.agents splits the time
        "agent": next(iter(agents), call.agent),
        "outcome": outcome_of(call).value,
        "transfers": call.transfer_count,
        "holds": call.hold_count,
        "hold_seconds": round(call.hold_seconds, 3),
        "recording_file": call.recording,
        "disposition": None,
        "hangup_cause": call.hangup_cause,
        "ticket_id": None,
        "callback_id": call.callback_id,
        "callback_of": call.callback_of,
        "extra": {"ivr_fallback": call.ivr_fallback, "resynced": call.resynced,
                  # False: the call was gone when the CTI looked again (after an AMI
                  # outage or a CTI restart); ended_at is when that was noticed
                  "end_observed": call.end_observed,
                  "queues": call.queues,
                  "states": [s.value for s in call.states],
                  "agents": [{"agent": a, "seconds": secs} for a, secs in agents.items()],
                  "agent_spans": [{"agent": a, "from": f, "to": t}
                                  for a, f, t in call.agent_spans],
                  # what the server missed, filled in from Asterisk's ledger or
                  # channel variables at a resync (cti/calls/ledger.py)
                  **({"completed_from": call.completed_from} if call.completed_from else {}),
                  # True: from Asterisk's ledger, the server saw none of it
                  **({"backfilled": True} if call.backfilled else {})},
    }


def _ts(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def row_of(record: dict[str, Any], customer_id: int | None,
           ticket_id: int | None, wrap: tuple[str, int | None] | None = None) -> dict[str, Any]:
    """A spool line as a row of ``calls``; ``wrap``: the (disposition, ticket)
    of a wrap-up saved while the call was still on."""
    row = {k: record.get(k) for k in FIELDS}
    row["started_at"] = _ts(record["started_at"])
    row["answered_at"] = _ts(record["answered_at"])
    row["ended_at"] = _ts(record["ended_at"])
    row["customer_id"] = customer_id
    row["ticket_id"] = row["ticket_id"] or (wrap[1] if wrap else None) or ticket_id
    if wrap is not None:
        row["disposition"] = row["disposition"] or wrap[0]
    return row


class CallRecordWriter:
    def __init__(self, engine: AsyncEngine, spool_dir: Path, ended: Subscription, *,
                 batch_size: int = 500, flush_interval: float = 0.5,
                 retry_initial: float = 0.5, retry_max: float = 10.0,
                 local_area_code: str | None = None) -> None:
        self.engine = engine
        self.local_area_code = local_area_code
        self.spool = Spool(spool_dir)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_initial, self.retry_max = retry_initial, retry_max
        self._sub = ended  # call.ended and ledger.backfill; never drops
        self._spooling = asyncio.Lock()  # one spool write (or commit) at a time, in order
        self._inflight: asyncio.Future[Any] | None = None  # the spool's disk work under way
        self.written = 0  # rows this process inserted
        self.batches = 0
        self.database_ok: bool | None = None
        self.last_error: str | None = None
        self._insert = (postgresql.insert if engine.dialect.name == "postgresql"
                        else sqlite.insert)

    def close(self) -> None:
        self._sub.close()
        self.spool.close()

    @property
    def backlog(self) -> int:
        return self.spool.pending_bytes

    async def run(self) -> None:
        """Spool calls as they end; write them when the database takes them.
        While it fails, calls are still spooled promptly, but the database is
        only tried again after the backoff delay (0.5 s doubling to 10 s)."""
        loop = asyncio.get_running_loop()
        delay = self.retry_initial
        retry_at = 0.0
        try:
            while True:
                await self.spool_pending()
                if self.spool.pending_bytes and loop.time() >= retry_at:
                    if await self.flush():
                        delay, retry_at = self.retry_initial, 0.0
                    else:
                        retry_at = loop.time() + delay
                        delay = min(delay * 2, self.retry_max)
                waiting = self.spool.pending_bytes > 0
                await self._wait(max(0.0, retry_at - loop.time()) if waiting else None)
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stopping: the disk work under way is finished, the calls that ended
        are spooled, the spool is closed."""
        if self._inflight is not None:
            with contextlib.suppress(Exception):
                await self._inflight
        if not self._sub.closed:
            records = self._take_ended()
            if records:
                await asyncio.to_thread(self.spool.append, records)
        self.close()

    async def _on_disk(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, finished even if the caller is
        cancelled (:meth:`stop` waits for it)."""
        fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        self._inflight = fut
        return await asyncio.shield(fut)

    async def _wait(self, timeout: float | None) -> None:
        """Until a call ends (or the timeout passes); then gather briefly into a
        batch. Ended calls stay on the subscription until spooled together, so
        at any moment each ended call is either there or in the spool (the
        live-call snapshot relies on it: see :meth:`spool_pending`)."""
        if await self._sub.wait(timeout):
            await asyncio.sleep(self.flush_interval)

    async def spool_pending(self, at_once: Callable[[], None] | None = None) -> None:
        """Spool (and fsync, in a worker thread) the calls that have ended but
        are not spooled yet. ``at_once`` runs right when they are taken, before
        anything else can happen on the loop (the live-call snapshot is taken
        there, so each call is in the snapshot, in the spool, or in both)."""
        async with self._spooling:
            records = self._take_ended()
            if at_once is not None:
                at_once()
            if records:
                await self._on_disk(self.spool.append, records)

    def _take_ended(self) -> list[dict[str, Any]]:
        records = []
        while (item := self._sub.get_nowait()) is not None:
            records.append(record_of(item[1]))
        return records

    async def flush(self) -> bool:
        """Write spooled records to the database. False if the database failed."""
        while self.spool.pending_bytes:
            records, end = await self._on_disk(self.spool.read, self.batch_size)
            if not records:
                return True
            try:
                await self._write(records)
            except Exception as exc:  # any driver error: keep the spool, retry later
                log.debug("call_records_write_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                if self.database_ok is not False:
                    log.warning("call_records_spooled", error=f"{type(exc).__name__}: {exc}"[:300],
                                pending_bytes=self.spool.pending_bytes)
                self.database_ok = False
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                return False
            async with self._spooling:  # a commit may compact the file: not while appending
                await self._on_disk(self.spool.commit, end)
            if self.database_ok is False:
                log.info("call_records_database_back")
            self.database_ok = True
            self.last_error = None
        return True

    async def _write(self, records: Sequence[dict[str, Any]]) -> None:
        t0 = time.monotonic()
        numbers = [normalize(r["caller_number"] or "", self.local_area_code) for r in records]
        async with self.engine.begin() as conn:
            customers: dict[str, int] = {}
            if any(numbers):
                result = await conn.execute(
                    select(CustomerPhone.number, CustomerPhone.customer_id)
                    .where(CustomerPhone.number.in_({n for n in numbers if n})))
                for number, customer_id in result:
                    customers.setdefault(number, customer_id)
            # a ticket opened while the call was on (its record not yet written)
            tickets: dict[str, int] = {}
            result = await conn.execute(
                select(Ticket.call_linkedid, func.min(Ticket.id))
                .where(Ticket.call_linkedid.in_([r["linkedid"] for r in records]))
                .group_by(Ticket.call_linkedid))
            for linkedid, ticket_id in result:
                tickets[linkedid] = ticket_id
            # a wrap-up saved while the call was on: the latest agent's decision
            wraps: dict[str, tuple[Any, str, int | None]] = {}
            saved = await conn.execute(
                select(CallWrapUp.call_linkedid, CallWrapUp.updated_at, CallWrapUp.disposition,
                       CallWrapUp.ticket_id)
                .where(CallWrapUp.call_linkedid.in_([r["linkedid"] for r in records])))
            for linkedid, at, disposition, wrap_ticket in saved:
                if linkedid not in wraps or at >= wraps[linkedid][0]:
                    wraps[linkedid] = (at, disposition, wrap_ticket)
            rows = [row_of(r, customers.get(number), tickets.get(r["linkedid"]),
                           (wraps[r["linkedid"]][1], wraps[r["linkedid"]][2])
                           if r["linkedid"] in wraps else None)
                    for r, number in zip(records, numbers, strict=True)]
            # RETURNING counts the rows really inserted, on both databases (a
            # batched INSERT's rowcount is -1 on asyncpg); a conflict returns none
            stmt = (self._insert(CallRecord)
                    .on_conflict_do_nothing(index_elements=["linkedid"])
                    .returning(CallRecord.id))
            inserted = len((await conn.execute(stmt, rows)).all())
        self.written += inserted
        self.batches += 1
        log.debug("call_records_written", batch=len(rows), inserted=inserted,
                  took_ms=round((time.monotonic() - t0) * 1000, 1))
