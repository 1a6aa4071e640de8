"""Queues and skills, from one YAML file (``acd/queues.yaml``), and the
Asterisk configuration rendered from it.

Membership and penalty follow from an agent's skills: an agent belongs to
every queue whose skills they all have, with penalty ``5 - lowest level``
among those skills. A queue's penalty rule first lets only agents of at least
``first_level`` answer, then, after ``widen_after`` seconds, every member;
after ``max_wait`` seconds the caller moves on to ``overflow_queue`` (the
dialplan does that, with the timeout the router hands it).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cti.config.yamlconf import load

DEFAULT_FILE = Path(__file__).with_name("queues.yaml")
MAX_LEVEL = 5
FALLBACK_QUEUE = "general-service"  # the dialplan's last resort (extensions.conf)
T = TypeVar("T")

Strategy = Literal["ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered",
                   "linear", "wrandom"]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
# which answered calls are recorded: all, none, or a share in percent (30: about
# three calls in ten, picked at random when the call is routed)
Recording = Literal["all", "none"] | Annotated[int, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """Where a wallboard cell turns amber (``warn``) and red (``alarm``).
    For a figure that is bad when high (waiting callers, longest wait, ASA,
    abandon rate) warn < alarm; when low (service level) warn > alarm."""

    warn: float = Field(ge=0)
    alarm: float = Field(ge=0)


class Thresholds(_Strict):
    """The wallboard's colours for one queue."""

    waiting: Band = Band(warn=3, alarm=8)  # callers
    longest_wait: Band = Band(warn=30, alarm=90)  # seconds
    asa: Band = Band(warn=20, alarm=45)  # seconds
    abandon_rate: Band = Band(warn=5, alarm=10)  # percent
    service_level: Band = Band(warn=80, alarm=60)  # percent: low is bad

    @model_validator(mode="after")
    def _order(self) -> Thresholds:
        problems = [f"{name}: warn ({band.warn:g}) must be below alarm ({band.alarm:g})"
                    for name in ("waiting", "longest_wait", "asa", "abandon_rate")
                    if (band := getattr(self, name)).warn >= band.alarm]
        if self.service_level.warn <= self.service_level.alarm:
            problems.append(f"service_level: warn ({self.service_level.warn:g}) must be above "
                            f"alarm ({self.service_level.alarm:g}): a low level is bad")
        for name in ("abandon_rate", "service_level"):
            if getattr(self, name).warn > 100 or getattr(self, name).alarm > 100:
                problems.append(f"{name}: a percentage is 0 to 100")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class QueueDefaults(_Strict):
    strategy: Strategy = "rrmemory"
    ring_seconds: int = Field(default=15, ge=5, le=120)
    wrapup_seconds: int = Field(default=10, ge=0, le=600)
    first_level: int = Field(default=3, ge=1, le=MAX_LEVEL)
    widen_after: int = Field(default=30, ge=0, le=3600)
    max_wait: int = Field(default=180, ge=0, le=7200)
    overflow_queue: Name | None = "general-service"
    service_level_seconds: int = Field(default=20, ge=1, le=600)
    wallboard: Thresholds = Field(default_factory=Thresholds)
    recording: Recording = "all"
    # a caller who hangs up after waiting more than this many seconds is owed a
    # callback (null: none)
    callback_after_abandon: int | None = Field(default=None, ge=0, le=3600)
    # a caller whose estimated wait is over this many seconds is offered a
    # callback that keeps their place, every callback_offer_every seconds
    # (the first offer after that long in the queue); null: no offer
    callback_offer_after: int | None = Field(default=None, ge=0, le=3600)
    callback_offer_every: int = Field(default=60, ge=10, le=3600)
    # the caller stays on the line when the agent hangs up and rates the
    # agent 1-5 on the keypad
    survey_after_call: bool = False


