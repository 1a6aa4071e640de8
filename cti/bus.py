"""The in-process event bus: the core publishes domain events on it (the topics
of cti/calls/events.py), features publish their own (``acd.agent``,
``console.<agent>`` ...), and the composition root subscribes the features'
handlers (cti/server.py).

Topics are dotted names (``call.state``, ``agent.ringing``, ``acd.queue``).
A subscription names a topic exactly, a prefix ending in ``.*``, or ``*``.

* ``subscribe(pattern, handler)``: the handler is called inline, in publish
  order. It must be quick and must not block; an exception in it is logged
  and does not reach the publisher or the other subscribers.
* ``queue(*patterns)``: for async consumers (websockets, the call-record
  writer). Items are put on the subscription's own queue, so a slow consumer
  delays only itself. With ``maxsize`` set, the oldest items are dropped when
  it falls that far behind (and counted); with ``maxsize=0`` nothing is
  dropped.
"""

from __future__ import annotations

import asyncio
import collections
import weakref
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("cti.bus")

Handler = Callable[[str, Any], None]


def _matches(pattern: str, topic: str) -> bool:
    if pattern == "*" or pattern == topic:
        return True
    return pattern.endswith(".*") and topic.startswith(pattern[:-1])


class Subscription:
    """An async consumer's queue of (topic, payload)."""

    def __init__(self, bus: EventBus, patterns: tuple[str, ...], maxsize: int) -> None:
        self.bus = bus
        self.patterns = patterns
        self.maxsize = maxsize
        self.dropped = 0
        self._items: collections.deque[tuple[str, Any]] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False

    def _put(self, topic: str, payload: Any) -> None:
        if self.maxsize and len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append((topic, payload))
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    async def get(self) -> tuple[str, Any]:
        while not self._items:
            if self._closed:
                raise EOFError("subscription closed")
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    async def wait(self, timeout: float | None = None) -> bool:
        """Until an item is waiting (left on the queue), or the timeout passes.
        True if one is waiting."""
        if not self._items and not self._closed:
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                pass
        return bool(self._items)

    def get_nowait(self) -> tuple[str, Any] | None:
        return self._items.popleft() if self._items else None

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self.bus._queues.discard(self)
        for pattern in self.patterns:
            self.bus._remove(pattern, self._put)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        try:
            return await self.get()
        except EOFError:
            raise StopAsyncIteration from None


class EventBus:
    def __init__(self) -> None:
        self._subs: list[tuple[str, Handler]] = []
        self._cache: dict[str, list[Handler]] = {}
        self._queues: weakref.WeakSet[Subscription] = weakref.WeakSet()

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        self._subs.append((pattern, handler))
        self._cache.clear()
        return lambda: self._remove(pattern, handler)

    def queue(self, *patterns: str, maxsize: int = 10_000) -> Subscription:
        """One queue for the topics of every pattern, in publish order."""
        sub = Subscription(self, patterns, maxsize)
        for pattern in patterns:
            self.subscribe(pattern, sub._put)
        self._queues.add(sub)
        return sub

    def queue_stats(self) -> dict[str, int]:
        """The async consumers' queues: how many, the deepest now, and the
        items dropped so far by those that fell behind (websockets)."""
        queues = list(self._queues)
        return {"queues": len(queues), "deepest": max((len(q) for q in queues), default=0),
                "dropped": sum(q.dropped for q in queues)}

    def _remove(self, pattern: str, handler: Handler) -> None:
        try:
            self._subs.remove((pattern, handler))
        except ValueError:
            return
        self._cache.clear()

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._handlers(topic))

    def _handlers(self, topic: str) -> list[Handler]:
        handlers = self._cache.get(topic)
        if handlers is None:
            handlers = [h for p, h in self._subs if _matches(p, topic)]
            self._cache[topic] = handlers
        return handlers

    def publish(self, topic: str, payload: Any) -> None:
        for handler in self._handlers(topic):
            try:
                handler(topic, payload)
            except Exception:
                log.exception("bus_subscriber_failed", topic=topic, handler=repr(handler))
