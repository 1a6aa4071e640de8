"""Agent operations: log in to a device, log out, pause with a reason, unpause.

Asterisk's app_queue holds the truth of who is in which queue; the service
database remembers what each agent asked for (device, pause and reason), so
that after an Asterisk restart the members are put back as they were
(:meth:`AcdService.reconcile`, run after every resync).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import selectinload

from acd.board import AgentLive, AgentState, Board, PauseReason
from acd.config import AcdConfig
from crm_bridge.models import Agent, AgentSkill, CallRecord
from cti.ami import AmiActionFailed, AmiActions, AmiError
from cti.errors import DomainError, FieldError

log = structlog.get_logger("acd.service")

LOCAL_DEVICE = re.compile(r"^Local/(?P<exten>[^@/]+)@(?P<context>[^/]+)(?P<opts>/[a-z]+)?$")
PJSIP_DEVICE = re.compile(r"^PJSIP/(?P<endpoint>[A-Za-z0-9_.+-]+)$")


AGENT_DEVICES = "hotline-agent"  # AstDB family: agent code -> device (for transfers)


class AcdError(DomainError):
    status = 409
    error_id = "acd-error"


class AgentNotFound(AcdError):
    status = 404
    error_id = "agent-not-found"


class UnknownDevice(AcdError):
    status = 422
    error_id = "unknown-device"


class UnknownQueue(AcdError):
    status = 404
    error_id = "unknown-queue"


class AcdService:
    def __init__(self, engine: AsyncEngine, actions: AmiActions, board: Board,
                 config: AcdConfig) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.actions = actions
        self.board = board
        self.config = config

    # ------------------------------------------------------------------ reading
    async def _agent(self, code: str) -> Agent:
        async with self.sessions() as s:
            agent = (await s.execute(select(Agent).where(Agent.code == code)
                                     .options(selectinload(Agent.skills)))).scalar_one_or_none()
        if agent is None or not agent.active:
            raise AgentNotFound(f"no agent {code}")
        return agent

    async def state(self, code: str) -> dict[str, Any]:
        agent = await self._agent(code)
        view = self.board.agent_view(code)
        view.update(name=agent.name, skills={s.skill: s.level for s in agent.skills})
        return view

    async def agents(self) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            found = (await s.execute(select(Agent).where(Agent.active)
                                     .options(selectinload(Agent.skills))
                                     .order_by(Agent.code))).scalars().all()
        out = []
        for agent in found:
            view = self.board.agent_view(agent.code)
            view.update(name=agent.name, skills={s.skill: s.level for s in agent.skills})
            out.append(view)
        return out

    def queue(self, name: str) -> dict[str, Any]:
        if name not in self.config.queues:
            raise UnknownQueue(f"no queue {name}", details={"queues": sorted(self.config.queues)})
        return self.board.queue_view(name)

    def queues(self) -> list[dict[str, Any]]:
        return [self.board.queue_view(name) for name in self.config.queues]

    # ------------------------------------------------------------------ operations
    async def login(self, code: str, device: str) -> dict[str, Any]:
        agent = await self._agent(code)
        live = self.board.agent(code)
        if live.state is not AgentState.LOGGED_OUT:
            if live.device == device:  # again on the same device: complete what is missing
                await self._remember(agent.id, device=device, paused=live.paused,
                                     reason=live.pause_reason)
                await self.reconcile()
                return await self.state(code)
            raise AcdError(f"agent {code} is logged in on {live.device}; log out first",
                           error_id="already-logged-in", details={"device": live.device})
        await self._check_device(device)
        memberships = self.config.memberships({s.skill: s.level for s in agent.skills})
        if not memberships:
            raise AcdError(f"agent {code} has no skills that any queue asks for",
                           error_id="no-queues", details={"skills": {
                               s.skill: s.level for s in agent.skills}})
        added: list[str] = []
        try:
            for queue, penalty in memberships.items():
                await self.actions.queue_add(queue, device, member_name=code, penalty=penalty)
                added.append(queue)
        except AmiError:
            for queue in added:  # all or nothing
                try:
                    await self.actions.queue_remove(queue, device)
                except AmiError:
                    log.warning("login_rollback_failed", agent=code, queue=queue)
            raise
        async with self.sessions() as s, s.begin():
            row = await s.get(Agent, agent.id)
            assert row is not None
            row.device, row.logged_in_at = device, dt.datetime.now(dt.UTC)
            row.paused, row.pause_reason = False, None
        # the dialplan finds the agent's phone here for a transfer to them
        await self.actions.db_put(AGENT_DEVICES, code, device)
        log.info("agent_logged_in", agent=code, device=device, queues=memberships)
        await self._settled(code, lambda a: set(a.queues) >= set(memberships))
        return await self.state(code)

    async def logout(self, code: str) -> dict[str, Any]:
        agent = await self._agent(code)
        live = self.board.agent(code)
        if live.state is AgentState.LOGGED_OUT and agent.device is None:
            raise AcdError(f"agent {code} is not logged in", error_id="agent-logged-out")
        device = live.device or agent.device
        for queue in list(live.queues) or list(self.config.queues):
            with contextlib.suppress(AmiActionFailed):  # not a member there (any more)
                await self.actions.queue_remove(queue, device or "")
        await self._remember(agent.id, device=None, paused=False, reason=None)
        with contextlib.suppress(AmiActionFailed):  # not there: nothing to forget
            await self.actions.db_del(AGENT_DEVICES, code)
        log.info("agent_logged_out", agent=code)
        await self._settled(code, lambda a: not a.queues)
        return await self.state(code)

    async def pause(self, code: str, reason: PauseReason) -> dict[str, Any]:
        agent = await self._agent(code)
        live = self.board.agent(code)
        if live.state is AgentState.LOGGED_OUT or live.device is None:
            raise AcdError(f"agent {code} is logged out: log in before pausing",
                           error_id="agent-logged-out")
        await self.actions.queue_pause(live.device, True, reason=reason.value)
        await self._remember(agent.id, device=live.device, paused=True, reason=reason.value)
        await self._settled(code, lambda a: a.paused and a.pause_reason == reason.value)
        return await self.state(code)

    async def unpause(self, code: str) -> dict[str, Any]:
        agent = await self._agent(code)
        live = self.board.agent(code)
        if live.state is AgentState.LOGGED_OUT or live.device is None:
            raise AcdError(f"agent {code} is logged out", error_id="agent-logged-out")
        if not live.paused:
            raise AcdError(f"agent {code} is not paused", error_id="agent-not-paused")
        await self.actions.queue_pause(live.device, False)
        await self._remember(agent.id, device=live.device, paused=False, reason=None)
        await self._settled(code, lambda a: not a.paused)
        return await self.state(code)

    async def _settled(self, code: str, done: Callable[[AgentLive], bool],
                       timeout: float = 2.0) -> None:
        """Until the board shows the change Asterisk has confirmed by event, so
        the answer shows the agent's new state (a few ms; at most ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(self.board.agent(code)) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def _remember(self, agent_id: int, *, device: str | None, paused: bool,
                        reason: str | None) -> None:
        async with self.sessions() as s, s.begin():
            row = await s.get(Agent, agent_id)
            assert row is not None
            if device is None:
                row.logged_in_at = None
            row.device, row.paused, row.pause_reason = device, paused, reason

    async def _check_device(self, device: str) -> None:
        """The device must be one Asterisk can ring."""
        m = LOCAL_DEVICE.match(device)
        if m:
            try:
                lines = await self.actions.command(
                    f"dialplan show {m['exten']}@{m['context']}")
            except AmiActionFailed:
                lines = []  # the CLI command failed: no such context
            text = "\n".join(lines)
            if "There is no existence" in text or "-= 0 extensions" in text \
                    or "No such" in text or not text.strip():
                raise UnknownDevice(f"Asterisk has no extension {m['exten']} in context "
                                    f"{m['context']}", details={"device": device})
            return
        m = PJSIP_DEVICE.match(device)
        if m:
            try:
                lines = await self.actions.command(f"pjsip show endpoint {m['endpoint']}")
            except AmiActionFailed:
                lines = []
            if any("Unable to find object" in line for line in lines) or not lines:
                raise UnknownDevice(f"Asterisk has no PJSIP endpoint {m['endpoint']}",
                                    details={"device": device})
            return
        raise UnknownDevice("a device is PJSIP/<endpoint> or Local/<exten>@<context>[/n]",
                            details={"device": device})

    # ------------------------------------------------------------------ restarts
    async def reconcile(self) -> list[str]:
        """Put back the members Asterisk lost (after its restart): every agent
        the database says is logged in, in each queue their skills give,
        paused as they were. Returns the agents put back."""
        async with self.sessions() as s:
            agents = (await s.execute(select(Agent).where(Agent.device.is_not(None))
                                      .options(selectinload(Agent.skills)))).scalars().all()
        restored = []
        for agent in agents:
            live = self.board.agent(agent.code)
            want = self.config.memberships({s.skill: s.level for s in agent.skills})
            missing = {q: p for q, p in want.items() if q not in live.queues}
            if not missing:
                continue
            await self.actions.db_put(AGENT_DEVICES, agent.code, agent.device or "")
            for queue, penalty in missing.items():
                try:
                    await self.actions.queue_add(queue, agent.device or "",
                                                 member_name=agent.code, penalty=penalty,
                                                 paused=agent.paused,
                                                 reason=agent.pause_reason)
                except AmiActionFailed as exc:
                    log.warning("agent_restore_failed", agent=agent.code, queue=queue,
                                error=str(exc))
            restored.append(agent.code)
        if restored:
            log.info("agents_restored", agents=restored)
        return restored

    async def calls_today(self, zone: str) -> dict[str, int]:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(zone)
        start = dt.datetime.combine(dt.datetime.now(tz).date(), dt.time(), tz)
        async with self.sessions() as s:
            rows = (await s.execute(
                select(CallRecord.agent, func.count())
                .where(CallRecord.answered_at >= start, CallRecord.agent.is_not(None))
                .group_by(CallRecord.agent))).all()
        return {str(agent): int(n) for agent, n in rows}


