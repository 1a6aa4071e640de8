"""Which queue a caller waits in, and how: the ACD's routing decision.

The dialplan asks over FastAGI (route ``hotline``) before ``Queue()``. The
decision comes from the dialled number (``numbers`` in acd/queues.yaml; the
IVR refines it), and from the CRM: a caller whose number belongs to a VIP
customer waits ahead of the others (Asterisk's ``QUEUE_PRIO``). The queue's
``max_wait`` becomes ``Queue()``'s timeout, after which the dialplan moves
the caller on to the queue's ``overflow_queue``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

import structlog

from acd.config import FALLBACK_QUEUE, AcdConfig, Recording, app_queue_seconds

log = structlog.get_logger("acd.routing")


class CustomerLookup(Protocol):
    async def customer_card(self, raw_number: str) -> dict[str, object]: ...


@dataclass(frozen=True)
class Route:
    queue: str
    priority: int = 0
    max_wait: int = 0  # seconds; 0: no limit
    max_penalty: int | None = None  # at first; the queue's rule widens it later
    overflow_queue: str | None = None
    customer_id: int | None = None
    vip: bool = False
    record: bool = False  # the queue's recording policy, decided for this call
    survey: bool = False  # the caller rates the agent after the call (Queue() option c)

    def channel_variables(self) -> dict[str, str]:
        """What the dialplan reads (extensions.conf, context hotline)."""
        return {
            "HOTLINE_QUEUE": self.queue,
            "HOTLINE_PRIORITY": str(self.priority),
            # app_queue counts whole seconds: one more so the caller waits >= max_wait
            "HOTLINE_QUEUE_TIMEOUT": str(app_queue_seconds(self.max_wait)) if self.max_wait else "",
            "HOTLINE_MAX_PENALTY": "" if self.max_penalty is None else str(self.max_penalty),
            "HOTLINE_OVERFLOW_QUEUE": self.overflow_queue or "",
            "HOTLINE_CUSTOMER_ID": str(self.customer_id or ""),
            "HOTLINE_VIP": "1" if self.vip else "",
            "HOTLINE_RECORD": "1" if self.record else "",
            "HOTLINE_SURVEY": "1" if self.survey else "",
        }


class Router:
    def __init__(self, config: AcdConfig, crm: CustomerLookup | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.crm = crm
        self.rng = rng or random.Random()

    def records(self, policy: Recording) -> bool:
        if policy == "all":
            return True
        if policy == "none":
            return False
        return self.rng.random() * 100 < policy

    async def route(self, dialled: str, caller_number: str, queue: str | None = None,
                    card: dict[str, object] | None = None, lookup: bool = True) -> Route:
        """``card``: the caller's CRM card when the caller already looked it up
        (``lookup=False``: do not try again, e.g. the database is down)."""
        name = queue or self.config.numbers.get(dialled.strip(), FALLBACK_QUEUE)
        if name not in self.config.queues:
            log.warning("route_unknown_queue", queue=name)
            name = FALLBACK_QUEUE
        q = self.config.queue(name)
        customer_id, vip = None, False
        if card is None and lookup and self.crm is not None and caller_number:
            try:
                card = await self.crm.customer_card(caller_number)
            except Exception as exc:  # the database is down: route anyway
                log.warning("route_lookup_failed", error=f"{type(exc).__name__}: {exc}"[:200])
        customer = (card or {}).get("customer")
        if isinstance(customer, dict):
            customer_id = int(customer["id"])
            vip = bool(customer.get("vip"))
        return Route(queue=q.name, priority=self.config.vip_priority if vip else 0,
                     max_wait=q.max_wait, max_penalty=q.first_max_penalty,
                     overflow_queue=q.overflow_queue,
                     customer_id=customer_id, vip=vip, record=self.records(q.recording),
                     survey=q.survey_after_call)
