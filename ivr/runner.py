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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from panoramisk.fast_agi import Request

from ivr.menus import KEY_WAIT_SECONDS, Action, Menu, Menus
from ivr.prompts import playback_name

log = structlog.get_logger("ivr.runner")

ALL_KEYS = "0123456789*#"
TicketLookup = Callable[[int], Awaitable[dict[str, Any] | None]]
# customer id, appliance id, window start, window end, call id -> the new ticket
Booker = Callable[[int, int, dt.datetime, dt.datetime, str], Awaitable[dict[str, Any]]]
SLOTS = ((9, 12), (14, 17))  # morning, afternoon, site time
RECENT_PURCHASE = dt.timedelta(days=90)
MAX_WRONG_TAILS = 2  # per call; then an agent
StepHook = Callable[[list[str], str | None], None]


# the confirmation after an offered slot: 1 yes, 2 another, 0 an agent
_CONFIRM = Menu(prompts=["install-confirm"], keys={"1": Action(agent=True),
                                                    "2": Action(agent=True),
                                                    "0": Action(agent=True)})


class CallerHungUp(Exception):
    pass


@dataclass
class Outcome:
    queue: str
    language: str
    path: list[str] = field(default_factory=list)
    reason: str = "menu"  # menu | agent | tries | service | verify | hangup | error

    @property
    def path_text(self) -> str:
        return ">".join(self.path)


class Watchdog:
    """The dialplan's ``TIMEOUT(absolute)`` on the caller's channel, kept
    armed while the server talks to the caller: if the server stops sending
    commands (stalled, frozen, killed), Asterisk ends ``AGI()`` after
    ``seconds`` and the dialplan's ``T`` extension queues the caller. Re-armed
    before a command once a third of it has gone, so no single prompt or key
    wait (well under two thirds) can run into it. The dialplan clears it
    when ``AGI()`` returns."""

    def __init__(self, request: Request, seconds: int) -> None:
        self.request, self.seconds = request, seconds
        self.armed_at: float | None = None

    async def arm(self) -> None:
        await self.request.send_command(f"SET VARIABLE TIMEOUT(absolute) {self.seconds}")
        self.armed_at = time.monotonic()

    async def keep_alive(self) -> None:
        if self.armed_at is not None and time.monotonic() - self.armed_at > self.seconds / 3:
            await self.arm()


