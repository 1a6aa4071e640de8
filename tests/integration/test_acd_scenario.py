"""A small shift in the sandbox: three agents with different skills, twenty
calls of mixed kinds. The test keeps its own log of what happened (AMI queue
events, with Asterisk's timestamps) and checks the ACD against it: the right
skill took each call, wrap-up was honoured, callers overflowed only after
the thresholds, agents talking while the server restarted are shown on their
calls afterwards, and the KPIs the server reports equal the hand count.

The queues are the product's with short times (tests/fixtures/
acd_scenario.yaml), loaded into the running sandbox for this test only.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from acd.config import load_config, rendered_files
from acd.kpi import SHORT_ABANDON
from acd.schemas import AgentIn
from acd.services import create_agent
from crm_bridge.models import CallRecord
from cti.ami import AmiConnection
from cti.ami.parser import AmiMessage
from cti.config import paths
from cti.config.credentials import AmiCredentials
from cti.server import Core
from cti.tools.sandbox import Sandbox
from tests.integration.conftest import hangup_all, running_core, wait_async, wait_until

SCENARIO = Path(__file__).parents[1] / "fixtures" / "acd_scenario.yaml"
AGENTS = [
    AgentIn(code="8401", name="王芳", skills={"air_conditioner": 5, "mandarin": 5}),
    AgentIn(code="8402", name="李强", skills={"tv": 4, "refrigerator": 2, "mandarin": 4}),
    AgentIn(code="8403", name="Mary", skills={"english": 5}),
]
# which queues each agent may answer, by their skills
MAY_ANSWER = {"8401": {"ac-zh", "general-service"},
              "8402": {"tv-zh", "fridge-zh", "general-service"},
              "8403": {"english"}}
NUMBER = {"ac-zh": "4008008001", "fridge-zh": "4008008002", "tv-zh": "4008008004",
          "english": "4008008088", "general-service": "4008008010"}


@dataclass
class Seen:
    """The test's own log of one call."""

    queues: list[tuple[str, float]] = field(default_factory=list)  # joined, when
    left: list[tuple[str, float]] = field(default_factory=list)
    called: list[str] = field(default_factory=list)
    answered_by: str | None = None
    answered_in: str | None = None
    answered_at: float | None = None
    abandoned_at: float | None = None

    @property
    def wait(self) -> float:
        end = self.answered_at or self.abandoned_at
        assert end is not None
        return end - self.queues[0][1]


@pytest.fixture
async def scenario_queues(sandbox: Sandbox) -> AsyncIterator[None]:
    """The scenario's queues in the running Asterisk; the product's back after."""
    etc = sandbox.layout().host_base / "etc"
    for rel, text in rendered_files(load_config(SCENARIO)).items():
        (etc / rel).write_text(text, encoding="utf-8")
    sandbox.cli("queue reload all")
    try:
        yield
    finally:
        for rel in rendered_files(load_config()):
            (etc / rel).write_text((paths.asterisk_conf_dir() / rel).read_text(
                encoding="utf-8"), encoding="utf-8")
        sandbox.cli("queue reload all")


class EventLog:
    """The test's own log of the shift, from its own AMI connection: it does
    not depend on the server, and goes on while the server restarts."""

    def __init__(self, creds: AmiCredentials) -> None:
        self.conn = AmiConnection(creds.host, creds.port, creds.username, creds.secret)
        self.calls: dict[str, Seen] = {}
        self.completes: dict[str, list[tuple[float, float]]] = {}  # agent -> talk span
        self.in_call: dict[str, tuple[str, float]] = {}  # agent -> (call, since)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventLog:
        await self.conn.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.conn.close()

    async def _read(self) -> None:
        while True:
            for m in await self.conn.next_batch():
                if isinstance(m, AmiMessage):
                    self.handle(m)

    def handle(self, m: AmiMessage) -> None:
        cid = m.text("Linkedid", "")
        at = float(m.text("Timestamp", "0"))
        if m.name == "QueueCallerJoin":
            self.calls.setdefault(cid, Seen()).queues.append((m.text("Queue"), at))
        elif cid not in self.calls:
            return
        elif m.name == "AgentCalled":
            self.calls[cid].called.append(m.text("MemberName"))
        elif m.name == "AgentConnect":
            s = self.calls[cid]
            s.answered_by, s.answered_in, s.answered_at = m.text("MemberName"), m.text(
                "Queue"), at
            self.in_call[m.text("MemberName")] = (cid, at)
        elif m.name == "AgentComplete":
            agent = m.text("MemberName")
            self.completes.setdefault(agent, []).append((at - float(m.text("TalkTime")), at))
            self.in_call.pop(agent, None)
        elif m.name == "QueueCallerAbandon":
            self.calls[cid].abandoned_at = at


