"""Agent operations: create and change agents, log in to a device, log out,
pause with a reason, unpause; the live queues and agents as the board has them.

Asterisk's app_queue holds the truth of who is in which queue; the service
database remembers what each agent asked for (device, pause and reason), so
that after an Asterisk restart the members are put back as they were
(:meth:`AcdService.reconcile`, run after every resync). What the ACD needs
of the database is :class:`AgentStore` (crm_bridge/agents.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from acd.board import AgentLive, AgentState, Board
from acd.config import AcdConfig
from acd.exceptions import AcdError, AgentNotFound, UnknownDevice, UnknownQueue
from acd.schemas import AgentIn, AgentPatch, PauseReason
from cti.ami import AmiActionFailed, AmiActions, AmiError
from cti.errors import FieldError

log = structlog.get_logger("acd.services")

LOCAL_DEVICE = re.compile(r"^Local/(?P<exten>[^@/]+)@(?P<context>[^/]+)(?P<opts>/[a-z]+)?$")
PJSIP_DEVICE = re.compile(r"^PJSIP/(?P<endpoint>[A-Za-z0-9_.+-]+)$")

AGENT_DEVICES = "hotline-agent"  # AstDB family: agent code -> device (for transfers)


class AgentRow(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def device(self) -> str | None: ...
    @property
    def paused(self) -> bool: ...
    @property
    def pause_reason(self) -> str | None: ...
    @property
    def skills(self) -> Mapping[str, int]: ...


class AgentStore(Protocol):
    """The agents as the service database keeps them."""

    async def get(self, code: str) -> AgentRow | None: ...
    async def active(self) -> Sequence[AgentRow]: ...
    async def logged_in(self) -> Sequence[AgentRow]: ...
    async def remember(self, code: str, *, device: str | None, paused: bool,
                       reason: str | None, since: dt.datetime | None = None) -> None: ...
    async def create(self, code: str, name: str, skills: Mapping[str, int]) -> bool: ...
    async def update(self, code: str, *, name: str | None = None, active: bool | None = None,
                     skills: Mapping[str, int] | None = None) -> None: ...
    async def answered_since(self, start: dt.datetime) -> dict[str, int]: ...


class AcdService:
    def __init__(self, store: AgentStore, actions: AmiActions, board: Board,
                 config: AcdConfig) -> None:
        self.store = store
        self.actions = actions
        self.board = board
        self.config = config

    # ------------------------------------------------------------------ reading
    async def _agent(self, code: str) -> AgentRow:
        agent = await self.store.get(code)
        if agent is None or not agent.active:
            raise AgentNotFound(f"no agent {code}")
        return agent

    def _view(self, agent: AgentRow) -> dict[str, Any]:
        view = self.board.agent_view(agent.code)
        view.update(name=agent.name, skills=dict(agent.skills))
        return view

    async def state(self, code: str) -> dict[str, Any]:
        return self._view(await self._agent(code))

    async def agents(self) -> list[dict[str, Any]]:
        return [self._view(agent) for agent in await self.store.active()]

    def live(self, code: str) -> dict[str, Any]:
        """The agent as the board has them now (no database read)."""
        return self.board.agent_view(code)

    def available_in(self, queue: str) -> int:
        """Agents of the queue free to take a call now."""
        return self.board.available_in(queue)

    def state_of(self, code: str) -> str:
        """The agent's state name (``logged_out`` for an agent the board never saw)."""
        live = self.board.agents.get(code)
        return AgentState.LOGGED_OUT.value if live is None else live.state.value

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
                await self.store.remember(code, device=device, paused=live.paused,
                                          reason=live.pause_reason)
                await self.reconcile()
                return await self.state(code)
            raise AcdError(f"agent {code} is logged in on {live.device}; log out first",
                           error_id="already-logged-in", details={"device": live.device})
        await self._check_device(device)
        memberships = self.config.memberships(dict(agent.skills))
        if not memberships:
            raise AcdError(f"agent {code} has no skills that any queue asks for",
                           error_id="no-queues", details={"skills": dict(agent.skills)})
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
        await self.store.remember(code, device=device, paused=False, reason=None,
                                  since=dt.datetime.now(dt.UTC))
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
        await self.store.remember(code, device=None, paused=False, reason=None)
        with contextlib.suppress(AmiActionFailed):  # not there: nothing to forget
            await self.actions.db_del(AGENT_DEVICES, code)
        log.info("agent_logged_out", agent=code)
        await self._settled(code, lambda a: not a.queues)
        return await self.state(code)

    async def leave_queues(self, code: str) -> None:
        """The agent signed out of the console: off the queues too."""
        if self.board.agent(code).device is not None:
            await self.logout(code)

    async def pause(self, code: str, reason: PauseReason) -> dict[str, Any]:
        await self._agent(code)  # 404 for an agent that does not exist
        live = self.board.agent(code)
        if live.state is AgentState.LOGGED_OUT or live.device is None:
            raise AcdError(f"agent {code} is logged out: log in before pausing",
                           error_id="agent-logged-out")
        await self.actions.queue_pause(live.device, True, reason=reason.value)
        await self.store.remember(code, device=live.device, paused=True, reason=reason.value)
        await self._settled(code, lambda a: a.paused and a.pause_reason == reason.value)
        return await self.state(code)

    async def unpause(self, code: str) -> dict[str, Any]:
        await self._agent(code)  # 404 for an agent that does not exist
        live = self.board.agent(code)
        if live.state is AgentState.LOGGED_OUT or live.device is None:
            raise AcdError(f"agent {code} is logged out", error_id="agent-logged-out")
        if not live.paused:
            raise AcdError(f"agent {code} is not paused", error_id="agent-not-paused")
        await self.actions.queue_pause(live.device, False)
        await self.store.remember(code, device=live.device, paused=False, reason=None)
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
        restored = []
        for agent in await self.store.logged_in():
            live = self.board.agent(agent.code)
            want = self.config.memberships(dict(agent.skills))
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
        tz = ZoneInfo(zone)
        return await self.store.answered_since(
            dt.datetime.combine(dt.datetime.now(tz).date(), dt.time(), tz))


# ---------------------------------------------------------------------- agents
def check_skills(config: AcdConfig, skills: dict[str, int]) -> None:
    for skill, level in skills.items():
        if skill not in config.skills:
            raise FieldError(f"skills.{skill}",
                             f"unknown skill; known: {', '.join(sorted(config.skills))}")
        if not 1 <= level <= 5:
            raise FieldError(f"skills.{skill}", "a level is 1 to 5")


async def create_agent(service: AcdService, data: AgentIn) -> dict[str, Any]:
    check_skills(service.config, data.skills)
    if not await service.store.create(data.code, data.name, data.skills):
        raise AcdError(f"agent {data.code} exists", error_id="agent-exists")
    return await service.state(data.code)


async def update_agent(service: AcdService, code: str, patch: AgentPatch) -> dict[str, Any]:
    if patch.skills is not None:
        check_skills(service.config, patch.skills)
    agent = await service.store.get(code)
    if agent is None:
        raise AgentNotFound(f"no agent {code}")
    if agent.device is not None and (patch.skills is not None or patch.active is False):
        raise AcdError(f"agent {code} is logged in: log out before changing skills",
                       error_id="agent-logged-in")
    await service.store.update(code, name=patch.name, active=patch.active, skills=patch.skills)
    return await service.state(code)
