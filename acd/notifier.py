"""The ACD's outgoing messages, built in one place.

The board tells the notifier what changed; the notifier puts it on the bus:

    acd.agent.<code>  an agent's state (the board's agent view), on the agent's
                  own topic: an agent's console hears only its agent
    acd.queue     a queue's callers and agents (the board's queue view); at most
                  four times a second per queue (the board flushes what changed),
                  and only built while somebody listens (a wallboard is open)
    acd.interval  a closed agent-state interval, for the database
    acd.wallboard every queue in numbers with its live KPIs (today and the last
                  60 minutes) and colour thresholds, twice a second while a
                  wallboard is open

and shapes what the wallboard's websocket sends (:meth:`snapshot`,
:meth:`render`). The agent console shows ``acd.agent`` too, in its own
words (cti/console/notifier.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cti.bus import EventBus

AGENT = "acd.agent"  # + ".<code>"; the websocket message's type is "acd.agent"
QUEUE = "acd.queue"
INTERVAL = "acd.interval"
WALLBOARD = "acd.wallboard"
BOARD_TOPICS = (f"{AGENT}.*", QUEUE)  # what the wallboard's feed carries


def agent_topic(code: str) -> str:
    return f"{AGENT}.{code}"


class AcdNotifier:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def agent_changed(self, view: dict[str, Any]) -> None:
        self.bus.publish(agent_topic(view["agent"]), view)

    def queue_changed(self, view: Callable[[], dict[str, Any]]) -> None:
        if self.bus.has_subscribers(QUEUE):
            self.bus.publish(QUEUE, view())

    def wallboard_changed(self, view: Callable[[], dict[str, Any]]) -> None:
        if self.bus.has_subscribers(WALLBOARD):
            self.bus.publish(WALLBOARD, view())

    def interval_closed(self, agent: str, state: str, reason: str | None, started_at: float,
                        ended_at: float, call_linkedid: str | None) -> None:
        self.bus.publish(INTERVAL, {
            "agent": agent, "state": state, "reason": reason, "started_at": started_at,
            "ended_at": ended_at, "call_linkedid": call_linkedid})

    # ------------------------------------------------------------------ the wallboard
    @staticmethod
    def snapshot(queues: list[dict[str, Any]], agents: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "snapshot", "queues": queues, "agents": agents}

    @staticmethod
    def render(topic: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if topic == WALLBOARD:
            return payload
        if topic.startswith(AGENT + "."):
            return {"type": AGENT, "agent": payload}
        if topic == QUEUE:
            return {"type": topic, "queue": payload}
        return None
