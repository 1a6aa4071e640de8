"""Screen pops: the caller's card on the console of the agent whose phone rings,
and what the agent records after the call.

The card is fetched from the service database when the caller joins a queue
(so when the phone rings it is usually ready), assembled here into one
:class:`~cti.console.schemas.ScreenPop`, and sent by the notifier to that
agent's consoles only (and to the outside CRM). An offer is taken back
(``pop.gone``) when the ring ends without an answer, the caller hangs up, or
the call ends; a pop is sent only while the call is still up and still
ringing that agent, checked again after the card came.

Each agent has at most one offer: ringing, talking, or in wrap-up. A console
that (re)connects is sent it first, so a reload mid-call shows the card.

The handlers are the console's bus subscriptions (cti/console/bus_consume.py):
the core's ``agent.*`` and ``queue.*`` events, never AMI.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog

from cti.calls.events import AgentLegEvent, QueueCaller
from cti.calls.model import Call
from cti.calls.tracker import CallTracker
from cti.console.exceptions import NotYourCall
from cti.console.notifier import ConsoleNotifier
from cti.console.schemas import ScreenPop
from cti.tasks import TaskSet

log = structlog.get_logger("cti.console")

CARD_TIMEOUT = 1.0  # the phone rings on: a card that is late is sent when it comes
W = TypeVar("W")


class CallCards(Protocol):
    """The caller's card, read once per call (crm_bridge/cards.py)."""

    def card(self, call_id: str, number: str) -> Awaitable[dict[str, Any]]: ...
    def fresh(self, call_id: str, number: str) -> Awaitable[dict[str, Any]]: ...


class AgentDesk(Protocol):
    """What the console needs of the ACD (acd/services.py)."""

    def live(self, code: str) -> dict[str, Any]: ...
    async def state(self, code: str) -> dict[str, Any]: ...
    def state_of(self, code: str) -> str: ...
    def available_in(self, queue: str) -> int: ...


class WrapUpRecords(Protocol[W]):
    """The wrap-up as the service database keeps it (crm_bridge/wrapups.py):
    ``parse`` checks what the agent sent (422 naming the fields), ``save``
    writes the ticket and the wrap-up."""

    def parse(self, data: Any) -> W: ...
    async def save(self, wrap: W, *, call_id: str, agent: str) -> dict[str, Any]: ...
    async def agents_of(self, call_id: str) -> set[str]: ...


def waited(call: Call, at: float) -> float:
    """The caller's wait as the call record counts it: from the first time
    they joined a queue until the call was answered (or, still ringing, until
    ``at``); 0 for a call that never queued."""
    if call.queued_at is None:
        return 0.0
    end = call.answered_at if call.answered_at is not None else at
    return round(max(0.0, end - call.queued_at), 1)


@dataclass
class Offer:
    agent: str
    call_id: str
    state: str  # ringing / talking / wrap_up
    pop: ScreenPop | None = None  # None until the card came
    sent_at: float = 0.0
    leg: str = ""  # the Uniqueid of the agent's channel
    via_queue: bool = True  # app_queue's events tell how the ring ends


