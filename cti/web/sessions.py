"""Sessions: users sign in, and every request says who it is for.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow
RFC 9106's recommendations) and verified in a worker thread: a hash costs
tens of milliseconds of CPU and the event loop is busy with Asterisk's
events. A successful sign-in creates a random session token; the browser
holds it in an HttpOnly cookie (or sends it as ``Authorization: Bearer``),
the database only its SHA-256. Wrong login and wrong password get the same
answer.

Throttling is by source and account together: after ``MAX_FAILURES`` failed
tries in ``FAILURE_WINDOW`` seconds from one address for one login, that
address is refused for that login (the account itself stays open from
elsewhere, so nobody can lock an agent out from across the office); after
``MAX_SOURCE_FAILURES`` from one address for any logins, the address is
refused for all.

The accounts and sessions are kept in the service database; this module
says what it needs of it (:class:`AccountStore`, crm_bridge/accounts.py
keeps them). Signing out also runs the hooks the composition root gives
(the ACD logs the agent out of the queues). Which routes need which role is
cti/web/access.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import structlog
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from cti.errors import DomainError, FieldError
from cti.roles import Identity, Role
from cti.web.parsing import body
from cti.web.responses import ok
from cti.web.routes import PUBLIC, SIGNED_IN, Routes, user

log = structlog.get_logger("cti.web.sessions")

STATIC = Path(__file__).with_name("static")

SESSION_HOURS = 12  # a long shift; signing in again after that is expected
MIN_PASSWORD = 8
MAX_FAILURES = 5  # per source and login
MAX_SOURCE_FAILURES = 30  # per source, all logins
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


class Account(Protocol):
    @property
    def login(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def active(self) -> bool: ...
    @property
    def password_hash(self) -> str | None: ...
    @property
    def agent(self) -> str | None: ...


class AccountStore(Protocol):
    async def account(self, login: str) -> Account | None: ...

    async def set_password_hash(self, login: str, hashed: str) -> bool:
        """False when there is no such user (an agent without a user gets one).
        Ends the user's sessions."""
        ...

    async def open_session(self, login: str, token_hash: str, expires_at: dt.datetime,
                           *, rehashed: str | None = None) -> None:
        """Also drops the user's expired sessions; stores ``rehashed`` if given."""
        ...

    async def session_account(self, token_hash: str) -> tuple[Account, dt.datetime] | None: ...

    async def close_session(self, token_hash: str) -> None: ...


SignOutHook = Callable[[str], Awaitable[None]]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _identity(account: Account) -> Identity:
    return Identity(account.login, account.name, account.role, account.agent)


