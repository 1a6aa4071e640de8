"""Screen pops: the caller's card on the console of the agent whose phone rings.

The card is fetched from crm_bridge when the caller joins a queue (so when
app_queue rings an agent it is usually ready), and pushed to that agent's
consoles only (``AgentCalled``'s member name says whose phone rings). An
offer is taken back (``pop.gone``) when the ring ends without an answer,
the caller hangs up, or the call ends; a pop is sent only while the call is
still up and still ringing that agent, checked again after the card came.

Each agent has at most one offer: ringing, talking, or in wrap-up. A console
that (re)connects is sent it first, so a reload mid-call shows the card.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from cti.ami.parser import AmiMessage
from cti.bus import EventBus
from cti.calls import Call, CallTracker

log = structlog.get_logger("cti.console")

CARD_TIMEOUT = 1.0  # the phone rings on: a card that is late is sent when it comes


class CardSource(Protocol):
    def customer_card(self, raw_number: str) -> Coroutine[Any, Any, dict[str, Any]]: ...


class Webhook(Protocol):
    def send(self, event: str, payload: dict[str, Any]) -> None: ...


@dataclass
class Offer:
    agent: str
    call_id: str
    state: str  # ringing / talking / wrap_up
    pop: dict[str, Any]
    leg: str = ""  # the Uniqueid of the agent's channel
    via_queue: bool = True  # app_queue's events tell how the ring ends


class ScreenPops:
    def __init__(self, bus: EventBus, tracker: CallTracker, crm: CardSource,
                 webhook: Webhook | None = None) -> None:
        self.bus, self.tracker, self.crm, self.webhook = bus, tracker, crm, webhook
        self.offers: dict[str, Offer] = {}
        self.cards: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}  # call id -> agents' notes so far
        self._legs: dict[str, str] = {}  # agent channel Uniqueid -> agent with an offer
        self._tasks: set[asyncio.Task[None]] = set()
        # (call, agent) pairs answered lately: a wrap-up may be saved (again)
        # after the card closed and before the call record is written
        self.answered: OrderedDict[tuple[str, str], None] = OrderedDict()
        for name, handler in (
            ("ami.QueueCallerJoin", self._on_join),
            ("ami.AgentCalled", self._on_called),
            ("ami.AgentConnect", self._on_connect),
            ("ami.AgentRingNoAnswer", self._on_ring_ended),
            ("ami.AgentDump", self._on_ring_ended),
            ("ami.QueueCallerAbandon", self._on_abandon),
            ("ami.AgentComplete", self._on_complete),
            ("ami.UserEvent", self._on_user_event),
            ("ami.DialEnd", self._on_dial_end),
            ("ami.Hangup", self._on_leg_hangup),
        ):
            bus.subscribe(name, self._guard(handler))
        bus.subscribe("call.ended", lambda t, c: self._on_call_ended(c))

    @staticmethod
    def _guard(handler: Callable[[AmiMessage, float], None]
               ) -> Callable[[str, AmiMessage], None]:
        def on(topic: str, msg: AmiMessage) -> None:
            handler(msg, time.time())
        return on

    # ------------------------------------------------------------------ consoles
    @staticmethod
    def topic(agent: str) -> str:
        """The bus topic of an agent's console messages."""
        return f"console.{agent}"

    def current(self, agent: str) -> dict[str, Any] | None:
        offer = self.offers.get(agent)
        return None if offer is None else {**offer.pop, "state": offer.state}

    def _push(self, agent: str, message: dict[str, Any]) -> None:
        self.bus.publish(self.topic(agent), message)

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

    def _advance(self, offer: Offer, state: str, message: dict[str, Any]) -> None:
        """The call moved on for this agent: talking, or over (wrap-up)."""
        offer.state = state
        if state == "talking":
            self.answered[(offer.call_id, offer.agent)] = None
            while len(self.answered) > 5000:
                self.answered.popitem(last=False)
        self._push(offer.agent, {**message, "call_id": offer.call_id})

    # ------------------------------------------------------------------ cards
    def _card(self, call_id: str, number: str) -> asyncio.Task[dict[str, Any]]:
        task = self.cards.get(call_id)
        if task is None:
            task = asyncio.create_task(self.crm.customer_card(number))
            self.cards[call_id] = task
        return task

    def _on_join(self, msg: AmiMessage, at: float) -> None:
        call_id = msg.text("Linkedid", "")
        if call_id:
            self._card(call_id, msg.text("CallerIDNum", ""))

    # ------------------------------------------------------------------ offers
    def _on_called(self, msg: AmiMessage, at: float) -> None:
        self._offer(msg.text("MemberName", ""), msg.text("Linkedid", ""),
                    msg.text("DestUniqueid", ""), msg.text("Queue", ""), msg, at, via_queue=True)

    def _on_user_event(self, msg: AmiMessage, at: float) -> None:
        # an agent's phone dialled by a transfer (not through a queue)
        if msg.text("UserEvent", "") == "HotlineAgentLeg":
            self._offer(msg.text("Agent", ""), msg.text("Call", "") or msg.text("Linkedid", ""),
                        msg.text("Uniqueid", ""), "", msg, at, via_queue=False)

    def _offer(self, agent: str, call_id: str, leg: str, queue: str, msg: AmiMessage,
               at: float, *, via_queue: bool) -> None:
        if not agent or not call_id:
            return
        call = self.tracker.get(call_id)
        if call is None:
            return
        stamp = msg.get("Timestamp")
        event_at = float(stamp) if isinstance(stamp, str) else at
        offer = Offer(agent, call_id, "ringing", {}, leg=leg, via_queue=via_queue)
        self._set(agent, offer)
        task = asyncio.create_task(self._pop(offer, call, queue or call.queue or "", event_at,
                                             at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _offer_of_leg(self, uid: str) -> Offer | None:
        agent = self._legs.get(uid)
        return None if agent is None else self.offers.get(agent)

    def _on_dial_end(self, msg: AmiMessage, at: float) -> None:
        offer = self._offer_of_leg(msg.text("DestUniqueid", ""))
        if offer is None or offer.state != "ringing" or offer.via_queue:
            return
        if msg.text("DialStatus", "") == "ANSWER":
            self._advance(offer, "talking", {"type": "call.connected"})
        else:
            self._take_back(offer.agent, offer.call_id, "not_answered")

    def _on_leg_hangup(self, msg: AmiMessage, at: float) -> None:
        offer = self._offer_of_leg(msg.text("Uniqueid", ""))
        if offer is None:
            return
        if offer.state == "ringing":
            if not offer.via_queue:  # a queue says itself why the ring ended
                self._take_back(offer.agent, offer.call_id, "not_answered")
        elif offer.state == "talking":  # a transferred-to agent's call ends
            self._advance(offer, "wrap_up", {"type": "call.ended", "reason": "hangup"})

    async def _pop(self, offer: Offer, call: Call, queue: str, event_at: float,
                   received_at: float) -> None:
        try:
            card = await asyncio.wait_for(asyncio.shield(
                self._card(call.call_id, call.caller_number)), CARD_TIMEOUT)
        except Exception as exc:
            log.warning("screen_pop_card_failed", call_id=call.call_id,
                        error=f"{type(exc).__name__}: {exc}"[:200])
            card = {"known": False, "number": call.caller_number, "customer": None,
                    "unavailable": True}
        # still this agent's offer, and the call still up?
        if self.offers.get(offer.agent) is not offer or self.tracker.get(call.call_id) is None:
            return
        offer.pop = {
            "type": "pop", "call_id": call.call_id, "agent": offer.agent, "queue": queue,
            "caller_number": call.caller_number, "caller_name": call.caller_name,
            "card": card, "ivr_path": call.ivr_path, "language": call.language,
            "waited_seconds": round(call.wait_seconds or 0.0, 1),
            "queued_at": call.queued_at, "notes": list(self.notes.get(call.call_id, [])),
            "event_at": event_at, "received_at": received_at, "sent_at": time.time(),
        }
        self._push(offer.agent, {**offer.pop, "state": offer.state})
        log.info("screen_pop", agent=offer.agent, call_id=call.call_id,
                 known=bool(card.get("known")), ms=round((time.time() - received_at) * 1000, 1))
        if self.webhook is not None:
            self.webhook.send("screen_pop", {k: v for k, v in offer.pop.items()
                                             if k not in ("type", "sent_at")})

    def _take_back(self, agent: str, call_id: str, reason: str) -> None:
        offer = self.offers.get(agent)
        if offer is None or offer.call_id != call_id or offer.state != "ringing":
            return
        self._set(agent, None)
        self._push(agent, {"type": "pop.gone", "call_id": call_id, "reason": reason})

    def _on_ring_ended(self, msg: AmiMessage, at: float) -> None:
        self._take_back(msg.text("MemberName", ""), msg.text("Linkedid", ""), "not_answered")

    def _on_abandon(self, msg: AmiMessage, at: float) -> None:
        call_id = msg.text("Linkedid", "")
        for agent in [a for a, o in self.offers.items() if o.call_id == call_id]:
            self._take_back(agent, call_id, "caller_hung_up")

    def _queue_offer(self, msg: AmiMessage) -> Offer | None:
        """The offer an app_queue member event is about."""
        offer = self.offers.get(msg.text("MemberName", ""))
        return offer if offer is not None and offer.call_id == msg.text("Linkedid", "") \
            else None

    def _on_connect(self, msg: AmiMessage, at: float) -> None:
        offer = self._queue_offer(msg)
        if offer is not None:
            self._advance(offer, "talking", {"type": "call.connected"})

    def _on_complete(self, msg: AmiMessage, at: float) -> None:
        offer = self._queue_offer(msg)
        if offer is not None:
            self._advance(offer, "wrap_up", {"type": "call.ended",
                                             "reason": msg.text("Reason", "")})

    def _on_call_ended(self, call: Call) -> None:
        for agent in [a for a, o in self.offers.items() if o.call_id == call.call_id]:
            self._take_back(agent, call.call_id, "call_ended")
        task = self.cards.pop(call.call_id, None)
        if task is not None and not task.done():
            task.cancel()
        self.notes.pop(call.call_id, None)

    def finish(self, agent: str, call_id: str) -> None:
        """The agent saved the wrap-up (or dismissed the card) after the call;
        saved while still talking, the card stays up."""
        offer = self.offers.get(agent)
        if offer is not None and offer.call_id == call_id and offer.state == "wrap_up":
            self._set(agent, None)
            self._push(agent, {"type": "pop.closed", "call_id": call_id})

    async def close(self) -> None:
        for task in [*self._tasks, *self.cards.values()]:
            task.cancel()
        for task in [*self._tasks, *self.cards.values()]:
            with contextlib.suppress(BaseException):
                await task
