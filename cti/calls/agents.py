"""Agents' legs, queue members and queue callers: AMI in, domain events out.

Beside the call tracker, this translator reads app_queue's member and caller
events and the channels that ring agents' phones, and publishes them once,
typed (topics in :mod:`cti.calls.events`), so that the live board, the
screen pops and the call controls never parse AMI:

* ``QueueMemberAdded/Status/Pause/Penalty/Removed`` -> ``member.*``;
* ``QueueCallerJoin/Leave/Abandon`` -> ``queue.joined/left/abandoned``;
* an agent leg from app_queue (``AgentCalled`` names it) or from the
  dialplan's transfer to an agent (the ``HotlineAgentLeg`` user event) ->
  ``agent.ringing``; ``AgentConnect``, or a transfer leg's ``DialEnd`` with
  ``ANSWER`` -> ``agent.connected``; ``AgentRingNoAnswer``, ``AgentDump``,
  a transfer leg's unanswered ``DialEnd`` or its ``Hangup`` while ringing ->
  ``agent.not_answered``; ``AgentComplete`` -> ``agent.released``; the leg's
  ``Hangup`` after it was answered -> ``agent.hung_up``.

It keeps one index of the agent legs it has announced (channel -> agent,
call, ringing or answered), forgotten when the leg ends.

:func:`queue_snapshot` turns a QueueStatus reply into typed members and
waiting callers for the ``asterisk.resynced`` event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cti.ami.parser import AmiMessage
from cti.bus import EventBus
from cti.calls import events as ev
from cti.calls.events import (
    AgentLegEvent,
    MemberChange,
    MemberStatus,
    QueueCaller,
    WaitingCaller,
)
from cti.calls.headers import agent_leg, event_time

_MEMBER_TOPICS = {
    "QueueMemberAdded": ev.MEMBER_ADDED,
    "QueueMemberStatus": ev.MEMBER_STATUS,
    "QueueMemberPause": ev.MEMBER_PAUSED,
    "QueueMemberPenalty": ev.MEMBER_PENALTY,
}
_CALLER_TOPICS = {
    "QueueCallerJoin": ev.QUEUE_JOINED,
    "QueueCallerLeave": ev.QUEUE_LEFT,
    "QueueCallerAbandon": ev.QUEUE_ABANDONED,
}


@dataclass
class _Leg:
    agent: str
    call_id: str
    queue: str
    via_queue: bool
    answered: bool = False


def _int(text: str) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _float(text: str) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


class AgentEvents:
    def __init__(self, bus: EventBus, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.clock = clock
        self._legs: dict[str, _Leg] = {}  # Uniqueid of an agent's channel -> its leg
        self._handlers: dict[str, Callable[[AmiMessage, float], None]] = {
            **{name: self._on_member for name in _MEMBER_TOPICS},
            "QueueMemberRemoved": self._on_member_removed,
            **{name: self._on_caller for name in _CALLER_TOPICS},
            "AgentCalled": self._on_called,
            "AgentRingNoAnswer": self._on_not_answered,
            "AgentDump": self._on_not_answered,
            "AgentConnect": self._on_connect,
            "AgentComplete": self._on_complete,
            "UserEvent": self._on_user_event,
            "DialEnd": self._on_dial_end,
            "Hangup": self._on_hangup,
        }

    def handle(self, msg: AmiMessage, at: float | None = None) -> None:
        """``at``: the event's time, if the caller has it already."""
        handler = self._handlers.get(msg.name)
        if handler is not None:
            handler(msg, event_time(msg, self.clock()) if at is None else at)

    # ------------------------------------------------------------------ members
    def _on_member(self, msg: AmiMessage, at: float) -> None:
        agent = msg.text("MemberName", "")
        if not agent:
            return
        paused = msg.text("Paused", "0") == "1" if "Paused" in msg else None
        reason = (msg.text("PausedReason", "") or msg.text("Reason", "")) if paused else None
        self.bus.publish(_MEMBER_TOPICS[msg.name], MemberChange(
            at, agent, msg.text("Queue", ""), interface=msg.text("Interface", ""),
            penalty=_int(msg.text("Penalty", "0")) if "Penalty" in msg else None,
            paused=paused, reason=reason))

    def _on_member_removed(self, msg: AmiMessage, at: float) -> None:
        agent = msg.text("MemberName", "")
        if agent:
            self.bus.publish(ev.MEMBER_REMOVED, MemberChange(
                at, agent, msg.text("Queue", ""), interface=msg.text("Interface", "")))

    # ------------------------------------------------------------------ callers
    def _on_caller(self, msg: AmiMessage, at: float) -> None:
        uid = msg.text("Uniqueid", "")
        self.bus.publish(_CALLER_TOPICS[msg.name], QueueCaller(
            at, msg.text("Queue", ""), msg.text("Linkedid", "") or uid, uid,
            channel=msg.text("Channel", ""), position=_int(msg.text("Position", "0")),
            caller_number=msg.text("CallerIDNum", ""),
            caller_name=msg.text("CallerIDName", "")))

    # ------------------------------------------------------------------ agent legs
    def _publish(self, topic: str, leg: _Leg, uid: str, at: float, reason: str = "") -> None:
        self.bus.publish(topic, AgentLegEvent(at, leg.agent, leg.call_id, uid, leg.queue,
                                              leg.via_queue, reason, leg.answered))

    def _queue_leg(self, msg: AmiMessage) -> tuple[str, _Leg]:
        """The member's leg an app_queue event is about (its DestUniqueid)."""
        uid = msg.text("DestUniqueid", "")
        leg = self._legs.get(uid)
        agent, call_id = msg.text("MemberName", ""), msg.text("Linkedid", "")
        if leg is None or leg.agent != agent or leg.call_id != call_id:
            leg = _Leg(agent, call_id, msg.text("Queue", ""), via_queue=True)
        return uid, leg

    def _on_called(self, msg: AmiMessage, at: float) -> None:
        uid, leg = self._queue_leg(msg)
        if not leg.agent:
            return
        if uid:
            self._legs[uid] = leg
        self._publish(ev.AGENT_RINGING, leg, uid, at)

    def _on_not_answered(self, msg: AmiMessage, at: float) -> None:
        uid, leg = self._queue_leg(msg)
        if not leg.agent:
            return
        self._legs.pop(uid, None)
        self._publish(ev.AGENT_NOT_ANSWERED, leg, uid, at,
                      "dump" if msg.name == "AgentDump" else "no_answer")

    def _on_connect(self, msg: AmiMessage, at: float) -> None:
        uid, leg = self._queue_leg(msg)
        if not leg.agent:
            return
        leg.answered = True
        if uid:
            self._legs[uid] = leg
        self._publish(ev.AGENT_CONNECTED, leg, uid, at)

    def _on_complete(self, msg: AmiMessage, at: float) -> None:
        uid, leg = self._queue_leg(msg)
        if leg.agent:
            self._publish(ev.AGENT_RELEASED, leg, uid, at, msg.text("Reason", ""))

    def _on_user_event(self, msg: AmiMessage, at: float) -> None:
        dialled = agent_leg(msg)
        if dialled is None or not dialled.agent or not dialled.call_id:
            return
        leg = _Leg(dialled.agent, dialled.call_id, "", via_queue=False)
        if dialled.uniqueid:
            self._legs[dialled.uniqueid] = leg
        self._publish(ev.AGENT_RINGING, leg, dialled.uniqueid, at)

    def _on_dial_end(self, msg: AmiMessage, at: float) -> None:
        # app_queue says itself how its rings end; this is for transfer legs
        uid = msg.text("DestUniqueid", "")
        leg = self._legs.get(uid)
        if leg is None or leg.via_queue or leg.answered:
            return
        status = msg.text("DialStatus", "")
        if status == "ANSWER":
            leg.answered = True
            self._publish(ev.AGENT_CONNECTED, leg, uid, at)
        else:
            del self._legs[uid]
            self._publish(ev.AGENT_NOT_ANSWERED, leg, uid, at, status.lower())

    def _on_hangup(self, msg: AmiMessage, at: float) -> None:
        uid = msg.text("Uniqueid", "")
        leg = self._legs.pop(uid, None)
        if leg is None:
            return
        if leg.answered:
            self._publish(ev.AGENT_HUNG_UP, leg, uid, at)
        elif not leg.via_queue:  # app_queue says itself why a ring it made ended
            self._publish(ev.AGENT_NOT_ANSWERED, leg, uid, at, "hangup")


