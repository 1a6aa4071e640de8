"""Running the menus on a call, over FastAGI.

One :class:`IvrSession` per call. It plays prompts with ``STREAM FILE`` (a
key interrupts them), waits for a key with ``WAIT FOR DIGIT``, and walks the
menus until it knows where the caller goes: a queue, or an agent (the
language's agent queue). A key not in the menu, or none, plays a notice and
the menu again; after the menu's tries, an agent. The path (``menu:key``
steps) and the language go back to the dialplan with the queue; the
dialplan reports them in a UserEvent, so the call record has them.

Known callers are greeted (VIP or not), and one with an open order hears the
``open-order`` menu first. Self-service: the repair status, by the caller's
open order or a typed order number, read back with digits and a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from panoramisk.fast_agi import Request

from ivr.menus import Action, Menu, Menus
from ivr.prompts import playback_name

log = structlog.get_logger("ivr.runner")

ALL_KEYS = "0123456789*#"
TicketLookup = Callable[[int], Awaitable[dict[str, Any] | None]]
StepHook = Callable[[list[str], str | None], None]


class CallerHungUp(Exception):
    pass


@dataclass
class Outcome:
    queue: str
    language: str
    path: list[str] = field(default_factory=list)
    reason: str = "menu"  # menu | agent | tries | service

    @property
    def path_text(self) -> str:
        return ">".join(self.path)


class IvrSession:
    def __init__(self, request: Request, menus: Menus, *, card: dict[str, Any] | None = None,
                 tickets: TicketLookup | None = None, zone: str = "Asia/Shanghai",
                 on_step: StepHook | None = None) -> None:
        self.request = request
        self.menus = menus
        self.card = card or {}
        self.tickets = tickets
        self.zone = ZoneInfo(zone)
        self.language: str | None = None
        self.path: list[str] = []
        self.menu: str | None = None  # the menu playing now
        self.on_step = on_step  # the call's record learns each step as it happens

    def step(self, text: str) -> None:
        self.path.append(text)
        if self.on_step is not None:
            self.on_step(self.path, self.language)

    # ------------------------------------------------------------------ AGI
    async def _cmd(self, command: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request.send_command(command)
        if result.get("error") in ("AGIResultHangup", "AGIAppError"):
            raise CallerHungUp(result.get("msg", ""))
        return result

    @staticmethod
    def _digit(result: dict[str, Any]) -> str | None:
        code = result.get("result", ("0", ""))[0]
        try:
            n = int(code)
        except ValueError:
            return None
        return chr(n) if n > 0 else None

    async def play(self, pid: str, lang: str | None = None, *, keys: str = ALL_KEYS
                   ) -> str | None:
        """Play one prompt; the key that interrupted it, if any."""
        name = playback_name(lang or self.language or "zh", pid)
        log.debug("ivr_play", prompt=pid, language=lang or self.language or "zh")
        return self._digit(await self._cmd(f'STREAM FILE {name} "{keys}"'))

    async def ask(self, menu: Menu, timeout: int) -> str | None:
        langs = ["zh", "en"] if menu.bilingual or self.language is None else [self.language]
        for pid in menu.prompts:
            for lang in langs:
                key = await self.play(pid, lang)
                if key:
                    return key
        return self._digit(await self._cmd(f"WAIT FOR DIGIT {timeout * 1000}"))

    # ------------------------------------------------------------------ menus
    def _agent(self) -> str:
        lang = self.language or "zh"
        return self.menus.agent_queue.get(lang) or next(iter(self.menus.agent_queue.values()))  # type: ignore[call-overload]

    def _open_order(self) -> dict[str, Any] | None:
        for t in self.card.get("open_tickets", []) or []:
            if t.get("kind") in ("repair", "installation"):
                return dict(t)
        return None

    async def run(self) -> Outcome:
        try:
            return await self._walk()
        except CallerHungUp:
            self.step(f"{self.menu}:hangup" if self.menu else "hangup")
            return Outcome(self._agent(), self.language or "", self.path, "hangup")

    async def _walk(self) -> Outcome:
        menu_id = self.menus.start
        greeted = False
        while True:
            self.menu = menu_id
            menu = self.menus.menus[menu_id]
            retries = menu.retries or self.menus.retries
            timeout = menu.timeout or self.menus.timeout
            action: Action | None = None
            for _ in range(retries):
                key = await self.ask(menu, timeout)
                self.step(f"{menu_id}:{key or 't'}")
                action = menu.keys.get(key) if key else menu.on_timeout
                if action is not None:
                    break
                await self.play("timeout" if key is None else "invalid")
            if action is None:  # out of tries: a person will help
                await self.play("transfer-agent")
                return Outcome(self._agent(), self.language or "zh", self.path, "tries")
            if action.language:
                self.language = action.language
                if self.on_step is not None:  # the record learns the language now
                    self.on_step(self.path, self.language)
            if self.language and not greeted and self.card.get("known"):
                greeted = True
                vip = (self.card.get("customer") or {}).get("vip")
                await self.play("greet-vip" if vip else "greet-known")
                if action.goto == "main" and self._open_order() and "open-order" in \
                        self.menus.menus:
                    menu_id = "open-order"
                    continue
            if action.goto:
                menu_id = action.goto
                continue
            if action.agent:
                await self.play("transfer-agent")
                return Outcome(self._agent(), self.language or "zh", self.path, "agent")
            if action.queue:
                queue = action.queue_for(self.language or "zh") or self._agent()
                return Outcome(queue, self.language or "zh", self.path, "menu")
            if action.service == "repair_status":
                await self.repair_status()
                menu_id = "main"
                continue
            # book_installation: an agent books it until the self-service is built
            self.step(f"service:{action.service}")
            await self.play("transfer-agent")
            return Outcome(self._agent(), self.language or "zh", self.path, "service")

    # ------------------------------------------------------------------ services
    async def repair_status(self) -> None:
        """The caller's open order, else the order whose number they type."""
        self.menu = "repair_status"
        ticket = self._open_order()
        if ticket is None:
            prompt = playback_name(self.language or "zh", "enter-ticket")
            result = await self._cmd(f"GET DATA {prompt} 8000 10")
            typed = str(result.get("result", ("", ""))[0])
            self.step(f"ticket:{typed or 't'}")
            found = await self.tickets(int(typed)) if typed.isdigit() and self.tickets else None
            if found is None:
                await self.play("ticket-not-found")
                return
            ticket = found
        await self.say_status(ticket)

    async def say_status(self, ticket: dict[str, Any]) -> None:
        await self.play("status-order")
        for d in str(ticket["id"]):
            await self.play(f"digit-{d}")
        status = ticket["status"]
        await self.play(f"status-{status}")
        start = ticket.get("appointment_start")
        if status == "scheduled" and start:
            when = dt.datetime.fromisoformat(start).astimezone(self.zone)
            await self.play(f"month-{when.month}")
            await self.play(f"day-{when.day}")
            await self.play("slot-morning" if when.hour < 12 else "slot-afternoon")
