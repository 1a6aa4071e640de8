"""The screen pop's card, sent to an external CRM as a signed webhook.

Each delivery is a JSON POST with:

* ``X-Hotline-Delivery``: an id, the same on every retry (receivers dedupe);
* ``X-Hotline-Timestamp``: seconds since the epoch when it was signed;
* ``X-Hotline-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the
  shared secret, of ``<timestamp>.<body>`` (receivers also refuse old
  timestamps, so a captured request cannot be replayed later).

A delivery that fails (no connection, a timeout, 5xx, 408, 429) is retried
after 0.5, 1, 2, 4, 8 ... s (at most ``max_tries``); other 4xx answers are
the receiver refusing it and are not retried. Deliveries wait in a bounded
queue: when the CRM is down for long, the oldest are dropped and counted,
never the server's memory. The secret is never logged.

The HTTP POST itself is given (:class:`Poster`; the server's is
cti/web/client.py): this module decides what is sent, when, and how often.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

log = structlog.get_logger("crm_bridge.webhook")

RETRY_STATUSES = {408, 429}


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str,
           *, tolerance: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


class Poster(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's HTTP status; raises OSError (ConnectionError,
        TimeoutError) when there was no answer."""
        ...


@dataclass
class Delivery:
    event: str
    payload: dict[str, Any]
    id: str
    tries: int = 0


class WebhookSender:
    def __init__(self, url: str, secret: str, poster: Poster, *, max_tries: int = 6,
                 first_delay: float = 0.5, max_delay: float = 30.0, max_queued: int = 1000,
                 concurrency: int = 4) -> None:
        self.url = url
        self._secret = secret.encode()
        self.poster = poster
        self.max_tries, self.first_delay, self.max_delay = max_tries, first_delay, max_delay
        self.concurrency = concurrency
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(max_queued)
        self.delivered = self.failed = self.dropped = 0

    def __repr__(self) -> str:  # no secret in logs or tracebacks
        return f"WebhookSender(url={self.url!r})"

    def send(self, event: str, payload: dict[str, Any]) -> None:
        delivery = Delivery(event, payload, uuid.uuid4().hex)
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            log.warning("webhook_dropped", reason="queue full")
        self._queue.put_nowait(delivery)

    async def run(self) -> None:
        """``concurrency`` deliveries at a time; the rest wait in the bounded
        queue (so a long outage drops the oldest there, never grows memory)."""
        async def worker() -> None:
            while True:
                await self._deliver(await self._queue.get())

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _deliver(self, d: Delivery) -> None:
        body = json.dumps({"event": d.event, "delivery": d.id, "data": d.payload},
                          ensure_ascii=False, default=str).encode()
        delay = self.first_delay
        while True:
            d.tries += 1
            stamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Hotline-Event": d.event,
                       "X-Hotline-Delivery": d.id, "X-Hotline-Timestamp": stamp,
                       "X-Hotline-Signature": sign(self._secret, stamp, body)}
            try:
                status = await self.poster.post(self.url, body, headers)
                problem = None if status < 300 else f"HTTP {status}"
            except OSError as exc:  # no answer: refused, reset, timed out
                status, problem = 0, f"{type(exc).__name__}: {exc}"[:200]
            if problem is None:
                self.delivered += 1
                log.info("webhook_delivered", hook_event=d.event, delivery=d.id, tries=d.tries)
                return
            final = 400 <= status < 500 and status not in RETRY_STATUSES
            if final or d.tries >= self.max_tries:
                self.failed += 1
                log.error("webhook_failed", hook_event=d.event, delivery=d.id, tries=d.tries,
                          problem=problem)
                return
            log.warning("webhook_retry", hook_event=d.event, delivery=d.id, tries=d.tries,
                        problem=problem, retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)
