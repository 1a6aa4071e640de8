"""Outgoing HTTP: one POST, for what the server sends to other systems (the
signed CRM webhook, crm_bridge/webhook.py, gets this as its transport)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp


class PostFailed(ConnectionError):
    """No answer: the connection failed or timed out."""


class HttpPoster:
    """POSTs on one pooled client session, opened by :meth:`running`."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HttpPoster]:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
            self._http = http
            try:
                yield self
            finally:
                self._http = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's status; :class:`PostFailed` if there was none."""
        if self._http is None:
            raise PostFailed("the HTTP client is not running")
        try:
            async with self._http.post(url, data=body, headers=headers) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostFailed(f"{type(exc).__name__}: {exc}"[:200]) from None