class ScreenPops:
    def __init__(self, tracker: CallTracker, cards: CallCards, notifier: ConsoleNotifier,
                 desk: AgentDesk) -> None:
        self.tracker, self.cards, self.notifier, self.desk = tracker, cards, notifier, desk
        self.offers: dict[str, Offer] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}  # call id -> agents' notes so far
        # told each pop's latency in seconds (the root hands /metrics' histogram)
        self.pop_observers: list[Callable[[float], None]] = []
        self._legs: dict[str, str] = {}  # agent channel Uniqueid -> agent with an offer
        self._tasks = TaskSet()
        # (call, agent) pairs answered lately: a wrap-up may be saved (again)
        # after the card closed and before the call record is written
        self.answered: OrderedDict[tuple[str, str], None] = OrderedDict()

    # ------------------------------------------------------------------ consoles
    def current(self, agent: str) -> dict[str, Any] | None:
        """The agent's card as the console shows it now (None: no card)."""
        offer = self.offers.get(agent)
        if offer is None:
            return None
        if offer.pop is None:
            return {"state": offer.state}
        return self.notifier.pop_message(offer.pop, offer.state, offer.sent_at)

    async def refresh(self, agent: str, call_id: str) -> dict[str, Any]:
        """The card of the agent's own call, read again (after they made the
        caller a customer); the console's offer keeps it."""
        offer = self.offers.get(agent)
        if offer is None or offer.call_id != call_id or offer.pop is None:
            raise NotYourCall(f"call {call_id} is not on your console",
                              details={"call_id": call_id})
        card = await self.cards.fresh(call_id, offer.pop.caller_number)
        if self.offers.get(agent) is offer and offer.pop is not None:
            offer.pop = dataclasses.replace(offer.pop, card=card)
        return card

    def add_note(self, call_id: str, agent: str, notes: str, name: str = "") -> None:
        """An agent's notes on a call still up: the next agent's pop shows
        them (the agent's latest notes replace their earlier ones)."""
        if not notes or self.tracker.get(call_id) is None:
            return
        kept = self.notes.setdefault(call_id, [])
        kept[:] = [n for n in kept if n["agent"] != agent]
        kept.append({"agent": agent, "name": name, "notes": notes})

    def _set(self, agent: str, offer: Offer | None) -> None:
        """The agent's offer (None: none); keeps the channel index in step."""
        old = self.offers.pop(agent, None)
        if old is not None:
            self._legs.pop(old.leg, None)
        if offer is not None:
            self.offers[agent] = offer
            if offer.leg:
                self._legs[offer.leg] = agent

    def _talking(self, offer: Offer, at: float) -> None:
        offer.state = "talking"
        self.answered[(offer.call_id, offer.agent)] = None
        while len(self.answered) > 5000:
            self.answered.popitem(last=False)
        call = self.tracker.get(offer.call_id)
        wait = waited(call, at) if call is not None else None
        if offer.pop is not None:  # a console opened later shows the final wait too
            offer.pop = dataclasses.replace(offer.pop, answered_at=at, waited_seconds=(
                wait if wait is not None else offer.pop.waited_seconds))
        self.notifier.connected(offer.agent, offer.call_id, answered_at=at, waited_seconds=wait)

    def _over(self, offer: Offer, reason: str) -> None:
        """The call is over for this agent: the card stays for the wrap-up."""
        offer.state = "wrap_up"
        self.notifier.ended(offer.agent, offer.call_id, reason)

    # ------------------------------------------------------------------ cards
    def on_caller_joined(self, topic: str, c: QueueCaller) -> None:
        """Read the card now (if the IVR has not) when an agent of the queue is
        free: it is ready when the phone rings. Callers who wait for an agent
        are read when one is rung (in a busy hour most never are by then)."""
        if c.call_id and self.desk.available_in(c.queue):
            self.cards.card(c.call_id, c.caller_number)

    async def _pop(self, offer: Offer, call: Call, queue: str, event_at: float,
                   received_at: float) -> None:
        try:
            card = await asyncio.wait_for(asyncio.shield(
                self.cards.card(call.call_id, call.caller_number)), CARD_TIMEOUT)
        except Exception as exc:
            log.warning("screen_pop_card_failed", call_id=call.call_id,
                        error=f"{type(exc).__name__}: {exc}"[:200])
            card = {"known": False, "number": call.caller_number, "customer": None,
                    "unavailable": True}
        # still this agent's offer, and the call still up?
        if self.offers.get(offer.agent) is not offer or self.tracker.get(call.call_id) is None:
            return
        offer.pop = ScreenPop(
            call_id=call.call_id, agent=offer.agent, queue=queue,
            caller_number=call.caller_number, caller_name=call.caller_name, card=card,
            ivr_path=call.ivr_path, language=call.language,
            waited_seconds=waited(call, event_at), queued_at=call.queued_at,
            notes=list(self.notes.get(call.call_id, [])), event_at=event_at,
            received_at=received_at, callback_id=call.callback_id,
            callback_of=call.callback_of)
        offer.sent_at = time.time()
        self.notifier.pop(offer.pop, offer.state, offer.sent_at)
        for observe in self.pop_observers:  # Asterisk's ring to the card sent (/metrics)
            observe(offer.sent_at - event_at)
        log.info("screen_pop", agent=offer.agent, call_id=call.call_id,
                 known=bool(card.get("known")), ms=round((time.time() - received_at) * 1000, 1))

    # ------------------------------------------------------------------ offers
    def on_ringing(self, topic: str, e: AgentLegEvent) -> None:
        received_at = time.time()
        call = self.tracker.get(e.call_id)
        if call is None:
            return
        offer = Offer(e.agent, e.call_id, "ringing", leg=e.leg, via_queue=e.via_queue)
        self._set(e.agent, offer)
        self._tasks.spawn(self._pop(offer, call, e.queue or call.queue or "", e.at,
                                    received_at))

    def _offer_of_leg(self, uid: str) -> Offer | None:
        agent = self._legs.get(uid)
        return None if agent is None else self.offers.get(agent)

    def _queue_offer(self, e: AgentLegEvent) -> Offer | None:
        """The offer an app_queue member event is about."""
        offer = self.offers.get(e.agent)
        return offer if offer is not None and offer.call_id == e.call_id else None

    def _transfer_offer(self, e: AgentLegEvent) -> Offer | None:
        """The ringing offer of a phone dialled by a transfer."""
        offer = self._offer_of_leg(e.leg)
        return offer if offer is not None and offer.state == "ringing" \
            and not offer.via_queue else None

    def on_not_answered(self, topic: str, e: AgentLegEvent) -> None:
        if e.via_queue:
            self._take_back(e.agent, e.call_id, "not_answered")
        elif (offer := self._transfer_offer(e)) is not None:
            self._take_back(offer.agent, offer.call_id, "not_answered")

    def on_connected(self, topic: str, e: AgentLegEvent) -> None:
        offer = self._queue_offer(e) if e.via_queue else self._transfer_offer(e)
        if offer is not None:
            self._talking(offer, e.at)

    def on_released(self, topic: str, e: AgentLegEvent) -> None:
        """app_queue is done with the member."""
        offer = self._queue_offer(e)
        if offer is not None:
            self._over(offer, e.reason)

    def on_hung_up(self, topic: str, e: AgentLegEvent) -> None:
        """The agent's channel hung up after answering (the end of a call
        transferred to them; a queue call's end, before app_queue says so)."""
        offer = self._offer_of_leg(e.leg)
        if offer is not None and offer.state == "talking":
            self._over(offer, "hangup")

    def on_caller_abandoned(self, topic: str, c: QueueCaller) -> None:
        for agent in [a for a, o in self.offers.items() if o.call_id == c.call_id]:
            self._take_back(agent, c.call_id, "caller_hung_up")

    def _take_back(self, agent: str, call_id: str, reason: str) -> None:
        offer = self.offers.get(agent)
        if offer is None or offer.call_id != call_id or offer.state != "ringing":
            return
        self._set(agent, None)
        self.notifier.gone(agent, call_id, reason)

    def on_call_ended(self, topic: str, call: Call) -> None:
        for agent in [a for a, o in self.offers.items() if o.call_id == call.call_id]:
            self._take_back(agent, call.call_id, "call_ended")
        self.notes.pop(call.call_id, None)

    def finish(self, agent: str, call_id: str) -> None:
        """The agent saved the wrap-up (or dismissed the card) after the call;
        saved while still talking, the card stays up."""
        offer = self.offers.get(agent)
        if offer is not None and offer.call_id == call_id and offer.state == "wrap_up":
            self._set(agent, None)
            self.notifier.closed(agent, call_id)

    async def close(self) -> None:
        await self._tasks.close()