class SessionService:
    def __init__(self, store: AccountStore, *, hasher: PasswordHasher | None = None,
                 on_sign_out: Sequence[SignOutHook] = ()) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
        self.on_sign_out = list(on_sign_out)
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._source_failures: dict[str, list[float]] = {}
        self._decoy: str | None = None  # made on first need, off the event loop

    def hash_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise FieldError("password", f"at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    async def set_password(self, login: str, password: str) -> None:
        """A new password signs out every browser of that user."""
        hashed = await asyncio.to_thread(self.hash_password, password)
        if not await self.store.set_password_hash(login, hashed):
            raise FieldError("login", f"no user or agent {login}")

    @staticmethod
    def _recent(times: list[float], now: float) -> list[float]:
        return [t for t in times if now - t < FAILURE_WINDOW]

    def _throttle(self, login: str, source: str) -> None:
        now = time.monotonic()
        pair = self._failures[(source, login)] = self._recent(
            self._failures.get((source, login), []), now)
        wide = self._source_failures[source] = self._recent(
            self._source_failures.get(source, []), now)
        for recent, limit in ((pair, MAX_FAILURES), (wide, MAX_SOURCE_FAILURES)):
            if len(recent) >= limit:
                wait = int(FAILURE_WINDOW - (now - recent[0])) + 1
                raise TooManyAttempts(
                    f"too many failed sign-ins from {source}; try again in {wait} s",
                    details={"retry_after": wait})
        if len(self._failures) > 10_000:  # forget the quiet ones: memory stays bounded
            self._forget(now)

    def _forget(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if not self._recent(v, now)]:
            del self._failures[key]
        for src in [k for k, v in self._source_failures.items() if not self._recent(v, now)]:
            del self._source_failures[src]

    def _failed(self, login: str, source: str) -> None:
        now = time.monotonic()
        self._failures.setdefault((source, login), []).append(now)
        self._source_failures.setdefault(source, []).append(now)

    def _verify(self, hashed: str | None, password: str) -> bool:
        if hashed is None and self._decoy is None:
            self._decoy = self.hasher.hash(secrets.token_hex(16))
        try:
            # an unknown user is verified against the decoy: both cost the same
            return self.hasher.verify(hashed or self._decoy or "", password) \
                and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    async def sign_in(self, login: str, password: str,
                      source: str = "local") -> tuple[str, Identity]:
        self._throttle(login, source)
        account = await self.store.account(login)
        hashed = account.password_hash if account is not None and account.active else None
        if not await asyncio.to_thread(self._verify, hashed, password) or account is None \
                or hashed is None:
            self._failed(login, source)
            log.warning("sign_in_failed", login=login, source=source)
            raise SignInFailed("wrong login or password")
        self._failures.pop((source, login), None)
        token = secrets.token_urlsafe(32)
        rehashed = None
        if self.hasher.check_needs_rehash(hashed):
            rehashed = await asyncio.to_thread(self.hasher.hash, password)
        await self.store.open_session(account.login, token_hash(token),
                                      utcnow() + dt.timedelta(hours=SESSION_HOURS),
                                      rehashed=rehashed)
        log.info("signed_in", login=login, role=account.role.value, source=source)
        return token, _identity(account)

    async def identify(self, token: str | None) -> Identity:
        if not token:
            raise NotSignedIn("sign in first")
        found = await self.store.session_account(token_hash(token))
        if found is None or not found[0].active or found[1] <= utcnow():
            raise NotSignedIn("the session has ended; sign in again")
        return _identity(found[0])

    async def sign_out(self, token: str | None) -> None:
        """The session ends; the sign-out hooks run for a signed-in agent first."""
        if not token:
            return
        with contextlib.suppress(DomainError):
            who = await self.identify(token)
            if who.agent is not None:
                for hook in self.on_sign_out:
                    with contextlib.suppress(DomainError):
                        await hook(who.agent)
        await self.store.close_session(token_hash(token))


# ---------------------------------------------------------------------- HTTP
SESSIONS: web.AppKey[SessionService] = web.AppKey("sessions")


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # "code": the console's form says agent number
    login: str = Field(min_length=1, max_length=40, validation_alias=AliasChoices("login", "code"))
    password: str = Field(min_length=1, max_length=200)


def token_of(request: web.Request) -> tuple[str | None, bool]:
    """The session token and whether it came in the cookie (which a browser
    sends by itself, so state-changing requests must prove their origin)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None, False
    token = request.cookies.get(COOKIE)
    return token, token is not None


def identity_json(who: Identity) -> dict[str, object]:
    return {"login": who.login, "name": who.name, "role": who.role.value, "agent": who.agent,
            "home": who.home}


async def sign_in(request: web.Request) -> web.Response:
    data = await body(request, SignIn)
    token, who = await request.app[SESSIONS].sign_in(data.login, data.password,
                                                     request.remote or "unknown")
    resp = ok({"user": identity_json(who)})
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                    secure=request.secure, max_age=SESSION_HOURS * 3600)
    return resp


async def sign_out(request: web.Request) -> web.Response:
    await request.app[SESSIONS].sign_out(token_of(request)[0])
    resp = ok({"signed_out": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


async def session(request: web.Request) -> web.Response:
    """Who this session is: login, name, role, agent number, home page."""
    return ok({"user": identity_json(user(request))})


def add_routes(app: web.Application, sessions: SessionService) -> None:
    app[SESSIONS] = sessions
    r = Routes(app)
    r.page("/sign-in", STATIC / "sign-in.html", PUBLIC)
    r.post("/api/v1/sign-in", sign_in, PUBLIC)
    r.post("/api/v1/sign-out", sign_out, PUBLIC)
    r.get("/api/v1/session", session, SIGNED_IN)
