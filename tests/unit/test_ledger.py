"""Asterisk's ledger entries (extensions.conf, hotline-ledger) made into call
records for calls no server saw; the integration test makes real ones."""

from __future__ import annotations

import pytest

from crm_bridge import ledger as ledger_sweep
from crm_bridge.writer import record_of
from cti.ami.parser import AmiMessage, AmiParser
from cti.bus import EventBus
from cti.calls.ledger import LedgerError, call_of, entry_of_channel, key_parts, parse
from cti.calls.model import Call, CallState
from cti.calls.tracker import CallTracker
from tests.conftest import fixture_bytes


def entry(**over: str) -> str:
    f = {"version": "v1", "started": "1000.250", "ended": "1060.750", "queued": "1008.000",
         "joined": "1020.000", "hold": "7", "member": "8001", "agi_status": "SUCCESS",
         "dialled": "4008008000", "queues": "+tv-zh+general-service", "language": "zh",
         "number": "13800138000", "name": "%E5%BC%A0%E4%B8%89",
         "path": "language%3A1%3Emain%3A1%3Eproducts%3A4"}
    f.update(over)
    return "|".join(f.values())


def test_an_answered_call_after_an_overflow() -> None:
    rec = record_of(call_of(parse("1000.1", entry())))
    assert (rec["linkedid"], rec["caller_number"], rec["caller_name"], rec["dialled"]) == (
        "1000.1", "13800138000", "张三", "4008008000")
    assert (rec["outcome"], rec["queue"], rec["agent"]) == ("answered", "tv-zh", "8001")
    assert rec["extra"]["queues"] == ["tv-zh", "general-service"]
    # answered 7 s after joining the overflow queue; the wait runs from the first queue
    assert (rec["started_at"], rec["answered_at"], rec["ended_at"]) == (1000.25, 1027.0, 1060.75)
    assert rec["wait_seconds"] == 19.0
    assert rec["ivr_path"] == "language:1>main:1>products:4" and rec["language"] == "zh"
    assert rec["extra"]["backfilled"] is True and rec["extra"]["ivr_fallback"] is False
    assert rec["extra"]["agents"] == [{"agent": "8001", "seconds": 33.75}]


def test_abandoned_ivr_only_and_fallback_calls() -> None:
    gave_up = record_of(call_of(parse("1", entry(member="", hold="", joined="1008.000",
                                                   queues="+ac-zh"))))
    assert (gave_up["outcome"], gave_up["answered_at"], gave_up["agent"]) == (
        "abandoned", None, None)
    assert gave_up["wait_seconds"] == pytest.approx(1060.75 - 1008.0)
    in_menus = record_of(call_of(parse("2", entry(member="", hold="", joined="", queued="",
                                                    queues="", agi_status="HANGUP",
                                                    path=""))))
    assert (in_menus["outcome"], in_menus["queue"], in_menus["wait_seconds"]) == (
        "ivr_only", None, None)
    fallback = record_of(call_of(parse("3", entry(agi_status="TIMEOUT"))))
    assert fallback["extra"]["ivr_fallback"] is True


@pytest.mark.parametrize("value", ["v2|1|2", entry(started="soon"), "", entry() + "|extra"])
def test_an_unreadable_entry_is_refused_naming_the_call(value: str) -> None:
    with pytest.raises(LedgerError, match=r"ledger entry 99\.1"):
        parse("99.1", value)


# ---------------------------------------------------------------- resync completion
# A call the tracker follows, then an AMI session dropped by Asterisk: the
# events of the gap are lost. At the resync the tracker completes the call from
# Asterisk's own facts instead of guessing.

def queued_then_gap() -> tuple[CallTracker, list[Call], str]:
    """The recorded answered call, replayed up to the moment it queued."""
    bus = EventBus()
    ended: list[Call] = []
    bus.subscribe("call.ended", lambda _t, call: ended.append(call))
    tracker = CallTracker(bus, clock=lambda: 1795507990.0)
    msgs = [m for m in AmiParser().feed(fixture_bytes("queue_call_answered")) if m.is_event]
    for m in msgs:
        if m.name == "AgentCalled":
            break
        tracker.handle(m)
    [cid] = tracker.calls
    assert tracker.calls[cid].state is CallState.QUEUED
    return tracker, ended, cid


def test_a_call_answered_and_ended_unseen_is_recorded_from_the_ledger() -> None:
    tracker, ended, cid = queued_then_gap()
    last = parse(cid, entry(started="1795507960.073", ended="1795507975.500",
                            queued="1795507960.075", joined="1795507960.075", hold="3",
                            member="agent-8001", queues="+general-service"))
    result = tracker.resync([], [], ledger={cid: last})
    assert result["ended"] == 1 and result["completed"] == 1
    [call] = ended
    rec = record_of(call)
    # answered by the member the ledger names, ended when Asterisk says: not abandoned
    assert (rec["outcome"], rec["agent"]) == ("answered", "agent-8001")
    assert rec["answered_at"] == pytest.approx(1795507963.075)
    assert rec["ended_at"] == 1795507975.5
    assert rec["extra"]["completed_from"] == "ledger"
    assert rec["extra"]["end_observed"] is False
    assert rec["extra"]["agents"] == [{"agent": "agent-8001", "seconds": 12.425}]
    states = rec["extra"]["states"]
    assert states.index("queued") < states.index("connected") < states.index("ended")


