"""Call recordings: the files Asterisk's MixMonitor writes, and what the call
record says of them.

The dialplan records a call the router chose (the queue's policy in
acd/queues.yaml), one WAV file per call named by its id, under
``<recordings dir>/<day>/``; the call record names the file. When the call
ends, the file is measured (its duration goes on the record) or, if nobody
answered, removed: MixMonitor's ``b`` option wrote nothing worth keeping.
Files older than ``retention_days`` are removed by a sweep (hourly). All file
work runs in a worker thread: the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from crm_bridge.exceptions import CrmError, NotFoundError
from crm_bridge.models import CallRecord
from cti.calls.model import Call

log = structlog.get_logger("crm_bridge.recordings")

SETTLE = 2.0  # s after the hangup: MixMonitor has closed the file
RECORD_WAIT = 120.0  # s to wait for the call's record to be written


class RecordingGone(CrmError):
    status = 410
    error_id = "recording-gone"


class Recordings:
    def __init__(self, engine: AsyncEngine, root: Path, retention_days: int,
                 *, settle: float = SETTLE) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.root = root
        self.retention_days = retention_days
        self.settle = settle
        self.measured = 0
        self.removed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def path(self, relative: str) -> Path:
        """The file of a record's ``recording_file``, never outside the root."""
        root = self.root.resolve()
        p = (root / relative).resolve()
        if root not in p.parents:
            raise ValueError(f"recording {relative!r} is outside {root}")
        return p

    # ------------------------------------------------------------------ after a call
    def on_call_ended(self, topic: str, call: Call) -> None:
        if call.recording:
            task = asyncio.create_task(self._finish(call.call_id, call.recording,
                                                    call.answered_at is not None))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _finish(self, call_id: str, relative: str, answered: bool) -> None:
        await asyncio.sleep(self.settle)
        try:
            seconds = await asyncio.to_thread(self._measure, relative, answered)
        except (OSError, ValueError, wave.Error, EOFError) as exc:
            log.warning("recording_unreadable", call_id=call_id, file=relative,
                        error=f"{type(exc).__name__}: {exc}"[:200])
            seconds = None
        deadline = time.monotonic() + RECORD_WAIT
        while True:  # the record is written by the writer, usually within a second
            try:
                async with self.sessions.begin() as s:
                    done = (await s.execute(
                        update(CallRecord).where(CallRecord.linkedid == call_id).values(
                            recording_file=relative if seconds is not None else None,
                            recording_seconds=seconds).returning(CallRecord.id))).first()
                if done is not None or time.monotonic() > deadline:
                    break
            except Exception as exc:  # the database is down: try again
                if time.monotonic() > deadline:
                    log.error("recording_not_noted", call_id=call_id, error=str(exc)[:200])
                    return
            await asyncio.sleep(1.0)
        self.measured += seconds is not None
        log.info("recording_done", call_id=call_id, file=relative, seconds=seconds)

    def _measure(self, relative: str, answered: bool) -> float | None:
        """The file's duration; None (and the file removed) when the call was
        not answered or nothing was recorded."""
        p = self.path(relative)
        if not p.exists():
            return None
        seconds = None
        if answered:
            with wave.open(str(p), "rb") as w:
                seconds = round(w.getnframes() / float(w.getframerate()), 2)
        if not seconds:
            p.unlink(missing_ok=True)
            self.removed += 1
            return None
        return seconds

    # ------------------------------------------------------------------ serving
    async def file_of(self, call_id: str) -> Path:
        async with self.sessions() as s:
            row = (await s.execute(select(CallRecord.recording_file).where(
                CallRecord.linkedid == call_id))).first()
        if row is None:
            raise NotFoundError(f"no call {call_id}", error_id="call-not-found",
                                details={"call_id": call_id})
        if not row.recording_file:
            raise NotFoundError(f"call {call_id} was not recorded", error_id="no-recording",
                                details={"call_id": call_id})
        p = self.path(row.recording_file)
        if not await asyncio.to_thread(p.exists):
            raise RecordingGone(f"the recording of call {call_id} was removed (kept "
                                f"{self.retention_days} days)", details={"call_id": call_id})
        return p

    # ------------------------------------------------------------------ retention
    def sweep(self, now: float | None = None) -> int:
        """Remove recordings older than the retention (blocking: run it in a
        thread). Returns how many."""
        if not self.root.exists():
            return 0
        cutoff = (now or time.time()) - self.retention_days * 86400
        removed = 0
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
                removed += 1
        for d in sorted((d for d in self.root.rglob("*") if d.is_dir()), reverse=True):
            with contextlib.suppress(OSError):  # not empty: kept
                d.rmdir()
        if removed:
            log.info("recordings_expired", removed=removed, days=self.retention_days)
        return removed

    async def keep_swept(self, every: float = 3600.0) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sweep)
            except OSError as exc:
                log.error("recordings_sweep_failed", error=str(exc)[:200])
            await asyncio.sleep(every)

    def stats(self) -> dict[str, Any]:
        return {"dir": str(self.root), "measured": self.measured, "removed": self.removed,
                "retention_days": self.retention_days}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
