"""The in-process event bus."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from cti.bus import EventBus


def test_patterns_exact_prefix_and_all() -> None:
    bus = EventBus()
    got: dict[str, list[str]] = {"exact": [], "prefix": [], "all": []}
    bus.subscribe("call.ended", lambda t, p: got["exact"].append(t))
    bus.subscribe("call.*", lambda t, p: got["prefix"].append(t))
    bus.subscribe("*", lambda t, p: got["all"].append(t))
    for topic in ("call.new", "call.ended", "ami.Hangup"):
        bus.publish(topic, None)
    assert got == {"exact": ["call.ended"], "prefix": ["call.new", "call.ended"],
                   "all": ["call.new", "call.ended", "ami.Hangup"]}


def test_a_failing_subscriber_is_logged_and_does_not_stop_the_others() -> None:
    bus = EventBus()
    seen: list[Any] = []

    def broken(topic: str, payload: Any) -> None:
        raise RuntimeError("boom")

    bus.subscribe("call.*", broken)
    bus.subscribe("call.*", lambda t, p: seen.append(p))
    with capture_logs() as logs:
        bus.publish("call.new", 1)
    assert seen == [1]
    assert logs[0]["event"] == "bus_subscriber_failed" and logs[0]["topic"] == "call.new"


async def test_queue_subscription_drops_oldest_when_full_and_counts() -> None:
    bus = EventBus()
    sub = bus.queue("call.*", maxsize=3)
    for i in range(5):
        bus.publish("call.state", i)
    assert sub.dropped == 2
    keep = bus.queue("call.*", maxsize=0)  # the record writer's: never drops
    bus.publish("call.state", 5)
    assert bus.queue_stats() == {"queues": 2, "deepest": 3, "dropped": 3}
    assert [(await sub.get())[1] for _ in range(3)] == [3, 4, 5]
    sub.close()
    bus.publish("call.state", 9)
    assert len(sub) == 0 and len(keep) == 2
    assert bus.queue_stats() == {"queues": 1, "deepest": 2, "dropped": 0}


def test_unsubscribe() -> None:
    bus = EventBus()
    seen: list[Any] = []
    off = bus.subscribe("x", lambda t, p: seen.append(p))
    bus.publish("x", 1)
    off()
    bus.publish("x", 2)
    assert seen == [1]
