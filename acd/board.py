"""The live ACD board: every agent's state and every queue's waiting callers,
driven by AMI events (not by polling), rebuilt from QueueStatus after each
(re)connect.

Agent states (named, one at a time, by precedence):

    logged_out   in no queue
    ringing      a queue call is ringing their device       (AgentCalled)
    on_call      talking                                    (AgentConnect)
    on_hold      their call is on hold                      (call.state on_hold)
    wrap_up      after a call, for the queue's wrap-up time (AgentComplete)
    paused       paused, with a reason                      (QueueMemberPause)
    available    waiting for a call

Every change closes an interval ``(agent, state, reason, start, end, call)``
published as ``acd.interval``; the current state goes out as
``acd.agent``. Queue callers come from QueueCallerJoin / Leave / Abandon.
Asterisk keeps the members, so a CTI restart loses nothing: ``rebuild``
reads them back (paused and reason, in a call or not, last call for the
wrap-up still running).
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from acd.config import AcdConfig, wrap_up_ends
from cti.ami.parser import AmiMessage
from cti.bus import EventBus
from cti.calls import CallState, CallStateChange, CallTracker

log = structlog.get_logger("acd.board")


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class PauseReason(enum.StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MEETING = "meeting"
    AFTER_CALL_WORK = "after_call_work"


# device states app_queue reports for a member (Status)
DEVICE_RINGING = {"6", "7"}
DEVICE_BUSY = {"2", "3"}
DEVICE_ON_HOLD = {"8"}


@dataclass
class AgentLive:
    code: str
    device: str | None = None
    queues: dict[str, int] = field(default_factory=dict)  # queue -> penalty, as Asterisk has it
    paused: bool = False
    pause_reason: str | None = None
    activity: AgentState | None = None  # ringing / on_call / on_hold
    call_id: str | None = None
    wrap_until: float | None = None
    wrap_call_id: str | None = None
    transfer_leg: str | None = None  # their phone's channel, dialled by a transfer
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    calls_today: int = 0
    last_call_at: float | None = None

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"agent": self.code, "state": self.state.value, "reason": self.reason,
                "since": self.since, "seconds_in_state": round(max(0.0, now - self.since), 1),
                "device": self.device, "queues": dict(sorted(self.queues.items())),
                "call_id": self.call_id or (self.wrap_call_id
                                            if self.state is AgentState.WRAP_UP else None),
                "wrap_up_until": self.wrap_until if self.state is AgentState.WRAP_UP else None,
                "calls_today": self.calls_today}


@dataclass
class Waiting:
    call_id: str
    queue: str
    joined_at: float
    position: int
    priority: int = 0
    caller_number: str = ""
    caller_name: str = ""

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"call_id": self.call_id, "position": self.position,
                "wait_seconds": round(max(0.0, now - self.joined_at), 1),
                "priority": self.priority, "caller_number": self.caller_number,
                "caller_name": self.caller_name}


class Board:
    def __init__(self, config: AcdConfig, bus: EventBus, *,
                 clock: Callable[[], float] = time.time, zone: str = "Asia/Shanghai",
                 calls: CallTracker | None = None) -> None:
        self.config = config
        self.calls = calls  # to find an agent's call again after a rebuild
        self.bus = bus
        self.clock = clock
        self.zone = ZoneInfo(zone)
        self.agents: dict[str, AgentLive] = {}
        self.waiting: dict[str, dict[str, Waiting]] = {q: {} for q in config.queues}
        self._day = self._today()
        self._transfer_legs: dict[str, str] = {}  # an agent's phone dialled by a transfer -> agent
        self._handlers: dict[str, Callable[[AmiMessage, float], None]] = {
            "QueueMemberAdded": self._on_member,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberPenalty": self._on_member,
            "QueueMemberRemoved": self._on_removed,
            "AgentCalled": self._on_called,
            "AgentRingNoAnswer": self._on_not_answered,
            "AgentDump": self._on_not_answered,
            "AgentConnect": self._on_connect,
            "AgentComplete": self._on_complete,
            "UserEvent": self._on_transfer_leg,
            "DialEnd": self._on_transfer_answered,
            "Hangup": self._on_transfer_leg_gone,
            "QueueCallerJoin": self._on_join,
            "QueueCallerLeave": self._on_leave,
            "QueueCallerAbandon": self._on_leave,
        }
        self._unsubscribe = [bus.subscribe(f"ami.{name}", self._on_ami) for name in self._handlers]
        self._unsubscribe.append(bus.subscribe("call.state", self._on_call_state))
        self._unsubscribe.append(bus.subscribe("ami.resynced", self._on_resynced))

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    # ------------------------------------------------------------------ reading
    def agent(self, code: str) -> AgentLive:
        live = self.agents.get(code)
        if live is None:
            live = self.agents[code] = AgentLive(code, since=self.clock())
        return live

    def agent_view(self, code: str) -> dict[str, Any]:
        self.tick()
        return self.agent(code).as_dict(self.clock())

    def queue_view(self, name: str) -> dict[str, Any]:
        self.tick()
        now = self.clock()
        q = self.config.queue(name)
        callers = sorted(self.waiting.get(name, {}).values(), key=lambda w: w.position)
        members = [a for a in self.agents.values() if name in a.queues]
        by_state: dict[str, list[str]] = {s.value: [] for s in AgentState
                                          if s is not AgentState.LOGGED_OUT}
        for a in sorted(members, key=lambda a: a.code):
            by_state[a.state.value].append(a.code)
        return {
            "queue": name, "title": q.title, "skills": list(q.skills), "strategy": q.strategy,
            "waiting": len(callers),
            "longest_wait_seconds": round(max((now - w.joined_at for w in callers),
                                              default=0.0), 1),
            "callers": [w.as_dict(now) for w in callers],
            "agents": {k: v for k, v in by_state.items()},
            "agents_logged_in": len(members),
            "agents_available": len(by_state[AgentState.AVAILABLE.value]),
        }

    # ------------------------------------------------------------------ events
    def _on_ami(self, topic: str, msg: AmiMessage) -> None:
        handler = self._handlers.get(msg.name)
        if handler is not None:
            ts = msg.get("Timestamp")
            handler(msg, float(ts) if isinstance(ts, str) else self.clock())

    def _member(self, msg: AmiMessage) -> AgentLive | None:
        code = msg.text("MemberName", "")
        return self.agent(code) if code else None

    def _on_member(self, msg: AmiMessage, at: float) -> None:
        a = self._member(msg)
        if a is None:
            return
        queue = msg.text("Queue", "")
        joined = bool(queue) and queue not in a.queues
        if queue:
            a.queues[queue] = int(msg.text("Penalty", "0") or 0)
        a.device = msg.text("Interface", a.device or "") or a.device
        if "Paused" in msg:
            a.paused = msg.text("Paused", "0") == "1"
            a.pause_reason = (msg.text("PausedReason", "") or msg.text("Reason", "")) \
                if a.paused else None
        self._recompute(a, at)
        if joined and queue in self.config.queues:
            self._publish_queue(queue)

    def _on_removed(self, msg: AmiMessage, at: float) -> None:
        a = self._member(msg)
        if a is None:
            return
        queue = msg.text("Queue", "")
        a.queues.pop(queue, None)
        if queue in self.config.queues:
            self._publish_queue(queue)
        if not a.queues:
            a.paused, a.pause_reason, a.device = False, None, None
            a.activity, a.call_id, a.wrap_until = None, None, None
        self._recompute(a, at)

    def _on_called(self, msg: AmiMessage, at: float) -> None:
        a = self._member(msg)
        if a is not None and a.activity is None:
            a.activity, a.call_id = AgentState.RINGING, msg.text("Linkedid", "") or None
            self._recompute(a, at)

    def _on_not_answered(self, msg: AmiMessage, at: float) -> None:
        a = self._member(msg)
        if a is not None and a.activity is AgentState.RINGING:
            a.activity, a.call_id = None, None
            self._recompute(a, at)

    def _on_connect(self, msg: AmiMessage, at: float) -> None:
        a = self._member(msg)
        if a is not None:
            a.activity, a.call_id = AgentState.ON_CALL, msg.text("Linkedid", "") or a.call_id
            a.wrap_until = None
            self._recompute(a, at)

    def _on_complete(self, msg: AmiMessage, at: float) -> None:
        a = self._member(msg)
        if a is None:
            return
        self._roll_day()
        a.calls_today += 1
        a.last_call_at = at
        wrap = self.config.queue(msg.text("Queue", "")).wrapup_seconds \
            if msg.text("Queue", "") in self.config.queues else 0
        a.wrap_call_id = a.call_id or msg.text("Linkedid", "") or None
        a.activity, a.call_id = None, None
        a.wrap_until = wrap_up_ends(at, wrap) if wrap else None
        self._recompute(a, at)

    # an agent's phone dialled by a transfer, not by a queue: app_queue says
    # nothing of it, the dialplan's HotlineAgentLeg and the channel do
    def _on_transfer_leg(self, msg: AmiMessage, at: float) -> None:
        if msg.text("UserEvent", "") != "HotlineAgentLeg":
            return
        a = self.agents.get(msg.text("Agent", ""))
        if a is not None and a.queues:
            self._drop_transfer_leg(a)
            a.activity = AgentState.RINGING
            a.call_id = msg.text("Call", "") or msg.text("Linkedid", "") or None
            a.transfer_leg = msg.text("Uniqueid", "") or None
            if a.transfer_leg:
                self._transfer_legs[a.transfer_leg] = a.code
            self._recompute(a, at)

    def _transfer_agent(self, uid: str) -> AgentLive | None:
        code = self._transfer_legs.get(uid)
        return None if code is None else self.agents.get(code)

    def _drop_transfer_leg(self, a: AgentLive) -> None:
        if a.transfer_leg:
            self._transfer_legs.pop(a.transfer_leg, None)
        a.transfer_leg = None

    def _on_transfer_answered(self, msg: AmiMessage, at: float) -> None:
        a = self._transfer_agent(msg.text("DestUniqueid", ""))
        if a is None or a.activity is not AgentState.RINGING:
            return
        if msg.text("DialStatus", "") == "ANSWER":
            a.activity = AgentState.ON_CALL
        else:
            a.activity, a.call_id = None, None
            self._drop_transfer_leg(a)
        self._recompute(a, at)

    def _on_transfer_leg_gone(self, msg: AmiMessage, at: float) -> None:
        a = self._transfer_agent(msg.text("Uniqueid", ""))
        if a is not None:
            a.activity, a.call_id = None, None
            self._drop_transfer_leg(a)
            self._recompute(a, at)

    def _on_call_state(self, topic: str, change: CallStateChange) -> None:
        call = change.call
        if not call.agent or call.agent not in self.agents:
            return
        a = self.agents[call.agent]
        if a.call_id != call.call_id or a.activity not in (AgentState.ON_CALL,
                                                          AgentState.ON_HOLD):
            return
        a.activity = AgentState.ON_HOLD if change.new is CallState.ON_HOLD else AgentState.ON_CALL
        self._recompute(a, change.at)

    def _on_join(self, msg: AmiMessage, at: float) -> None:
        queue = msg.text("Queue", "")
        call_id = msg.text("Linkedid", "") or msg.text("Uniqueid", "")
        position = int(msg.text("Position", "0") or 0)
        waiting = self.waiting.setdefault(queue, {})
        for w in waiting.values():  # a caller with priority joins ahead of others
            if w.position >= position:
                w.position += 1
        waiting[call_id] = Waiting(
            call_id, queue, at, position,
            caller_number=msg.text("CallerIDNum", ""), caller_name=msg.text("CallerIDName", ""))
        self._publish_queue(queue)

    def _on_leave(self, msg: AmiMessage, at: float) -> None:
        queue = msg.text("Queue", "")
        call_id = msg.text("Linkedid", "") or msg.text("Uniqueid", "")
        waiting = self.waiting.setdefault(queue, {})
        gone = waiting.pop(call_id, None)
        if gone is not None:
            for w in waiting.values():
                if w.position > gone.position:
                    w.position -= 1
        self._publish_queue(queue)

    def _publish_queue(self, queue: str) -> None:
        if self.bus.has_subscribers("acd.queue"):
            self.bus.publish("acd.queue", self.queue_view(queue))

    # ------------------------------------------------------------------ state
    def tick(self) -> None:
        """Wrap-ups that ran out end here (called by the server twice a second,
        and before every read)."""
        now = self.clock()
        for a in self.agents.values():
            if a.wrap_until is not None and now >= a.wrap_until:
                end = a.wrap_until
                a.wrap_until = None
                self._recompute(a, end)

    def _derive(self, a: AgentLive) -> tuple[AgentState, str | None]:
        if not a.queues:
            return AgentState.LOGGED_OUT, None
        if a.activity is not None:
            return a.activity, None
        if a.wrap_until is not None:
            return AgentState.WRAP_UP, None
        if a.paused:
            return AgentState.PAUSED, a.pause_reason or None
        return AgentState.AVAILABLE, None

    def _recompute(self, a: AgentLive, at: float) -> None:
        state, reason = self._derive(a)
        if (state, reason) == (a.state, a.reason):
            return
        call = a.call_id if a.state in (AgentState.RINGING, AgentState.ON_CALL,
                                        AgentState.ON_HOLD) else \
            a.wrap_call_id if a.state is AgentState.WRAP_UP else None
        if a.since and at > a.since and a.state is not AgentState.LOGGED_OUT:
            self.bus.publish("acd.interval", {
                "agent": a.code, "state": a.state.value, "reason": a.reason,
                "started_at": a.since, "ended_at": at, "call_linkedid": call})
        old = a.state
        a.state, a.reason, a.since = state, reason, max(at, a.since) if a.since else at
        log.info("agent_state", agent=a.code, old=old.value, new=state.value, reason=reason)
        self.bus.publish("acd.agent", a.as_dict(self.clock()))
        for queue in a.queues:  # its agents-by-state changed
            if queue in self.config.queues:
                self._publish_queue(queue)

    # ------------------------------------------------------------------ rebuild
    def _on_resynced(self, topic: str, payload: dict[str, Any]) -> None:
        self.rebuild(payload.get("queue_status", []))

    def rebuild(self, events: Iterable[AmiMessage]) -> None:
        """Take Asterisk's members and callers as the truth (after a reconnect
        or a CTI restart)."""
        now = self.clock()
        seen: dict[str, dict[str, int]] = {}
        waiting: dict[str, dict[str, Waiting]] = {q: {} for q in self.config.queues}
        members: list[AmiMessage] = []
        for ev in events:
            if ev.name == "QueueMember":
                code = ev.text("Name", "") or ev.text("MemberName", "")
                if code:
                    seen.setdefault(code, {})[ev.text("Queue", "")] = int(
                        ev.text("Penalty", "0") or 0)
                    members.append(ev)
            elif ev.name == "QueueEntry":
                q = ev.text("Queue", "")
                cid = ev.text("Linkedid", "") or ev.text("Uniqueid", "")
                waiting.setdefault(q, {})[cid] = Waiting(
                    cid, q, now - float(ev.text("Wait", "0") or 0),
                    int(ev.text("Position", "0") or 0),
                    caller_number=ev.text("CallerIDNum", ""),
                    caller_name=ev.text("CallerIDName", ""))
        self.waiting = waiting
        for code, a in self.agents.items():
            if code not in seen:
                a.queues.clear()
                a.activity = a.call_id = a.wrap_until = None
                self._recompute(a, now)
        for ev in members:
            code = ev.text("Name", "") or ev.text("MemberName", "")
            a = self.agent(code)
            a.queues = seen[code]
            a.device = ev.text("Location", "") or ev.text("Interface", "") or a.device
            a.paused = ev.text("Paused", "0") == "1"
            a.pause_reason = ev.text("PausedReason", "") or None if a.paused else None
            status = ev.text("Status", "")
            in_call = ev.text("InCall", "0") == "1"
            if status in DEVICE_RINGING:
                a.activity = AgentState.RINGING
            elif status in DEVICE_ON_HOLD:
                a.activity = AgentState.ON_HOLD
            elif in_call or status in DEVICE_BUSY:
                a.activity = a.activity if a.activity in (AgentState.ON_CALL,
                                                          AgentState.ON_HOLD) \
                    else AgentState.ON_CALL
                if a.call_id is None and self.calls is not None:
                    a.call_id = next((c.call_id for c in self.calls.calls.values()
                                      if c.agent == code), None)
            else:
                a.activity = None
                a.call_id = None
            last_call = float(ev.text("LastCall", "0") or 0)
            wrap = self.config.queue(ev.text("Queue", "")).wrapup_seconds \
                if ev.text("Queue", "") in self.config.queues else 0
            if a.activity is None and last_call and wrap \
                    and now < wrap_up_ends(last_call, wrap):
                a.wrap_until = wrap_up_ends(last_call, wrap)
            if not a.since:
                since = float(ev.text("LastPause", "0") or 0) if a.paused else 0.0
                a.since = since or float(ev.text("LoginTime", "0") or 0) or now
            self._recompute(a, now)
        log.info("acd_rebuilt", agents=len(seen),
                 waiting=sum(len(w) for w in waiting.values()))

    def seed_calls_today(self, counts: dict[str, int]) -> None:
        for code, n in counts.items():
            self.agent(code).calls_today = n

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock(), self.zone).date()

    def _roll_day(self) -> None:
        today = self._today()
        if today != self._day:
            self._day = today
            for a in self.agents.values():
                a.calls_today = 0
