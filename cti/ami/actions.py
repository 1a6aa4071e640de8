"""The one place that builds AMI actions: small verbs, one action each.

Each verb knows how its answer ends (ReplyKind) and returns plain data.
Failures arrive as :mod:`cti.ami.errors` exceptions; nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from cti.ami.connection import AmiConnection, ReplyKind
from cti.ami.errors import AmiActionFailed
from cti.ami.parser import AmiMessage


@dataclass(frozen=True)
class OriginateResult:
    channel: str
    uniqueid: str
    response: AmiMessage


class AmiActions:
    def __init__(self, conn: AmiConnection) -> None:
        self.conn = conn

    async def ping(self, timeout: float | None = None) -> None:
        await self.conn.send("Ping", timeout=timeout)

    async def core_show_channels(self) -> list[AmiMessage]:
        reply = await self.conn.send("CoreShowChannels", kind=ReplyKind.LIST)
        return [e for e in reply.events if e.name == "CoreShowChannel"]

    async def status(self, variables: tuple[str, ...] = ()) -> list[AmiMessage]:
        """Every channel (``Status`` events), each with the values of these
        channel variables as ``Variable: NAME=value`` headers (``(null)``
        when unset)."""
        headers: dict[str, str | list[str]] = {"Variables": ",".join(variables)} \
            if variables else {}
        reply = await self.conn.send("Status", headers, kind=ReplyKind.LIST)
        return [e for e in reply.events if e.name == "Status"]

    async def queue_status(self, queue: str | None = None) -> list[AmiMessage]:
        """QueueParams, QueueMember and QueueEntry events of one queue or all."""
        headers: dict[str, str | list[str]] = {"Queue": queue} if queue else {}
        reply = await self.conn.send("QueueStatus", headers, kind=ReplyKind.LIST, timeout=20)
        return reply.events

    async def queue_summary(self, queue: str | None = None) -> list[AmiMessage]:
        headers: dict[str, str | list[str]] = {"Queue": queue} if queue else {}
        reply = await self.conn.send("QueueSummary", headers, kind=ReplyKind.LIST)
        return [e for e in reply.events if e.name == "QueueSummary"]

    async def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        member_name: str | None = None,
        penalty: int = 0,
        paused: bool = False,
        reason: str | None = None,
        state_interface: str | None = None,
    ) -> None:
        # Asterisk answers "Added interface to queue": a single response,
        # although panoramisk reads it as the start of a list.
        headers: dict[str, str | list[str]] = {
            "Queue": queue,
            "Interface": interface,
            "Penalty": str(penalty),
            "Paused": "true" if paused else "false",
        }
        if member_name:
            headers["MemberName"] = member_name
        if reason and paused:
            headers["Reason"] = reason
        if state_interface:
            headers["StateInterface"] = state_interface
        await self.conn.send("QueueAdd", headers)

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self.conn.send("QueueRemove", {"Queue": queue, "Interface": interface})

    async def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str | None = None
    ) -> None:
        headers: dict[str, str | list[str]] = {
            "Interface": interface,
            "Paused": "true" if paused else "false",
        }
        if queue:
            headers["Queue"] = queue
        if reason:
            headers["Reason"] = reason
        await self.conn.send("QueuePause", headers)

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        variables: dict[str, str] | None = None,
        ring_timeout: float = 30.0,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
    ) -> OriginateResult:
        """Place a call. Returns once it is answered; raises AmiActionFailed
        (with the reason) if it is not. Always async: a synchronous Originate
        blocks the AMI session and its reply breaks panoramisk's reader."""
        if (context is None) == (application is None):
            raise ValueError("originate needs either context/exten or application")
        headers: dict[str, str | list[str]] = {
            "Channel": channel,
            "Async": "true",
            "Timeout": str(int(ring_timeout * 1000)),
        }
        if context is not None:
            headers.update(Context=context, Exten=exten or "s", Priority=str(priority))
        else:
            headers["Application"] = application or ""
            if data:
                headers["Data"] = data
        if caller_id:
            headers["CallerID"] = caller_id
        if variables:
            headers["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        if channel_id:
            headers["ChannelId"] = channel_id
        if other_channel_id:  # a Local channel's second half
            headers["OtherChannelId"] = other_channel_id
        reply = await self.conn.send(
            "Originate", headers, kind=ReplyKind.ORIGINATE, timeout=ring_timeout + 10
        )
        ev = reply.events[0]
        return OriginateResult(ev.text("Channel", ""), ev.text("Uniqueid", ""), ev)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self.conn.send("Hangup", {"Channel": channel, "Cause": str(cause)})

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1) -> None:
        await self.conn.send(
            "Redirect",
            {"Channel": channel, "Context": context, "Exten": exten, "Priority": str(priority)},
        )

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        """Send whoever is bridged with ``channel`` to ``exten@context``."""
        await self.conn.send("BlindTransfer",
                             {"Channel": channel, "Context": context, "Exten": exten})

    async def atxfer(self, channel: str, context: str, exten: str) -> None:
        """``channel`` consults ``exten@context``; its peer waits on hold."""
        await self.conn.send("Atxfer", {"Channel": channel, "Context": context, "Exten": exten})

    async def cancel_atxfer(self, channel: str) -> None:
        await self.conn.send("CancelAtxfer", {"Channel": channel})

    async def play_dtmf_in(self, channel: str, digit: str, duration_ms: int = 100) -> None:
        """A key as if pressed on ``channel``'s phone (bridge features see it)."""
        await self.conn.send("PlayDTMF", {"Channel": channel, "Digit": digit,
                                          "Duration": str(duration_ms), "Receive": "yes"})

    async def db_put(self, family: str, key: str, value: str) -> None:
        await self.conn.send("DBPut", {"Family": family, "Key": key, "Val": value})

    async def db_tree(self, family: str) -> dict[str, str]:
        """Key -> value of every entry of one AstDB family (keys without the
        ``/family/`` prefix)."""
        reply = await self.conn.send("DBGetTree", {"Family": family}, kind=ReplyKind.LIST)
        prefix = f"/{family}/"
        return {e.text("Key", "")[len(prefix):]: e.text("Val", "") for e in reply.events
                if e.name == "DBGetTreeResponse" and e.text("Key", "").startswith(prefix)}

    async def event_filter(self, pattern: str) -> None:
        """Only events matching ``pattern`` (a regex on the event's lines, such as
        ``Event: OriginateResponse``) reach this session from now on; several
        filters are alternatives."""
        await self.conn.send("Filter", {"Operation": "Add", "Filter": pattern})

    async def db_del(self, family: str, key: str) -> None:
        await self.conn.send("DBDel", {"Family": family, "Key": key})

    async def db_del_tree(self, family: str, key: str | None = None) -> None:
        """Every entry under ``family/key/`` (and ``family/key`` itself); no
        key: the whole family."""
        headers: dict[str, str | list[str]] = {"Family": family}
        if key is not None:
            headers["Key"] = key
        await self.conn.send("DBDelTree", headers)

    async def setvar(self, name: str, value: str, channel: str | None = None) -> None:
        headers: dict[str, str | list[str]] = {"Variable": name, "Value": value}
        if channel:
            headers["Channel"] = channel
        await self.conn.send("Setvar", headers)

    async def getvar(self, name: str, channel: str | None = None) -> str:
        headers: dict[str, str | list[str]] = {"Variable": name}
        if channel:
            headers["Channel"] = channel
        reply = await self.conn.send("Getvar", headers)
        return reply.response.text("Value", "")

    async def extension_exists(self, exten: str, context: str) -> bool:
        """Whether the dialplan has ``exten`` (or a pattern matching it) in
        ``context`` (ShowDialPlan: no CLI access needed)."""
        try:
            reply = await self.conn.send("ShowDialPlan", {"Context": context, "Extension": exten},
                                         kind=ReplyKind.LIST)
        except AmiActionFailed:  # "Did not find context/extension ..."
            return False
        return any(e.name == "ListDialplan" for e in reply.events)

    async def endpoint_exists(self, endpoint: str) -> bool:
        """Whether PJSIP has this endpoint (PJSIPShowEndpoint)."""
        try:
            reply = await self.conn.send("PJSIPShowEndpoint", {"Endpoint": endpoint},
                                         kind=ReplyKind.LIST)
        except AmiActionFailed:  # "Unable to retrieve endpoint ..."
            return False
        return bool(reply.events)
