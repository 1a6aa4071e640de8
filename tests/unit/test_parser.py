"""The AMI parser, fed recorded sandbox traffic and hand-made frames."""

from __future__ import annotations

import pytest
from panoramisk.message import Message

from bench.panoramisk_baseline import bare_protocol
from cti.ami.parser import AmiParser, encode_action, feed, parse_frame
from tests.conftest import fixture_bytes

NAME_FRAME = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/trunk-00000001\r\n"
    "CallerIDNum: 13800138000\r\nCallerIDName: 张三\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n"
).encode()


def test_banner_is_taken_off_and_login_answer_parsed() -> None:
    p = AmiParser()
    msgs = p.feed(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n"
                  b"Message: Authentication accepted\r\n\r\n")
    assert p.banner == "Asterisk Call Manager/11.0.0"
    assert msgs == [{"Response": "Success", "Message": "Authentication accepted"}]
    assert msgs[0].is_response and not msgs[0].is_event


def test_banner_split_across_reads() -> None:
    p = AmiParser()
    assert p.feed(b"Aster") == []
    assert p.feed(b"isk Call Manager/11.0.0\r") == []
    msgs = p.feed(b"\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert p.banner == "Asterisk Call Manager/11.0.0"
    assert [m.name for m in msgs] == ["FullyBooted"]


@pytest.mark.parametrize("cut", range(1, len(NAME_FRAME)))
def test_chinese_name_split_at_every_byte_position(cut: int) -> None:
    p = AmiParser()
    p.banner = ""
    msgs = p.feed(NAME_FRAME[:cut]) + p.feed(NAME_FRAME[cut:])
    assert len(msgs) == 1
    assert msgs[0]["CallerIDName"] == "张三"
    assert msgs[0]["Linkedid"] == "1.1"
    assert p.pending == 0


def test_panoramisk_alone_drops_a_split_chinese_character() -> None:
    """Why the framing is ours: panoramisk decodes each TCP read on its own."""
    got: list[Message] = []
    proto = bare_protocol(got.append)
    cut = NAME_FRAME.index("张".encode()) + 1
    proto.data_received(NAME_FRAME[:cut])
    proto.data_received(NAME_FRAME[cut:])
    assert got[0]["CallerIDName"] != "张三"


@pytest.mark.parametrize("fixture", ["queue_call_answered", "queue_call_abandoned",
                                     "burst_60_calls"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100, 1460, 65536])
def test_recorded_traffic_parses_the_same_whatever_the_read_size(fixture: str, chunk: int) -> None:
    data = fixture_bytes(fixture)
    if chunk < 7 and len(data) > 100_000:
        data = data[:100_000]
    whole = AmiParser().feed(data)
    p = AmiParser()
    pieces = []
    for i in range(0, len(data), chunk):
        pieces.extend(p.feed(data[i:i + chunk]))
    assert pieces == whole
    assert len(whole) > 10


def test_every_recorded_chinese_name_arrives_intact() -> None:
    data = fixture_bytes("burst_60_calls")
    p = AmiParser()
    names = set()
    for i in range(0, len(data), 997):  # a read size that cuts characters
        for m in p.feed(data[i:i + 997]):
            if "CallerIDName" in m:
                names.add(m.text("CallerIDName"))
    assert {"张三", "李四", "王五", "赵六", "陈晨", "刘洋", "黄磊", "周杰", "吴敏", "孙丽"} <= names
    assert not any("\ufffd" in n for n in names)


def test_repeated_headers_become_lists_in_order() -> None:
    m = parse_frame(b"Event: VarSet\r\nVariable: A=1\r\nVariable: B=2\r\nVariable: C=3")
    assert m["Variable"] == ["A=1", "B=2", "C=3"]
    assert m.variables("Variable") == {"A": "1", "B": "2", "C": "3"}
    assert m.values_of("Missing") == []


def test_repeated_event_header_does_not_break_the_message() -> None:
    m = parse_frame(b"Event: UserEvent\r\nUserEvent: x\r\nEvent: Hangup\r\nUniqueid: 1.2")
    assert m.name == "UserEvent"
    assert m["Event"] == ["UserEvent", "Hangup"]
    assert m.text("Uniqueid") == "1.2"


def test_missing_header_raises_instead_of_answering_empty() -> None:
    m = parse_frame(b"Event: Hangup\r\nUniqueid: 1.2")
    with pytest.raises(KeyError):
        m.text("Linkedid")
    assert m.text("Linkedid", "") == ""


def test_lines_without_space_after_colon_and_body_lines() -> None:
    m = parse_frame(b"Response: Follows\r\nPrivilege: Command\r\nKey:value\r\nfree text line")
    assert m["Key"] == "value"
    assert m.body == ["free text line"]


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    m = parse_frame(b"Event: Newchannel\r\nCallerIDName: \xff\xfeabc")
    assert m["CallerIDName"] == "\ufffd\ufffdabc"


def test_pure_feed_returns_messages_and_rest() -> None:
    msgs, rest = feed(NAME_FRAME + NAME_FRAME[:20])
    assert len(msgs) == 1 and rest == NAME_FRAME[:20]


def test_parse_matches_panoramisk_on_recorded_traffic() -> None:
    data = fixture_bytes("queue_call_answered")
    ours = [m for m in AmiParser().feed(data) if m.is_event]
    theirs = [Message.from_line(f.decode()) for f in data.split(b"\r\n\r\n")[:-1]]
    theirs = [t for t in theirs if t is not None and "Event" in t]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert dict(a) == {k: v for k, v in b.items() if k != "content"}


def test_encode_action_repeats_list_headers_and_refuses_line_breaks() -> None:
    raw = encode_action("Originate", "id-1", {"Channel": "Local/1@x", "Variable": ["A=1", "B=2"]})
    assert raw == (b"Action: Originate\r\nActionID: id-1\r\nChannel: Local/1@x\r\n"
                   b"Variable: A=1\r\nVariable: B=2\r\n\r\n")
    with pytest.raises(ValueError, match="line break"):
        encode_action("Setvar", "id-2", {"Value": "x\r\nAction: Hangup"})
