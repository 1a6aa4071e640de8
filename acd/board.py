"""The live ACD board: every agent's state and every queue's waiting callers,
driven by the core's domain events (not by polling), rebuilt from the
QueueStatus snapshot of each ``asterisk.resynced``.

Agent states (named, one at a time, by precedence):

    logged_out   in no queue
    ringing      a call is ringing their device             (agent.ringing)
    on_call      talking                                    (agent.connected)
    on_hold      their call is on hold                      (call.state on_hold)
    wrap_up      after a call, for the queue's wrap-up time (agent.released)
    paused       paused, with a reason                      (member.paused)
    available    waiting for a call

Every change closes an interval ``(agent, state, reason, start, end, call)``;
the notifier publishes it as ``acd.interval``, and the current state as
``acd.agent``. Queue callers come from ``queue.joined/left/abandoned``.
Asterisk keeps the members, so a CTI restart loses nothing: ``rebuild``
reads them back (paused and reason, in a call or not, last call for the
wrap-up still running).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from acd.config import AcdConfig, wrap_up_ends
from acd.kpi import HANDLING
from acd.notifier import AcdNotifier
from cti.calls.events import (
    AgentLegEvent,
    CallStateChange,
    MemberChange,
    QueueCaller,
    Resynced,
)
from cti.calls.model import CallState
from cti.calls.tracker import CallTracker

log = structlog.get_logger("acd.board")


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


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
    handle_seconds_today: float = 0.0  # ringing, talking, on hold and wrap-up, today
    last_call_at: float | None = None

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"agent": self.code, "state": self.state.value, "reason": self.reason,
                "since": self.since, "seconds_in_state": round(max(0.0, now - self.since), 1),
                "device": self.device, "queues": dict(sorted(self.queues.items())),
                "call_id": self.call_id or (self.wrap_call_id
                                            if self.state is AgentState.WRAP_UP else None),
                "wrap_up_until": self.wrap_until if self.state is AgentState.WRAP_UP else None,
                "calls_today": self.calls_today, "last_call_at": self.last_call_at,
                "handle_seconds_today": round(self.handle_seconds_today, 1),
                "aht_today_seconds": round(self.handle_seconds_today / self.calls_today, 1)
                if self.calls_today else None}


# callers listed per queue on the wallboard feed, first in line first (its
# "waiting" counts them all; the REST view lists every one): a TV shows a
# dozen rows, and a queue of 300 callers sent four times a second is JSON
# nobody reads
WALLBOARD_CALLERS = 20

# the handling time a wait is estimated with before today's first call
ASSUMED_HANDLING = 180.0


@dataclass
class Waiting:
    call_id: str
    queue: str
    joined_at: float
    position: int
    priority: int = 0
    caller_number: str = ""
    caller_name: str = ""
    uniqueid: str = ""  # the channel in the queue (a Local caller's ;2, not its ;1)
    channel: str = ""

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"call_id": self.call_id, "position": self.position,
                "wait_seconds": round(max(0.0, now - self.joined_at), 1),
                "priority": self.priority, "caller_number": self.caller_number,
                "caller_name": self.caller_name}


class Board:
    """The live state of agents and queues. Its handlers are the ACD's bus
    subscriptions (acd/bus_consume.py); it never reads AMI."""

    def __init__(self, config: AcdConfig, notifier: AcdNotifier, *,
                 clock: Callable[[], float] = time.time, zone: str = "Asia/Shanghai",
                 calls: CallTracker | None = None) -> None:
        self.config = config
        self.calls = calls  # to find an agent's call again after a rebuild
        self.notifier = notifier
        self.clock = clock
        self.zone = ZoneInfo(zone)
        self.agents: dict[str, AgentLive] = {}
        self.waiting: dict[str, dict[str, Waiting]] = {q: {} for q in config.queues}
        self._day = self._today()
        self._transfer_legs: dict[str, str] = {}  # an agent's phone dialled by a transfer -> agent
        self._dirty_queues: set[str] = set()  # queues whose view changed since the last flush

    # ------------------------------------------------------------------ reading
    def agent(self, code: str) -> AgentLive:
        live = self.agents.get(code)
        if live is None:
            live = self.agents[code] = AgentLive(code, since=self.clock())
        return live

    def agent_view(self, code: str) -> dict[str, Any]:
        self.tick()
        return self._agent_dict(self.agent(code))

    def _agent_dict(self, a: AgentLive) -> dict[str, Any]:
        """The agent's view, with who is on their call and from which queue."""
        view = a.as_dict(self.clock())
        call = self.calls.get(view["call_id"]) if self.calls and view["call_id"] else None
        view["caller"] = None if call is None else {
            "number": call.caller_number, "name": call.caller_name, "queue": call.queue}
        return view

    def available_in(self, queue: str) -> int:
        """How many of the queue's agents wait for a call right now."""
        return sum(1 for a in self.agents.values()
                   if a.state is AgentState.AVAILABLE and queue in a.queues)

    def queue_view(self, name: str, callers_shown: int | None = None) -> dict[str, Any]:
        """The queue as a supervisor sees it. ``callers_shown``: only the first
        callers in line (``waiting`` still counts them all)."""
        self.tick()
        now = self.clock()
        q = self.config.queue(name)
        waiting = self.waiting.get(name, {})
        callers = sorted(waiting.values(), key=lambda w: w.position)
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
            "callers": [w.as_dict(now) for w in callers[:callers_shown]],
            "agents": {k: v for k, v in by_state.items()},
            "agents_logged_in": len(members),
            "agents_available": len(by_state[AgentState.AVAILABLE.value]),
        }

    def queue_summary(self, name: str) -> dict[str, Any]:
        """The queue in numbers, for a wallboard: callers waiting, when the
        first of them joined (the page ticks the longest wait from it), agents
        by state."""
        self.tick()
        now = self.clock()
        waiting = self.waiting.get(name, {})
        oldest = min((w.joined_at for w in waiting.values()), default=None)
        agents = {s.value: 0 for s in AgentState if s is not AgentState.LOGGED_OUT}
        for a in self.agents.values():
            if name in a.queues:
                agents[a.state.value] += 1
        return {"waiting": len(waiting), "oldest_joined_at": oldest,
                "longest_wait_seconds": round(now - oldest, 1) if oldest else 0.0,
                "agents": agents, "agents_logged_in": sum(agents.values())}

    def estimated_waits(self, name: str) -> list[tuple[Waiting, float]]:
        """Each caller waiting in the queue with how much longer they are
        likely to wait: the callers ahead of them shared among the agents
        serving the queue (not paused), each taking today's handling time
        (ASSUMED_HANDLING before any call); infinite with nobody serving."""
        serving = sum(1 for a in self.agents.values()
                      if name in a.queues and a.state not in (AgentState.PAUSED,
                                                              AgentState.LOGGED_OUT))
        calls = sum(a.calls_today for a in self.agents.values())
        handling = (sum(a.handle_seconds_today for a in self.agents.values()) / calls
                    if calls else ASSUMED_HANDLING)
        out = []
        for w in sorted(self.waiting.get(name, {}).values(), key=lambda w: w.position):
            ahead = w.position  # themselves included: an agent must free up for them too
            out.append((w, math.inf if not serving else math.ceil(ahead / serving) * handling))
        return out

    def agents_by_state(self) -> dict[str, int]:
        """Every logged-in agent once, by state."""
        out = {s.value: 0 for s in AgentState if s is not AgentState.LOGGED_OUT}
        for a in self.agents.values():
            if a.state is not AgentState.LOGGED_OUT:
                out[a.state.value] += 1
        return out

    # ------------------------------------------------------------------ members
    def on_member(self, topic: str, m: MemberChange) -> None:
        """Added, status, paused, penalty: app_queue's view of the member."""
        a = self.agent(m.agent)
        joined = bool(m.queue) and m.queue not in a.queues
        if m.queue:
            a.queues[m.queue] = m.penalty or 0
        a.device = m.interface or a.device
        if m.paused is not None:
            a.paused = m.paused
            a.pause_reason = m.reason if m.paused else None
        self._recompute(a, m.at)
        if joined and m.queue in self.config.queues:
            self._publish_queue(m.queue)

    def on_member_removed(self, topic: str, m: MemberChange) -> None:
        a = self.agent(m.agent)
        a.queues.pop(m.queue, None)
        if m.queue in self.config.queues:
            self._publish_queue(m.queue)
        if not a.queues:
            a.paused, a.pause_reason, a.device = False, None, None
            a.activity, a.call_id, a.wrap_until = None, None, None
        self._recompute(a, m.at)

    # ------------------------------------------------------------------ agent legs
    def on_ringing(self, topic: str, e: AgentLegEvent) -> None:
        if e.via_queue:
            a = self.agent(e.agent)
            if a.activity is None:
                a.activity, a.call_id = AgentState.RINGING, e.call_id or None
                self._recompute(a, e.at)
            return
        # an agent's phone dialled by a transfer, not by a queue
        t = self.agents.get(e.agent)
        if t is not None and t.queues:
            self._drop_transfer_leg(t)
            t.activity, t.call_id = AgentState.RINGING, e.call_id or None
            t.transfer_leg = e.leg or None
            if t.transfer_leg:
                self._transfer_legs[t.transfer_leg] = t.code
            self._recompute(t, e.at)

    def on_not_answered(self, topic: str, e: AgentLegEvent) -> None:
        if not e.via_queue:
            self._transfer_leg_over(e)
            return
        a = self.agent(e.agent)
        if a.activity is AgentState.RINGING:
            a.activity, a.call_id = None, None
            self._recompute(a, e.at)

    def on_connected(self, topic: str, e: AgentLegEvent) -> None:
        if not e.via_queue:
            t = self._transfer_agent(e.leg)
            if t is not None and t.activity is AgentState.RINGING:
                t.activity = AgentState.ON_CALL
                self._recompute(t, e.at)
            return
        a = self.agent(e.agent)
        a.activity, a.call_id = AgentState.ON_CALL, e.call_id or a.call_id
        a.wrap_until = None
        self._recompute(a, e.at)

    def on_released(self, topic: str, e: AgentLegEvent) -> None:
        """app_queue is done with the member: the queue's wrap-up runs."""
        a = self.agent(e.agent)
        self._roll_day()
        a.calls_today += 1
        a.last_call_at = e.at
        wrap = self.config.queue(e.queue).wrapup_seconds if e.queue in self.config.queues else 0
        a.wrap_call_id = a.call_id or e.call_id or None
        a.activity, a.call_id = None, None
        a.wrap_until = wrap_up_ends(e.at, wrap) if wrap else None
        self._recompute(a, e.at)

    def on_hung_up(self, topic: str, e: AgentLegEvent) -> None:
        if not e.via_queue:  # a queue call ends with agent.released
            self._transfer_leg_over(e)

    def _transfer_agent(self, uid: str) -> AgentLive | None:
        code = self._transfer_legs.get(uid)
        return None if code is None else self.agents.get(code)

    def _drop_transfer_leg(self, a: AgentLive) -> None:
        if a.transfer_leg:
            self._transfer_legs.pop(a.transfer_leg, None)
        a.transfer_leg = None

    def _transfer_leg_over(self, e: AgentLegEvent) -> None:
        t = self._transfer_agent(e.leg)
        if t is not None:
            t.activity, t.call_id = None, None
            self._drop_transfer_leg(t)
            self._recompute(t, e.at)

    def on_call_state(self, topic: str, change: CallStateChange) -> None:
        call = change.call
        if not call.agent or call.agent not in self.agents:
            return
        a = self.agents[call.agent]
        if a.call_id != call.call_id or a.activity not in (AgentState.ON_CALL,
                                                          AgentState.ON_HOLD):
            return
        a.activity = AgentState.ON_HOLD if change.new is CallState.ON_HOLD else AgentState.ON_CALL
        self._recompute(a, change.at)

    # ------------------------------------------------------------------ callers
    def on_caller_joined(self, topic: str, c: QueueCaller) -> None:
        waiting = self.waiting.setdefault(c.queue, {})
        for w in waiting.values():  # a caller with priority joins ahead of others
            if w.position >= c.position:
                w.position += 1
        call = self.calls.get(c.call_id) if self.calls else None
        waiting[c.call_id] = Waiting(c.call_id, c.queue, c.at, c.position,
                                     priority=call.priority if call else 0,
                                     caller_number=c.caller_number, caller_name=c.caller_name,
                                     uniqueid=c.uniqueid, channel=c.channel)
        self._publish_queue(c.queue)

    def on_caller_left(self, topic: str, c: QueueCaller) -> None:
        """Left or abandoned (app_queue sends both for a caller who hangs up)."""
        waiting = self.waiting.setdefault(c.queue, {})
        gone = waiting.pop(c.call_id, None)
        if gone is not None:
            for w in waiting.values():
                if w.position > gone.position:
                    w.position -= 1
        self._publish_queue(c.queue)

    def _publish_queue(self, queue: str) -> None:
        """The queue's view changed: sent with the next :meth:`flush_queues`."""
        self._dirty_queues.add(queue)

    def flush_queues(self) -> None:
        """The views of the queues that changed since the last flush, once each
        (the server flushes four times a second: a wallboard is read by people,
        and a busy queue changes hundreds of times a second)."""
        if not self._dirty_queues:
            return
        dirty, self._dirty_queues = self._dirty_queues, set()
        for queue in sorted(dirty):
            self.notifier.queue_changed(functools.partial(self.queue_view, queue,
                                                          WALLBOARD_CALLERS))

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
            self.notifier.interval_closed(a.code, a.state.value, a.reason, a.since, at, call)
            if a.state.value in HANDLING:
                self._roll_day()
                a.handle_seconds_today += at - max(a.since, self._midnight())
        old = a.state
        a.state, a.reason, a.since = state, reason, max(at, a.since) if a.since else at
        log.debug("agent_state", agent=a.code, old=old.value, new=state.value, reason=reason)
        self.notifier.agent_changed(self._agent_dict(a))
        for queue in a.queues:  # its agents-by-state changed
            if queue in self.config.queues:
                self._publish_queue(queue)

    # ------------------------------------------------------------------ rebuild
    def on_resynced(self, topic: str, snapshot: Resynced) -> None:
        self.rebuild(snapshot)

    def rebuild(self, snapshot: Resynced) -> None:
        """Take Asterisk's members and callers as the truth (after a reconnect
        or a CTI restart)."""
        now = self.clock()
        seen: dict[str, dict[str, int]] = {}
        for m in snapshot.members:
            seen.setdefault(m.agent, {})[m.queue] = m.penalty
        waiting: dict[str, dict[str, Waiting]] = {q: {} for q in self.config.queues}
        for c in snapshot.callers:
            call = self.calls.get(c.call_id) if self.calls else None
            waiting.setdefault(c.queue, {})[c.call_id] = Waiting(
                c.call_id, c.queue, now - c.wait, c.position,
                priority=call.priority if call else 0,
                caller_number=c.caller_number, caller_name=c.caller_name,
                uniqueid=c.uniqueid, channel=c.channel)
        self.waiting = waiting
        for code, a in self.agents.items():
            if code not in seen:
                a.queues.clear()
                a.activity = a.call_id = a.wrap_until = None
                self._recompute(a, now)
        for m in snapshot.members:
            a = self.agent(m.agent)
            a.queues = seen[m.agent]
            a.device = m.interface or a.device
            a.paused = m.paused
            a.pause_reason = m.reason if m.paused else None
            if m.device_status in DEVICE_RINGING:
                a.activity = AgentState.RINGING
            elif m.device_status in DEVICE_ON_HOLD:
                a.activity = AgentState.ON_HOLD
            elif m.in_call or m.device_status in DEVICE_BUSY:
                a.activity = a.activity if a.activity in (AgentState.ON_CALL,
                                                          AgentState.ON_HOLD) \
                    else AgentState.ON_CALL
                if a.call_id is None and self.calls is not None:
                    a.call_id = next((c.call_id for c in self.calls.calls.values()
                                      if c.agent == m.agent), None)
            else:
                a.activity = None
                a.call_id = None
            wrap = self.config.queue(m.queue).wrapup_seconds \
                if m.queue in self.config.queues else 0
            if a.activity is None and m.last_call and wrap \
                    and now < wrap_up_ends(m.last_call, wrap):
                a.wrap_until = wrap_up_ends(m.last_call, wrap)
            if not a.since:
                since = m.last_pause if m.paused else 0.0
                a.since = since or m.login_time or now
            self._recompute(a, now)
        log.info("acd_rebuilt", agents=len(seen),
                 waiting=sum(len(w) for w in waiting.values()))

    def seed_today(self, today: dict[str, tuple[int, float]]) -> None:
        """Each agent's calls and handling seconds so far today (the records'),
        when the server starts."""
        for code, (calls, handled) in today.items():
            a = self.agent(code)
            a.calls_today, a.handle_seconds_today = calls, handled

    def _midnight(self) -> float:
        return dt.datetime.combine(self._day, dt.time(), self.zone).timestamp()

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock(), self.zone).date()

    def _roll_day(self) -> None:
        today = self._today()
        if today != self._day:
            self._day = today
            for a in self.agents.values():
                a.calls_today = 0
                a.handle_seconds_today = 0.0
