"""Agents in the service database: who they are, their skills, and the ACD
session each asked for (device, pause and reason), which the ACD puts back
into Asterisk's queues after an Asterisk restart (acd/services.py says what
it needs; this is it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm_bridge.models import Agent, AgentSkill


@dataclass(frozen=True)
class AgentRow:
    code: str
    name: str
    active: bool
    device: str | None
    paused: bool
    pause_reason: str | None
    skills: Mapping[str, int] = field(default_factory=dict)


def _row(a: Agent) -> AgentRow:
    return AgentRow(a.code, a.name, a.active, a.device, a.paused, a.pause_reason,
                    {s.skill: s.level for s in a.skills})


class AgentDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get(self, code: str) -> AgentRow | None:
        async with self.sessions() as s:
            agent = (await s.execute(select(Agent).where(Agent.code == code)
                                     .options(selectinload(Agent.skills)))).scalar_one_or_none()
        return None if agent is None else _row(agent)

    async def active(self) -> list[AgentRow]:
        async with self.sessions() as s:
            found = (await s.execute(select(Agent).where(Agent.active)
                                     .options(selectinload(Agent.skills))
                                     .order_by(Agent.code))).scalars().all()
        return [_row(a) for a in found]

    async def everyone(self) -> list[AgentRow]:
        """Every agent, deactivated ones too."""
        async with self.sessions() as s:
            found = (await s.execute(select(Agent).options(selectinload(Agent.skills))
                                     .order_by(Agent.code))).scalars().all()
        return [_row(a) for a in found]

    async def logged_in(self) -> list[AgentRow]:
        """The agents whose ACD session is open (a device remembered)."""
        async with self.sessions() as s:
            found = (await s.execute(select(Agent).where(Agent.device.is_not(None))
                                     .options(selectinload(Agent.skills)))).scalars().all()
        return [_row(a) for a in found]

    async def remember(self, code: str, *, device: str | None, paused: bool,
                       reason: str | None, since: dt.datetime | None = None) -> None:
        """The agent's ACD session: a device (None: logged out), paused with a
        reason or not; ``since``: they logged in just now, at that time."""
        async with self.sessions() as s, s.begin():
            row = (await s.execute(select(Agent).where(Agent.code == code))).scalar_one()
            if device is None:
                row.logged_in_at = None
            elif since is not None:
                row.logged_in_at = since
            row.device, row.paused, row.pause_reason = device, paused, reason

    async def create(self, code: str, name: str, skills: Mapping[str, int]) -> bool:
        """False when an agent with this code exists."""
        async with self.sessions() as s, s.begin():
            if (await s.execute(select(Agent.id).where(Agent.code == code))).first():
                return False
            s.add(Agent(code=code, name=name, skills=[
                AgentSkill(skill=k, level=v) for k, v in sorted(skills.items())]))
        return True

    async def update(self, code: str, *, name: str | None = None, active: bool | None = None,
                     skills: Mapping[str, int] | None = None) -> None:
        async with self.sessions() as s, s.begin():
            agent = (await s.execute(select(Agent).where(Agent.code == code)
                                     .options(selectinload(Agent.skills)))).scalar_one()
            if name is not None:
                agent.name = name
            if active is not None:
                agent.active = active
            if skills is not None:
                agent.skills.clear()
                await s.flush()
                agent.skills.extend(AgentSkill(skill=k, level=v)
                                    for k, v in sorted(skills.items()))
