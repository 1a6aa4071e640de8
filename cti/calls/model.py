"""The call model: one :class:`Call` per Asterisk Linkedid, its channels
(:class:`Leg`) and its named states.

A call is every channel that shares a Linkedid: the caller's channel (whose
Uniqueid is the Linkedid), the IVR/queue side of a Local channel, the agent
legs that app_queue creates, transfer targets. Its state is a named state
machine with an explicit transition table; :mod:`cti.calls.tracker` drives
it from AMI events.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any


class CallState(enum.StrEnum):
    RINGING = "ringing"  # the caller's call is arriving, not answered yet
    IN_IVR = "in_ivr"  # answered by the hotline; the IVR talks to the caller
    QUEUED = "queued"  # waiting in an app_queue queue
    AGENT_RINGING = "agent_ringing"  # an agent's phone rings for it
    CONNECTED = "connected"  # talking to an agent (or another party)
    ON_HOLD = "on_hold"  # put on hold by the agent
    TRANSFERRED = "transferred"  # being transferred to another agent, queue or number
    ENDED = "ended"  # every channel has hung up


S = CallState
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    S.RINGING: frozenset({S.IN_IVR, S.QUEUED, S.AGENT_RINGING, S.CONNECTED, S.ENDED}),
    S.IN_IVR: frozenset({S.QUEUED, S.AGENT_RINGING, S.CONNECTED, S.TRANSFERRED, S.ENDED}),
    S.QUEUED: frozenset({S.AGENT_RINGING, S.CONNECTED, S.IN_IVR, S.ENDED}),
    S.AGENT_RINGING: frozenset({S.QUEUED, S.CONNECTED, S.ENDED}),
    S.CONNECTED: frozenset({S.ON_HOLD, S.TRANSFERRED, S.QUEUED, S.ENDED}),
    S.ON_HOLD: frozenset({S.CONNECTED, S.TRANSFERRED, S.ENDED}),
    S.TRANSFERRED: frozenset({S.QUEUED, S.AGENT_RINGING, S.CONNECTED, S.IN_IVR, S.ON_HOLD,
                              S.ENDED}),
    S.ENDED: frozenset(),
}

@dataclass
class Leg:
    """One channel of a call."""

    uniqueid: str
    channel: str
    created_at: float
    state: str = "Down"
    caller_number: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""
    bridge: str | None = None
    role: str = "other"  # caller | agent | other
    on_hold: bool = False
    agent: str | None = None  # the agent whose phone this is
    bridged_since: float | None = None  # an agent leg: in a bridge since

    def as_dict(self) -> dict[str, Any]:
        return {
            "uniqueid": self.uniqueid,
            "channel": self.channel,
            "state": self.state,
            "role": self.role,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "bridge": self.bridge,
            "on_hold": self.on_hold,
            "agent": self.agent,
        }


@dataclass
class Call:
    call_id: str  # Asterisk's Linkedid
    started_at: float
    state: CallState = CallState.RINGING
    history: list[tuple[CallState, float]] = field(default_factory=list)
    caller_number: str = ""
    caller_name: str = ""
    dialled: str = ""
    queue: str | None = None  # the queue it was routed to
    queues: list[str] = field(default_factory=list)  # every queue it joined, in order
    queued_at: float | None = None
    priority: int = 0  # app_queue's QUEUE_PRIO the router gave (a VIP's is higher)
    agent: str | None = None  # app_queue member name
    agent_interface: str | None = None
    agent_channel: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    ivr_fallback: bool = False
    ivr_path: str = ""  # menu nodes the caller went through, e.g. "lang>main>repair"
    language: str = ""  # zh / en, chosen in the IVR
    callback_requested: bool = False  # the caller took a callback and hung up
    callback_id: int | None = None  # this call is that callback (its entry's id)
    callback_of: str | None = None  # ... owed to this first call
    abandoned: bool = False
    recording: str | None = None  # the recording's file, under the recordings dir
    hold_count: int = 0
    transfer_count: int = 0
    hangup_cause: str | None = None
    resynced: bool = False  # rebuilt from a snapshot after a reconnect
    restored: bool = False  # carried over a CTI restart (see cti.calls.livestore)
    end_observed: bool = True  # False: found gone at a resync, end time estimated
    backfilled: bool = False  # rebuilt from Asterisk's ledger after it ended (crm_bridge.ledger)
    # what the tracker missed (events not seen across a resync) filled in from
    # Asterisk's own facts: "ledger" (it ended unseen) or "asterisk" (live
    # channel variables); None: every event seen (cti.calls.ledger)
    completed_from: str | None = None
    legs: dict[str, Leg] = field(default_factory=dict)
    # (agent, from, to): each stretch an agent's phone was bridged on this call
    agent_spans: list[tuple[str, float, float]] = field(default_factory=list)

    def agent_seconds(self, now: float | None = None) -> dict[str, float]:
        """Seconds each agent spent on the call (bridged: talking, consulting
        or holding it), in the order they took it. An agent's overlapping
        stretches count once; two agents at once (a consultation) each
        count, since both were busy with it."""
        spans = list(self.agent_spans)
        end = now if now is not None else (self.ended_at or time.time())
        spans += [(lg.agent, lg.bridged_since, end) for lg in self.legs.values()
                  if lg.agent and lg.bridged_since is not None]
        out: dict[str, float] = {}
        for agent in dict.fromkeys(a for a, _, _ in sorted(spans, key=lambda x: x[1])):
            mine = sorted((a, b) for who, a, b in spans if who == agent)
            total, reach = 0.0, float("-inf")
            for a, b in mine:
                if b > reach:
                    total += b - max(a, reach)
                    reach = b
            out[agent] = round(total, 3)
        return out

    @property
    def states(self) -> list[CallState]:
        return [s for s, _ in self.history]

    @property
    def hold_seconds(self) -> float:
        """Time spent on hold, from the state history."""
        total = 0.0
        for (state, at), nxt in zip(self.history, [*self.history[1:], None], strict=True):
            if state is CallState.ON_HOLD:
                end = nxt[1] if nxt is not None else (self.ended_at or at)
                total += max(0.0, end - at)
        return total

    @property
    def outcome(self) -> str:
        """How the call ended for the caller: answered, callback_requested,
        abandoned (hung up waiting in a queue), ivr_only, failed. The call
        record and the wallboard's live counts use this one definition."""
        if self.answered_at is not None:
            return "answered"
        if self.callback_requested:
            return "callback_requested"
        if self.abandoned or CallState.QUEUED in self.states:
            return "abandoned"
        if CallState.IN_IVR in self.states:
            return "ivr_only"
        return "failed"

    @property
    def wait_seconds(self) -> float | None:
        if self.queued_at is None:
            return None
        end = self.answered_at or self.ended_at
        return None if end is None else max(0.0, end - self.queued_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "state": self.state.value,
            "history": [{"state": s.value, "at": t} for s, t in self.history],
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "dialled": self.dialled,
            "queue": self.queue,
            "queues": self.queues,
            "agent": self.agent,
            "started_at": self.started_at,
            "queued_at": self.queued_at,
            "priority": self.priority,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "wait_seconds": self.wait_seconds,
            "ivr_fallback": self.ivr_fallback,
            "ivr_path": self.ivr_path,
            "language": self.language,
            "callback_requested": self.callback_requested,
            "callback_id": self.callback_id,
            "callback_of": self.callback_of,
            "recording": self.recording,
            "abandoned": self.abandoned,
            "hold_count": self.hold_count,
            "transfer_count": self.transfer_count,
            "hangup_cause": self.hangup_cause,
            "legs": [leg.as_dict() for leg in self.legs.values()],
            "agents": self.agent_seconds(),
        }
