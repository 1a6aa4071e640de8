"""Agents' console accounts and sessions in the service database (what
cti/web/sessions.py needs of it): the password hash on the agent's row, one
``agent_sessions`` row per signed-in console, keyed by the token's SHA-256."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from crm_bridge.models import Agent, AgentSession, utcnow


@dataclass(frozen=True)
class AccountRow:
    code: str
    name: str
    active: bool
    password_hash: str | None


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def account(self, code: str) -> AccountRow | None:
        async with self.sessions() as s:
            a = (await s.execute(select(Agent).where(Agent.code == code))).scalar_one_or_none()
        return None if a is None else AccountRow(a.code, a.name, a.active, a.password_hash)

    async def set_password_hash(self, code: str, hashed: str) -> bool:
        async with self.sessions.begin() as s:
            agent_id = (await s.execute(select(Agent.id).where(Agent.code == code))
                        ).scalar_one_or_none()
            if agent_id is None:
                return False
            await s.execute(update(Agent).where(Agent.id == agent_id)
                            .values(password_hash=hashed))
            # a new password signs out every console of that agent
            await s.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))
        return True

    async def open_session(self, code: str, token_hash: str, expires_at: dt.datetime,
                           *, rehashed: str | None = None) -> None:
        async with self.sessions.begin() as s:
            agent_id = (await s.execute(select(Agent.id).where(Agent.code == code))).scalar_one()
            await s.execute(delete(AgentSession).where(  # this agent's ended sessions
                AgentSession.agent_id == agent_id, AgentSession.expires_at <= utcnow()))
            s.add(AgentSession(token_hash=token_hash, agent_id=agent_id, expires_at=expires_at))
            if rehashed is not None:
                await s.execute(update(Agent).where(Agent.id == agent_id)
                                .values(password_hash=rehashed))

    async def session_account(self, token_hash: str) -> tuple[AccountRow, dt.datetime] | None:
        async with self.sessions() as s:
            row = (await s.execute(
                select(Agent.code, Agent.name, Agent.active, AgentSession.expires_at)
                .join(AgentSession, AgentSession.agent_id == Agent.id)
                .where(AgentSession.token_hash == token_hash))).first()
        if row is None:
            return None
        return AccountRow(row.code, row.name, row.active, None), row.expires_at

    async def close_session(self, token_hash: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(delete(AgentSession).where(AgentSession.token_hash == token_hash))
