"""How answers are matched to actions: bytes Asterisk 22 sends, fed to the reader.

No server: the connection writes into a list and the test plays Asterisk's
side of the wire with frames copied from the sandbox.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from cti.ami import (
    AmiActionFailed,
    AmiActions,
    AmiConnection,
    AmiConnectionError,
    AmiMessage,
    AmiTimeout,
    ConnState,
    ReplyKind,
)
from cti.ami.connection import _Protocol


class Wire(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False
        self.paused = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def connected() -> tuple[AmiConnection, _Protocol, Wire]:
    conn = AmiConnection("127.0.0.1", 5038, "hotline-cti", "s3cret", action_timeout=2)
    proto = _Protocol(conn)
    wire = Wire()
    proto.connection_made(wire)
    proto.parser.banner = "Asterisk Call Manager/11.0.0"
    proto.held = None  # logged in: events flow straight to the consumer
    conn._protocol = proto
    conn.state = ConnState.CONNECTED
    return conn, proto, wire


async def last_action_id(wire: Wire) -> str:
    for _ in range(100):
        if wire.written:
            m = re.search(rb"ActionID: (\S+)", wire.written[-1])
            assert m
            return m.group(1).decode()
        await asyncio.sleep(0)
    raise AssertionError("nothing written")


def frame(aid: str, *lines: str) -> bytes:
    return ("\r\n".join([*lines[:1], f"ActionID: {aid}", *lines[1:]]) + "\r\n\r\n").encode()


async def test_queue_add_success_resolves_as_a_single_answer() -> None:
    conn, proto, wire = connected()
    task = asyncio.create_task(AmiActions(conn).queue_add("general-service", "Local/8001@x/n"))
    aid = await last_action_id(wire)
    assert b"Action: QueueAdd\r\n" in wire.written[-1]
    proto.data_received(frame(aid, "Response: Success", "Message: Added interface to queue"))
    await asyncio.wait_for(task, 1)
    assert conn._pending == {}


async def test_queue_add_error_raises_with_asterisk_message() -> None:
    conn, proto, wire = connected()
    task = asyncio.create_task(AmiActions(conn).queue_add("general-service", "Local/8001@x/n"))
    aid = await last_action_id(wire)
    proto.data_received(frame(aid, "Response: Error",
                              "Message: Unable to add interface: Already there"))
    with pytest.raises(AmiActionFailed, match="Already there"):
        await asyncio.wait_for(task, 1)


async def test_async_originate_resolves_on_originate_response_which_is_also_an_event() -> None:
    conn, proto, wire = connected()
    task = asyncio.create_task(AmiActions(conn).originate(
        "Local/4008008000@hotline", context="sim-caller", exten="s", caller_id='"张三" <138>'))
    aid = await last_action_id(wire)
    assert b"Async: true\r\n" in wire.written[-1]
    proto.data_received(frame(aid, "Response: Success", "Message: Originate successfully queued"))
    await asyncio.sleep(0)
    assert not task.done()
    proto.data_received(frame(aid, "Event: OriginateResponse", "Privilege: call,all",
                              "Response: Success", "Channel: Local/4008008000@hotline-00000002;1",
                              "Reason: 4", "Uniqueid: 1795507702.4", "CallerIDName: 张三"))
    result = await asyncio.wait_for(task, 1)
    assert result.uniqueid == "1795507702.4"
    batch = await conn.next_batch()
    assert [m.name for m in batch if isinstance(m, AmiMessage)] == ["OriginateResponse"]


async def test_unanswered_originate_fails_with_the_reason() -> None:
    conn, proto, wire = connected()
    task = asyncio.create_task(AmiActions(conn).originate("Local/1@sim-customer",
                                                          application="Wait", data="1"))
    aid = await last_action_id(wire)
    proto.data_received(frame(aid, "Response: Success", "Message: Originate successfully queued"))
    proto.data_received(frame(aid, "Event: OriginateResponse", "Response: Failure",
                              "Channel: Local/1@sim-customer", "Reason: 5", "Uniqueid: <null>"))
    with pytest.raises(AmiActionFailed, match="busy"):
        await asyncio.wait_for(task, 1)


async def test_list_action_collects_events_until_complete() -> None:
    conn, proto, wire = connected()
    task = asyncio.create_task(AmiActions(conn).core_show_channels())
    aid = await last_action_id(wire)
    proto.data_received(frame(aid, "Response: Success", "EventList: start",
                              "Message: Channels will follow"))
    proto.data_received(frame(aid, "Event: CoreShowChannel", "Channel: Local/1@x-1;1",
                              "Uniqueid: 1.1", "Linkedid: 1.1"))
    # an unrelated event interleaved goes to the event stream
    proto.data_received(b"Event: Newchannel\r\nUniqueid: 2.1\r\nLinkedid: 2.1\r\n\r\n")
    proto.data_received(frame(aid, "Event: CoreShowChannel", "Channel: Local/1@x-1;2",
                              "Uniqueid: 1.2", "Linkedid: 1.1"))
    proto.data_received(frame(aid, "Event: CoreShowChannelsComplete", "EventList: Complete",
                              "ListItems: 2"))
    chans = await asyncio.wait_for(task, 1)
    assert [c["Uniqueid"] for c in chans] == ["1.1", "1.2"]
    assert [m.name for m in await conn.next_batch() if isinstance(m, AmiMessage)] == ["Newchannel"]


async def test_list_action_error_resolves() -> None:
    conn, proto, wire = connected()
    task = asyncio.create_task(conn.send("QueueStatus", {"Queue": "nope"}, kind=ReplyKind.LIST))
    aid = await last_action_id(wire)
    proto.data_received(frame(aid, "Response: Error", "Message: No such queue"))
    with pytest.raises(AmiActionFailed, match="No such queue"):
        await asyncio.wait_for(task, 1)


async def test_action_without_answer_times_out_and_is_forgotten() -> None:
    conn, proto, wire = connected()
    with pytest.raises(AmiTimeout, match=r"Ping got no answer within 0\.05 s"):
        await conn.send("Ping", timeout=0.05)
    assert conn._pending == {}
    aid = re.search(rb"ActionID: (\S+)", wire.written[-1]).group(1).decode()  # type: ignore[union-attr]
    proto.data_received(frame(aid, "Response: Success", "Ping: Pong"))  # late: dropped quietly
    assert conn._buffer == []


async def test_waiting_actions_fail_when_the_connection_drops_and_are_never_resent() -> None:
    conn, _, wire = connected()
    task = asyncio.create_task(AmiActions(conn).originate("Local/1@x", application="Wait"))
    await last_action_id(wire)
    sent = len(wire.written)
    conn._fail_pending("connection lost")
    with pytest.raises(AmiConnectionError):
        await asyncio.wait_for(task, 1)
    assert len(wire.written) == sent


async def test_sending_while_disconnected_says_so() -> None:
    conn = AmiConnection("127.0.0.1", 5038, "hotline-cti", "x")
    with pytest.raises(AmiConnectionError, match=r"not connected to Asterisk at 127\.0\.0\.1:5038"):
        await conn.send("Ping")


async def test_reader_pauses_when_the_consumer_falls_far_behind() -> None:
    conn, proto, wire = connected()
    conn.max_buffered = 10
    proto.data_received(b"Event: Newstate\r\nUniqueid: 1.1\r\n\r\n" * 11)
    assert wire.paused
    assert (conn.buffered, conn.peak_buffered, conn.read_pauses) == (11, 11, 1)
    assert len(await conn.next_batch()) == 11
    assert not wire.paused and conn.buffered == 0


def test_secret_is_not_in_repr() -> None:
    conn = AmiConnection("127.0.0.1", 5038, "hotline-cti", "s3cret")
    assert "s3cret" not in repr(conn) and "s3cret" not in repr(vars(conn).keys())
