"""Users, their sessions and the audit log in the service database.

What cti/web/sessions.py needs of it (the account behind a login, the
password hash, one ``user_sessions`` row per signed-in browser keyed by the
token's SHA-256), and what an admin does to users (add one, change a role,
deactivate). An agent's user has the agent number as its login and is tied
to the agent; setting a password for an agent that has no user yet makes one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_bridge.exceptions import UserExists, UserNotFound
from crm_bridge.models import Agent, AuditEntry, User, UserSession, utcnow
from cti.errors import FieldError
from cti.roles import Role


@dataclass(frozen=True)
class AccountRow:
    login: str
    name: str
    role: Role
    active: bool
    password_hash: str | None
    agent: str | None  # the agent number this user takes calls as


def _row(u: User, agent_code: str | None, agent_active: bool | None) -> AccountRow:
    # a deactivated agent's user cannot sign in either
    active = u.active and (agent_active is not False or u.role != Role.AGENT)
    return AccountRow(u.login, u.name, Role(u.role), active, u.password_hash,
                      agent_code if agent_active is not False else None)


def user_json(u: User, agent_code: str | None) -> dict[str, Any]:
    return {"login": u.login, "name": u.name, "role": u.role, "active": u.active,
            "agent": agent_code, "has_password": u.password_hash is not None,
            "created_at": u.created_at}


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @staticmethod
    def _with_agent() -> Any:
        return (select(User, Agent.code, Agent.active)
                .outerjoin(Agent, Agent.id == User.agent_id))

    async def account(self, login: str) -> AccountRow | None:
        async with self.sessions() as s:
            row = (await s.execute(self._with_agent().where(User.login == login))).first()
        return None if row is None else _row(*row)

    async def _user_id(self, s: AsyncSession, login: str) -> int | None:
        """The user's id; an agent without a user gets one (login = agent number)."""
        user_id = (await s.execute(select(User.id).where(User.login == login))
                   ).scalar_one_or_none()
        if user_id is None:
            agent = (await s.execute(select(Agent).where(Agent.code == login))
                     ).scalar_one_or_none()
            if agent is not None:
                user = User(login=agent.code, name=agent.name, role=Role.AGENT.value,
                            active=True, agent_id=agent.id)
                s.add(user)
                await s.flush()
                user_id = user.id
        return user_id

    async def set_password_hash(self, login: str, hashed: str) -> bool:
        """False when there is no such user (nor agent). Ends the user's sessions."""
        async with self.sessions.begin() as s:
            user_id = await self._user_id(s, login)
            if user_id is None:
                return False
            await s.execute(update(User).where(User.id == user_id).values(password_hash=hashed))
            await s.execute(delete(UserSession).where(UserSession.user_id == user_id))
        return True

    async def open_session(self, login: str, token_hash: str, expires_at: dt.datetime,
                           *, rehashed: str | None = None) -> None:
        async with self.sessions.begin() as s:
            user_id = (await s.execute(select(User.id).where(User.login == login))).scalar_one()
            await s.execute(delete(UserSession).where(  # this user's ended sessions
                UserSession.user_id == user_id, UserSession.expires_at <= utcnow()))
            s.add(UserSession(token_hash=token_hash, user_id=user_id, expires_at=expires_at))
            if rehashed is not None:
                await s.execute(update(User).where(User.id == user_id)
                                .values(password_hash=rehashed))

    async def session_account(self, token_hash: str) -> tuple[AccountRow, dt.datetime] | None:
        async with self.sessions() as s:
            row = (await s.execute(
                self._with_agent().add_columns(UserSession.expires_at)
                .join(UserSession, UserSession.user_id == User.id)
                .where(UserSession.token_hash == token_hash))).first()
        if row is None:
            return None
        return _row(row[0], row[1], row[2]), row[3]

    async def close_session(self, token_hash: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(delete(UserSession).where(UserSession.token_hash == token_hash))

    # ------------------------------------------------------------------ admin
    async def users(self) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            rows = (await s.execute(self._with_agent().order_by(User.login))).all()
        return [user_json(u, code) for u, code, _ in rows]

    async def add_user(self, login: str, name: str, role: Role,
                       agent: str | None = None) -> dict[str, Any]:
        """A new user without a password (set one to let them sign in).
        ``agent``: the agent number they take calls as (an agent user's is its
        own login)."""
        if role == Role.AGENT and agent is None:
            agent = login
        async with self.sessions.begin() as s:
            agent_id = None
            if agent is not None:
                agent_id = (await s.execute(select(Agent.id).where(Agent.code == agent))
                            ).scalar_one_or_none()
                if agent_id is None:
                    raise FieldError("agent", f"no agent {agent}; create the agent first")
            user = User(login=login, name=name, role=role.value, active=True, agent_id=agent_id)
            s.add(user)
            try:
                await s.flush()
            except IntegrityError:
                taken = f"a user {login} already exists" + (
                    f", or agent {agent} already has a user" if agent else "")
                raise UserExists(taken, details={"login": login, "agent": agent}) from None
            return user_json(user, agent)

    async def update_user(self, login: str, *, role: Role | None = None,
                          name: str | None = None, active: bool | None = None) -> dict[str, Any]:
        """A changed role or deactivation ends the user's sessions."""
        async with self.sessions.begin() as s:
            row = (await s.execute(self._with_agent().where(User.login == login)
                                   .with_for_update(of=User))).first()
            if row is None:
                raise UserNotFound(f"no user {login}", details={"login": login})
            user, code = row[0], row[1]
            changed_access = (role is not None and role.value != user.role) \
                or (active is False and user.active)
            if role is not None:
                user.role = role.value
            if name is not None:
                user.name = name
            if active is not None:
                user.active = active
            if changed_access:
                await s.execute(delete(UserSession).where(UserSession.user_id == user.id))
            return user_json(user, code)

    # ------------------------------------------------------------------ audit
    async def audit(self, actor: str, action: str, target: str,
                    details: dict[str, Any] | None = None) -> None:
        async with self.sessions.begin() as s:
            s.add(AuditEntry(at=utcnow(), actor=actor, action=action, target=target,
                             details=details or {}))

    async def audit_log(self, since: dt.datetime, until: dt.datetime, *,
                        actor: str | None = None, target: str | None = None,
                        limit: int = 500) -> list[dict[str, Any]]:
        q = select(AuditEntry).where(AuditEntry.at >= since, AuditEntry.at < until)
        if actor:
            q = q.where(AuditEntry.actor == actor)
        if target:
            q = q.where(AuditEntry.target == target)
        async with self.sessions() as s:
            rows = (await s.execute(q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                    .limit(limit))).scalars().all()
        return [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
                 "target": e.target, "details": e.details} for e in rows]
