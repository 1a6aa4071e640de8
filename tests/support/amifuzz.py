"""Hypothesis strategies for AMI traffic: frames of known events and headers
about a handful of channels, mutated the ways a broken or hostile peer would
(tests/unit/test_ami_fuzz.py, bench/ami_fuzz.py)."""

from __future__ import annotations

import random

from hypothesis import strategies as st

EVENTS = ["Newchannel", "Newstate", "NewCallerid", "Hangup", "QueueCallerJoin",
          "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentConnect",
          "AgentComplete", "AgentRingNoAnswer", "AgentDump", "DialEnd", "BridgeEnter",
          "BridgeLeave", "UserEvent", "QueueMemberStatus", "QueueMemberAdded",
          "QueueMemberRemoved", "QueueMemberPause", "QueueMemberPenalty", "Rename",
          "AttendedTransfer", "BlindTransfer", "FullyBooted", "Shutdown", "NoSuchEvent"]
USER_EVENTS = ["HotlineStage", "HotlineAgentLeg", "HotlineHold", "HotlineCallback", "Other"]
KEYS = ["Channel", "Uniqueid", "Linkedid", "CallerIDNum", "CallerIDName", "Queue", "Position",
        "MemberName", "Interface", "Location", "DestChannel", "DestUniqueid", "DestLinkedid",
        "Stage", "Callback", "Outcome", "Timestamp", "Exten", "Context", "ChannelState",
        "ChannelStateDesc", "Paused", "Status", "Agent", "QueuedAt", "FirstCall", "Queues",
        "QueuePriority", "IvrPath", "Recording", "State", "DialStatus", "Cause", "Wait",
        "HoldTime", "TalkTime", "PausedReason", "Penalty", "InCall", "StateInterface"]
IDS = ["1764000000.1", "1764000000.2", "1764000000.3", "1764000000.4", "x", ""]
VALUES = st.one_of(
    st.sampled_from(IDS),
    st.sampled_from(["PJSIP/9001-00000001", "Local/8001@sim-agent-phone-0001;1",
                     "Local/1@hotline-callback-00ab;2", "tv-zh", "general-service", "8001",
                     "callback", "ended", "ANSWER", "BUSY", "routed", "ivr", "on", "off",
                     "1764000000.5", "-1", "99999999999999999999", "nan", "inf"]),
    st.text(max_size=40),
    st.integers(-10**12, 10**12).map(str))


MUTATIONS = ("dup-event", "no-colon", "bad-utf8", "huge", "crlf-value", "other-ids",
             "shuffled", "dropped", "extra-headers", "bad-timestamp", "empty-key")


def mutate(frame: bytes, rng: random.Random, ids: list[bytes], kind: str) -> bytes:
    """``frame`` (its lines joined by CRLF, no blank line) mutated one way."""
    lines = frame.split(b"\r\n")
    if kind == "dup-event":
        lines.insert(1, b"Event: " + rng.choice([b"Hangup", b"Newchannel", b"UserEvent"]))
    elif kind == "no-colon":
        lines.append(b"a header without a colon")
    elif kind == "bad-utf8":
        lines.append(b"CallerIDName: \xff\xfe\xc3\x28\xed\xa0\x80")
    elif kind == "huge":
        lines.append(b"CallerIDName: " + b"A" * (1 << 20))  # a 1 MB line
    elif kind == "crlf-value":
        lines.append(b"Channel: a\rb")
    elif kind == "other-ids":
        lines = [line.replace(rng.choice(ids), rng.choice(ids)) for line in lines]
    elif kind == "shuffled":
        rng.shuffle(lines)
    elif kind == "dropped":
        lines = [line for line in lines if rng.random() > 0.3]
    elif kind == "extra-headers":  # a UserEvent carrying more than it should
        lines += [b"UserEvent: HotlineCallback", b"Callback: 1", b"Stage: ended",
                  b"Outcome: " + rng.choice([b"ANSWER", b"", b"\xff"]), b"Extra: 1"]
    elif kind == "bad-timestamp":
        lines.append(b"Timestamp: " + rng.choice([b"nan", b"inf", b"-1", b"1e400", b"x"]))
    elif kind == "empty-key":
        lines.append(b": value without a key")
    return b"\r\n".join(lines)


@st.composite
def frame(draw: st.DrawFn) -> bytes:
    event = draw(st.sampled_from(EVENTS))
    headers = [("Event", event)]
    if event == "UserEvent":
        headers.append(("UserEvent", draw(st.sampled_from(USER_EVENTS))))
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=12)):
        headers.append((key, draw(VALUES)))
    body = b"\r\n".join(f"{k}: {v}".encode("utf-8", "surrogatepass") for k, v in headers)
    kind = draw(st.sampled_from([None, None, None, *MUTATIONS]))
    if kind is not None:
        body = mutate(body, draw(st.randoms(use_true_random=False)),
                      [i.encode() for i in IDS if i], kind)
    return body + b"\r\n\r\n"


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    banner = b"Asterisk Call Manager/9.0.0\r\n" if draw(st.booleans()) else b""
    body = b"".join(draw(st.lists(frame(), min_size=1, max_size=25)))
    if draw(st.booleans()):  # a frame that never ends
        body += b"Event: Newchannel\r\nChannel: " + b"B" * draw(st.integers(0, 3 << 20))
    return banner + body


def split_points() -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 1 << 22), max_size=8)