def queue_snapshot(entries: Iterable[AmiMessage]) -> tuple[list[MemberStatus],
                                                             list[WaitingCaller]]:
    """The members and waiting callers of a QueueStatus reply."""
    members: list[MemberStatus] = []
    callers: list[WaitingCaller] = []
    for e in entries:
        if e.name == "QueueMember":
            agent = e.text("Name", "") or e.text("MemberName", "")
            if not agent:
                continue
            paused = e.text("Paused", "0") == "1"
            members.append(MemberStatus(
                agent=agent, queue=e.text("Queue", ""),
                interface=e.text("Location", "") or e.text("Interface", ""),
                penalty=_int(e.text("Penalty", "0")), paused=paused,
                reason=(e.text("PausedReason", "") or None) if paused else None,
                device_status=e.text("Status", ""), in_call=e.text("InCall", "0") == "1",
                last_call=_float(e.text("LastCall", "0")),
                last_pause=_float(e.text("LastPause", "0")),
                login_time=_float(e.text("LoginTime", "0"))))
        elif e.name == "QueueEntry":
            uid = e.text("Uniqueid", "")
            callers.append(WaitingCaller(
                queue=e.text("Queue", ""), call_id=e.text("Linkedid", "") or uid, uniqueid=uid,
                wait=_float(e.text("Wait", "0")), position=_int(e.text("Position", "0")),
                caller_number=e.text("CallerIDNum", ""),
                caller_name=e.text("CallerIDName", ""), channel=e.text("Channel", "")))
    return members, callers
