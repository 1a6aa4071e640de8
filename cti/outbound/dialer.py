"""Callbacks dialled so that they keep the caller's place, agent first.

A callback due (its time has come, the site is open, the number not on the
do-not-call list) is claimed (one claimer wins: a number is never dialled
twice at once) and placed in its queue as a stand-in for the caller: the
dialplan's ``hotline-callback`` joins the queue with the rank of the caller's
first join (``hotline-queued``), so app_queue offers it to the next free agent
exactly where the caller was: after those who were waiting before, before
those who came later, VIPs still ahead. The agent's phone rings with the
callback's card; when they answer, the dialplan (``hotline-callback-dial``)
calls the customer while the agent hears it ring, and says how it went
(``callback.progress``). Every try is recorded; the dialling policy
(cti/outbound/policy.py) says when a try that did not get through is made
again, or that it is not.

At closing time the stand-ins still waiting leave their queues (released,
no try counted) and come back at the next opening with the same rank. After
an AMI reconnect the callbacks marked as dialling that have no stand-in in
Asterisk any more are released the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from cti.ami import AmiActionFailed, AmiError, AmiMessage, OriginateResult
from cti.bus import Subscription
from cti.calls.events import CallbackProgress
from cti.outbound.config import OutboundConfig
from cti.outbound.policy import is_open, next_attempt, next_open
from cti.outbound.services import Blocklist
from cti.tasks import TaskSet, uncancelled

log = structlog.get_logger("cti.outbound.dialer")

# Asterisk's DIALSTATUS -> the try's outcome (the retry policy's words)
OUTCOMES = {"ANSWER": "answered", "NOANSWER": "no_answer", "CANCEL": "no_answer",
            "BUSY": "busy", "CONGESTION": "busy", "CHANUNAVAIL": "failed",
            "INVALIDARGS": "failed", "DONTCALL": "refused", "TORTURE": "refused"}
PLACEHOLDER = re.compile(r"^Local/(\d+)@hotline-callback-[0-9a-f]+;[12]$")
RETRY_SOON = dt.timedelta(seconds=30)  # a stand-in that left its queue unanswered


class CallbackQueue(Protocol):
    """The callbacks owed, as the dialler needs them (crm_bridge/callbacks.py)."""

    async def due(self, now: dt.datetime, limit: int = 50) -> list[dict[str, Any]]: ...
    async def claim(self, callback_id: int) -> bool: ...
    async def release(self, callback_id: int, due_at: dt.datetime | None, why: str) -> bool: ...
    async def close(self, callback_id: int, status: str, why: str) -> bool: ...
    async def dialling(self) -> list[dict[str, Any]]: ...
    async def open_attempt(self, callback_id: int) -> tuple[int, int] | None: ...
    async def attempt_started(self, callback_id: int, *, agent: str | None = None,
                              call_id: str | None = None) -> int: ...
    async def attempt_ended(self, attempt_id: int, outcome: str,
                            next_attempt_at: dt.datetime | None) -> dict[str, Any]: ...


class Telephony(Protocol):
    """What the dialler asks of Asterisk (cti/ami/actions.py)."""

    async def originate(self, channel: str, *, context: str | None = None,
                        exten: str | None = None, priority: int = 1,
                        application: str | None = None, data: str | None = None,
                        caller_id: str | None = None,
                        variables: dict[str, str] | None = None,
                        ring_timeout: float = 30.0, channel_id: str | None = None,
                        other_channel_id: str | None = None) -> OriginateResult: ...
    async def hangup(self, channel: str, cause: int = 16) -> None: ...
    async def core_show_channels(self) -> list[AmiMessage]: ...


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Dialer:
    def __init__(self, store: CallbackQueue, telephony: Telephony, blocklist: Blocklist,
                 config: OutboundConfig, zone: str, *, default_queue: str,
                 tick: float = 5.0, wait_limit: float = 3600.0, ring_seconds: float = 30.0,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        """``wait_limit``: seconds a stand-in may wait in its queue before
        Asterisk gives up on it (it is then placed again, same rank)."""
        self.store, self.telephony, self.blocklist = store, telephony, blocklist
        self.config, self.zone = config, ZoneInfo(zone)
        self.default_queue = default_queue
        self.tick, self.wait_limit, self.clock = tick, wait_limit, clock
        self.ring_seconds = ring_seconds  # the dialplan's HOTLINE_CALLBACK_RING
        self.placed: dict[int, dict[str, Any]] = {}  # in a queue, not yet taken by an agent
        self._wake = asyncio.Event()
        self._tasks = TaskSet()

    def wake(self) -> None:
        """A callback was just owed: look now, not at the next tick."""
        self._wake.set()

    def is_open(self, at: dt.datetime | None = None) -> bool:
        return is_open(self.config.calendar, at or self.clock(), self.zone)

    # ------------------------------------------------------------------ placing
    async def run(self) -> None:
        while True:
            try:
                await uncancelled(self.step())
            except Exception as exc:  # the database or Asterisk away: next tick
                log.warning("dialer_step_failed", error=f"{type(exc).__name__}: {exc}"[:200])
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick)

    async def step(self) -> None:
        now = self.clock()
        if not self.is_open(now):
            await self._closing(now)
            return
        for entry in await self.store.due(now):
            if await self.blocklist.blocked(entry["number"]):
                await self.store.close(entry["id"], "dropped", "on the do-not-call list")
                log.info("callback_dropped_dnc", callback=entry["id"])
                continue
            if await self.store.claim(entry["id"]):
                self._place(entry)

    def _place(self, entry: dict[str, Any]) -> None:
        if entry["kind"] == "follow_up" and self.config.follow_up.mode == "ivr":
            self._survey_call(entry)
            return
        joined = entry["joined_at"] or self.clock()
        variables = {
            "HOTLINE_CALLBACK": str(entry["id"]),
            "HOTLINE_QUEUE": entry["queue"] or self.default_queue,
            "HOTLINE_PRIORITY": str(max(0, min(20, entry["priority"] or 0))),
            "HOTLINE_QUEUED_AT": f"{joined.timestamp():.3f}",
            "HOTLINE_FIRST_CALL": entry["call_id"] or "",
        }
        self.placed[entry["id"]] = entry
        log.info("callback_placed", callback=entry["id"], queue=variables["HOTLINE_QUEUE"],
                 joined_at=variables["HOTLINE_QUEUED_AT"], attempts=entry["attempts"])
        self._tasks.spawn(self._originate(entry, variables))

    def _survey_call(self, entry: dict[str, Any]) -> None:
        """回访 on the keypad: the customer is dialled straight away; once they
        answer, the survey (ivr/survey.py) asks its questions."""
        variables = {"HOTLINE_CALLBACK": str(entry["id"]),
                     "HOTLINE_TICKET": str(entry["ticket_id"] or ""),
                     "HOTLINE_LANGUAGE": "zh"}
        self.placed[entry["id"]] = entry
        log.info("follow_up_dialled", callback=entry["id"], ticket=entry["ticket_id"],
                 attempts=entry["attempts"])
        self._tasks.spawn(self._originate(
            entry, variables, channel=f"Local/{entry['number']}@hotline-customer",
            context="hotline-survey", exten="follow_up",
            ring_timeout=self.ring_seconds + 15))

    async def _originate(self, entry: dict[str, Any], variables: dict[str, str], *,
                         channel: str | None = None, context: str = "hotline-callback-dial",
                         exten: str | None = None, ring_timeout: float | None = None
                         ) -> None:
        cid = entry["id"]
        try:
            await self.telephony.originate(
                channel or f"Local/{cid}@hotline-callback", context=context,
                exten=exten or entry["number"], caller_id=f'"callback" <{entry["number"]}>',
                variables=variables, ring_timeout=ring_timeout or self.wait_limit)
        except AmiActionFailed as exc:
            # the stand-in left its queue before an agent took it: closing
            # time, Asterisk gave up on it, or it was hung up
            if self.placed.pop(cid, None) is None:
                return
            now = self.clock()
            due = now + RETRY_SOON if self.is_open(now) else next_open(
                self.config.calendar, now, self.zone)
            await self.store.release(cid, due, f"left the queue untaken ({exc.message[:80]})")
        except AmiError as exc:  # the AMI session went: the resync decides
            log.warning("callback_originate_lost", callback=cid, error=str(exc)[:200])

    async def _closing(self, now: dt.datetime) -> None:
        """Closing time: the stand-ins still waiting leave their queues."""
        for cid in list(self.placed):
            with contextlib.suppress(AmiError):  # gone: its originate's failure releases it
                await self.telephony.hangup(f"/^Local\\/{cid}@hotline-callback-/")

    # ------------------------------------------------------------------ progress
    async def on_progress(self, p: CallbackProgress) -> None:
        now = self.clock()
        if p.stage == "dialling":  # an agent took it: the customer rings
            self.placed.pop(p.callback_id, None)
            await self.store.attempt_started(p.callback_id, agent=p.agent, call_id=p.call_id)
            log.info("callback_dialling", callback=p.callback_id, agent=p.agent,
                     call_id=p.call_id)
            return
        if p.stage != "ended":
            return
        under_way = await self.store.open_attempt(p.callback_id)
        if under_way is None:  # the customer was never dialled: its place stays
            self.placed.pop(p.callback_id, None)
            await self.store.release(p.callback_id, now, "not dialled")
            return
        attempt, made = under_way
        outcome = OUTCOMES.get(p.outcome, "failed")
        then = next_attempt(self.config.retry, self.config.calendar, self.zone, outcome,
                            made, now)
        after = await self.store.attempt_ended(attempt, outcome, then)
        log.info("callback_try_ended", callback=p.callback_id, outcome=outcome,
                 attempts=made, status=after["status"],
                 next_attempt_at=then.isoformat() if then else None)

    async def run_progress(self, progress: Subscription) -> None:
        async for _, p in progress:
            try:
                await uncancelled(self.on_progress(p))
            except Exception as exc:
                log.error("callback_progress_failed", callback=p.callback_id,
                          error=f"{type(exc).__name__}: {exc}"[:200])

    # ------------------------------------------------------------------ resync
    async def reconcile(self) -> None:
        """After a (re)connect: a callback marked as dialling whose stand-in
        Asterisk no longer has, and whose customer was not dialled, waits
        again (same place); one whose stand-in is there is followed again."""
        live: set[int] = set()
        for msg in await self.telephony.core_show_channels():
            m = PLACEHOLDER.match(msg.text("Channel", ""))
            if m:
                live.add(int(m[1]))
        for entry in await self.store.dialling():
            cid = entry["id"]
            if cid in live:
                self.placed.setdefault(cid, entry)
            elif await self.store.open_attempt(cid) is None:
                self.placed.pop(cid, None)
                await self.store.release(cid, None, "its place was lost (Asterisk restarted)")
                log.info("callback_released_after_resync", callback=cid)

    async def close(self) -> None:
        await self._tasks.close()
