"""The call tracker: AMI events in, one :class:`~cti.calls.model.Call` per
Asterisk Linkedid out, each change published on the bus (topics in
:mod:`cti.calls.events`): ``call.new``, ``call.state``, ``call.updated``,
``call.ended``, ``call.leg_ended``.

Event times come from Asterisk's ``Timestamp`` header
(:func:`~cti.calls.headers.event_time`), so a backlog read late still gives
the right durations; without it, the tracker's clock is used.

After a reconnect, :meth:`CallTracker.resync` rebuilds the calls from
CoreShowChannels (and QueueStatus entries): calls that vanished while the
connection was down are ended, calls that began are created.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

import structlog

from cti.ami.parser import AmiMessage
from cti.bus import EventBus
from cti.calls import events as ev
from cti.calls.events import CallbackProgress, CallStateChange, LegEnded
from cti.calls.headers import CALLBACK, HOLD, STAGE, agent_leg, event_time
from cti.calls.ledger import Entry, complete
from cti.calls.model import TRANSITIONS, Call, CallState, Leg

log = structlog.get_logger("cti.calls.tracker")

# the ids of channels the server originates for itself (a supervisor's phone
# listening in): they are no calls, and never recorded
SERVICE_PREFIX = "svc-"


UNKNOWN_CALLERID = ("", "<unknown>")


class CallTracker:
    def __init__(self, bus: EventBus, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.clock = clock
        self.calls: dict[str, Call] = {}  # live calls by Linkedid
        self._leg_call: dict[str, str] = {}  # Uniqueid -> Linkedid
        self.ended_count = 0
        # ids of the calls changed (or ended) since take_changed(): what the
        # live-call store serialises again
        self.changed: set[str] = set()
        self.unexpected_transitions = 0
        # Linkedids that ended lately: a late or replayed event for one of
        # them must not bring the call back to life
        self._ended: OrderedDict[str, None] = OrderedDict()
        self.ended_memory = 20_000
        # channels that hung up lately: an event about one that comes after
        # its Hangup (transfers reorder them) must not bring the leg back
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._handlers: dict[str, Callable[[AmiMessage, float], None]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "NewCallerid": self._on_newcallerid,
            "UserEvent": self._on_userevent,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerAbandon": self._on_queue_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_agent_noanswer,
            "AgentConnect": self._on_agent_connect,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "BlindTransfer": self._on_transfer,
            "AttendedTransfer": self._on_transfer,
            "Hangup": self._on_hangup,
        }

    # ------------------------------------------------------------------ intake
    def handle(self, msg: AmiMessage, at: float | None = None) -> None:
        """``at``: the event's time, if the caller has it already."""
        handler = self._handlers.get(msg.name)
        if handler is not None:
            linkedid = msg.get("Linkedid")
            if isinstance(linkedid, str) and linkedid.startswith(SERVICE_PREFIX):
                # a channel the server placed for itself (a supervisor's phone
                # listening in): no call; only its end is said
                if msg.name == "Hangup":
                    self.bus.publish(ev.SERVICE_CHANNEL_ENDED, ev.ServiceChannelEnded(
                        msg.text("Uniqueid", ""), event_time(msg, self.clock())
                        if at is None else at))
                return
            handler(msg, event_time(msg, self.clock()) if at is None else at)

    def get(self, call_id: str) -> Call | None:
        return self.calls.get(call_id)

    def knows(self, call_id: str) -> bool:
        """Live, or ended lately (its record is on its way to the database)."""
        return call_id in self.calls or call_id in self._ended

    def call_of_channel(self, uniqueid: str) -> Call | None:
        cid = self._leg_call.get(uniqueid)
        return self.calls.get(cid) if cid else None

    # ------------------------------------------------------------------ helpers
    def _call_for(self, msg: AmiMessage, at: float,
                  create: bool = False) -> tuple[Call, Leg] | None:
        uid = msg.get("Uniqueid")
        linkedid = msg.get("Linkedid")
        if not isinstance(uid, str) or not isinstance(linkedid, str) or uid in self._gone:
            return None
        call = self.calls.get(linkedid)
        if call is None:
            if linkedid in self._ended or (not create and uid not in self._leg_call):
                return None
            call = self._new_call(linkedid, at)
        old_cid = self._leg_call.get(uid)
        leg: Leg | None = None
        if old_cid is not None and old_cid != linkedid:
            # Asterisk moved the channel to another Linkedid (bridging two calls)
            leg = self._move_leg(uid, old_cid, call, at)
        else:
            leg = call.legs.get(uid)
        if leg is None:
            leg = Leg(uid, msg.text("Channel", ""), at)
            if uid == linkedid:
                leg.role = "caller"
            call.legs[uid] = leg
            self._leg_call[uid] = linkedid
        self.changed.add(call.call_id)
        return call, leg

    def take_changed(self) -> set[str]:
        """The ids of the calls that changed or ended since the last call."""
        changed, self.changed = self.changed, set()
        return changed

    def _new_call(self, linkedid: str, at: float) -> Call:
        call = Call(call_id=linkedid, started_at=at)
        call.history.append((CallState.RINGING, at))
        self.calls[linkedid] = call
        log.debug("call_new", call_id=linkedid)
        self.bus.publish(ev.CALL_NEW, call)
        return call

    def _move_leg(self, uid: str, old_cid: str, call: Call, at: float) -> Leg | None:
        self.changed.add(old_cid)
        old = self.calls.get(old_cid)
        leg = old.legs.pop(uid, None) if old else None
        if leg is not None:
            leg.role = "other" if leg.role == "caller" and uid != call.call_id else leg.role
            call.legs[uid] = leg
        self._leg_call[uid] = call.call_id
        if old is not None and not old.legs:
            self._end(old, at, cause="merged into " + call.call_id)
        return leg

    def _set_state(self, call: Call, new: CallState, at: float) -> None:
        old = call.state
        if old is new or old is CallState.ENDED:
            return
        if new not in TRANSITIONS[old]:
            self.unexpected_transitions += 1
            log.warning("call_unexpected_transition", call_id=call.call_id, old=old.value,
                        new=new.value)
        call.state = new
        call.history.append((new, at))
        log.debug("call_state", call_id=call.call_id, old=old.value, new=new.value)
        self.bus.publish(ev.CALL_STATE, CallStateChange(call, old, new, at))

    def _refresh_leg(self, leg: Leg, msg: AmiMessage, call: Call) -> None:
        num = msg.get("CallerIDNum")
        if isinstance(num, str) and num not in UNKNOWN_CALLERID:
            leg.caller_number = num
        name = msg.get("CallerIDName")
        if isinstance(name, str) and name not in UNKNOWN_CALLERID:
            leg.caller_name = name
        desc = msg.get("ChannelStateDesc")
        if isinstance(desc, str):
            leg.state = desc
        if leg.role == "caller":
            changed = False
            if leg.caller_number and leg.caller_number != call.caller_number:
                call.caller_number = leg.caller_number
                changed = True
            if leg.caller_name and leg.caller_name != call.caller_name:
                call.caller_name = leg.caller_name
                changed = True
            if changed:
                self.bus.publish(ev.CALL_UPDATED, call)

    # ------------------------------------------------------------------ events
    def _on_newchannel(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at, create=True)
        if found is None:
            return
        call, leg = found
        leg.context = msg.text("Context", "")
        leg.exten = msg.text("Exten", "")
        if leg.role == "caller" and not call.dialled:
            call.dialled = leg.exten if leg.exten not in ("", "s") else ""
        self._refresh_leg(leg, msg, call)

    def _on_newstate(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if found:
            self._refresh_leg(found[1], msg, found[0])

    _on_newcallerid = _on_newstate

    def _on_userevent(self, msg: AmiMessage, at: float) -> None:
        kind = msg.text("UserEvent", "")
        dialled = agent_leg(msg)
        if dialled is not None:  # an agent's phone dialled outside a queue
            found = self._call_for(msg, at)
            if found:
                found[1].role, found[1].agent = "agent", dialled.agent or None
            return
        if kind == HOLD:  # the console's hold, on the agent's channel
            if msg.text("State", "") == "on":
                self._on_hold(msg, at)
            else:
                self._on_unhold(msg, at)
            return
        if kind == CALLBACK:
            self._on_callback(msg, at)
            return
        if kind != STAGE:
            return
        found = self._call_for(msg, at)
        if not found:
            return
        call, leg = found
        self._refresh_leg(leg, msg, call)
        stage = msg.text("Stage", "")
        if stage == "ivr":
            self._set_state(call, CallState.IN_IVR, at)
        elif stage == "fallback":
            call.ivr_fallback = True
            self.bus.publish(ev.CALL_UPDATED, call)
        elif stage == "recording":  # MixMonitor runs: the file, under the recordings dir
            call.recording = msg.text("Recording", "") or None
        elif stage == "callback":  # a callback keeping its place: the first call, its wait
            cb = msg.text("Callback", "")
            call.callback_id = int(cb) if cb.isdigit() else None
            call.callback_of = msg.text("FirstCall", "") or None
            queued = msg.text("QueuedAt", "")
            with contextlib.suppress(ValueError):
                call.queued_at = float(queued)  # one wait, from the first join
            prio = msg.text("QueuePriority", "")
            call.priority = int(prio) if prio.isdigit() else 0
            call.queue = msg.text("Queue", "") or call.queue
            self.bus.publish(ev.CALL_UPDATED, call)
        elif stage == "callback-booked":  # the caller took a callback and hangs up
            call.callback_requested = True
            self.bus.publish(ev.CALL_UPDATED, call)
        elif stage == "routed":  # the IVR is done: its path and the caller's language
            call.ivr_path = msg.text("IvrPath", "")
            call.language = msg.text("IvrLanguage", "")  # "Language" is the channel's
            prio = msg.text("QueuePriority", "")
            call.priority = int(prio) if prio.isdigit() else 0
            self.bus.publish(ev.CALL_UPDATED, call)

    def _on_callback(self, msg: AmiMessage, at: float) -> None:
        cb = msg.text("Callback", "")
        if not cb.isdigit():
            return
        found = self._call_for(msg, at)
        self.bus.publish(ev.CALLBACK_PROGRESS, CallbackProgress(
            int(cb), msg.text("Stage", ""), msg.text("Outcome", ""),
            msg.text("Linkedid", "") or (found[0].call_id if found else ""),
            found[0].agent if found else None, at))

    def _on_queue_join(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if not found:
            return
        call, leg = found
        self._refresh_leg(leg, msg, call)
        # a call belongs to the queue it was routed to; an overflow to another
        # queue is noted, and the wait runs on from the first join
        queue = msg.text("Queue", "")
        call.queues.append(queue)
        if call.queue is None:
            call.queue = queue
        if call.queued_at is None:
            call.queued_at = at
        self._set_state(call, CallState.QUEUED, at)

    def _on_queue_abandon(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if found:
            found[0].abandoned = True

    @staticmethod
    def _attach_agent(call: Call, msg: AmiMessage) -> None:
        """The queue member an AgentCalled / AgentConnect names, and its leg."""
        call.agent = msg.text("MemberName", "") or msg.text("Interface", "")
        call.agent_interface = msg.text("Interface", "")
        call.agent_channel = msg.text("DestChannel", "")
        dest = msg.get("DestUniqueid")
        if isinstance(dest, str) and dest in call.legs:
            leg = call.legs[dest]
            leg.role, leg.agent = "agent", call.agent

    def _on_agent_called(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if not found:
            return
        call = found[0]
        self._attach_agent(call, msg)
        self._set_state(call, CallState.AGENT_RINGING, at)

    def _on_agent_noanswer(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if found and found[0].state is CallState.AGENT_RINGING:
            self._set_state(found[0], CallState.QUEUED, at)

    def _on_agent_connect(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if not found:
            return
        call = found[0]
        self._attach_agent(call, msg)
        leg = call.legs.get(msg.text("DestUniqueid", ""))
        if leg is not None and leg.bridge and leg.bridged_since is None:
            leg.bridged_since = at  # BridgeEnter came first
        if call.answered_at is None:
            call.answered_at = at
        self._set_state(call, CallState.CONNECTED, at)

    def _on_bridge_enter(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if not found:
            return
        call, leg = found
        leg.bridge = msg.text("BridgeUniqueid", "")
        if leg.agent and leg.bridged_since is None \
                and msg.text("BridgeTechnology", "") != "holding_bridge":
            leg.bridged_since = at
        self._refresh_leg(leg, msg, call)
        # A call that reaches another party without a queue (an outbound
        # call, a direct transfer) is connected once two of its legs share
        # a bridge. Queue calls are connected by AgentConnect.
        if call.state in (CallState.RINGING, CallState.IN_IVR, CallState.TRANSFERRED):
            peers = [lg for lg in call.legs.values() if lg.bridge == leg.bridge]
            if len(peers) >= 2 and msg.text("BridgeTechnology", "") != "holding_bridge":
                if call.answered_at is None:
                    call.answered_at = at
                self._set_state(call, CallState.CONNECTED, at)

    def _on_bridge_leave(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if found:
            found[1].bridge = None
            self._close_span(found[0], found[1], at)

    @staticmethod
    def _close_span(call: Call, leg: Leg, at: float) -> None:
        if leg.agent and leg.bridged_since is not None:
            call.agent_spans.append((leg.agent, leg.bridged_since, at))
            leg.bridged_since = None

    def _on_hold(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if not found:
            return
        call, leg = found
        leg.on_hold = True
        if call.state is CallState.CONNECTED:
            call.hold_count += 1
            self._set_state(call, CallState.ON_HOLD, at)

    def _on_unhold(self, msg: AmiMessage, at: float) -> None:
        found = self._call_for(msg, at)
        if not found:
            return
        call, leg = found
        leg.on_hold = False
        if call.state is CallState.ON_HOLD and not any(lg.on_hold for lg in call.legs.values()):
            self._set_state(call, CallState.CONNECTED, at)

    def _on_transfer(self, msg: AmiMessage, at: float) -> None:
        if msg.text("Result", "Success") != "Success":
            return
        for prefix in ("Transferee", "OrigTransferer", "Transferer", "SecondTransferer"):
            uid = msg.get(prefix + "Uniqueid")
            lid = msg.get(prefix + "Linkedid")
            if isinstance(uid, str) and isinstance(lid, str):
                call = self.calls.get(lid) or self.call_of_channel(uid)
                if call is not None:
                    self.changed.add(call.call_id)
                    call.transfer_count += 1
                    self._set_state(call, CallState.TRANSFERRED, at)
                    return

    def _on_hangup(self, msg: AmiMessage, at: float) -> None:
        uid = msg.get("Uniqueid")
        if not isinstance(uid, str):
            return
        self._gone[uid] = None
        if len(self._gone) > self.ended_memory:
            self._gone.popitem(last=False)
        cid = self._leg_call.pop(uid, None)
        if cid is None:
            return  # a duplicated Hangup, or a channel we never saw
        call = self.calls.get(cid)
        if call is None:
            return
        self.changed.add(cid)
        leg = call.legs.pop(uid, None)
        if leg is not None:
            self._close_span(call, leg, at)
            if leg.role == "caller":
                call.hangup_cause = msg.text("Cause-txt", "") or msg.text("Cause", "")
            self.bus.publish(ev.CALL_LEG_ENDED, LegEnded(call, leg, at))
        if not call.legs:
            self._end(call, at, cause=call.hangup_cause or msg.text("Cause-txt", ""))

    def _end(self, call: Call, at: float, cause: str | None = None) -> None:
        self.changed.add(call.call_id)
        for uid, leg in list(call.legs.items()):
            self._close_span(call, leg, at)
            self._leg_call.pop(uid, None)
        call.legs.clear()
        if call.hangup_cause is None:
            call.hangup_cause = cause
        if call.state in (CallState.QUEUED, CallState.AGENT_RINGING) and call.answered_at is None:
            call.abandoned = True
        call.ended_at = at
        self._set_state(call, CallState.ENDED, at)
        self.calls.pop(call.call_id, None)
        self._ended[call.call_id] = None
        if len(self._ended) > self.ended_memory:
            self._ended.popitem(last=False)
        self.ended_count += 1
        log.info("call_ended", call_id=call.call_id, caller=call.caller_number, queue=call.queue,
                 agent=call.agent, states=[s.value for s in call.states])
        self.bus.publish(ev.CALL_ENDED, call)

    def note_ivr(self, uniqueid: str, path: list[str], language: str | None) -> None:
        """The IVR's progress on this channel's call, step by step, so a caller
        who hangs up in the menus leaves their path in the record."""
        call = self.call_of_channel(uniqueid)
        if call is not None:
            self.changed.add(call.call_id)
            call.ivr_path = ">".join(path)
            if language:
                call.language = language

    # ------------------------------------------------------------------ restart
    def restore(self, calls: Iterable[Call]) -> int:
        """Take back the live calls a previous run saved (before the first
        resync, which ends those that are gone). Returns how many were taken."""
        taken = 0
        for call in calls:
            if call.call_id in self.calls or call.call_id in self._ended \
                    or call.state is CallState.ENDED:
                continue
            call.restored = True
            self.calls[call.call_id] = call
            self.changed.add(call.call_id)
            for uid in call.legs:
                self._leg_call[uid] = call.call_id
            taken += 1
            self.bus.publish(ev.CALL_NEW, call)
        return taken

    # ------------------------------------------------------------------ resync
    def end_gone(self, live: set[str], at: float, *, ledger: Mapping[str, Entry] | None = None,
                 started_before: float | None = None) -> tuple[int, int]:
        """End the tracked calls Asterisk no longer has (not in ``live``, the
        Linkedids of its channels): completed from their ledger entry when
        there is one. ``started_before``: only calls older than that (a call
        that began after the channels were listed is not gone). Returns
        (ended, completed from the ledger)."""
        ledger = ledger or {}
        ended = completed = 0
        for cid in [c for c in self.calls if c not in live]:
            gone = self.calls[cid]
            if started_before is not None and gone.started_at >= started_before:
                continue
            gone.end_observed = False
            last = ledger.get(cid)
            if last is not None:
                complete(gone, last, ended=True)
                gone.completed_from = "ledger"
                completed += 1
                self._end(gone, max(last.ended, gone.started_at),
                          cause="ended while the CTI was not watching")
            else:
                self._end(gone, at, cause="ended while the CTI was not watching")
            ended += 1
        return ended, completed

    def resync(self, channels: Iterable[AmiMessage], queue_entries: Iterable[AmiMessage] = (),
               at: float | None = None, *, ledger: Mapping[str, Entry] | None = None,
               facts: Mapping[str, Entry] | None = None) -> dict[str, int]:
        """Rebuild from a CoreShowChannels snapshot (Asterisk is the truth).

        ``ledger``: the ledger entries of calls that ended (by Linkedid); a
        tracked call that vanished is completed from its entry (who
        answered, when it ended) rather than guessed. ``facts``: the same
        facts read from the live channels (:func:`cti.calls.ledger.entry_of_channel`),
        for what happened to a live call while events were not seen."""
        now = self.clock() if at is None else at
        ledger = ledger or {}
        facts = facts or {}
        queued = {e.text("Uniqueid", ""): e for e in queue_entries if e.name == "QueueEntry"}
        seen: dict[str, list[AmiMessage]] = {}
        for ch in channels:
            if not ch.text("Linkedid", "").startswith(SERVICE_PREFIX):
                seen.setdefault(ch.text("Linkedid", ""), []).append(ch)
        ended, completed = self.end_gone(set(seen), now, ledger=ledger)
        created = 0
        for cid, chans in seen.items():
            if not cid:
                continue
            self.changed.add(cid)
            call = self.calls.get(cid)
            if call is None:
                started = now - max((_duration(c.text("Duration", "")) for c in chans), default=0)
                call = Call(call_id=cid, started_at=started, resynced=True)
                call.history.append((CallState.RINGING, started))
                self.calls[cid] = call
                created += 1
                self.bus.publish(ev.CALL_NEW, call)
            current = set()
            for ch in chans:
                uid = ch.text("Uniqueid", "")
                current.add(uid)
                leg = call.legs.get(uid)
                if leg is None:
                    leg = Leg(uid, ch.text("Channel", ""), now,
                              role="caller" if uid == cid else "other")
                    call.legs[uid] = leg
                    self._leg_call[uid] = cid
                leg.bridge = ch.text("BridgeId", "") or None
                leg.context = ch.text("Context", "")
                leg.exten = ch.text("Extension", "")
                self._refresh_leg(leg, ch, call)
            for uid in [u for u in call.legs if u not in current]:
                call.legs.pop(uid)
                self._leg_call.pop(uid, None)
            self._set_state(call, _state_from_snapshot(call, chans, queued), now)
            if call.state is CallState.QUEUED:
                for ch in chans:
                    entry = queued.get(ch.text("Uniqueid", ""))
                    if entry is not None:
                        call.queue = entry.text("Queue", "")
                        if call.queued_at is None:
                            call.queued_at = now - float(entry.text("Wait", "0") or 0)
            fact = facts.get(cid)
            if fact is not None and complete(call, fact, ended=False):
                call.completed_from = call.completed_from or "asterisk"
                completed += 1
        log.info("calls_resynced", live=len(self.calls), created=created, ended=ended,
                 completed=completed)
        return {"live": len(self.calls), "created": created, "ended": ended,
                "completed": completed}


def _state_from_snapshot(call: Call, chans: list[AmiMessage],
                         queued: dict[str, AmiMessage]) -> CallState:
    apps = {c.text("Application", "") for c in chans}
    bridges = [c.text("BridgeId", "") for c in chans if c.text("BridgeId", "")]
    if any(c.text("Uniqueid", "") in queued for c in chans):
        # in the queue; an agent leg already ringing means agent_ringing
        return CallState.AGENT_RINGING if len(chans) > 2 and not bridges else CallState.QUEUED
    if len(bridges) != len(set(bridges)):
        return CallState.ON_HOLD if call.state is CallState.ON_HOLD else CallState.CONNECTED
    if "AGI" in apps:
        return CallState.IN_IVR
    if call.state is not CallState.RINGING:
        return call.state
    return CallState.RINGING if all(c.text("ChannelStateDesc", "") != "Up" for c in chans) \
        else CallState.IN_IVR


def _duration(text: str) -> float:
    try:
        h, m, s = (int(x) for x in text.split(":"))
    except ValueError:
        return 0.0
    return h * 3600 + m * 60 + s
