"""Recorded sandbox traffic replayed through parser -> tracker -> bus."""

from __future__ import annotations

from typing import Any

import pytest

from cti.ami.parser import AmiMessage, AmiParser
from cti.bus import EventBus
from cti.calls.events import CallStateChange
from cti.calls.model import Call, CallState
from cti.calls.tracker import CallTracker
from tests.conftest import fixture_bytes

S = CallState


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[tuple[str, Any]] = []
        bus.subscribe("call.*", lambda topic, payload: self.events.append((topic, payload)))

    def ended(self) -> list[Call]:
        return [p for t, p in self.events if t == "call.ended"]

    def changes(self, call_id: str) -> list[tuple[CallState, CallState]]:
        return [(p.old, p.new) for t, p in self.events
                if t == "call.state" and isinstance(p, CallStateChange)
                and p.call.call_id == call_id]


def messages(name: str) -> list[AmiMessage]:
    return [m for m in AmiParser().feed(fixture_bytes(name)) if m.is_event]


def replay(name: str, chunk: int = 1460) -> tuple[CallTracker, Recorder]:
    bus = EventBus()
    rec = Recorder(bus)
    tracker = CallTracker(bus, clock=lambda: 0.0)
    data = fixture_bytes(name)
    parser = AmiParser()
    for i in range(0, len(data), chunk):
        for m in parser.feed(data[i:i + chunk]):
            if m.is_event:
                tracker.handle(m)
    return tracker, rec


def test_answered_queue_call_goes_through_every_state_in_order() -> None:
    tracker, rec = replay("queue_call_answered")
    [call] = rec.ended()
    assert call.states == [S.RINGING, S.IN_IVR, S.QUEUED, S.AGENT_RINGING, S.CONNECTED, S.ENDED]
    assert call.caller_name == "张三"
    assert call.caller_number == "13800138000"
    assert call.dialled == "4008008000"
    assert call.queue == "general-service"
    assert call.agent == "agent-8001"
    assert not call.abandoned and not call.ivr_fallback
    assert call.started_at <= call.queued_at <= call.answered_at <= call.ended_at  # type: ignore[operator]
    assert call.wait_seconds is not None and 0 <= call.wait_seconds < 5
    assert call.hangup_cause == "Normal Clearing"
    assert tracker.calls == {} and tracker.unexpected_transitions == 0
    # every state change was published, and the timestamps are Asterisk's
    assert [new for _, new in rec.changes(call.call_id)] == call.states[1:]
    assert call.started_at > 1_700_000_000


def test_caller_who_hangs_up_in_the_queue_is_abandoned() -> None:
    _, rec = replay("queue_call_abandoned")
    [call] = rec.ended()
    assert call.states == [S.RINGING, S.IN_IVR, S.QUEUED, S.ENDED]
    assert call.abandoned and call.answered_at is None
    assert call.caller_name == "王晶" and call.caller_number == "057188881234"
    assert call.wait_seconds is not None and 2 <= call.wait_seconds < 6


def test_call_that_fell_back_from_the_ivr_is_marked() -> None:
    _, rec = replay("ivr_fallback_answered")
    [call] = rec.ended()
    assert call.ivr_fallback
    assert call.states[-2:] == [S.CONNECTED, S.ENDED]


def test_burst_every_call_ends_once_with_outcomes_matching_asterisk() -> None:
    msgs = messages("burst_60_calls")
    originated = {m.text("Uniqueid") for m in msgs if m.name == "OriginateResponse"}
    answered = {m.text("Linkedid") for m in msgs if m.name == "AgentConnect"}
    abandoned = {m.text("Linkedid") for m in msgs if m.name == "QueueCallerAbandon"}
    tracker, rec = replay("burst_60_calls", chunk=4096)
    ended = rec.ended()
    assert len(ended) == len({c.call_id for c in ended}) == len(originated) == 60
    assert {c.call_id for c in ended} == originated
    assert {c.call_id for c in ended if c.answered_at} == answered
    assert {c.call_id for c in ended if c.abandoned} == abandoned
    assert tracker.calls == {} and tracker.unexpected_transitions == 0
    assert all(c.caller_name for c in ended)


def test_duplicated_hangups_do_not_end_a_call_twice() -> None:
    msgs = messages("queue_call_answered")
    bus = EventBus()
    rec = Recorder(bus)
    tracker = CallTracker(bus)
    for m in msgs:
        tracker.handle(m)
        if m.name == "Hangup":
            tracker.handle(m)
    assert len(rec.ended()) == 1