class QueueSpec(_Strict):
    title: str = Field(min_length=1, max_length=60)
    skills: list[Name] = Field(min_length=1, max_length=4)
    strategy: Strategy | None = None
    ring_seconds: int | None = Field(None, ge=5, le=120)
    wrapup_seconds: int | None = Field(None, ge=0, le=600)
    first_level: int | None = Field(None, ge=1, le=MAX_LEVEL)
    widen_after: int | None = Field(None, ge=0, le=3600)
    max_wait: int | None = Field(None, ge=0, le=7200)
    overflow_queue: Name | None = Field("", validate_default=False)  # "" = the default's
    service_level_seconds: int | None = Field(None, ge=1, le=600)
    wallboard: Thresholds | None = None  # None: the defaults'
    recording: Recording | None = None
    callback_after_abandon: int | None = Field(default=-1, ge=-1, le=3600)  # -1: the default's
    callback_offer_after: int | None = Field(default=-1, ge=-1, le=3600)  # -1: the default's
    callback_offer_every: int | None = Field(None, ge=10, le=3600)
    survey_after_call: bool | None = None


class Queue(_Strict):
    """A queue with the defaults filled in."""

    name: str
    title: str
    skills: tuple[str, ...]
    strategy: Strategy
    ring_seconds: int
    wrapup_seconds: int
    first_level: int
    widen_after: int
    max_wait: int
    overflow_queue: str | None
    service_level_seconds: int
    wallboard: Thresholds
    recording: Recording
    callback_after_abandon: int | None
    callback_offer_after: int | None
    callback_offer_every: int
    survey_after_call: bool

    @property
    def first_max_penalty(self) -> int | None:
        """The highest penalty offered a caller at first; None: no limit."""
        return None if self.first_level <= 1 else MAX_LEVEL - self.first_level

    def penalty(self, levels: dict[str, int]) -> int | None:
        """The penalty of an agent with these skill levels, or None if the
        agent lacks one of the queue's skills."""
        if any(levels.get(s, 0) < 1 for s in self.skills):
            return None
        return MAX_LEVEL - min(levels[s] for s in self.skills)


