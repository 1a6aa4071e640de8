"""The FastAGI server the dialplan's ``AGI(agi://127.0.0.1:<port>/<route>)`` reaches.

Requests are handled with panoramisk's ``fast_agi.Request`` (command
sending and result parsing). The accept loop is ours, because panoramisk's
``Application.handler`` spins forever on a client that closes before the
blank line ending the AGI headers, and wraps plain functions with
``asyncio.coroutine`` (gone in Python 3.11). Here:

* headers are read with a deadline and an EOF check;
* routes are ``async def`` handlers only (the IVR's ``hotline`` route is
  ivr/services.py; ``ping`` is below);
* a handler that raises is logged with the call's id, and the channel
  is left to the dialplan (which sends the caller to a queue).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from panoramisk.fast_agi import Request

log = structlog.get_logger("cti.agi")

# connections the kernel holds for us while the loop is busy: Asterisk gives
# up on a FastAGI connect after 2 s (MAX_AGI_CONNECT) and the caller goes to
# the fallback queue; a burst of callers must not find the queue full (the
# default is 100)
ACCEPT_BACKLOG = 1024

AgiHandler = Callable[[Request], Awaitable[None]]
HEADER_DEADLINE = 5.0
MAX_HEADER_BYTES = 64 * 1024


class AgiServer:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.routes: dict[str, AgiHandler] = {}
        self._server: asyncio.AbstractServer | None = None
        self.requests = 0
        self.failures = 0

    def add_route(self, path: str, handler: AgiHandler) -> None:
        if not asyncio.iscoroutinefunction(handler):
            raise TypeError(f"AGI route {path!r}: handler must be an async function")
        if path in self.routes:
            raise ValueError(f"AGI route {path!r} already exists")
        self.routes[path] = handler

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  backlog=ACCEPT_BACKLOG)
        sock = self._server.sockets[0].getsockname()
        self.port = sock[1]
        log.info("agi_listening", host=self.host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def _read_headers(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\n\n"), HEADER_DEADLINE)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            return None
        if len(raw) > MAX_HEADER_BYTES:
            return None
        headers: dict[str, str] = {}
        for line in raw.decode("utf-8", "replace").split("\n"):
            key, sep, value = line.partition(": ")
            if sep:
                headers[key] = value
        return headers

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        try:
            headers = await self._read_headers(reader)
            if headers is None:
                log.warning("agi_bad_request", peer=writer.get_extra_info("peername"))
                return
            script = headers.get("agi_network_script", "").split("?", 1)[0]
            call_id = headers.get("agi_arg_1") or headers.get("agi_uniqueid", "")
            route = self.routes.get(script)
            if route is None:
                log.error("agi_no_route", route=script, call_id=call_id)
                return
            request = Request(app=self, headers=headers, reader=reader, writer=writer)
            with structlog.contextvars.bound_contextvars(call_id=headers.get("agi_uniqueid", "")):
                try:
                    await route(request)
                except Exception:
                    self.failures += 1
                    log.exception("agi_handler_failed", route=script)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def get_variable(request: Request, name: str) -> str:
    result = await request.send_command(f"GET VARIABLE {name}")
    value = result.get("result", ("", ""))
    return str(value[1] or "") if isinstance(value, tuple) and value[0] == "1" else ""


async def ping(request: Request) -> None:
    await request.send_command("VERBOSE hotline-agi-ok 1")
