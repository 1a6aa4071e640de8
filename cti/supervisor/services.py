"""Listen, whisper, barge: a supervisor's phone joins an agent's call.

The server originates the supervisor's own phone into the dialplan's
``hotline-spy`` context, which runs ChanSpy on the agent's channel by its
unique id (option ``u``: PJSIP/10 never matches PJSIP/100), quietly (``q``),
ending with the agent's call (``E``); ``w`` whispers to the agent, ``B``
barges in on both. A change of mode sets the new options on the supervisor's
channel and redirects it into ``hotline-spy`` again: their phone stays up.
The phone's channel carries an id the core knows as the server's own
(``svc-...``: no call, never recorded); its hangup ends the session. Every
start, change and end is written to the audit log.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from cti.ami import AmiActionFailed, AmiActions, AmiError
from cti.calls.events import ServiceChannelEnded
from cti.calls.tracker import SERVICE_PREFIX, CallTracker
from cti.supervisor.exceptions import NoCallToSpy, NotSpying, PhoneDidNotAnswer
from cti.supervisor.schemas import SpyMode
from cti.tasks import TaskSet

log = structlog.get_logger("cti.supervisor")

SPY_CONTEXT = "hotline-spy"
OPTIONS = {SpyMode.LISTEN: "quE", SpyMode.WHISPER: "quEw", SpyMode.BARGE: "quEB"}
RING_SECONDS = 30.0


class AuditLog(Protocol):
    async def audit(self, actor: str, action: str, target: str,
                    details: dict[str, Any] | None = None) -> None: ...


class Devices(Protocol):
    async def check_device(self, device: str) -> None:
        """Raises a 422 naming the device if Asterisk cannot ring it."""
        ...


@dataclass
class Spy:
    supervisor: str
    agent: str
    call_id: str
    target: str  # the agent channel's uniqueid
    mode: SpyMode
    device: str
    channel: str  # the supervisor's channel in ChanSpy
    uniqueid: str
    started_at: float

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "call_id": self.call_id, "mode": self.mode.value,
                "device": self.device, "started_at": self.started_at}


class SpyService:
    def __init__(self, actions: AmiActions, tracker: CallTracker, devices: Devices,
                 audit: AuditLog) -> None:
        self.actions, self.tracker, self.devices, self.audit = actions, tracker, devices, audit
        self.sessions: dict[str, Spy] = {}  # supervisor login -> their session
        self._tasks = TaskSet()

    def _agent_channel(self, agent: str) -> tuple[str, str]:
        """(call id, uniqueid of the agent's channel) of the agent's call now."""
        for call in self.tracker.calls.values():
            for leg in call.legs.values():
                if leg.agent == agent and leg.bridged_since is not None:
                    return call.call_id, leg.uniqueid
        raise NoCallToSpy(f"agent {agent} is on no call now",
                          details={"fields": [{"field": "agent",
                                               "message": "not on a call"}]})

    def current(self, supervisor: str) -> dict[str, Any] | None:
        spy = self.sessions.get(supervisor)
        return None if spy is None else spy.as_dict()

    async def start(self, supervisor: str, agent: str, mode: SpyMode,
                    device: str) -> dict[str, Any]:
        call_id, target = self._agent_channel(agent)
        await self.devices.check_device(device)
        if supervisor in self.sessions:  # one at a time: the old one ends
            await self.stop(supervisor)
        uid = f"{SERVICE_PREFIX}spy-{secrets.token_hex(6)}"
        try:
            placed = await self.actions.originate(
                device, context=SPY_CONTEXT, exten="s", caller_id=f"监听 {agent} <{agent}>",
                variables={"SPY_TARGET": target, "SPY_OPTS": OPTIONS[mode]},
                ring_timeout=RING_SECONDS, channel_id=uid, other_channel_id=f"{uid}-2")
        except AmiActionFailed as exc:
            raise PhoneDidNotAnswer(f"your phone {device} did not answer ({exc})",
                                    details={"device": device}) from None
        spy = Spy(supervisor, agent, call_id, target, mode, device, placed.channel or uid,
                  uid, time.time())
        self.sessions[supervisor] = spy
        log.info("spy_started", supervisor=supervisor, agent=agent, call_id=call_id,
                 mode=mode.value)
        await self.audit.audit(supervisor, "spy.start", agent, {
            "call_id": call_id, "mode": mode.value, "device": device})
        if self.tracker.get(call_id) is None:  # the call ended while the phone rang
            await self.stop(supervisor)
            raise NoCallToSpy(f"agent {agent}'s call ended", details={"fields": [
                {"field": "agent", "message": "the call ended"}]})
        return spy.as_dict()

    async def change(self, supervisor: str, mode: SpyMode) -> dict[str, Any]:
        spy = self.sessions.get(supervisor)
        if spy is None:
            raise NotSpying("you are not listening to a call")
        if self.tracker.get(spy.call_id) is None:
            raise NoCallToSpy("the call has ended", details={"fields": [
                {"field": "agent", "message": "the call ended"}]})
        await self.actions.setvar("SPY_OPTS", OPTIONS[mode], channel=spy.channel)
        await self.actions.redirect(spy.channel, SPY_CONTEXT, "s")
        old, spy.mode = spy.mode, mode
        log.info("spy_mode", supervisor=supervisor, agent=spy.agent, mode=mode.value)
        await self.audit.audit(supervisor, "spy.mode", spy.agent, {
            "call_id": spy.call_id, "from": old.value, "mode": mode.value})
        return spy.as_dict()

    async def stop(self, supervisor: str) -> dict[str, Any]:
        spy = self.sessions.get(supervisor)
        if spy is None:
            raise NotSpying("you are not listening to a call")
        with contextlib.suppress(AmiError):  # gone already: it ended by itself
            await self.actions.hangup(spy.channel)
        await self._ended(spy, "stopped")
        return spy.as_dict()

    async def _ended(self, spy: Spy, how: str) -> None:
        if self.sessions.get(spy.supervisor) is not spy:
            return  # said already
        del self.sessions[spy.supervisor]
        seconds = round(time.time() - spy.started_at, 1)
        log.info("spy_ended", supervisor=spy.supervisor, agent=spy.agent, how=how,
                 seconds=seconds)
        await self.audit.audit(spy.supervisor, "spy.end", spy.agent, {
            "call_id": spy.call_id, "mode": spy.mode.value, "seconds": seconds, "how": how})

    # ------------------------------------------------------------------ bus
    def on_channel_ended(self, topic: str, e: ServiceChannelEnded) -> None:
        """The supervisor's phone hung up (or the agent's call ended: ``E``)."""
        for spy in list(self.sessions.values()):
            if e.uniqueid == spy.uniqueid:
                self._tasks.spawn(self._ended(spy, "hung_up"))

    async def close(self) -> None:
        await self._tasks.close(cancel=False)  # the audit lines of listen-ins that ended
