"""Agents sign in to the console.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow
RFC 9106's recommendations) and verified in a worker thread: a hash costs
tens of milliseconds of CPU and the event loop is busy with Asterisk's
events. A successful sign-in creates a random session token; the browser
holds it in an HttpOnly cookie, the database only its SHA-256. Wrong code
and wrong password get the same answer, and after ``MAX_FAILURES`` failed
tries in ``FAILURE_WINDOW`` seconds an agent's code is refused for the rest
of the window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from crm_bridge.models import Agent, AgentSession, utcnow
from cti.errors import DomainError, FieldError

log = structlog.get_logger("cti.auth")

SESSION_HOURS = 12  # a long shift; signing in again after that is expected
MIN_PASSWORD = 8
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0


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


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(self, engine: AsyncEngine, *, hasher: PasswordHasher | None = None) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.hasher = hasher or PasswordHasher()
        self._failures: dict[str, list[float]] = {}
        self._decoy: str | None = None  # made on first need, off the event loop

    def hash_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise FieldError("password", f"at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    async def set_password(self, code: str, password: str) -> None:
        hashed = await asyncio.to_thread(self.hash_password, password)
        async with self.sessions.begin() as s:
            agent_id = (await s.execute(select(Agent.id).where(Agent.code == code))
                        ).scalar_one_or_none()
            if agent_id is None:
                raise FieldError("code", f"no agent {code}")
            await s.execute(update(Agent).where(Agent.id == agent_id)
                            .values(password_hash=hashed))
            # a new password signs out every console of that agent
            await s.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))

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
        async with self.sessions() as s:
            agent = (await s.execute(select(Agent).where(Agent.code == code))).scalar_one_or_none()
        hashed = agent.password_hash if agent is not None and agent.active else None
        if not await asyncio.to_thread(self._verify, hashed, password) or agent is None:
            self._failures.setdefault(code, []).append(time.monotonic())
            log.warning("sign_in_failed", agent=code)
            raise SignInFailed("wrong agent number or password")
        self._failures.pop(code, None)
        token = secrets.token_urlsafe(32)
        async with self.sessions.begin() as s:
            await s.execute(delete(AgentSession).where(  # this agent's ended sessions
                AgentSession.agent_id == agent.id, AgentSession.expires_at <= utcnow()))
            s.add(AgentSession(token_hash=token_hash(token), agent_id=agent.id,
                               expires_at=utcnow() + dt.timedelta(hours=SESSION_HOURS)))
            assert hashed is not None
            if self.hasher.check_needs_rehash(hashed):
                rehashed = await asyncio.to_thread(self.hasher.hash, password)
                await s.execute(update(Agent).where(Agent.id == agent.id)
                                .values(password_hash=rehashed))
        log.info("signed_in", agent=code)
        return token, Identity(agent.code, agent.name)

    async def identify(self, token: str | None) -> Identity:
        if not token:
            raise NotSignedIn("sign in first")
        async with self.sessions() as s:
            row = (await s.execute(
                select(Agent.code, Agent.name, Agent.active, AgentSession.expires_at)
                .join(AgentSession, AgentSession.agent_id == Agent.id)
                .where(AgentSession.token_hash == token_hash(token)))).first()
        if row is None or not row.active or row.expires_at <= utcnow():
            raise NotSignedIn("the session has ended; sign in again")
        return Identity(row.code, row.name)

    async def sign_out(self, token: str | None) -> None:
        if not token:
            return
        async with self.sessions.begin() as s:
            await s.execute(delete(AgentSession).where(
                AgentSession.token_hash == token_hash(token)))
