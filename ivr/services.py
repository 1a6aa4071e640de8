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
# the routing decision as the dialplan reads it: HOTLINE_ROUTE, these fields
# joined by "|", split by [hotline-route] (asterisk-conf/extensions.conf)
ROUTE_VARIABLES = ("HOTLINE_QUEUE", "HOTLINE_PRIORITY", "HOTLINE_QUEUE_TIMEOUT",
                   "HOTLINE_MAX_PENALTY", "HOTLINE_OVERFLOW_QUEUE", "HOTLINE_CUSTOMER_ID",
                   "HOTLINE_VIP", "HOTLINE_LANGUAGE", "HOTLINE_IVR_PATH", "HOTLINE_RECORD",
                   "HOTLINE_SURVEY")


class CallCards(Protocol):
    """The caller's card, read once per call (crm_bridge/cards.py): whole for
    the menus, at a glance (customer id, VIP) for routing a direct call."""

    def card(self, call_id: str, number: str) -> Awaitable[dict[str, Any]]: ...
    def glance(self, call_id: str, number: str) -> Awaitable[dict[str, Any]]: ...


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


def hotline_entry(router: Routing, menus: Menus, cards: CallCards | None = None,
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
        # the dialplan passes the call's id and the number dialled (older
        # dialplans did not: then they are asked for)
        headers = request.headers
        call_id = headers.get("agi_arg_1") or await get_variable(request, "CHANNEL(linkedid)")
        dialled = headers.get("agi_arg_2") or await get_variable(request, "HOTLINE_DNID")
        caller = headers.get("agi_callerid", "")
        caller = "" if caller == "unknown" else caller
        card: dict[str, Any] | None = None
        menus_here = dialled in menus.numbers
        if cards is not None and caller:
            # the menus greet and offer open orders: the whole card; a direct
            # line routes by VIP: the caller at a glance
            read = cards.card if menus_here else cards.glance
            try:  # the caller is waiting: a slow database must not hold them
                card = await asyncio.wait_for(asyncio.shield(read(call_id, caller)),
                                              LOOKUP_TIMEOUT)
            except Exception as exc:  # down or slow: menus without the greeting
                log.warning("agi_lookup_failed", error=f"{type(exc).__name__}: {exc}"[:200])
        queue, language, path = None, "", "direct"
        if menus_here:
            uid = request.headers.get("agi_uniqueid", "")
            session = IvrSession(
                request, menus, card=card, tickets=tickets, zone=zone,
                on_step=(lambda path, lang: on_step(uid, path, lang)) if on_step else None,
                booker=booker, call_id=call_id, watchdog=watchdog)
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
        values = {**route.channel_variables(), "HOTLINE_LANGUAGE": language,
                  "HOTLINE_IVR_PATH": path}
        # one command, one round trip: the dialplan's hotline-route splits it
        await request.send_command('SET VARIABLE HOTLINE_ROUTE "{}"'.format(
            "|".join(values.get(name, "") for name in ROUTE_VARIABLES)))
        log.info("agi_routed", queue=route.queue, priority=route.priority, vip=route.vip,
                 customer_id=route.customer_id, ivr_path=path, language=language)

    return entry


