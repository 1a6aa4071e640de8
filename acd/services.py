"""Agent operations: create and change agents, log in to a device, log out,
pause with a reason, unpause; the live queues and agents as the board has them.

The server decides each agent's ACD session; Asterisk's app_queue carries it
out. The service database remembers what each agent asked for (device,
pause and reason); the queue members in Asterisk follow it: after an
Asterisk restart the members are put back as they were, and members of an
agent the server has logged out (or on another device) are removed
(:meth:`AcdService.reconcile`, run after every resync). Each agent's
commands run one at a time (a lock per agent, and per device across agents),
whoever sends them: the agent's console, a supervisor, another API client.
What the ACD needs of the database is :class:`AgentStore`
(crm_bridge/agents.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import structlog

from acd.board import AgentLive, AgentState, Board
from acd.config import AcdConfig
from acd.exceptions import AcdError, AgentNotFound, DeviceInUse, UnknownDevice, UnknownQueue
from acd.schemas import AgentIn, AgentPatch, PauseReason
from acd.tally import QueueTally
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
    async def everyone(self) -> Sequence[AgentRow]: ...
    async def logged_in(self) -> Sequence[AgentRow]: ...
    async def remember(self, code: str, *, device: str | None, paused: bool,
                       reason: str | None, since: dt.datetime | None = None) -> None: ...
    async def create(self, code: str, name: str, skills: Mapping[str, int]) -> bool: ...
    async def update(self, code: str, *, name: str | None = None, active: bool | None = None,
                     skills: Mapping[str, int] | None = None) -> None: ...


class AcdService:
    def __init__(self, store: AgentStore, actions: AmiActions, board: Board,
                 config: AcdConfig, tally: QueueTally) -> None:
        self.tally = tally
        self.store = store
        self.actions = actions
        self.board = board
        self.config = config
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        """One command at a time per agent (``key``: the code) or per device
        (``device:<name>``); always an agent's before a device's."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # ------------------------------------------------------------------ reading
    async def _agent(self, code: str) -> AgentRow:
        agent = await self.store.get(code)
        if agent is None or not agent.active:
            raise AgentNotFound(f"no agent {code}")
        return agent

    def view(self, agent: AgentRow) -> dict[str, Any]:
        view = self.board.agent_view(agent.code)
        view.update(name=agent.name, skills=dict(agent.skills), active=agent.active)
        return view

    async def state(self, code: str) -> dict[str, Any]:
        return self.view(await self._agent(code))

    async def agents(self) -> list[dict[str, Any]]:
        return [self.view(agent) for agent in await self.store.active()]

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

    def wallboard(self) -> dict[str, Any]:
        """Every queue in numbers, with its live KPIs and the thresholds that
        colour them (the wallboard's one message)."""
        queues = []
        for name, q in self.config.all_queues().items():
            queues.append({"queue": name, "title": q.title,
                           "service_level_seconds": q.service_level_seconds,
                           **self.board.queue_summary(name), **self.tally.view(name),
                           "thresholds": q.wallboard.model_dump()})
        return {"type": "wallboard", "at": self.board.clock(), "zone": self.board.zone.key,
                "queues": queues,
                "agents": self.board.agents_by_state()}

    # ------------------------------------------------------------------ operations
    async def _holder(self, device: str, code: str) -> str | None:
        """Another agent on ``device``, by the board (Asterisk's members) or the
        database (what the server decided)."""
        for other, live in self.board.agents.items():
            if other != code and live.device == device and live.queues:
                return other
        for row in await self.store.logged_in():
            if row.code != code and row.device == device:
                return row.code
        return None

    async def login(self, code: str, device: str) -> dict[str, Any]:
        async with self._lock(code):
            agent = await self._agent(code)
            live = self.board.agent(code)
            current = agent.device
            if current is not None:
                if current == device:  # again on the same device: complete what is missing
                    await self._reconcile_agent(agent)
                    return await self.state(code)
                raise AcdError(f"agent {code} is logged in on {current}; log out first",
                               error_id="already-logged-in", details={"device": current})
            if live.queues and live.device:  # members the server never decided: gone
                await self._leave(code, {live.device})
            async with self._lock(f"device:{device}"):
                holder = await self._holder(device, code)
                if holder is not None:
                    raise DeviceInUse(f"{device} is agent {holder}'s: they log out first",
                                      details={"device": device, "agent": holder})
                await self.check_device(device)
                await self._join(agent, device)
        await self._settled(code, lambda a: set(a.queues) >= set(
            self.config.memberships(dict(agent.skills))))
        return await self.state(code)

    async def _join(self, agent: AgentRow, device: str) -> None:
        code = agent.code
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

    async def logout(self, code: str) -> dict[str, Any]:
        async with self._lock(code):
            agent = await self._agent(code)
            live = self.board.agent(code)
            if agent.device is None and not live.queues:
                raise AcdError(f"agent {code} is not logged in", error_id="agent-logged-out")
            # the server decides: logged out now, whatever Asterisk still shows
            await self.store.remember(code, device=None, paused=False, reason=None)
            await self._leave(code, {d for d in (agent.device, live.device) if d})
            with contextlib.suppress(AmiActionFailed):  # not there: nothing to forget
                await self.actions.db_del(AGENT_DEVICES, code)
            log.info("agent_logged_out", agent=code)
        await self._settled(code, lambda a: not a.queues)
        return await self.state(code)

    async def _leave(self, code: str, devices: set[str]) -> None:
        """Off every queue on each device: every queue of the config, not only
        those the board has seen (a member added a moment ago may not have
        reached the board yet)."""
        queues = set(self.config.queues) | set(self.board.agent(code).queues)
        for device in devices:
            for queue in sorted(queues):
                with contextlib.suppress(AmiActionFailed):  # not a member there
                    await self.actions.queue_remove(queue, device)

    async def leave_queues(self, code: str) -> None:
        """The agent signed out of the console: off the queues too."""
        agent = await self.store.get(code)
        if agent is not None and agent.device is not None:
            await self.logout(code)

    async def pause(self, code: str, reason: PauseReason) -> dict[str, Any]:
        async with self._lock(code):
            agent = await self._agent(code)  # 404 for an agent that does not exist
            if agent.device is None:
                raise AcdError(f"agent {code} is logged out: log in before pausing",
                               error_id="agent-logged-out")
            await self.actions.queue_pause(agent.device, True, reason=reason.value)
            await self.store.remember(code, device=agent.device, paused=True,
                                      reason=reason.value)
        await self._settled(code, lambda a: a.paused and a.pause_reason == reason.value)
        return await self.state(code)

    async def unpause(self, code: str) -> dict[str, Any]:
        async with self._lock(code):
            agent = await self._agent(code)  # 404 for an agent that does not exist
            if agent.device is None:
                raise AcdError(f"agent {code} is logged out", error_id="agent-logged-out")
            if not agent.paused and not self.board.agent(code).paused:
                raise AcdError(f"agent {code} is not paused", error_id="agent-not-paused")
            await self.actions.queue_pause(agent.device, False)
            await self.store.remember(code, device=agent.device, paused=False, reason=None)
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

    async def check_device(self, device: str) -> None:
        """The device must be one Asterisk can ring."""
        m = LOCAL_DEVICE.match(device)
        if m:
            if not await self.actions.extension_exists(m["exten"], m["context"]):
                raise UnknownDevice(f"Asterisk has no extension {m['exten']} in context "
                                    f"{m['context']}", details={"device": device})
            return
        m = PJSIP_DEVICE.match(device)
        if m:
            if not await self.actions.endpoint_exists(m["endpoint"]):
                raise UnknownDevice(f"Asterisk has no PJSIP endpoint {m['endpoint']}",
                                    details={"device": device})
            return
        raise UnknownDevice("a device is PJSIP/<endpoint> or Local/<exten>@<context>[/n]",
                            details={"device": device})

    # ------------------------------------------------------------------ restarts
    async def reconcile(self) -> list[str]:
        """Make Asterisk's queue members what the server decided, agent by
        agent (after each resync): members put back that Asterisk lost (it
        restarted), paused as they were; members removed of an agent the
        server has logged out, deactivated, or on another device. Members
        whose name is no agent's are not the server's and are left alone.
        Returns the agents changed."""
        changed = []
        for row in await self.store.everyone():
            async with self._lock(row.code):
                fresh = await self.store.get(row.code)  # as it is now, under the lock
                if fresh is not None and await self._reconcile_agent(fresh):
                    changed.append(row.code)
        if changed:
            log.info("agents_reconciled", agents=changed)
        return changed

    async def _reconcile_agent(self, agent: AgentRow) -> bool:
        live = self.board.agent(agent.code)
        want_device = agent.device if agent.active else None
        changed = False
        if live.queues and live.device and live.device != want_device:
            log.warning("stray_members_removed", agent=agent.code, device=live.device,
                        queues=sorted(live.queues), server_says=want_device)
            for queue in list(live.queues):
                with contextlib.suppress(AmiActionFailed):
                    await self.actions.queue_remove(queue, live.device)
            changed = True
        if want_device is None:
            return changed
        want = self.config.memberships(dict(agent.skills))
        on_device = live.device == want_device
        missing = {q: p for q, p in want.items() if not on_device or q not in live.queues}
        if missing:
            await self.actions.db_put(AGENT_DEVICES, agent.code, want_device)
            for queue, penalty in missing.items():
                try:
                    await self.actions.queue_add(queue, want_device, member_name=agent.code,
                                                 penalty=penalty, paused=agent.paused,
                                                 reason=agent.pause_reason)
                except AmiActionFailed as exc:
                    log.warning("agent_restore_failed", agent=agent.code, queue=queue,
                                error=str(exc))
            changed = True
        elif on_device and live.paused != agent.paused:
            await self.actions.queue_pause(want_device, agent.paused,
                                           reason=agent.pause_reason)
            changed = True
        return changed



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
    return service.view(await service.store.get(code) or agent)  # a deactivated one too
