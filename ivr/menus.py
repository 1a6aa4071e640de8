"""IVR menus as data (ivr/menus.yaml), validated at start.

A menu plays prompts, waits for one key and acts: go to another menu, send
the caller to a queue (one per language if need be), to an agent, or into a
self-service. Every menu handles a timeout and an invalid key by playing a
short notice and itself again, up to ``retries`` tries, then hands the
caller to an agent. A menu file that points at a menu, a queue or a prompt
that does not exist is refused at start, with file, line and field named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cti.config.paths import PROJECT_ROOT
from cti.config.yamlconf import YamlConfigError, line_of, load

DEFAULT_FILE = PROJECT_ROOT / "ivr" / "menus.yaml"
Language = Literal["zh", "en"]
MenuId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]
Service = Literal["repair_status", "book_installation"]
# what every menu may say besides its own prompts
NOTICES = ("invalid", "timeout", "transfer-agent", "goodbye")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Action(_Strict):
    goto: MenuId | None = None
    queue: str | dict[Language, str] | None = None
    agent: bool = False
    service: Service | None = None
    language: Language | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> Action:
        ends = [x for x in (self.goto, self.queue, self.service) if x] + \
            (["agent"] if self.agent else [])
        if len(ends) != 1:
            raise ValueError("an action does exactly one of goto, queue, agent, service "
                             "(language may go with goto)")
        if self.language and not self.goto:
            raise ValueError("language goes with goto")
        return self

    def queue_for(self, language: str) -> str | None:
        if isinstance(self.queue, dict):
            return self.queue.get(language)  # type: ignore[call-overload, no-any-return]
        return self.queue


class Menu(_Strict):
    prompts: list[str] = Field(min_length=1, max_length=6)
    keys: dict[Key, Action] = Field(min_length=1)
    bilingual: bool = False
    on_timeout: Action | None = None
    retries: int | None = Field(default=None, ge=1, le=5)
    timeout: int | None = Field(default=None, ge=2, le=20)


class Menus(_Strict):
    numbers: list[Annotated[str, Field(pattern=r"^\d{3,20}$")]] = Field(min_length=1)
    start: MenuId
    retries: int = Field(default=3, ge=1, le=5)
    timeout: int = Field(default=5, ge=2, le=20)
    # seconds Asterisk waits for the next word of a server that went quiet in
    # the middle of the menus before it queues the caller itself (re-armed as
    # the menus go on; longer than any one prompt or key wait)
    watchdog: int = Field(default=60, ge=5, le=600)
    agent_queue: dict[Language, str]
    menus: dict[MenuId, Menu] = Field(min_length=1)

    @model_validator(mode="after")
    def _targets(self) -> Menus:
        problems = []
        if self.start not in self.menus:
            problems.append(f"start: no menu {self.start!r}")
        for mid, menu in self.menus.items():
            actions = [(f"menus.{mid}.keys.{k}", a) for k, a in menu.keys.items()]
            if menu.on_timeout:
                actions.append((f"menus.{mid}.on_timeout", menu.on_timeout))
            for where, a in actions:
                if a.goto and a.goto not in self.menus:
                    problems.append(f"{where}.goto: no menu {a.goto!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def longest_prompt(self) -> float:
        """Seconds a prompt may last: with the watchdog re-armed once a third
        has gone (ivr.runner.Watchdog), one command has two thirds of it, less
        the longest key wait that can follow a prompt in the same command
        (typing an order number)."""
        return self.watchdog * 2 / 3 - KEY_WAIT_SECONDS

    def agent_queue_for(self, language: str | None) -> str:
        """The queue "an agent" means for a caller of this language."""
        found = self.agent_queue.get(language or "zh")  # type: ignore[call-overload]
        return found or next(iter(self.agent_queue.values()))

    def prompts_used(self) -> set[str]:
        used = set(NOTICES)
        for menu in self.menus.values():
            used.update(menu.prompts)
        return used | SERVICE_PROMPTS

    def queues_used(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(where in the file, queue) for every queue the menus name."""
        out: list[tuple[tuple[str | int, ...], str]] = [
            (("agent_queue", lang), q) for lang, q in self.agent_queue.items()]
        for mid, menu in self.menus.items():
            for key, a in menu.keys.items():
                if isinstance(a.queue, dict):
                    out += [(("menus", mid, "keys", key, "queue", lang), q)
                            for lang, q in a.queue.items()]
                elif a.queue:
                    out.append((("menus", mid, "keys", key, "queue"), a.queue))
        return out


KEY_WAIT_SECONDS = 8  # how long the self-services wait for typed digits (GET DATA)

# the prompts the self-services say (ivr/services.py)
SERVICE_PROMPTS = {
    "greet-known", "greet-vip", "open-order", "enter-ticket", "enter-phone-tail",
    "ticket-not-found",
    "no-open-order", "status-order", "status-new", "status-dispatched", "status-scheduled",
    "status-in_progress", "status-resolved", "status-closed", "status-cancelled",
    "install-offer", "install-confirm", "slot-morning", "slot-afternoon", "install-booked",
    "no-appliance", *(f"digit-{d}" for d in range(10)), *(f"month-{m}" for m in range(1, 13)),
    *(f"day-{d}" for d in range(1, 32)),
}


def load_menus(path: Path = DEFAULT_FILE, *, queues: set[str] | None = None,
               prompts: set[str] | None = None) -> Menus:
    """The menus; with ``queues`` / ``prompts`` given, every queue and prompt
    they name must be among them (the error names the line)."""
    menus = load(path, Menus)
    problems = []
    if queues is not None:
        for loc, queue in menus.queues_used():
            if queue not in queues:
                problems.append(f"{path}:{line_of(path, loc)}: {'.'.join(map(str, loc))}: "
                                f"no queue {queue!r} in the ACD config")
    if prompts is not None:
        for mid, menu in menus.menus.items():
            for i, pid in enumerate(menu.prompts):
                if pid not in prompts:
                    loc = ("menus", mid, "prompts", i)
                    problems.append(f"{path}:{line_of(path, loc)}: {'.'.join(map(str, loc))}: "
                                    f"no prompt {pid!r} in the catalogue")
        for pid in sorted((set(NOTICES) | SERVICE_PROMPTS) - prompts):
            problems.append(f"{path}: the IVR needs prompt {pid!r}, not in the catalogue")
    if problems:
        raise YamlConfigError("; ".join(problems))
    return menus
