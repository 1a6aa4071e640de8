"""The demo data set: realistic, and consistent with the rules the API enforces."""

from __future__ import annotations

import itertools
import re
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm_bridge.models import (
    TICKET_TRANSITIONS,
    ApplianceCategory,
    Customer,
    CustomerPhone,
    Ticket,
    TicketStatus,
)
from crm_bridge.seed import Bar, seed_demo
from crm_bridge.tickets import NEEDS_OUTLET


class Quiet(Bar):
    def step(self, k: int = 1) -> None:
        self.n += k


async def test_demo_data_follows_the_ticket_rules(engine: AsyncEngine) -> None:
    result = await seed_demo(engine, customers=80, progress=Quiet)
    assert result.customers == 80 and result.tickets > 40 and result.outlets >= 10
    async with async_sessionmaker(engine)() as s:
        names = (await s.execute(select(Customer.name))).scalars().all()
        assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", n) for n in names)
        numbers = (await s.execute(select(CustomerPhone.number))).scalars().all()
        assert all(re.fullmatch(r"1[3-9]\d{9}|0\d{9,11}", n) for n in numbers), numbers
        assert "13800138000" in numbers  # the demo's and the tests' 张三
        tickets = (await s.execute(select(Ticket).options(selectinload(Ticket.history))))\
            .scalars().all()
        statuses = {t.status for t in tickets}
        assert {"new", "scheduled", "closed"} <= statuses
        for t in tickets:
            status = TicketStatus(t.status)
            moves = [(e.from_status, e.to_status) for e in t.history if e.action == "status"]
            assert t.history[0].action == "created" and t.history[0].to_status == "new"
            walk = ["new"] + [b for _, b in moves]
            assert walk[-1] == t.status, (t.id, walk)
            for a, b in itertools.pairwise(walk):
                assert TicketStatus(b) in TICKET_TRANSITIONS[TicketStatus(a)], (t.id, walk)
            if status in NEEDS_OUTLET:
                assert t.outlet_id is not None
            if status is TicketStatus.SCHEDULED:
                assert t.appointment_start is not None and t.appointment_end is not None
                assert t.appointment_end > t.appointment_start
                # office hours where the customer lives
                assert t.appointment_start.astimezone(ZoneInfo("Asia/Shanghai")).hour in (
                    9, 13, 15)
            assert (t.closed_at is not None) == (status in (TicketStatus.CLOSED,
                                                            TicketStatus.CANCELLED))
        assert (await s.execute(select(func.count()).select_from(Customer))).scalar_one() == 80
        # every ticket is about one of the customer's appliances, and its fault fits it
        # (a customer who owns only a kitchen hood has no "热水器不加热")
        from crm_bridge.models import Appliance
        from crm_bridge.seed import NAMES

        owned = {a.id: a for a in (await s.execute(select(Appliance))).scalars().all()}
        for t in tickets:
            appliance = owned[t.appliance_id]
            assert appliance.customer_id == t.customer_id, t.id
            name = NAMES[ApplianceCategory(appliance.category)]
            assert name in t.summary, (t.summary, appliance.category)


def test_demo_agents_have_skills_the_queues_know() -> None:
    from acd.config import load_config
    from crm_bridge.seed import AGENT_SKILLS, AGENTS

    cfg = load_config()
    assert {c for c, _ in AGENTS} == set(AGENT_SKILLS)
    for code, skills in AGENT_SKILLS.items():
        assert set(skills) <= set(cfg.skills), code
        assert cfg.memberships(skills), f"agent {code} would be in no queue"
    # every queue has someone to answer it
    covered = {q for skills in AGENT_SKILLS.values() for q in cfg.memberships(skills)}
    assert covered == set(cfg.queues)