async def test_twenty_calls_three_agents_skills_wrap_up_overflow_restart_and_kpis(
    creds: AmiCredentials, tmp_path: Path, scenario_queues: None
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    async with EventLog(creds) as events:
        async with running_core(creds, tmp_path, db, acd_config=SCENARIO,
                                fresh=False) as first:
            await hangup_all(first.actions)
            for a in AGENTS:
                await create_agent(first.acd, a)
                await first.acd.login(a.code, f"Local/{a.code}@sim-agent-phone/n")
            await first.actions.setvar("SIM_AGENT_TALK", "4")
            await _place_calls(first, events)
            await wait_until(lambda: len(events.in_call) >= 2, 30, "two agents talking")
            await asyncio.sleep(1.0)  # a second into their 4 s calls
        # the server restarts mid-shift; the calls go on in Asterisk
        async with running_core(creds, tmp_path, db, acd_config=SCENARIO,
                                fresh=False) as core:
            rebuilt_at = float(core.pump.last_resync["at"])  # type: ignore[index,arg-type]
            checked = 0
            for agent in MAY_ANSWER:
                view = core.board.agent_view(agent)
                current = events.in_call.get(agent)
                if current and current[1] < rebuilt_at - 0.5:  # talking since before
                    assert (view["state"], view["call_id"]) == ("on_call", current[0]), agent
                    checked += 1
            assert checked >= 1, ("no agent was talking across the restart", events.in_call)
            try:
                await _check_shift(core, events)
            finally:
                await hangup_all(core.actions)


async def _place_calls(core: Core, events: EventLog) -> None:
    async def call(queue: str, number: str, patience: int = 120) -> None:
        await core.actions.originate(f"Local/{NUMBER[queue]}@hotline", context="sim-caller",
                                     exten="s", caller_id=f'"客户" <{number}>',
                                     variables={"SIM_PATIENCE": str(patience)})

    # 20 calls: a burst of TV calls (one TV agent: some overflow to general
    # service after 12 s), fridge calls only a weak agent can take (offered
    # after 8 s), AC and general calls, English calls with two callers who
    # give up (one within 5 s, one after)
    kinds = (["tv-zh"] * 5 + ["fridge-zh"] * 2 + ["ac-zh"] * 5 + ["general-service"] * 2
             + ["english"] * 4)
    for i, queue in enumerate(kinds):
        await call(queue, f"1390000{i:04d}")
    # the two who give up come once Mary is talking and the other English
    # callers wait ahead of them: the IVR routes a burst in any order, and a
    # caller who gives up after 2 s must not be the first to reach her
    await wait_until(lambda: "8403" in events.in_call and sum(
        1 for s in events.calls.values() if s.queues and s.queues[0][0] == "english") == 4,
        30, "Mary talking and the other English callers queued")
    await call("english", "13911110001", patience=1)   # hangs up after ~2 s waiting
    await call("english", "13911110002", patience=6)   # hangs up after ~7 s waiting


async def _check_shift(core: Core, events: EventLog) -> None:
    log, completes = events.calls, events.completes
    await wait_until(lambda: len(log) == 20, 20, "20 callers in queues")
    await wait_async(lambda: _idle(core), 180, "every call to end")

    # ---- the right skill took each call; nobody was offered a call they cannot take
    for cid, s in log.items():
        assert set(s.called) <= {a for a, qs in MAY_ANSWER.items() if qs & {q for q, _ in
                                                                          s.queues}}, (cid, s)
        if s.answered_by:
            assert s.answered_in in MAY_ANSWER[s.answered_by], (cid, s)
    answered = {c: s for c, s in log.items() if s.answered_by}
    abandoned = {c: s for c, s in log.items() if not s.answered_by}
    assert len(answered) == 18 and len(abandoned) == 2, [
        (c, s.queues, s.called, s.abandoned_at) for c, s in abandoned.items()]

    # ---- wrap-up: no agent connected again within 3 s of finishing a call
    for agent, spans in completes.items():
        spans.sort()
        for (_, done), (nxt, _) in itertools.pairwise(spans):
            assert nxt - done >= 3.0 - 0.2, (agent, spans)

    # ---- overflow: the weak fridge agent only after 8 s; TV callers to general after 12 s
    fridge = [s for s in answered.values() if s.queues[0][0] == "fridge-zh"]
    assert fridge and all(s.wait >= 8.0 - 0.2 for s in fridge)
    moved = [s for s in log.values() if len(s.queues) > 1]
    assert moved, "no TV caller overflowed to general service"
    for s in moved:
        assert [q for q, _ in s.queues] == ["tv-zh", "general-service"]
        assert s.queues[1][1] - s.queues[0][1] >= 12.0 - 0.2

    # ---- KPIs from the server equal the hand count from this log
    await wait_async(lambda: _written(core, 20), 20, "20 call records")
    await wait_until(lambda: core.intervals.written > 0 and not len(core.intervals._sub), 10)
    await asyncio.sleep(1.5)  # the interval writer's last batch
    stats = await core.kpi.queues("today")
    by_queue = {q["queue"]: q for q in stats["queues"]}
    cfg = load_config(SCENARIO)
    for name in cfg.queues:
        mine = [s for s in log.values() if s.queues[0][0] == name]
        ans = [s for s in mine if s.answered_by]
        aband = [s for s in mine if not s.answered_by]
        short = [s for s in aband if s.wait < SHORT_ABANDON]
        t = cfg.queue(name).service_level_seconds
        within = [s for s in ans if s.wait <= t]
        got = by_queue[name]
        assert (got["offered"], got["answered"], got["abandoned"], got["short_abandons"]) == (
            len(mine), len(ans), len(aband), len(short)), name
        assert got["answered_within_threshold"] == len(within), name
        if mine and len(mine) > len(short):
            assert got["service_level"] == round(len(within) / (len(mine) - len(short)), 4)
        if ans:
            assert got["asa_seconds"] == pytest.approx(
                sum(s.wait for s in ans) / len(ans), abs=0.02), name
    agents = {a["agent"]: a for a in (await core.kpi.agents("today"))["agents"]}
    for code in MAY_ANSWER:
        assert agents[code]["answered"] == sum(s.answered_by == code for s in log.values())
        assert agents[code]["seconds_by_state"].get("wrap_up", 0) > 0, code

    # ---- and when the shift is over, every agent is available again
    await wait_until(lambda: all(core.board.agent_view(c)["state"] == "available"
                                 for c in MAY_ANSWER), 10, "every agent available")
    for a in AGENTS:
        await core.acd.logout(a.code)


async def _idle(core: Core) -> bool:
    return not await core.actions.core_show_channels()


async def _written(core: Core, n: int) -> bool:
    async with core.engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(CallRecord))).scalar_one()
    return int(count) >= n
