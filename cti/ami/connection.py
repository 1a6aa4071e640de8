"""One AMI connection to Asterisk: login, actions with timeouts, events, reconnect.

panoramisk 1.4 carries the AMI wire model this module follows (actions with
an ActionID, responses and events as header maps), but its ``Manager`` and
``AMIProtocol`` have traps that a call centre cannot live with (see
docs/ami.md): a wrong secret retries forever, a Chinese name split across two
TCP reads is dropped, QueueAdd and Originate replies never resolve, unanswered
actions are re-sent after a reconnect (a second call to a customer), no action
has a timeout, and event callbacks run inline on the reader. So the
connection, framing and reply matching are ours, in this one place:

* A refused login raises :class:`AmiAuthError` naming host and user.
* Every action has a timeout; each kind of action knows how its answer ends
  (a single response, a list closed by ``...Complete``, or an async Originate
  closed by ``OriginateResponse``).
* When the connection drops, actions waiting for an answer fail with
  :class:`AmiConnectionError`; nothing is ever re-sent behind the caller's
  back.
* The reader only frames, parses and matches replies. Events are handed to
  the consumer in batches (``next_batch``), so a slow subscriber never stalls
  the socket; past ``max_buffered`` events reading pauses until the consumer
  catches up.
* Lost connections are retried with exponential backoff and jitter. Each new
  session is announced in the event stream by a :class:`Connected` marker, so
  the consumer can re-read Asterisk's state before it trusts events again;
  events of a session always follow its marker.
* A ping that gets no answer means a half-open socket: it is closed and
  reconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import random
import uuid
from dataclasses import dataclass, field
from typing import cast

import structlog

from cti.ami.errors import (
    AmiActionFailed,
    AmiAuthError,
    AmiConnectionError,
    AmiError,
    AmiTimeout,
)
from cti.ami.parser import AmiMessage, AmiParser, encode_action

log = structlog.get_logger("cti.ami")


class ReplyKind(enum.Enum):
    SINGLE = "single"  # one Response
    LIST = "list"  # Response + events until EventList: Complete
    ORIGINATE = "originate"  # Response, then OriginateResponse when answered or failed


@dataclass(frozen=True)
class AmiReply:
    response: AmiMessage
    events: list[AmiMessage] = field(default_factory=list)


@dataclass(frozen=True)
class Connected:
    """Marker in the event stream: a new AMI session is up (logged in)."""

    session: int


@dataclass(frozen=True)
class Disconnected:
    """Marker in the event stream: the AMI session ended."""

    session: int
    reason: str


StreamItem = AmiMessage | Connected | Disconnected


class ConnState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class _Pending:
    __slots__ = ("action", "events", "future", "kind", "response")

    def __init__(self, action: str, kind: ReplyKind, future: asyncio.Future[AmiReply]) -> None:
        self.action = action
        self.kind = kind
        self.future = future
        self.response: AmiMessage | None = None
        self.events: list[AmiMessage] = []


class _Protocol(asyncio.Protocol):
    def __init__(self, conn: AmiConnection) -> None:
        self.conn = conn
        self.parser = AmiParser()
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        # Events read before the login is answered (FullyBooted often is) are
        # held, so that every session's stream starts with its Connected marker
        self.held: list[StreamItem] | None = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a read-write stream transport (asyncio's, or uvloop's, which is not
        # an asyncio.Transport subclass but has every method used here)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        pending = conn._pending
        for msg in self.parser.feed(data):
            aid = msg.get("ActionID")
            if aid is not None:
                p = pending.get(aid if isinstance(aid, str) else aid[0])
                if p is not None:
                    if conn._on_reply(p, msg):
                        continue
                elif "Event" not in msg:
                    continue  # a late answer to an action that timed out
            if "Event" in msg:
                if self.held is None:
                    conn._push(msg)
                else:
                    self.held.append(msg)
        depth = len(conn._buffer)
        if depth > conn.peak_buffered:
            conn.peak_buffered = depth
        if depth > conn.max_buffered and self.transport is not None:
            self.transport.pause_reading()
            conn._reading_paused = True
            conn.read_pauses += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(str(exc) if exc else "closed by Asterisk")


class AmiConnection:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        action_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_buffered: int = 200_000,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.action_timeout = action_timeout
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_buffered = max_buffered

        self.state = ConnState.DISCONNECTED
        self.session = 0
        self.last_error: str | None = None
        self.asterisk_version: str | None = None
        self._protocol: _Protocol | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"hotline-{uuid.uuid4().hex[:8]}-"
        self._buffer: list[StreamItem] = []
        self._wakeup = asyncio.Event()
        self._reading_paused = False
        self.peak_buffered = 0  # the most events ever waiting for the consumer
        self.read_pauses = 0  # times reading paused for a consumer too far behind
        self._supervisor: asyncio.Task[None] | None = None
        self._first_outcome: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<AmiConnection {self.username}@{self.host}:{self.port} {self.state.value}>"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect and log in, then keep the connection up in the background.

        Raises :class:`AmiAuthError` at once if the login is refused. If
        Asterisk is not reachable yet, returns and keeps retrying.
        """
        loop = asyncio.get_running_loop()
        self._first_outcome = loop.create_future()
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")
        try:
            await self._first_outcome
        except AmiAuthError:
            await self.close()
            raise

    async def close(self) -> None:
        self.state = ConnState.CLOSED
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        self.drop()
        self._fail_pending("AMI connection closed")

    @property
    def connected(self) -> bool:
        return self.state is ConnState.CONNECTED

    async def _supervise(self) -> None:
        delay = self.backoff_initial
        while self.state is not ConnState.CLOSED:
            self.state = ConnState.CONNECTING
            self.last_error = None  # or the next failure's message would nest it
            try:
                proto = await self._connect_and_login()
            except AmiAuthError as exc:
                self.last_error = str(exc)
                self.state = ConnState.DISCONNECTED
                if self._settle_start(exc):
                    return
                log.error("ami_login_refused", host=self.host, port=self.port, user=self.username)
                delay = self.backoff_max
            except (OSError, AmiError, TimeoutError) as exc:
                self.last_error = f"cannot reach Asterisk at {self.host}:{self.port}: {exc}"
                self.state = ConnState.DISCONNECTED
                log.warning("ami_connect_failed", host=self.host, port=self.port, error=str(exc),
                            retry_in=round(delay, 2))
                self._settle_start()
            else:
                delay = self.backoff_initial
                self.last_error = None
                self._settle_start()
                reason = await self._hold_session(proto)
                self.last_error = f"connection lost: {reason}"
                log.warning("ami_disconnected", host=self.host, port=self.port, reason=reason)
                if self.state is ConnState.CLOSED:
                    return
                self.state = ConnState.DISCONNECTED
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.backoff_max)

    async def _connect_and_login(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(self), self.host, self.port),
            self.connect_timeout,
        )
        self._protocol = proto
        self._reading_paused = False
        try:
            reply = await self._send(
                "Login",
                {"Username": self.username, "Secret": self._secret, "Events": "on"},
                ReplyKind.SINGLE,
                self.connect_timeout,
                require_connected=False,
            )
        except AmiActionFailed as exc:
            self.drop()
            raise AmiAuthError(self.host, self.port, self.username, exc.message) from None
        except BaseException:
            self.drop()
            raise
        self.asterisk_version = proto.parser.banner
        self.session += 1
        self.state = ConnState.CONNECTED
        log.info("ami_connected", host=self.host, port=self.port, user=self.username,
                 session=self.session, message=reply.response.text("Message", ""))
        self._push(Connected(self.session))
        held, proto.held = proto.held or [], None
        for item in held:
            self._push(item)
        return proto

    async def _hold_session(self, proto: _Protocol) -> str:
        pinger = asyncio.create_task(self._ping_loop(proto), name="ami-ping")
        try:
            reason = await proto.lost
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
        self._protocol = None
        if self.state is not ConnState.CLOSED:
            self.state = ConnState.DISCONNECTED
        self._fail_pending(f"connection to Asterisk at {self.host}:{self.port} lost: {reason}")
        self._push(Disconnected(self.session, reason))
        return reason

    async def _ping_loop(self, proto: _Protocol) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.send("Ping", timeout=self.ping_timeout)
            except AmiTimeout:
                log.warning("ami_ping_unanswered", timeout=self.ping_timeout)
                if proto.transport is not None:
                    proto.transport.abort()
                return
            except AmiConnectionError:
                return

    def _fail_pending(self, message: str) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiConnectionError(f"{p.action}: {message}"))

    def drop(self) -> None:
        """Abort the socket, as a network failure would (the supervisor reconnects
        unless the connection is closed)."""
        proto, self._protocol = self._protocol, None
        if proto is not None and proto.transport is not None:
            proto.transport.abort()

    def _settle_start(self, exc: AmiAuthError | None = None) -> bool:
        """Tell ``start()`` how the first attempt went; True if it was waiting."""
        fut = self._first_outcome
        if fut is None or fut.done():
            return False
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)
        return True

    # ------------------------------------------------------------------ actions
    async def send(
        self,
        action: str,
        headers: dict[str, str | list[str]] | None = None,
        *,
        kind: ReplyKind = ReplyKind.SINGLE,
        timeout: float | None = None,
    ) -> AmiReply:
        """Send one action and wait for its whole answer.

        Raises AmiActionFailed (Asterisk said Error), AmiTimeout, or
        AmiConnectionError (not connected, or the connection dropped first).
        """
        return await self._send(action, headers or {}, kind,
                                self.action_timeout if timeout is None else timeout)

    async def _send(
        self,
        action: str,
        headers: dict[str, str | list[str]],
        kind: ReplyKind,
        timeout: float,
        *,
        require_connected: bool = True,
    ) -> AmiReply:
        proto = self._protocol
        if proto is None or proto.transport is None or proto.transport.is_closing() or (
            require_connected and self.state is not ConnState.CONNECTED
        ):
            raise AmiConnectionError(
                f"{action}: not connected to Asterisk at {self.host}:{self.port}"
                + (f" ({self.last_error})" if self.last_error else "")
            )
        action_id = f"{self._id_prefix}{next(self._ids)}"
        future: asyncio.Future[AmiReply] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(action, kind, future)
        try:
            proto.transport.write(encode_action(action, action_id, headers))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AmiTimeout(action, timeout) from None
        finally:
            self._pending.pop(action_id, None)

    def _on_reply(self, p: _Pending, msg: AmiMessage) -> bool:
        """Match one message to a waiting action. Returns True if it was consumed."""
        fut = p.future
        if fut.done():
            return "Event" not in msg
        if "Event" not in msg:  # a Response (OriginateResponse has a Response header too)
            if msg.text("Response", "") in ("Error", "Failure", "Fail"):
                fut.set_exception(AmiActionFailed(p.action, msg.text("Message", "")))
            elif p.kind is ReplyKind.SINGLE:
                fut.set_result(AmiReply(msg))
            elif p.kind is ReplyKind.LIST:
                if msg.get("EventList") == "start":
                    p.response = msg
                else:
                    fut.set_result(AmiReply(msg))
            else:  # ORIGINATE: wait for OriginateResponse
                p.response = msg
            return True
        if p.kind is ReplyKind.LIST:
            if msg.get("EventList") == "Complete" or msg.name.endswith("Complete"):
                fut.set_result(AmiReply(p.response or msg, p.events))
            else:
                p.events.append(msg)
            return True
        if p.kind is ReplyKind.ORIGINATE and msg.name == "OriginateResponse":
            if msg.text("Response", "") != "Success":
                fut.set_exception(AmiActionFailed(
                    p.action, f"originate failed: reason {msg.text('Reason', '?')} "
                    f"({_ORIGINATE_REASONS.get(msg.text('Reason', ''), 'unknown')})"))
            else:
                fut.set_result(AmiReply(p.response or msg, [msg]))
            return False  # OriginateResponse is also an event others may want
        return False

    # ------------------------------------------------------------------ events
    @property
    def buffered(self) -> int:
        """Events read and waiting for the consumer."""
        return len(self._buffer)

    def _push(self, item: StreamItem) -> None:
        self._buffer.append(item)
        self._wakeup.set()

    async def next_batch(self) -> list[StreamItem]:
        """Wait for events and return every one buffered so far, in order."""
        while not self._buffer:
            self._wakeup.clear()
            await self._wakeup.wait()
        batch, self._buffer = self._buffer, []
        if self._reading_paused and self._protocol is not None and self._protocol.transport:
            self._reading_paused = False
            self._protocol.transport.resume_reading()
        return batch


# Reason codes of OriginateResponse (Asterisk's AST_CONTROL_* values)
_ORIGINATE_REASONS = {
    "0": "no such channel or extension",
    "1": "hung up",
    "3": "ring timeout, no answer",
    "4": "answered",
    "5": "busy",
    "8": "congestion",
}