class WrapUp(Generic[W]):
    """The agent's record of a call: only an agent who took it may save one."""

    def __init__(self, pops: ScreenPops, records: WrapUpRecords[W]) -> None:
        self.pops, self.records = pops, records

    async def save(self, agent: str, name: str, call_id: str, data: Any) -> dict[str, Any]:
        """Disposition, notes, and a ticket opened or changed, for a call this
        agent took. Saved again, the wrap-up is replaced (one per call and
        agent). Nothing is saved when the ticket is refused (422, 409)."""
        wrap = self.records.parse(data)
        if not await self.took_call(agent, call_id):
            raise NotYourCall(f"call {call_id} was not answered by agent {agent}",
                              details={"call_id": call_id})
        saved = await self.records.save(wrap, call_id=call_id, agent=agent)
        self.pops.add_note(call_id, agent, saved["wrap_up"]["notes"], name=name)
        self.pops.finish(agent, call_id)
        return saved

    async def took_call(self, agent: str, call_id: str) -> bool:
        """A call this agent answered: lately (the pops), live (the tracker),
        or in the records."""
        if (call_id, agent) in self.pops.answered:
            return True
        call = self.pops.tracker.get(call_id)
        if call is not None:
            return agent in call.agent_seconds() or call.agent == agent
        return agent in await self.records.agents_of(call_id)

    def dismiss(self, agent: str, call_id: str) -> None:
        """Close the card without a wrap-up (a consultation that was cancelled)."""
        offer = self.pops.offers.get(agent)
        if offer is None or offer.call_id != call_id:
            raise NotYourCall(f"no card for call {call_id} on this console")
        if offer.state == "talking":
            raise NotYourCall("the call is still up", error_id="call-still-up")
        self.pops.finish(agent, call_id)