def test_a_queued_call_that_hung_up_unseen_is_abandoned_with_its_real_end() -> None:
    tracker, ended, cid = queued_then_gap()
    last = parse(cid, entry(started="1795507960.073", ended="1795507966.000",
                            queued="1795507960.075", joined="1795507960.075", hold="",
                            member="", queues="+general-service"))
    tracker.resync([], [], ledger={cid: last})
    rec = record_of(ended[0])
    assert (rec["outcome"], rec["agent"], rec["ended_at"]) == ("abandoned", None, 1795507966.0)
    assert rec["wait_seconds"] == pytest.approx(1795507966.0 - 1795507960.075463, abs=1e-3)


def test_without_a_ledger_entry_the_end_is_marked_as_not_observed() -> None:
    tracker, ended, _ = queued_then_gap()
    tracker.resync([], [], ledger={})
    rec = record_of(ended[0])
    assert rec["extra"]["end_observed"] is False and "completed_from" not in rec["extra"]
    assert rec["ended_at"] == 1795507990.0  # when the resync found it gone


def test_a_live_call_answered_during_the_gap_gets_its_agent_and_answer_time() -> None:
    tracker, ended, cid = queued_then_gap()
    call = tracker.calls[cid]
    queue_leg = next(uid for uid, leg in call.legs.items() if leg.role != "caller")

    def chan(uid: str, app: str) -> AmiMessage:
        return AmiMessage({"Event": "CoreShowChannel", "Channel": f"Local/x-{uid}",
                           "Uniqueid": uid, "Linkedid": cid, "ChannelStateDesc": "Up",
                           "Application": app, "BridgeId": "b-1" if app != "Wait" else "",
                           "Duration": "00:00:30", "Context": "hotline", "Extension": "s"})

    agent_leg = "1795507960.26"
    snapshot = [chan(uid, "Wait" if uid != queue_leg else "Queue") for uid in call.legs]
    snapshot.append(chan(agent_leg, "AppQueue"))
    status = AmiMessage({"Event": "Status", "Linkedid": cid, "Uniqueid": queue_leg,
                         "CallerIDNum": "13800138000", "CallerIDName": "<unknown>",
                         "Variable": ["HOTLINE_T0=1795507960.073",
                                      "HOTLINE_QUEUED_AT=1795507960.075",
                                      "HOTLINE_JOINED_AT=1795507960.075", "QEHOLDTIME=4",
                                      "MEMBERNAME=agent-8001", "AGISTATUS=SUCCESS",
                                      "HOTLINE_DNID=4008008000",
                                      "HOTLINE_QUEUES=+general-service",
                                      "HOTLINE_LANGUAGE=(null)",
                                      "HOTLINE_IVR_PATH=(null)"]})
    fact = entry_of_channel(status, 1795507990.0)
    assert fact is not None and fact.member == "agent-8001" and fact.language == ""
    result = tracker.resync(snapshot, [], facts={cid: fact})
    assert result["completed"] == 1 and not ended
    live = tracker.calls[cid]
    assert live.state is CallState.CONNECTED
    assert (live.agent, live.answered_at) == ("agent-8001", pytest.approx(1795507964.075))
    assert live.completed_from == "asterisk"


def test_a_channel_that_is_not_a_hotline_caller_gives_no_facts() -> None:
    agent_side = AmiMessage({"Event": "Status", "Linkedid": "1.1",
                             "Variable": ["HOTLINE_T0=(null)", "MEMBERNAME=(null)"]})
    assert entry_of_channel(agent_side, 5.0) is None


class Deletions:
    """Records the deletions a sweep asks of Asterisk."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def db_del(self, family: str, key: str) -> None:
        self.asked.append(("DBDel", key))

    async def db_del_tree(self, family: str, key: str) -> None:
        self.asked.append(("DBDelTree", key))


async def test_a_minute_of_finished_entries_goes_in_one_deletion() -> None:
    keys = ["202611301830/1.1", "202611301830/1.2", "202611301830/1.3",  # all finished
            "202611301831/2.1", "202611301831/2.2",  # 2.2's call is still up
            "3.1", "3.2"]  # an older dialplan's entries: one by one
    finished = {"202611301830/1.1", "202611301830/1.2", "202611301830/1.3",
                "202611301831/2.1", "3.1"}
    asked = Deletions()
    deleted = await ledger_sweep._delete(asked, keys, finished)  # type: ignore[arg-type]
    assert asked.asked == [("DBDelTree", "202611301830"), ("DBDel", "3.1")]
    assert deleted == 4
    assert key_parts("202611301830/1.1") == ("202611301830", "1.1")
    assert key_parts("3.1") == (None, "3.1")
