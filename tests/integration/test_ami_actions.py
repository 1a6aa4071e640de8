"""AMI verbs against the real Asterisk: answers panoramisk misreads resolve here."""

from __future__ import annotations

import asyncio

import pytest

from cti.ami import AmiActionFailed, AmiActions, AmiTimeout, ReplyKind
from tests.integration.conftest import QUEUE


async def test_queue_add_resolves_and_a_second_add_is_a_clear_error(ami: AmiActions) -> None:
    iface = "Local/8101@sim-agent-phone/n"
    await asyncio.wait_for(ami.queue_add(QUEUE, iface, member_name="agent-8101", penalty=2), 5)
    members = [e for e in await ami.queue_status(QUEUE) if e.name == "QueueMember"]
    [m] = [e for e in members if e.text("Name") == "agent-8101"]
    assert m.text("Penalty") == "2" and m.text("Paused") == "0"
    with pytest.raises(AmiActionFailed, match="Already there"):
        await ami.queue_add(QUEUE, iface)
    await ami.queue_pause(iface, True, queue=QUEUE, reason="lunch")
    [m] = [e for e in await ami.queue_status(QUEUE)
           if e.name == "QueueMember" and e.text("Name") == "agent-8101"]
    assert m.text("Paused") == "1" and m.text("PausedReason") == "lunch"
    await ami.queue_remove(QUEUE, iface)
    with pytest.raises(AmiActionFailed, match="Not there"):
        await ami.queue_remove(QUEUE, iface)


async def test_queue_status_of_an_unknown_queue_is_an_error_not_a_hang(ami: AmiActions) -> None:
    events = await asyncio.wait_for(ami.queue_status("no-such-queue"), 5)
    assert [e for e in events if e.name == "QueueParams"] == []


async def test_originate_resolves_when_answered_with_the_channel(ami: AmiActions) -> None:
    result = await asyncio.wait_for(
        ami.originate("Local/13800138000@sim-customer", application="Wait", data="1",
                      caller_id='"售后热线" <4008008000>'), 15)
    assert result.channel.startswith("Local/13800138000@sim-customer")
    assert result.uniqueid


async def test_originate_to_nowhere_fails_with_a_reason(ami: AmiActions) -> None:
    with pytest.raises(AmiActionFailed, match="originate failed: reason"):
        await asyncio.wait_for(ami.originate("Local/1@no-such-context", application="Wait",
                                             data="1", ring_timeout=3), 15)


async def test_an_action_that_outlives_its_timeout_raises(ami: AmiActions) -> None:
    # the customer's phone rings for 1 s before answering; we give it 0.3 s
    with pytest.raises(AmiTimeout, match=r"Originate got no answer within 0\.3 s"):
        await ami.conn.send(
            "Originate",
            {"Channel": "Local/13800000000@sim-customer", "Application": "Wait", "Data": "1",
             "Async": "true"},
            kind=ReplyKind.ORIGINATE, timeout=0.3)


async def test_devices_checked_without_the_cli_and_getvar(ami: AmiActions) -> None:
    """The server's AMI user has no CLI (`command`) right: devices are checked
    with ShowDialPlan and PJSIPShowEndpoint, and a CLI command is refused."""
    assert await ami.extension_exists("8001", "sim-agent-phone")  # the _X. pattern
    assert not await ami.extension_exists("8001", "no-such-context")
    assert not await ami.endpoint_exists("no-such-phone")
    with pytest.raises(AmiActionFailed):
        await ami.conn.send("Command", {"Command": "core show version"})
    await ami.setvar("HOTLINE_TEST_VAR", "客服")
    assert await ami.getvar("HOTLINE_TEST_VAR") == "客服"
