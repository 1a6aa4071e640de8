"""The CRM webhook over real HTTP (a local receiver): signature, retries on
5xx with one delivery id, no retry on a refusal, the secret kept out of logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from crm_bridge.webhook import WebhookSender, sign, verify
from cti.web.client import HttpPoster

SECRET = "0123456789abcdef-secret"


@contextlib.asynccontextmanager
async def receiver(statuses: list[int]) -> AsyncIterator[tuple[str, list[web.Request],
                                                                list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        return web.Response(status=statuses[min(len(seen), len(statuses)) - 1])

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/hook")), seen, bodies
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def sending(url: str, **kw: float) -> AsyncIterator[WebhookSender]:
    async with HttpPoster().running() as poster:
        sender = WebhookSender(url, SECRET, poster, first_delay=0.05,
                               **kw)  # type: ignore[arg-type]
        task = asyncio.create_task(sender.run())
        try:
            yield sender
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def settle(pred: object, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if pred():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_failing_crm_gets_the_same_signed_delivery_until_it_takes_it() -> None:
    async with receiver([503, 500, 200]) as (url, seen, bodies), sending(url) as sender:
        with capture_logs() as logs:
            sender.send("screen_pop", {"call_id": "1.2", "card": {"name": "吴十"}})
            await settle(lambda: sender.delivered == 1)
    assert len(seen) == 3
    assert len({r.headers["X-Hotline-Delivery"] for r in seen}) == 1
    for request, body in zip(seen, bodies, strict=True):
        assert verify(SECRET.encode(), request.headers["X-Hotline-Timestamp"], body,
                      request.headers["X-Hotline-Signature"])
    assert [e["event"] for e in logs] == ["webhook_retry", "webhook_retry", "webhook_delivered"]
    assert SECRET not in repr(logs) and SECRET not in repr(sender)


async def test_a_refusal_is_not_retried_and_the_tries_are_bounded() -> None:
    async with receiver([400]) as (url, seen, _), sending(url) as sender:
        sender.send("screen_pop", {"call_id": "1.3"})
        await settle(lambda: sender.failed == 1)
        await asyncio.sleep(0.2)
    assert len(seen) == 1
    async with receiver([503]) as (url, seen, _), sending(url, max_tries=3) as sender:
        sender.send("screen_pop", {"call_id": "1.4"})
        await settle(lambda: sender.failed == 1)
    assert len(seen) == 3


def test_a_tampered_body_an_old_timestamp_or_another_key_does_not_verify() -> None:
    body, stamp = b'{"event":"screen_pop"}', "1795500000"
    good = sign(SECRET.encode(), stamp, body)
    assert verify(SECRET.encode(), stamp, body, good, now=1795500010)
    assert not verify(SECRET.encode(), stamp, body + b" ", good, now=1795500010)
    assert not verify(SECRET.encode(), stamp, body, good, now=1795500000 + 301)
    assert not verify(b"another key entirely", stamp, body, good, now=1795500010)
    assert not verify(SECRET.encode(), "yesterday", body, good)


async def test_a_long_outage_drops_the_oldest_not_the_memory() -> None:
    """The deliveries in flight are bounded too: while the CRM fails, new
    cards wait in the queue, and beyond it the oldest are dropped."""
    async with receiver([503]) as (url, _seen, bodies), sending(
            url, max_queued=3, concurrency=1, max_tries=2) as sender:
        sender.first_delay = 0.5
        for n in range(6):
            sender.send("screen_pop", {"n": n})
            await asyncio.sleep(0.02)  # the worker takes the first one at once
        assert sender.dropped == 2
        await settle(lambda: sender.failed == 4, timeout=10)
    assert sorted({json.loads(b)["data"]["n"] for b in bodies}) == [0, 3, 4, 5]
