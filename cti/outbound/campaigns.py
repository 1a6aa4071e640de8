"""Preview calls of a survey campaign, agent by agent.

The agent asks for the next contact: one of a running campaign, claimed for
them alone (crm_bridge/campaigns.py), shown with the customer's card and the
campaign's questions before anything rings. When the agent dials, their own
phone rings first; once they answer, the dialplan (``hotline-campaign``)
calls the customer. The agent records the outcome (answered with the
answers, no answer, busy, wrong number, refused, or skipped): not reached
comes back later, up to the campaign's tries. Calls go out only inside the
site's opening hours and never to a number on the do-not-call list (checked
again when the agent dials: the list may have changed since the import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import structlog

from cti.ami import AmiError
from cti.errors import FieldError
from cti.outbound.dialer import Telephony, utcnow
from cti.outbound.exceptions import NotAtDesk, OnDoNotCallList, SiteClosed
from cti.outbound.schemas import ContactResultIn
from cti.outbound.services import Blocklist
from cti.tasks import TaskSet

log = structlog.get_logger("cti.outbound.campaigns")


class CampaignStore(Protocol):
    async def get(self, campaign_id: int) -> dict[str, Any]: ...
    async def claim_next(self, agent: str, now: Any) -> dict[str, Any] | None: ...
    async def mine(self, contact_id: int, agent: str) -> dict[str, Any]: ...
    async def finish(self, contact_id: int, agent: str, outcome: str,
                     answers: dict[str, Any] | None) -> dict[str, Any]: ...


class AgentDesk(Protocol):
    def live(self, code: str) -> dict[str, Any]: ...


class CardLookup(Protocol):
    async def customer_card(self, raw_number: str) -> dict[str, object]: ...


def checked_answers(questions: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    """The answers against the questions: a 422 naming ``answers.<id>``."""
    by_id = {q["id"]: q for q in questions}
    out: dict[str, Any] = {}
    for key, value in answers.items():
        q = by_id.get(key)
        if q is None:
            raise FieldError(f"answers.{key}", "no such question in this campaign")
        if value is None or value == "":
            continue
        if q["kind"] == "choice" and value not in q["options"]:
            raise FieldError(f"answers.{key}", f"one of {', '.join(q['options'])}")
        if q["kind"] == "scale":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise FieldError(f"answers.{key}", "a score from 1 to 5") from None
            if not 1 <= value <= 5:
                raise FieldError(f"answers.{key}", "a score from 1 to 5")
        if q["kind"] == "text":
            value = str(value).strip()[:500]
        out[key] = value
    return out


class CampaignDesk:
    def __init__(self, store: CampaignStore, telephony: Telephony, blocklist: Blocklist,
                 desk: AgentDesk, cards: CardLookup, is_open: Callable[[], bool]) -> None:
        self.store, self.telephony, self.blocklist = store, telephony, blocklist
        self.desk, self.cards, self.is_open = desk, cards, is_open
        self._tasks = TaskSet()

    async def next(self, agent: str) -> dict[str, Any]:
        """The agent's preview: the contact, the customer's card, the questions."""
        if not self.is_open():
            raise SiteClosed("outside opening hours: no calls out now")
        contact = await self.store.claim_next(agent, utcnow())
        if contact is None:
            return {"contact": None}
        campaign = await self.store.get(contact["campaign_id"])
        try:
            card = await self.cards.customer_card(contact["number"])
        except Exception as exc:  # the preview still shows the number and the questions
            log.warning("campaign_card_failed", error=f"{type(exc).__name__}: {exc}"[:200])
            card = {"known": False, "customer": None}
        return {"contact": contact, "card": card,
                "campaign": {"id": campaign["id"], "name": campaign["name"],
                             "questions": campaign["questions"]}}

    async def dial(self, agent: str, contact_id: int) -> dict[str, Any]:
        contact = await self.store.mine(contact_id, agent)
        if not self.is_open():
            raise SiteClosed("outside opening hours: no calls out now")
        if await self.blocklist.blocked(contact["number"]):
            await self.store.finish(contact_id, agent, "skipped", None)
            raise OnDoNotCallList(f"{contact['number']} is on the do-not-call list")
        live = self.desk.live(agent)
        device = live.get("device")
        if not device or live.get("state") == "logged_out":
            raise NotAtDesk("log in with your phone to call out")
        self._tasks.spawn(self._ring(agent, device, contact))
        log.info("campaign_dial", agent=agent, contact=contact_id,
                 campaign=contact["campaign_id"])
        return {"contact": contact, "dialling": contact["number"], "device": device}

    async def _ring(self, agent: str, device: str, contact: dict[str, Any]) -> None:
        """The agent's phone first; the customer once the agent answers."""
        try:
            await self.telephony.originate(
                device, context="hotline-campaign", exten=contact["number"],
                caller_id=f'"外呼 {contact["name"][:20]}" <{contact["number"]}>',
                variables={"HOTLINE_CAMPAIGN_CONTACT": str(contact["id"]),
                           "HOTLINE_AGENT": agent}, ring_timeout=30)
        except AmiError as exc:
            log.info("campaign_agent_phone_not_answered", agent=agent, error=str(exc)[:200])

    async def result(self, agent: str, contact_id: int, data: ContactResultIn
                     ) -> dict[str, Any]:
        contact = await self.store.mine(contact_id, agent)
        answers = None
        if data.outcome == "answered":
            campaign = await self.store.get(contact["campaign_id"])
            answers = checked_answers(campaign["questions"], data.answers)
        return await self.store.finish(contact_id, agent, data.outcome, answers)

    async def close(self) -> None:
        await self._tasks.close()
