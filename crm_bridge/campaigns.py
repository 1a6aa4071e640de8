"""Outbound survey campaigns in the service database.

A campaign has questions (data: checked by cti/outbound/schemas.py) and a
list of contacts imported from CSV, all or nothing (every bad line named);
numbers on the do-not-call list are imported as skipped, never called. An
agent is handed the next contact of a running campaign by a conditional
update, so two agents never get the same one (preview: the card and the
questions first, then the agent dials). Each try's outcome is kept; a number
not reached is offered again after a spacing, up to the campaign's tries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from crm_bridge.dnc import parse_csv
from crm_bridge.exceptions import ConflictError, NotFoundError
from crm_bridge.models import (
    Campaign,
    CampaignContact,
    CampaignStatus,
    ContactStatus,
    DoNotCall,
    utcnow,
)

MAX_TRIES = 3
RETRY_AFTER = dt.timedelta(minutes=30)


class CampaignNotFound(NotFoundError):
    error_id = "campaign-not-found"


class ContactNotFound(NotFoundError):
    error_id = "contact-not-found"


class ContactNotYours(ConflictError):
    error_id = "contact-not-yours"  # another agent has it, or it is finished


class CampaignClosed(ConflictError):
    error_id = "campaign-closed"  # done: no more contacts, no status change


def campaign_json(c: Campaign, counts: dict[str, int] | None = None) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "status": c.status, "questions": c.questions,
            "created_by": c.created_by, "created_at": c.created_at,
            "updated_at": c.updated_at,
            "contacts": {s.value: (counts or {}).get(s.value, 0) for s in ContactStatus}}


def contact_json(c: CampaignContact) -> dict[str, Any]:
    return {"id": c.id, "campaign_id": c.campaign_id, "number": c.number, "name": c.name,
            "status": c.status, "agent": c.agent, "attempts": c.attempts,
            "last_outcome": c.last_outcome, "answers": c.answers,
            "next_attempt_at": c.next_attempt_at, "updated_at": c.updated_at}


class Campaigns:
    def __init__(self, engine: AsyncEngine, *, local_area_code: str | None = None,
                 max_tries: int = MAX_TRIES, retry_after: dt.timedelta = RETRY_AFTER) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.local_area_code = local_area_code
        self.max_tries, self.retry_after = max_tries, retry_after

    # ------------------------------------------------------------ supervisors
    async def create(self, name: str, questions: list[dict[str, Any]], actor: str
                     ) -> dict[str, Any]:
        now = utcnow()
        async with self.sessions.begin() as s:
            c = Campaign(name=name, status=CampaignStatus.DRAFT.value, questions=questions,
                         created_by=actor, created_at=now, updated_at=now)
            s.add(c)
            await s.flush()
            return campaign_json(c)

    async def _counts(self, s: Any, ids: list[int]) -> dict[int, dict[str, int]]:
        rows = (await s.execute(
            select(CampaignContact.campaign_id, CampaignContact.status, func.count())
            .where(CampaignContact.campaign_id.in_(ids))
            .group_by(CampaignContact.campaign_id, CampaignContact.status))).all()
        out: dict[int, dict[str, int]] = {}
        for cid, status, n in rows:
            out.setdefault(cid, {})[status] = n
        return out

    async def all(self) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            rows = (await s.execute(select(Campaign).order_by(Campaign.id.desc()))).scalars().all()
            counts = await self._counts(s, [c.id for c in rows])
        return [campaign_json(c, counts.get(c.id)) for c in rows]

    async def get(self, campaign_id: int) -> dict[str, Any]:
        async with self.sessions() as s:
            c = await s.get(Campaign, campaign_id)
            if c is None:
                raise CampaignNotFound(f"no campaign {campaign_id}")
            counts = await self._counts(s, [c.id])
        return campaign_json(c, counts.get(c.id))

    async def set_status(self, campaign_id: int, status: str) -> dict[str, Any]:
        async with self.sessions.begin() as s:
            c = await s.get(Campaign, campaign_id, with_for_update=True)
            if c is None:
                raise CampaignNotFound(f"no campaign {campaign_id}")
            if c.status == CampaignStatus.DONE.value:
                raise CampaignClosed(f"campaign {campaign_id} is done")
            c.status, c.updated_at = status, utcnow()
        return await self.get(campaign_id)

    async def import_contacts(self, campaign_id: int, text: str) -> dict[str, Any]:
        """``number[,name]`` per line: all or nothing (422 ``invalid-csv``
        naming every bad line); a number already on the list is kept once;
        a number on the do-not-call list is imported as skipped."""
        rows = parse_csv(text, self.local_area_code, second="name")
        await self.get(campaign_id)
        now = utcnow()
        async with self.sessions.begin() as s:
            blocked = set((await s.execute(select(DoNotCall.number).where(
                DoNotCall.number.in_({n for n, _ in rows})))).scalars())
            have = set((await s.execute(select(CampaignContact.number).where(
                CampaignContact.campaign_id == campaign_id))).scalars())
            added = skipped = 0
            for number, name in dict(rows).items():
                if number in have:
                    continue
                dnc = number in blocked
                s.add(CampaignContact(
                    campaign_id=campaign_id, number=number, name=name,
                    status=ContactStatus.SKIPPED.value if dnc else ContactStatus.PENDING.value,
                    last_outcome="do_not_call" if dnc else None, attempts=0, updated_at=now))
                added += 1
                skipped += dnc
        return {"imported": added, "do_not_call": skipped, "rows": len(rows)}

    # ------------------------------------------------------------ agents
    async def claim_next(self, agent: str, now: dt.datetime) -> dict[str, Any] | None:
        """The agent's contact on screen, or the next one due of a running
        campaign, claimed for them alone (None: nothing to call)."""
        async with self.sessions() as s:
            mine = (await s.execute(select(CampaignContact).where(
                CampaignContact.status == ContactStatus.PREVIEW.value,
                CampaignContact.agent == agent))).scalars().first()
        if mine is not None:
            return contact_json(mine)
        for _ in range(5):  # another agent may win the one we picked: take the next
            async with self.sessions() as s:
                pick = (await s.execute(
                    select(CampaignContact.id).join(Campaign).where(
                        Campaign.status == CampaignStatus.RUNNING.value,
                        CampaignContact.status == ContactStatus.PENDING.value,
                        (CampaignContact.next_attempt_at.is_(None))
                        | (CampaignContact.next_attempt_at <= now))
                    .order_by(CampaignContact.attempts, CampaignContact.id).limit(1))).first()
            if pick is None:
                return None
            async with self.sessions.begin() as s:
                won = (await s.execute(
                    update(CampaignContact).where(
                        CampaignContact.id == pick[0],
                        CampaignContact.status == ContactStatus.PENDING.value)
                    .values(status=ContactStatus.PREVIEW.value, agent=agent, updated_at=utcnow())
                    .returning(CampaignContact.id))).first()
            if won is not None:
                return await self.contact(pick[0])
        return None

    async def contact(self, contact_id: int) -> dict[str, Any]:
        async with self.sessions() as s:
            c = await s.get(CampaignContact, contact_id)
        if c is None:
            raise ContactNotFound(f"no contact {contact_id}")
        return contact_json(c)

    async def mine(self, contact_id: int, agent: str) -> dict[str, Any]:
        c = await self.contact(contact_id)
        if c["status"] != ContactStatus.PREVIEW.value or c["agent"] != agent:
            raise ContactNotYours(f"contact {contact_id} is not on your screen")
        return c

    async def finish(self, contact_id: int, agent: str, outcome: str,
                     answers: dict[str, Any] | None) -> dict[str, Any]:
        """The try's outcome: answered (the answers kept: done), skipped, or not
        reached (pending again after the spacing, failed once tries are spent)."""
        now = utcnow()
        async with self.sessions.begin() as s:
            c = (await s.execute(select(CampaignContact).where(
                CampaignContact.id == contact_id).with_for_update())).scalar_one_or_none()
            if c is None:
                raise ContactNotFound(f"no contact {contact_id}")
            if c.status != ContactStatus.PREVIEW.value or c.agent != agent:
                raise ContactNotYours(f"contact {contact_id} is not on your screen")
            c.updated_at, c.last_outcome = now, outcome
            if outcome == "skipped":
                c.status = ContactStatus.SKIPPED.value
            else:
                c.attempts += 1
                if outcome == "answered":
                    c.status, c.answers = ContactStatus.DONE.value, answers or {}
                elif c.attempts >= self.max_tries or outcome in ("refused", "wrong_number"):
                    c.status = ContactStatus.FAILED.value
                else:
                    c.status, c.agent = ContactStatus.PENDING.value, None
                    c.next_attempt_at = now + self.retry_after
            return contact_json(c)

    # ------------------------------------------------------------ results
    async def contacts(self, campaign_id: int) -> list[dict[str, Any]]:
        """Every contact of the campaign, whatever became of it, in list order."""
        async with self.sessions() as s:
            rows = (await s.execute(select(CampaignContact).where(
                CampaignContact.campaign_id == campaign_id).order_by(CampaignContact.id))
                    ).scalars().all()
        return [contact_json(c) for c in rows]

    async def results(self, campaign_id: int) -> dict[str, Any]:
        """Per question, how often each answer was given (for the charts)."""
        campaign = await self.get(campaign_id)
        contacts = await self.contacts(campaign_id)
        done = [c for c in contacts if c["status"] == ContactStatus.DONE.value]
        out = []
        for q in campaign["questions"]:
            counts: dict[str, int] = {}
            texts: list[str] = []
            for c in done:
                a = (c["answers"] or {}).get(q["id"])
                if a is None or a == "":
                    continue
                if q["kind"] == "text":
                    texts.append(str(a))
                else:
                    counts[str(a)] = counts.get(str(a), 0) + 1
            keys = [] if q["kind"] == "text" else (q.get("options")
                                                    or [str(k) for k in range(1, 6)])
            out.append({"id": q["id"], "text": q["text"], "kind": q["kind"],
                        "counts": {k: counts.get(k, 0) for k in keys}, "texts": texts[:200],
                        "answered": sum(counts.values()) + len(texts)})
        return {"campaign": campaign, "answered": len(done), "questions": out}

    async def result_rows(self, campaign_id: int) -> tuple[list[str], list[dict[str, Any]]]:
        """Every contact with its answers, one column per question (the CSV)."""
        campaign = await self.get(campaign_id)
        qids = [q["id"] for q in campaign["questions"]]
        rows = []
        for c in await self.contacts(campaign_id):
            a = c["answers"] or {}
            rows.append({"number": c["number"], "name": c["name"], "status": c["status"],
                         "attempts": c["attempts"], "last_outcome": c["last_outcome"] or "",
                         "agent": c["agent"] or "", **{q: a.get(q, "") for q in qids}})
        return ["number", "name", "status", "attempts", "last_outcome", "agent", *qids], rows
