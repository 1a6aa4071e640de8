"""Sessions: agents sign in, and every request says who it is for.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow
RFC 9106's recommendations) and verified in a worker thread: a hash costs
tens of milliseconds of CPU and the event loop is busy with Asterisk's
events. A successful sign-in creates a random session token; the browser
holds it in an HttpOnly cookie (or sends it as ``Authorization: Bearer``),
the database only its SHA-256. Wrong code and wrong password get the same
answer, and after ``MAX_FAILURES`` failed tries in ``FAILURE_WINDOW``
seconds an agent's code is refused for the rest of the window.

The accounts and sessions are kept in the service database; this module
says what it needs of it (:class:`AccountStore`, crm_bridge/accounts.py
keeps them). Signing out also runs the hooks the composition root gives
(the ACD logs the agent out of the queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from cti.errors import DomainError, FieldError
from cti.web.parsing import body
from cti.web.responses import ok

log = structlog.get_logger("cti.web.sessions")

SESSION_HOURS = 12  # a long shift; signing in again after that is expected
MIN_PASSWORD = 8
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0
COOKIE = "hotline_session"


class SignInFailed(DomainError):
    status = 401
    error_id = "sign-in-failed"


class NotSignedIn(DomainError):
    status = 401
    error_id = "not-signed-in"


class TooManyAttempts(DomainError):
    status = 429
    error_id = "too-many-attempts"


@dataclass(frozen=True)
class Identity:
    code: str
    name: str


class Account(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def password_hash(self) -> str | None: ...


class AccountStore(Protocol):
    async def account(self, code: str) -> Account | None: ...

    async def set_password_hash(self, code: str, hashed: str) -> bool:
        """False when there is no such agent. Ends the agent's sessions."""
        ...

    async def open_session(self, code: str, token_hash: str, expires_at: dt.datetime,
                           *, rehashed: str | None = None) -> None:
        """Also drops the agent's expired sessions; stores ``rehashed`` if given."""
        ...

    async def session_account(self, token_hash: str) -> tuple[Account, dt.datetime] | None: ...

    async def close_session(self, token_hash: str) -> None: ...


SignOutHook = Callable[[str], Awaitable[None]]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SessionService:
    def __init__(self, store: AccountStore, *, hasher: PasswordHasher | None = None,
                 on_sign_out: Sequence[SignOutHook] = ()) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
        self.on_sign_out = list(on_sign_out)
        self._failures: dict[str, list[float]] = {}
        self._decoy: str | None = None  # made on first need, off the event loop

    def hash_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise FieldError("password", f"at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    async def set_password(self, code: str, password: str) -> None:
        """A new password signs out every console of that agent."""
        hashed = await asyncio.to_thread(self.hash_password, password)
        if not await self.store.set_password_hash(code, hashed):
            raise FieldError("code", f"no agent {code}")

    def _throttle(self, code: str) -> None:
        now = time.monotonic()
        recent = [t for t in self._failures.get(code, []) if now - t < FAILURE_WINDOW]
        self._failures[code] = recent
        if len(recent) >= MAX_FAILURES:
            wait = int(FAILURE_WINDOW - (now - recent[0])) + 1
            raise TooManyAttempts(f"too many failed sign-ins for {code}; try again in {wait} s",
                                  details={"retry_after": wait})

    def _verify(self, hashed: str | None, password: str) -> bool:
        if hashed is None and self._decoy is None:
            self._decoy = self.hasher.hash(secrets.token_hex(16))
        try:
            # an unknown agent is verified against the decoy: both cost the same
            return self.hasher.verify(hashed or self._decoy or "", password) \
                and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    async def sign_in(self, code: str, password: str) -> tuple[str, Identity]:
        self._throttle(code)
        account = await self.store.account(code)
        hashed = account.password_hash if account is not None and account.active else None
        if not await asyncio.to_thread(self._verify, hashed, password) or account is None \
                or hashed is None:
            self._failures.setdefault(code, []).append(time.monotonic())
            log.warning("sign_in_failed", agent=code)
            raise SignInFailed("wrong agent number or password")
        self._failures.pop(code, None)
        token = secrets.token_urlsafe(32)
        rehashed = None
        if self.hasher.check_needs_rehash(hashed):
            rehashed = await asyncio.to_thread(self.hasher.hash, password)
        await self.store.open_session(account.code, token_hash(token),
                                      utcnow() + dt.timedelta(hours=SESSION_HOURS),
                                      rehashed=rehashed)
        log.info("signed_in", agent=code)
        return token, Identity(account.code, account.name)

    async def identify(self, token: str | None) -> Identity:
        if not token:
            raise NotSignedIn("sign in first")
        found = await self.store.session_account(token_hash(token))
        if found is None or not found[0].active or found[1] <= utcnow():
            raise NotSignedIn("the session has ended; sign in again")
        return Identity(found[0].code, found[0].name)

    async def sign_out(self, token: str | None) -> None:
        """The session ends; the sign-out hooks run for a signed-in agent first."""
        if not token:
            return
        with contextlib.suppress(DomainError):
            who = await self.identify(token)
            for hook in self.on_sign_out:
                with contextlib.suppress(DomainError):
                    await hook(who.code)
        await self.store.close_session(token_hash(token))


# ---------------------------------------------------------------------- HTTP
SESSIONS: web.AppKey[SessionService] = web.AppKey("sessions")


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=20)
    password: str = Field(min_length=1, max_length=200)


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE)


async def identity(request: web.Request) -> Identity:
    """Who the request is for; 401 ``not-signed-in`` without a live session."""
    return await request.app[SESSIONS].identify(_token(request))


S = TypeVar("S")


def for_signed_in(key: web.AppKey[S], verb: Callable[[S], Callable[[str], Awaitable[object]]]
                  ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler for a verb with no body, done by ``app[key]`` for the signed-in
    agent (``verb(service)(agent_code)``)."""
    async def handler(request: web.Request) -> web.Response:
        who = await identity(request)
        return ok(await verb(request.app[key])(who.code))
    return handler


async def sign_in(request: web.Request) -> web.Response:
    data = await body(request, SignIn)
    token, who = await request.app[SESSIONS].sign_in(data.code, data.password)
    resp = ok({"agent": {"code": who.code, "name": who.name}})
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                    secure=request.secure, max_age=SESSION_HOURS * 3600)
    return resp


async def sign_out(request: web.Request) -> web.Response:
    await request.app[SESSIONS].sign_out(_token(request))
    resp = ok({"signed_out": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


def add_routes(app: web.Application, sessions: SessionService) -> None:
    app[SESSIONS] = sessions
    app.router.add_post("/api/v1/console/sign-in", sign_in)
    app.router.add_post("/api/v1/console/sign-out", sign_out)
