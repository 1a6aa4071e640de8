"""The console's call controls, through AMI, always on the signed-in agent's
own call (their phone's channel, found from the tracker):

* hang up: the agent's channel is hung up (the caller with it);
* hold / unhold: the ``hotline-hold`` bridge feature (features.conf) runs on
  the agent's channel while ``HOTLINE_HOLD`` is 1; the caller hears music;
* blind transfer: ``BlindTransfer`` of the agent's channel to
  ``hotline-transfer``: ``desk-<code>`` (an agent), ``queue-<name>``, or
  ``out-<number>``; the agent is free (wrap-up) at once;
* attended transfer: ``Atxfer`` to the same targets (the caller waits on
  hold while the agent talks to the target), then complete (the agent's
  channel hangs up and the two are joined) or cancel (``CancelAtxfer``: the
  caller is back with the agent).

Notes given with a transfer go with the call: the next agent's screen pop
shows them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass

import structlog

from cti.ami import AmiActions, AmiError
from cti.calls.events import LegEnded
from cti.calls.model import Call, CallState, Leg
from cti.calls.tracker import CallTracker
from cti.console.exceptions import AsteriskRefused, ControlError, NoCall
from cti.console.schemas import TransferIn
from cti.console.services import AgentDesk, ScreenPops
from cti.errors import FieldError

log = structlog.get_logger("cti.console.controls")

TRANSFER_CONTEXT = "hotline-transfer"
CONSULT_EXTEN = "*0"
CONSULT_CHANNEL = f"Local/{CONSULT_EXTEN}@{TRANSFER_CONTEXT}-"  # what Atxfer dials
SETTLE_SECONDS = 3.0


@dataclass
class Consult:
    call_id: str
    channel: str
    exten: str
    leg: str
    over: bool = False  # its channel hung up: not answered, or the target hung up


class CallControls:
    def __init__(self, actions: AmiActions, tracker: CallTracker, desk: AgentDesk,
                 queues: Collection[str], pops: ScreenPops) -> None:
        """``desk``: the agents' states (a transfer goes to an available agent);
        ``queues``: the queues a call can be transferred to."""
        self.actions, self.tracker, self.desk = actions, tracker, desk
        self.queues, self.pops = queues, pops
        self.consults: dict[str, Consult] = {}
        # agent channels back from a cancelled consultation: Asterisk does not
        # give them their bridge features again (transfer and hold keys would
        # reach the caller as tones), so those are refused rather than lost;
        # hang-up and blind transfer (bridge-level actions) still work
        self.spent: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ finding
    def leg_of(self, agent: str) -> tuple[Call, Leg]:
        """The agent's own channel on a live call (the newest, if several)."""
        found = [(c, lg) for c in self.tracker.calls.values() for lg in c.legs.values()
                 if lg.agent == agent and lg.bridge]
        if not found:
            raise NoCall(f"agent {agent} has no call to act on")
        return max(found, key=lambda f: f[1].created_at)

    async def _settle(self, check: Callable[[], object], what: str) -> None:
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while not check():
            if asyncio.get_running_loop().time() > deadline:
                raise AsteriskRefused(f"{what}: Asterisk did not confirm within "
                                      f"{SETTLE_SECONDS:.0f} s")
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ verbs
    async def hangup(self, agent: str) -> dict[str, str]:
        call, leg = self.leg_of(agent)
        await self._ami(self.actions.hangup(leg.channel), "hang up")
        log.info("console_hangup", agent=agent, call_id=call.call_id)
        return {"call_id": call.call_id, "done": "hangup"}

    async def hold(self, agent: str) -> dict[str, str]:
        call, leg = self.leg_of(agent)
        if (call.call_id, leg.uniqueid) in self.spent:
            raise ControlError("hold is not available on this call after a cancelled "
                               "consultation; transfer it or hang up", error_id="hold-unavailable")
        if leg.on_hold:
            raise ControlError("the call is already on hold", error_id="already-on-hold")
        if self._consulting(agent) is not None:
            raise ControlError("the caller already waits while you consult",
                               error_id="consulting")
        await self._ami(self.actions.setvar("HOTLINE_HOLD", "1", channel=leg.channel), "hold")
        await self._ami(self.actions.play_dtmf_in(leg.channel, "A"), "hold")
        await self._settle(lambda: leg.on_hold, "hold")
        log.info("console_hold", agent=agent, call_id=call.call_id)
        return {"call_id": call.call_id, "done": "hold"}

    async def unhold(self, agent: str) -> dict[str, str]:
        call, leg = self.leg_of(agent)
        if not leg.on_hold:
            raise ControlError("the call is not on hold", error_id="not-on-hold")
        await self._release(leg)
        log.info("console_unhold", agent=agent, call_id=call.call_id)
        return {"call_id": call.call_id, "done": "unhold"}

    async def _release(self, leg: Leg) -> None:
        await self._ami(self.actions.setvar("HOTLINE_HOLD", "0", channel=leg.channel), "unhold")
        await self._settle(lambda: not leg.on_hold, "unhold")

    def _exten(self, agent: str, t: TransferIn) -> str:
        if t.to == "queue":
            if t.target not in self.queues:
                raise FieldError("target", f"no queue {t.target}")
            return f"queue-{t.target}"
        if t.to == "number":
            return f"out-{t.target.lstrip('+')}"
        if t.target == agent:
            raise FieldError("target", "that is you")
        state = self.desk.state_of(t.target)
        if state == "logged_out":
            raise ControlError(f"agent {t.target} is not logged in",
                               error_id="agent-unavailable")
        if state != "available":
            raise ControlError(f"agent {t.target} is {state}",
                               error_id="agent-unavailable", details={"state": state})
        return f"desk-{t.target}"

    async def blind_transfer(self, agent: str, t: TransferIn) -> dict[str, str]:
        call, leg = self.leg_of(agent)
        if self._consulting(agent) is not None:
            raise ControlError("finish or cancel the consultation first", error_id="consulting")
        exten = self._exten(agent, t)
        self.pops.add_note(call.call_id, agent, t.notes)
        if leg.on_hold:
            await self._release(leg)
        await self._ami(self.actions.blind_transfer(leg.channel, TRANSFER_CONTEXT, exten),
                        "blind transfer")
        log.info("console_transfer", agent=agent, call_id=call.call_id, to=exten)
        return {"call_id": call.call_id, "done": "transferred", "to": exten}

    async def consult(self, agent: str, t: TransferIn) -> dict[str, str]:
        call, leg = self.leg_of(agent)
        if self._consulting(agent) is not None:
            raise ControlError("already consulting", error_id="consulting")
        if (call.call_id, leg.uniqueid) in self.spent:
            raise ControlError("this call was consulted on already; transfer it blind",
                               error_id="consulted-already")
        exten = self._exten(agent, t)
        self.pops.add_note(call.call_id, agent, t.notes)
        if leg.on_hold:
            await self._release(leg)
        # Atxfer dials keypad digits only: *0 goes on to HOTLINE_CONSULT
        await self._ami(self.actions.setvar("__HOTLINE_CONSULT", exten, channel=leg.channel),
                        "attended transfer")
        await self._ami(self.actions.atxfer(leg.channel, TRANSFER_CONTEXT, CONSULT_EXTEN),
                        "attended transfer")
        self.consults[agent] = Consult(call.call_id, leg.channel, exten, leg.uniqueid)
        log.info("console_consult", agent=agent, call_id=call.call_id, to=exten)
        return {"call_id": call.call_id, "done": "consulting", "to": exten}

    def on_leg_ended(self, topic: str, e: LegEnded) -> None:
        """A consultation's channel hung up: not answered, or the target hung up."""
        if e.leg.channel.startswith(CONSULT_CHANNEL):
            for c in self.consults.values():
                if c.call_id == e.call.call_id:
                    c.over = True

    def _consulting(self, agent: str) -> Consult | None:
        """The agent's consultation while it lasts. One whose channel hung up
        (the target did not answer, or hung up) is over: the agent is back
        with the caller, and, as after a cancel, without the bridge features."""
        c = self.consults.get(agent)
        if c is None:
            return None
        live = self.tracker.get(c.call_id) is not None
        if live and not c.over:
            return c
        del self.consults[agent]
        if live:
            self._spend(c)
        return None

    def _spend(self, c: Consult) -> None:
        self.spent = {s for s in self.spent if self.tracker.get(s[0]) is not None}
        self.spent.add((c.call_id, c.leg))

    def _consult_of(self, agent: str) -> Consult:
        c = self._consulting(agent)
        if c is None:
            raise ControlError("no consultation to finish", error_id="not-consulting")
        return c

    async def complete(self, agent: str) -> dict[str, str]:
        """The agent leaves; the caller and the consulted party are joined."""
        c = self._consult_of(agent)
        call = self.tracker.get(c.call_id)
        await self._ami(self.actions.hangup(c.channel), "complete the transfer")
        del self.consults[agent]
        assert call is not None
        await self._settle(lambda: call.transfer_count > 0 or call.state is CallState.ENDED,
                           "complete the transfer")
        log.info("console_transfer_completed", agent=agent, call_id=c.call_id, to=c.exten)
        return {"call_id": c.call_id, "done": "transferred", "to": c.exten}

    async def cancel(self, agent: str) -> dict[str, str]:
        """The consulted party is let go; the caller is back with the agent."""
        c = self._consult_of(agent)
        await self._ami(self.actions.cancel_atxfer(c.channel), "cancel the transfer")
        del self.consults[agent]
        self._spend(c)
        log.info("console_transfer_cancelled", agent=agent, call_id=c.call_id, to=c.exten)
        return {"call_id": c.call_id, "done": "back with the caller"}

    @staticmethod
    async def _ami(coro: object, what: str) -> None:
        try:
            await coro  # type: ignore[misc]
        except AmiError as exc:
            raise AsteriskRefused(f"{what}: {exc}") from None
