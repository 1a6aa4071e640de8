"""The callbacks the hotline owes, in the service database.

At most one open callback per number (a partial unique index on the number
while the callback is waiting or dialling), so however many triggers race for
one number — an abandoned call, a "press 1", a follow-up — they find one
entry. A callback is claimed for dialling by a conditional update (waiting ->
dialling): of two claimers only one wins, so one number is never dialled twice
at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from crm_bridge.dnc import checked
from crm_bridge.exceptions import ConflictError, NotFoundError
from crm_bridge.models import (
    OPEN_CALLBACK,
    Callback,
    CallbackAttempt,
    CallbackStatus,
    utcnow,
)
from crm_bridge.phones import normalize


class CallbackNotFound(NotFoundError):
    error_id = "callback-not-found"


class CallbackOpen(ConflictError):
    error_id = "callback-open"  # the number has one waiting or being dialled


class CallbackClosed(ConflictError):
    error_id = "callback-closed"  # done, failed or dropped: nothing to cancel


def callback_json(c: Callback) -> dict[str, Any]:
    return {"id": c.id, "number": c.number, "kind": c.kind, "status": c.status,
            "queue": c.queue, "priority": c.priority, "joined_at": c.joined_at,
            "call_id": c.call_linkedid, "ticket_id": c.ticket_id, "attempts": c.attempts,
            "next_attempt_at": c.next_attempt_at, "last_outcome": c.last_outcome,
            "note": c.note, "created_at": c.created_at, "closed_at": c.closed_at}


class Callbacks:
    def __init__(self, engine: AsyncEngine, *, local_area_code: str | None = None) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.local_area_code = local_area_code

    async def open(self, number: str, kind: str, *, queue: str | None = None,
                   priority: int = 0, joined_at: dt.datetime | None = None,
                   call_id: str | None = None, ticket_id: int | None = None,
                   note: str = "", due_at: dt.datetime | None = None
                   ) -> tuple[dict[str, Any], bool]:
        """A callback for ``number``; ``(entry, True)`` if made now, ``(the open
        one, False)`` if the number has one already (it keeps the earlier place)."""
        now = utcnow()
        number = normalize(number, self.local_area_code)
        entry = Callback(number=number, kind=kind, status=CallbackStatus.WAITING.value,
                         queue=queue, priority=priority, joined_at=joined_at,
                         call_linkedid=call_id, ticket_id=ticket_id, attempts=0,
                         next_attempt_at=due_at, note=note, created_at=now, updated_at=now)
        try:
            async with self.sessions.begin() as s:
                s.add(entry)
            return callback_json(entry), True
        except IntegrityError:
            async with self.sessions.begin() as s:
                found = (await s.execute(select(Callback).where(
                    Callback.number == number, Callback.status.in_(OPEN_CALLBACK))
                    .with_for_update())).scalar_one_or_none()
                if found is None:  # closed in between: open anew
                    s.add(entry)
                    await s.flush()
                    return callback_json(entry), True
                if joined_at is not None:
                    # one conditional UPDATE, so racing triggers cannot undo the
                    # earlier place (SQLite ignores FOR UPDATE)
                    await s.execute(
                        update(Callback).where(
                            Callback.id == found.id,
                            (Callback.joined_at.is_(None)) | (Callback.joined_at > joined_at))
                        .values(joined_at=joined_at, updated_at=now))
                    await s.refresh(found)
                return callback_json(found), False

    async def drop_open(self, number: str, why: str) -> int:
        """The number got through by itself: its waiting callback is not needed
        (one being dialled is left to finish). Returns how many were dropped."""
        now = utcnow()
        number = normalize(number, self.local_area_code)
        async with self.sessions.begin() as s:
            rows = (await s.execute(
                update(Callback).where(Callback.number == number,
                                       Callback.status == CallbackStatus.WAITING.value)
                .values(status=CallbackStatus.DROPPED.value, closed_at=now, updated_at=now,
                        note=why[:200]).returning(Callback.id))).all()
        return len(rows)

    async def claim(self, callback_id: int) -> bool:
        """Waiting -> dialling, if it still waits: True for the one claimer that
        wins (the others get False and place no call)."""
        async with self.sessions.begin() as s:
            won = (await s.execute(
                update(Callback).where(Callback.id == callback_id,
                                       Callback.status == CallbackStatus.WAITING.value)
                .values(status=CallbackStatus.DIALLING.value, updated_at=utcnow())
                .returning(Callback.id))).first()
        return won is not None

    async def attempt_started(self, callback_id: int, *, agent: str | None = None,
                              call_id: str | None = None) -> int:
        """A try begins (the callback must be claimed: dialling). Returns its id."""
        async with self.sessions.begin() as s:
            attempt = CallbackAttempt(callback_id=callback_id, started_at=utcnow(),
                                      agent=agent, call_linkedid=call_id)
            s.add(attempt)
            await s.execute(update(Callback).where(Callback.id == callback_id)
                            .values(attempts=Callback.attempts + 1, updated_at=utcnow()))
            await s.flush()
            return attempt.id

    async def attempt_ended(self, attempt_id: int, outcome: str,
                            next_attempt_at: dt.datetime | None) -> dict[str, Any]:
        """The try's outcome, and what becomes of the callback: done when
        answered, waiting again until ``next_attempt_at`` (the dialling policy's
        decision), failed when there is no next attempt."""
        now = utcnow()
        async with self.sessions.begin() as s:
            attempt = (await s.execute(select(CallbackAttempt).where(
                CallbackAttempt.id == attempt_id))).scalar_one()
            attempt.ended_at, attempt.outcome = now, outcome
            cb = (await s.execute(select(Callback).where(
                Callback.id == attempt.callback_id).with_for_update())).scalar_one()
            cb.last_outcome, cb.updated_at = outcome, now
            if outcome == "answered":
                cb.status, cb.closed_at = CallbackStatus.DONE.value, now
            elif next_attempt_at is not None:
                cb.status, cb.next_attempt_at = CallbackStatus.WAITING.value, next_attempt_at
            else:
                cb.status, cb.closed_at = CallbackStatus.FAILED.value, now
            return callback_json(cb)

    async def attempts_of(self, callback_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            rows = (await s.execute(select(CallbackAttempt).where(
                CallbackAttempt.callback_id == callback_id).order_by(CallbackAttempt.id))
                    ).scalars().all()
        return [{"id": a.id, "started_at": a.started_at, "ended_at": a.ended_at,
                 "outcome": a.outcome, "agent": a.agent, "call_id": a.call_linkedid}
                for a in rows]

    async def entries(self, statuses: tuple[str, ...] = OPEN_CALLBACK,
                      limit: int = 500) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            rows = (await s.execute(select(Callback).where(Callback.status.in_(statuses))
                                    .order_by(Callback.priority.desc(),
                                              Callback.joined_at, Callback.id)
                                    .limit(limit))).scalars().all()
        return [callback_json(c) for c in rows]

    # ------------------------------------------------------------ the dialler's side
    async def get(self, callback_id: int) -> dict[str, Any] | None:
        async with self.sessions() as s:
            cb = await s.get(Callback, callback_id)
        return None if cb is None else callback_json(cb)

    async def due(self, now: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Waiting callbacks whose time has come, in the order they are owed:
        priority, then the place they keep (first join), then age."""
        async with self.sessions() as s:
            rows = (await s.execute(
                select(Callback).where(
                    Callback.status == CallbackStatus.WAITING.value,
                    (Callback.next_attempt_at.is_(None)) | (Callback.next_attempt_at <= now))
                .order_by(Callback.priority.desc(), Callback.joined_at, Callback.id)
                .limit(limit))).scalars().all()
        return [callback_json(c) for c in rows]

    async def release(self, callback_id: int, due_at: dt.datetime | None, why: str) -> bool:
        """Dialling -> waiting without a try counted: its place was given up
        before the customer was dialled (closing time, Asterisk restarted)."""
        async with self.sessions.begin() as s:
            done = (await s.execute(
                update(Callback).where(Callback.id == callback_id,
                                       Callback.status == CallbackStatus.DIALLING.value)
                .values(status=CallbackStatus.WAITING.value, next_attempt_at=due_at,
                        updated_at=utcnow(), note=why[:200])
                .returning(Callback.id))).first()
        return done is not None

    async def close(self, callback_id: int, status: str, why: str) -> bool:
        """An open callback ends without a call (dropped: not wanted any more)."""
        now = utcnow()
        async with self.sessions.begin() as s:
            done = (await s.execute(
                update(Callback).where(Callback.id == callback_id,
                                       Callback.status.in_(OPEN_CALLBACK))
                .values(status=status, closed_at=now, updated_at=now, note=why[:200])
                .returning(Callback.id))).first()
        return done is not None

    async def open_attempt(self, callback_id: int) -> tuple[int, int] | None:
        """The try under way (started, not ended), if any: its id, and how many
        tries the callback has had with it (the policy's count)."""
        async with self.sessions() as s:
            row = (await s.execute(
                select(CallbackAttempt.id, Callback.attempts)
                .join(Callback, Callback.id == CallbackAttempt.callback_id)
                .where(CallbackAttempt.callback_id == callback_id,
                       CallbackAttempt.ended_at.is_(None))
                .order_by(CallbackAttempt.id.desc()).limit(1))).first()
        return None if row is None else (row[0], row[1])

    async def book(self, raw: str, *, queue: str | None, note: str, actor: str
                   ) -> dict[str, Any]:
        """A callback booked by a supervisor: the number checked (422 naming
        ``number``); one open per number still (409 if there is one)."""
        number = checked(raw, self.local_area_code)
        entry, created = await self.open(number, "keep_place", queue=queue,
                                         joined_at=utcnow(), note=note or f"booked by {actor}")
        if not created:
            raise CallbackOpen(f"{number} already has callback {entry['id']} "
                               f"({entry['status']})", details={"callback": entry["id"]})
        return entry

    async def cancel(self, callback_id: int, actor: str) -> dict[str, Any]:
        if not await self.close(callback_id, CallbackStatus.DROPPED.value,
                                f"cancelled by {actor}"):
            entry = await self.get(callback_id)
            if entry is None:
                raise CallbackNotFound(f"no callback {callback_id}")
            raise CallbackClosed(f"callback {callback_id} is {entry['status']}")
        return await self.get(callback_id) or {}

    async def with_attempts(self, callback_id: int) -> dict[str, Any]:
        entry = await self.get(callback_id)
        if entry is None:
            raise CallbackNotFound(f"no callback {callback_id}")
        return {**entry, "tries": await self.attempts_of(callback_id)}

    async def dialling(self) -> list[dict[str, Any]]:
        return await self.entries((CallbackStatus.DIALLING.value,))
