"""Asterisk's ledger entries (extensions.conf, hotline-ledger) made into call
records for calls no server saw; the integration test makes real ones."""

from __future__ import annotations

import pytest

from crm_bridge.ledger import LedgerError, call_of, parse
from crm_bridge.writer import record_of


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
