"""The console's outgoing messages, built in one place: what an agent's
console gets over its websocket, and the screen pop the CRM webhook gets.

A message for an agent goes on the bus as ``console.<code>``; the console's
websocket (cti/console/http.py) sends that agent's messages only:

    hello           on (re)connect: the agent's state and current card
    pop             the card, as the phone rings (state ringing / talking / wrap_up)
    pop.gone        the ring ended unanswered, or the caller hung up first
    call.connected  the agent answered (when, and the caller's final wait)
    call.ended      the call is over for the agent (the card stays for the wrap-up)
    pop.closed      the wrap-up is saved, or the card dismissed
    agent           the agent's ACD state changed (the ACD's ``acd.agent.<code>``)

The webhook gets the same screen pop (:class:`~cti.console.schemas.ScreenPop`)
as the console, without the console's own fields.
"""

from __future__ import annotations

from typing import Any, Protocol

from cti.bus import EventBus
from cti.console.schemas import ScreenPop

ACD_AGENT = "acd.agent"  # + ".<code>": the ACD's agent-state messages (acd/notifier.py)


class Webhook(Protocol):
    """An outside CRM that gets each screen pop (crm_bridge/webhook.py)."""

    def send(self, event: str, payload: dict[str, Any]) -> None: ...


def topic(agent: str) -> str:
    """The bus topic of an agent's console messages."""
    return f"console.{agent}"


class ConsoleNotifier:
    def __init__(self, bus: EventBus, webhook: Webhook | None = None) -> None:
        self.bus, self.webhook = bus, webhook

    def push(self, agent: str, message: dict[str, Any]) -> None:
        self.bus.publish(topic(agent), message)

    @staticmethod
    def pop_message(pop: ScreenPop, state: str, sent_at: float) -> dict[str, Any]:
        return {"type": "pop", **pop.as_dict(), "sent_at": sent_at, "state": state}

    def pop(self, pop: ScreenPop, state: str, sent_at: float) -> None:
        """The card to the agent's consoles, and to the outside CRM."""
        self.push(pop.agent, self.pop_message(pop, state, sent_at))
        if self.webhook is not None:
            self.webhook.send("screen_pop", pop.as_dict())

    def gone(self, agent: str, call_id: str, reason: str) -> None:
        self.push(agent, {"type": "pop.gone", "call_id": call_id, "reason": reason})

    def connected(self, agent: str, call_id: str, *, answered_at: float,
                  waited_seconds: float | None) -> None:
        """The agent answered: the talk timer starts at ``answered_at``; the
        caller's wait is final."""
        self.push(agent, {"type": "call.connected", "call_id": call_id,
                          "answered_at": answered_at, "waited_seconds": waited_seconds})

    def ended(self, agent: str, call_id: str, reason: str) -> None:
        self.push(agent, {"type": "call.ended", "reason": reason, "call_id": call_id})

    def closed(self, agent: str, call_id: str) -> None:
        self.push(agent, {"type": "pop.closed", "call_id": call_id})

    # ------------------------------------------------------------------ the websocket
    @staticmethod
    def hello(agent: dict[str, Any], name: str, offer: dict[str, Any] | None) -> dict[str, Any]:
        return {"type": "hello", "agent": agent, "name": name, "offer": offer}

    @staticmethod
    def feed_topics(agent: str) -> tuple[str, ...]:
        return (f"{ACD_AGENT}.{agent}", topic(agent))

    @staticmethod
    def render(agent: str, bus_topic: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """What ``agent``'s console is sent for a bus message (None: not theirs)."""
        if bus_topic.startswith(ACD_AGENT + "."):  # only this agent's (feed_topics)
            return {"type": "agent", "agent": payload}
        return payload