# ---------------------------------------------------------------------- agents
class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[0-9A-Za-z_-]{1,20}$")
    name: str = Field(min_length=1, max_length=50)
    skills: dict[str, int] = Field(default_factory=dict)


class AgentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=50)
    skills: dict[str, int] | None = None
    active: bool | None = None


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device: str = Field(min_length=3, max_length=120)


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PauseReason


def check_skills(config: AcdConfig, skills: dict[str, int]) -> None:
    for skill, level in skills.items():
        if skill not in config.skills:
            raise FieldError(f"skills.{skill}",
                             f"unknown skill; known: {', '.join(sorted(config.skills))}")
        if not 1 <= level <= 5:
            raise FieldError(f"skills.{skill}", "a level is 1 to 5")


async def create_agent(service: AcdService, data: AgentIn) -> dict[str, Any]:
    check_skills(service.config, data.skills)
    async with service.sessions() as s, s.begin():
        if (await s.execute(select(Agent.id).where(Agent.code == data.code))).first():
            raise AcdError(f"agent {data.code} exists", error_id="agent-exists")
        s.add(Agent(code=data.code, name=data.name, skills=[
            AgentSkill(skill=k, level=v) for k, v in sorted(data.skills.items())]))
    return await service.state(data.code)


async def update_agent(service: AcdService, code: str, patch: AgentPatch) -> dict[str, Any]:
    if patch.skills is not None:
        check_skills(service.config, patch.skills)
    async with service.sessions() as s, s.begin():
        agent = (await s.execute(select(Agent).where(Agent.code == code)
                                 .options(selectinload(Agent.skills)))).scalar_one_or_none()
        if agent is None:
            raise AgentNotFound(f"no agent {code}")
        if agent.device is not None and (patch.skills is not None or patch.active is False):
            raise AcdError(f"agent {code} is logged in: log out before changing skills",
                           error_id="agent-logged-in")
        if patch.name is not None:
            agent.name = patch.name
        if patch.active is not None:
            agent.active = patch.active
        if patch.skills is not None:
            agent.skills.clear()
            await s.flush()
            agent.skills.extend(AgentSkill(skill=k, level=v)
                                for k, v in sorted(patch.skills.items()))
    return await service.state(code)