class AcdConfig(_Strict):
    skills: dict[Name, str] = Field(min_length=1)
    defaults: QueueDefaults = Field(default_factory=QueueDefaults)
    queues: dict[Name, QueueSpec] = Field(min_length=1)
    numbers: dict[Annotated[str, Field(pattern=r"^\d{3,20}$")], Name] = {}
    vip_priority: int = Field(default=10, ge=0, le=100)

    @model_validator(mode="after")
    def _references(self) -> AcdConfig:
        problems = []
        if FALLBACK_QUEUE not in self.queues:
            problems.append(f"queues: {FALLBACK_QUEUE} is missing (the dialplan sends "
                            f"callers there when anything fails)")
        for name, q in self.queues.items():
            for skill in q.skills:
                if skill not in self.skills:
                    problems.append(f"queues.{name}.skills: unknown skill {skill!r}")
            overflow = self.defaults.overflow_queue if q.overflow_queue == "" else \
                q.overflow_queue
            if overflow is not None and overflow not in self.queues:
                problems.append(f"queues.{name}.overflow_queue: unknown queue {overflow!r}")
            if overflow == name:
                problems.append(f"queues.{name}.overflow_queue: a queue cannot overflow "
                                f"into itself")
        for number, queue in self.numbers.items():
            if queue not in self.queues:
                problems.append(f"numbers.{number}: unknown queue {queue!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @functools.cached_property
    def _filled(self) -> dict[str, Queue]:
        """Every queue with the defaults filled in, built once: the board, the
        router and the wallboard ask for them on every event."""
        return {name: self._fill(name) for name in self.queues}

    def queue(self, name: str) -> Queue:
        return self._filled[name]

    def _fill(self, name: str) -> Queue:
        spec, d = self.queues[name], self.defaults
        return Queue(
            name=name, title=spec.title, skills=tuple(spec.skills),
            strategy=_or(spec.strategy, d.strategy),
            ring_seconds=_or(spec.ring_seconds, d.ring_seconds),
            wrapup_seconds=_or(spec.wrapup_seconds, d.wrapup_seconds),
            first_level=_or(spec.first_level, d.first_level),
            widen_after=_or(spec.widen_after, d.widen_after),
            max_wait=_or(spec.max_wait, d.max_wait),
            overflow_queue=d.overflow_queue if spec.overflow_queue == "" else spec.overflow_queue,
            service_level_seconds=_or(spec.service_level_seconds, d.service_level_seconds),
            wallboard=_or(spec.wallboard, d.wallboard),
            recording=_or(spec.recording, d.recording),
            callback_after_abandon=d.callback_after_abandon
            if spec.callback_after_abandon == -1 else spec.callback_after_abandon,
            callback_offer_after=d.callback_offer_after
            if spec.callback_offer_after == -1 else spec.callback_offer_after,
            callback_offer_every=_or(spec.callback_offer_every, d.callback_offer_every),
            survey_after_call=_or(spec.survey_after_call, d.survey_after_call),
        )

    def all_queues(self) -> dict[str, Queue]:
        return dict(self._filled)

    def memberships(self, levels: dict[str, int]) -> dict[str, int]:
        """queue -> penalty for an agent with these skill levels."""
        out = {}
        for q in self.all_queues().values():
            p = q.penalty(levels)
            if p is not None:
                out[q.name] = p
        return out


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def load_config(path: Path = DEFAULT_FILE) -> AcdConfig:
    return load(path, AcdConfig)


# ---------------------------------------------------------------------- Asterisk
HEADER = ("; Generated by 'hotline acd render' from acd/queues.yaml: edit that file,\n"
          "; not this one (a test fails when they disagree).\n")


def app_queue_seconds(seconds: int) -> int:
    """What to give app_queue for a timer that must last at least ``seconds``.

    app_queue counts its timers in whole seconds (``time_t``): a caller's
    start (``Queue()``'s timeout, the penalty rules) and a member's last call
    (``wrapuptime``) are truncated to the second, and the timer fires once
    ``time(NULL) - start >= N``, so N can end up to a second early (seen in
    CI: a 12 s ``max_wait`` moved a caller on after 11.0 s).  One second more
    makes N the least (and N + 1 the most).  0 stays 0 (no timer).
    """
    return seconds + 1 if seconds else 0


def wrap_up_ends(last_call: float, seconds: int) -> float:
    """When app_queue will offer an agent again after a call ending at ``last_call``."""
    return math.floor(last_call) + app_queue_seconds(seconds)


def render_queues(cfg: AcdConfig) -> str:
    out = [HEADER]
    for q in cfg.all_queues().values():
        out.append(f"\n; {q.title}: skills {', '.join(q.skills)}\n"
                   f"[{q.name}](hotline-queue)\n"
                   f"strategy = {q.strategy}\n"
                   f"timeout = {q.ring_seconds}\n"
                   f"wrapuptime = {app_queue_seconds(q.wrapup_seconds)}\n"
                   f"servicelevel = {q.service_level_seconds}\n")
        if q.first_max_penalty is not None:
            out.append(f"defaultrule = {q.name}\n")
        if q.callback_offer_after is not None:  # a 1 pressed while waiting: the offer's key
            out.append("context = hotline-queue-keys\n")
    return "".join(out)


def render_rules(cfg: AcdConfig) -> str:
    """Penalty rules: a caller starts with QUEUE_MAX_PENALTY = 5 - first_level
    (set by the dialplan from the routing decision: app_queue does not apply a
    rule at 0 s when the caller joins); after widen_after seconds, everyone."""
    out = [HEADER]
    for q in cfg.all_queues().values():
        if q.first_max_penalty is not None:
            widen = app_queue_seconds(max(q.widen_after, 1))
            out.append(f"\n[{q.name}]\npenaltychange => {widen},{MAX_LEVEL - 1}\n")
    return "".join(out)


def rendered_files(cfg: AcdConfig) -> dict[str, str]:
    """Path under asterisk-conf/ -> content."""
    return {"queues.d/hotline.conf": render_queues(cfg),
            "queuerules.d/hotline.conf": render_rules(cfg)}