class IvrSession:
    def __init__(self, request: Request, menus: Menus, *, card: dict[str, Any] | None = None,
                 tickets: TicketLookup | None = None, zone: str = "Asia/Shanghai",
                 on_step: StepHook | None = None, booker: Booker | None = None,
                 call_id: str = "", today: dt.date | None = None,
                 watchdog: Watchdog | None = None) -> None:
        self.request = request
        self.watchdog = watchdog
        self.menus = menus
        self.card = card or {}
        self.tickets = tickets
        self.zone = ZoneInfo(zone)
        self.language: str | None = None
        self.path: list[str] = []
        self.menu: str | None = None  # the menu playing now
        self.typed_ahead: str | None = None  # a key pressed during a greeting or notice
        self.on_step = on_step  # the call's record learns each step as it happens
        self.booker = booker
        self.call_id = call_id
        self.today = today
        self.wrong_tails = 0  # order numbers typed with the wrong phone digits

    def step(self, text: str) -> None:
        self.path.append(text)
        if self.on_step is not None:
            self.on_step(self.path, self.language)

    # ------------------------------------------------------------------ AGI
    async def _cmd(self, command: str) -> dict[str, Any]:
        if self.watchdog is not None:
            await self.watchdog.keep_alive()
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

    async def say(self, pid: str) -> None:
        """A greeting or notice: a key pressed during it is kept for the menu
        that follows (callers who know the menus type ahead)."""
        key = await self.play(pid)
        if key and self.typed_ahead is None:
            self.typed_ahead = key

    async def ask(self, menu: Menu, timeout: int) -> str | None:
        if self.typed_ahead is not None:
            ahead, self.typed_ahead = self.typed_ahead, None
            return ahead
        langs = ["zh", "en"] if menu.bilingual or self.language is None else [self.language]
        for pid in menu.prompts:
            for lang in langs:
                key = await self.play(pid, lang)
                if key:
                    return key
        return await self.wait_key(timeout)

    async def wait_key(self, seconds: float) -> str | None:
        """The key pressed within ``seconds``, if any."""
        return self._digit(await self._cmd(f"WAIT FOR DIGIT {int(seconds * 1000)}"))

    async def record(self, path: str, max_seconds: int, silence: int) -> bool:
        """Record what the caller says after a beep into ``path`` (+ .wav), until
        # or ``silence`` seconds of silence; False if nothing was kept."""
        result = await self._cmd(f'RECORD FILE {path} wav "#" {max_seconds * 1000} 0 BEEP '
                                 f"s={silence}")
        return str(result.get("result", ("", ""))[0]) not in ("-1", "")

    # ------------------------------------------------------------------ menus
    def _agent(self) -> str:
        return self.menus.agent_queue_for(self.language)

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
                await self.say("timeout" if key is None else "invalid")
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
                await self.say("greet-vip" if vip else "greet-known")
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
                if self.wrong_tails >= MAX_WRONG_TAILS:  # no guessing: a person will help
                    await self.play("transfer-agent")
                    return Outcome(self._agent(), self.language or "zh", self.path, "verify")
                menu_id = "main"
                continue
            if await self.book_installation():
                menu_id = "main"
                continue
            await self.play("transfer-agent")
            return Outcome(self._agent(), self.language or "zh", self.path, "service")

    # ------------------------------------------------------------------ services
    async def repair_status(self) -> None:
        """The caller's open order, else the order whose number they type."""
        self.menu = "repair_status"
        ticket = self._open_order()
        if ticket is None:
            typed = await self.typed("enter-ticket", 10)
            self.step(f"ticket:{typed or 't'}")
            found = await self.tickets(int(typed)) if typed.isdigit() and self.tickets else None
            # nothing typed: nothing to check; the caller's own order: no question
            heard = bool(typed) and (self._owns(found) or await self._phone_tail_matches(found))
            if found is None or not heard:
                await self.play("ticket-not-found")
                return
            ticket = found
        await self.say_status(ticket)

    async def typed(self, pid: str, max_digits: int) -> str:
        """Play a prompt and take up to ``max_digits`` digits (# ends them)."""
        prompt = playback_name(self.language or "zh", pid)
        result = await self._cmd(f"GET DATA {prompt} {KEY_WAIT_SECONDS * 1000} {max_digits}")
        return str(result.get("result", ("", ""))[0])

    def _owns(self, ticket: dict[str, Any] | None) -> bool:
        """The caller rings from a number of the order's customer."""
        mine = (self.card.get("customer") or {}).get("id")
        return ticket is not None and mine is not None and \
            (ticket.get("customer") or {}).get("id") == mine

    async def _phone_tail_matches(self, ticket: dict[str, Any] | None) -> bool:
        """A caller from another phone proves they know the order's customer:
        the last four digits of a number on it. Asked whether or not the order
        exists, so the answer does not tell which order numbers are real; the
        digits typed are not recorded, only ``verify:ok``/``no``/``t``."""
        typed = await self.typed("enter-phone-tail", 4)
        ok = ticket is not None and len(typed) == 4 and typed in ticket.get("phone_tails", ())
        self.step(f"verify:{'ok' if ok else 'no' if typed else 't'}")
        self.wrong_tails += not ok
        return ok

    def _to_install(self) -> dict[str, Any] | None:
        """The caller's newest appliance bought lately with no installation order."""
        today = self.today or dt.datetime.now(self.zone).date()
        taken = {t.get("appliance_id") for t in self.card.get("open_tickets", []) or []
                 if t.get("kind") == "installation"}
        recent = [a for a in self.card.get("appliances", []) or []
                  if a.get("purchase_date") and a["id"] not in taken
                  and today - dt.date.fromisoformat(a["purchase_date"]) <= RECENT_PURCHASE]
        return max(recent, key=lambda a: a["purchase_date"]) if recent else None

    async def book_installation(self) -> bool:
        """Offer the next slots for the appliance; True once one is booked
        (False: the caller wants a person, or there is nothing to install)."""
        self.menu = "book_installation"
        appliance = self._to_install()
        customer = self.card.get("customer") or {}
        if appliance is None or self.booker is None or not customer.get("id"):
            self.step("install:none")
            await self.play("no-appliance")
            return False
        day = (self.today or dt.datetime.now(self.zone).date()) + dt.timedelta(days=1)
        offers = [(day + dt.timedelta(days=k), slot) for k in range(2) for slot in SLOTS]
        for when, (start_h, end_h) in offers:
            # a key pressed during the offer answers it
            key = await self.play("install-offer") or await self.say_date(when, start_h) \
                or await self.ask(_CONFIRM, self.menus.timeout)
            self.step(f"install:{key or 't'}")
            if key == "1":
                start = dt.datetime.combine(when, dt.time(start_h), self.zone)
                end = dt.datetime.combine(when, dt.time(end_h), self.zone)
                ticket = await self.booker(int(customer["id"]), int(appliance["id"]), start, end,
                                           self.call_id)
                await self.play("install-booked")
                for d in str(ticket["id"]):
                    await self.play(f"digit-{d}")
                return True
            if key != "2":
                return False  # 0, no key, anything else: an agent
        return False

    async def say_date(self, day: dt.date, hour: int) -> str | None:
        """Month, day, morning or afternoon; the key that cut it short, if any."""
        for pid in (f"month-{day.month}", f"day-{day.day}",
                    "slot-morning" if hour < 12 else "slot-afternoon"):
            key = await self.play(pid)
            if key:
                return key
        return None

    async def say_status(self, ticket: dict[str, Any]) -> None:
        await self.play("status-order")
        for d in str(ticket["id"]):
            await self.play(f"digit-{d}")
        status = ticket["status"]
        await self.play(f"status-{status}")
        start = ticket.get("appointment_start")
        if status == "scheduled" and start:
            when = dt.datetime.fromisoformat(start).astimezone(self.zone)
            await self.say_date(when.date(), when.hour)  # a key here just ends the reading