def test_snapshot_after_reconnect_ends_vanished_calls_and_adopts_new_ones() -> None:
    msgs = messages("burst_60_calls")
    bus = EventBus()
    rec = Recorder(bus)
    tracker = CallTracker(bus, clock=lambda: 2_000_000_000.0)
    # the connection drops a third of the way through the burst
    for m in msgs[: len(msgs) // 3]:
        tracker.handle(m)
    live_before = set(tracker.calls)
    assert len(live_before) >= 2
    keep = next(cid for cid, c in sorted(tracker.calls.items()) if c.state is S.QUEUED)
    keep_call = tracker.calls[keep]
    queue_leg = next(uid for uid, leg in keep_call.legs.items() if leg.role != "caller")

    def chan(uid: str, linkedid: str, app: str, duration: str, name: str, num: str) -> AmiMessage:
        return AmiMessage({"Event": "CoreShowChannel", "Channel": f"Local/x-{uid}",
                           "Uniqueid": uid, "Linkedid": linkedid, "ChannelStateDesc": "Up",
                           "Application": app, "BridgeId": "", "Duration": duration,
                           "Context": "hotline", "Extension": "s", "CallerIDNum": num,
                           "CallerIDName": name})

    snapshot = [chan(uid, keep, "Queue" if uid == queue_leg else "Wait", "00:00:07", "张三",
                     keep_call.caller_number) for uid in keep_call.legs]
    snapshot.append(chan("999.1", "999.1", "AGI", "00:01:05", "王晶", "057188881234"))
    queue = [AmiMessage({"Event": "QueueEntry", "Queue": "general-service",
                         "Uniqueid": queue_leg, "Wait": "7"})]
    ended_before = len(rec.ended())
    result = tracker.resync(snapshot, queue)
    assert result == {"live": 2, "created": 1, "ended": len(live_before) - 1, "completed": 0}
    gone = rec.ended()[ended_before:]
    assert {c.call_id for c in gone} == live_before - {keep}
    assert all(c.hangup_cause == "ended while the CTI was not watching" for c in gone)
    adopted = tracker.calls["999.1"]
    assert adopted.resynced and adopted.state is S.IN_IVR
    assert adopted.caller_name == "王晶"
    assert adopted.started_at == pytest.approx(2_000_000_000.0 - 65)
    assert tracker.calls[keep].state is S.QUEUED


def test_call_logs_carry_the_call_id() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        _, rec = replay("queue_call_answered")
    [call] = rec.ended()
    ended = [e for e in logs if e["event"] == "call_ended"]
    assert ended == [{"event": "call_ended", "log_level": "info", "call_id": call.call_id,
                      "caller": "13800138000", "queue": "general-service", "agent": "agent-8001",
                      "states": ["ringing", "in_ivr", "queued", "agent_ringing", "connected",
                                 "ended"]}]
    assert all(e.get("call_id") == call.call_id for e in logs if e["event"].startswith("call_"))


def test_hold_unhold_and_transfer_states() -> None:
    msgs = messages("queue_call_answered")
    bus = EventBus()
    rec = Recorder(bus)
    tracker = CallTracker(bus)
    upto = next(i for i, m in enumerate(msgs) if m.name == "AgentConnect")
    for m in msgs[: upto + 1]:
        tracker.handle(m)
    [call] = tracker.calls.values()
    agent_leg = next(uid for uid, leg in call.legs.items() if leg.role == "agent")

    def ev(name: str, **headers: str) -> AmiMessage:
        return AmiMessage({"Event": name, "Uniqueid": agent_leg, "Linkedid": call.call_id,
                           **headers})

    tracker.handle(ev("Hold", MusicClass="default", Timestamp="2000000000.0"))
    assert call.state is S.ON_HOLD and call.hold_count == 1
    tracker.handle(ev("Unhold", Timestamp="2000000042.5"))
    assert call.state is S.CONNECTED and call.hold_seconds == 42.5
    tracker.handle(AmiMessage({"Event": "BlindTransfer", "Result": "Success",
                               "TransfererUniqueid": agent_leg, "TransfererLinkedid": call.call_id,
                               "Extension": "8002", "Context": "agent-phones"}))
    assert call.state is S.TRANSFERRED and call.transfer_count == 1
    assert [new for _, new in rec.changes(call.call_id)][-3:] == [S.ON_HOLD, S.CONNECTED,
                                                                  S.TRANSFERRED]
    assert tracker.unexpected_transitions == 0


def test_calls_asterisk_no_longer_has_are_ended_between_resyncs() -> None:
    """A call whose hangup was lost is ended by the sweep (memory stays
    bounded); one that began after Asterisk's channels were listed is not."""
    bus = EventBus()
    rec = Recorder(bus)
    tracker = CallTracker(bus, clock=lambda: 0.0)
    for m in messages("queue_call_answered"):
        if m.name != "Hangup":  # the hangups lost
            tracker.handle(m)
    (cid,) = list(tracker.calls)
    started = tracker.calls[cid].started_at
    assert tracker.end_gone(set(), 200.0, started_before=started) == (0, 0)  # too young
    assert cid in tracker.calls
    assert tracker.end_gone({cid}, 200.0) == (0, 0)  # still live in Asterisk
    assert tracker.end_gone(set(), 200.0) == (1, 0)
    assert cid not in tracker.calls and rec.ended()[0].call_id == cid
    assert rec.ended()[0].end_observed is False
