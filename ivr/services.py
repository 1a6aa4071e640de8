"""The IVR's FastAGI route ``hotline``: the menus for the published numbers,
then the routing decision as channel variables for the dialplan's Queue().

What the IVR needs of others is given to it (cti/server.py wires them): the
routing decision (the ACD's router), the caller's card and orders (the
service database), and a hook that notes each menu step on the live call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from panoramisk.fast_agi import Request

from cti.agi import AgiHandler, get_variable
from ivr.menus import Menus
from ivr.runner import Booker, IvrSession, Outcome, TicketLookup, Watchdog

log = structlog.get_logger("ivr.services")

LOOKUP_TIMEOUT = 1.0  # seconds the caller may wait for the CRM lookup


class CustomerLookup(Protocol):
    def customer_card(self, raw_number: str) -> Awaitable[dict[str, Any]]: ...


class RouteDecision(Protocol):
    @property
    def queue(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def vip(self) -> bool: ...
    @property
    def customer_id(self) -> int | None: ...
    def channel_variables(self) -> dict[str, str]: ...


class Routing(Protocol):
    """Which queue, and how: the ACD decides (acd/routing.py)."""

    async def route(self, dialled: str, caller_number: str, queue: str | None = None,
                    card: dict[str, Any] | None = None,
                    lookup: bool = True) -> RouteDecision: ...


def hotline_entry(router: Routing, menus: Menus, crm: CustomerLookup | None = None,
                  tickets: TicketLookup | None = None, zone: str = "Asia/Shanghai",
                  on_step: Callable[[str, list[str], str | None], None] | None = None,
                  booker: Booker | None = None) -> AgiHandler:
    """The hotline's entry: the IVR's menus for the published numbers, then
    the ACD's routing decision (queue, VIP priority, overflow) as channel
    variables for the dialplan's Queue()."""

    async def entry(request: Request) -> None:
        # first: the dialplan's watchdog sends a caller whose FastAGI server
        # says nothing for 3 s to the general queue; from here on it waits
        # menus.watchdog seconds, kept armed while the menus go on (the
        # dialplan clears it when AGI() returns, whatever happened here)
        watchdog = Watchdog(request, menus.watchdog)
        await watchdog.arm()
        dialled = await get_variable(request, "HOTLINE_DNID")
        caller = request.headers.get("agi_callerid", "")
        caller = "" if caller == "unknown" else caller
        card: dict[str, Any] | None = None
        if crm is not None and caller:
            try:  # the caller is waiting: a slow database must not hold them
                card = await asyncio.wait_for(crm.customer_card(caller), LOOKUP_TIMEOUT)
            except Exception as exc:  # down or slow: menus without the greeting
                log.warning("agi_lookup_failed", error=f"{type(exc).__name__}: {exc}"[:200])
        queue, language, path = None, "", "direct"
        if dialled in menus.numbers:
            uid = request.headers.get("agi_uniqueid", "")
            session = IvrSession(
                request, menus, card=card, tickets=tickets, zone=zone,
                on_step=(lambda path, lang: on_step(uid, path, lang)) if on_step else None,
                booker=booker, call_id=await get_variable(request, "CHANNEL(linkedid)"),
                watchdog=watchdog)
            try:
                outcome = await session.run()
            except Exception:  # a fault of ours: the caller goes to an agent, not away
                log.exception("ivr_failed", path=">".join(session.path))
                outcome = Outcome(menus.agent_queue_for(session.language),
                                  session.language or "zh", [*session.path, "error"], "error")
            queue, language, path = outcome.queue, outcome.language, outcome.path_text
            if outcome.reason == "hangup":
                log.info("ivr_hangup", path=path)
                return
        route = await router.route(dialled, caller, queue=queue, card=card, lookup=False)
        await request.send_command(f'SET VARIABLE HOTLINE_IVR_PATH "{path}"')
        await request.send_command(f'SET VARIABLE HOTLINE_LANGUAGE "{language}"')
        for name, value in route.channel_variables().items():
            await request.send_command(f'SET VARIABLE {name} "{value}"')
        log.info("agi_routed", queue=route.queue, priority=route.priority, vip=route.vip,
                 customer_id=route.customer_id, ivr_path=path, language=language)

    return entry


