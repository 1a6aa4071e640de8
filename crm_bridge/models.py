"""The service database: customers, their appliances, service outlets, tickets
(work orders) with their history, agents, and one row per call.

Enumerations are stored as short strings (checked by the application and by
CHECK constraints), so PostgreSQL and SQLite hold the same data.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cti.roles import Role

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A point in time, stored in UTC and always read back timezone-aware.

    PostgreSQL keeps the offset itself; SQLite would silently drop it (and
    store 09:00+08:00 as 09:00), so values are converted to UTC before they
    are bound, and naive values read back are UTC. Naive values are refused
    on the way in: the caller must say which zone a time is in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None,
                           dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UtcDateTime}  # noqa: RUF012


class ApplianceCategory(enum.StrEnum):
    AIR_CONDITIONER = "air_conditioner"
    REFRIGERATOR = "refrigerator"
    WASHING_MACHINE = "washing_machine"
    TV = "tv"
    WATER_HEATER = "water_heater"
    KITCHEN_HOOD = "kitchen_hood"
    DISHWASHER = "dishwasher"
    MICROWAVE = "microwave"


class TicketKind(enum.StrEnum):
    CONSULTATION = "consultation"
    COMPLAINT = "complaint"
    REPAIR = "repair"
    INSTALLATION = "installation"
    FOLLOW_UP = "follow_up"


class TicketStatus(enum.StrEnum):
    NEW = "new"  # recorded, not yet dispatched
    DISPATCHED = "dispatched"  # sent to a service outlet
    SCHEDULED = "scheduled"  # the outlet agreed an appointment window
    IN_PROGRESS = "in_progress"  # technician on it
    RESOLVED = "resolved"  # work done, waiting for the follow-up call
    CLOSED = "closed"  # done and confirmed
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({TicketStatus.NEW, TicketStatus.DISPATCHED, TicketStatus.SCHEDULED,
                           TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED})

TICKET_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: frozenset({TicketStatus.DISPATCHED, TicketStatus.SCHEDULED,
                                 TicketStatus.RESOLVED, TicketStatus.CLOSED,
                                 TicketStatus.CANCELLED}),
    TicketStatus.DISPATCHED: frozenset({TicketStatus.SCHEDULED, TicketStatus.IN_PROGRESS,
                                        TicketStatus.RESOLVED, TicketStatus.CANCELLED,
                                        TicketStatus.NEW}),
    TicketStatus.SCHEDULED: frozenset({TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED,
                                       TicketStatus.DISPATCHED, TicketStatus.CANCELLED}),
    TicketStatus.IN_PROGRESS: frozenset({TicketStatus.RESOLVED, TicketStatus.SCHEDULED,
                                         TicketStatus.CANCELLED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.CLOSED, TicketStatus.IN_PROGRESS}),
    TicketStatus.CLOSED: frozenset(),
    TicketStatus.CANCELLED: frozenset(),
}


class CallOutcome(enum.StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    CALLBACK_REQUESTED = "callback_requested"
    IVR_ONLY = "ivr_only"
    FAILED = "failed"


class Disposition(enum.StrEnum):
    """What came of a call, as the agent records it in the wrap-up."""

    RESOLVED = "resolved"
    TICKET_CREATED = "ticket_created"
    TICKET_UPDATED = "ticket_updated"
    CALLBACK_NEEDED = "callback_needed"
    WRONG_NUMBER = "wrong_number"
    INFORMATION_GIVEN = "information_given"
    COMPLAINT_LOGGED = "complaint_logged"
    TRANSFERRED = "transferred"
    OTHER = "other"


def _check_in(column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    region: Mapped[str] = mapped_column(String(50), default="")  # province / city
    address: Mapped[str] = mapped_column(String(300), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.id")
    appliances: Mapped[list[Appliance]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Appliance.id")

    __table_args__ = (Index("ix_customers_name", "name"),)


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))  # normalised: 13800138000, 057188881234
    label: Mapped[str] = mapped_column(String(20), default="mobile")

    customer: Mapped[Customer] = relationship(back_populates="phones")

    __table_args__ = (Index("ix_customer_phones_number", "number"),)


class Appliance(Base):
    __tablename__ = "appliances"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(60))
    serial: Mapped[str] = mapped_column(String(60), unique=True)
    purchase_date: Mapped[dt.date | None] = mapped_column(Date)
    warranty_end: Mapped[dt.date | None] = mapped_column(Date)

    customer: Mapped[Customer] = relationship(back_populates="appliances")

    __table_args__ = (
        _check_in("category", ApplianceCategory),
        Index("ix_appliances_customer_id", "customer_id"),
    )


class ServiceOutlet(Base):
    __tablename__ = "service_outlets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(50))
    address: Mapped[str] = mapped_column(String(300), default="")
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (Index("ix_service_outlets_region", "region"),)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # the agent number, e.g. 8001
    name: Mapped[str] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the ACD session: what Asterisk's queues must hold for this agent (re-added
    # from here after an Asterisk restart)
    device: Mapped[str | None] = mapped_column(String(120))
    logged_in_at: Mapped[dt.datetime | None] = mapped_column()
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pause_reason: Mapped[str | None] = mapped_column(String(30))

    skills: Mapped[list[AgentSkill]] = relationship(
        back_populates="agent", cascade="all, delete-orphan", order_by="AgentSkill.skill")


class AgentSkill(Base):
    """A skill an agent has, 1 (novice) to 5 (expert); see acd/queues.yaml."""

    __tablename__ = "agent_skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    skill: Mapped[str] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(Integer)

    agent: Mapped[Agent] = relationship(back_populates="skills")

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
        UniqueConstraint("agent_id", "skill", name="uq_agent_skills_agent_id_skill"),
    )


class User(Base):
    """Someone who signs in. An agent's user is tied to the agent (its login
    is the agent number); a supervisor or admin may be tied to one too (a
    team leader who also takes calls)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # argon2id hash (None: cannot sign in yet)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        _check_in("role", Role),
    )


class UserSession(Base):
    """A signed-in browser. It holds the token in a cookie; only its SHA-256
    is stored, so a copy of the database signs nobody in."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()

    __table_args__ = (Index("ix_user_sessions_user_id", "user_id"),)


class CallbackKind(enum.StrEnum):
    KEEP_PLACE = "keep_place"  # the caller asked to be called back, keeping their place
    ABANDONED = "abandoned"  # the caller gave up after waiting long
    FOLLOW_UP = "follow_up"  # after a repair or installation (回访)


class CallbackStatus(enum.StrEnum):
    WAITING = "waiting"  # to be called (now or at next_attempt_at)
    DIALLING = "dialling"  # a call is being placed: no second one
    DONE = "done"  # reached
    FAILED = "failed"  # the attempts are spent
    DROPPED = "dropped"  # not needed any more (the number got through by itself)


OPEN_CALLBACK = ("waiting", "dialling")


class CallbackOutcome(enum.StrEnum):
    """How one try ended (cti/outbound/dialer.py maps Asterisk's DIALSTATUS)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    REFUSED = "refused"


class Callback(Base):
    """A call the hotline owes a customer. At most one open per number: a
    second trigger for the same number finds the open one."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(10), default=CallbackStatus.WAITING.value)
    queue: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[dt.datetime | None] = mapped_column()  # the place it keeps
    call_linkedid: Mapped[str | None] = mapped_column(String(64))  # the call it came from
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (
        _check_in("kind", CallbackKind),
        _check_in("status", CallbackStatus),
        Index("uq_callbacks_open_number", "number", unique=True,
              sqlite_where=text("status IN ('waiting', 'dialling')"),
              postgresql_where=text("status IN ('waiting', 'dialling')")),
        Index("ix_callbacks_status_next", "status", "next_attempt_at"),
    )


class CallbackAttempt(Base):
    """One try to reach a callback's customer, and how it ended. Written,
    never edited after it ends."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    # answered, no_answer, busy, failed, refused_dnc, outside_hours
    outcome: Mapped[str | None] = mapped_column(String(20))
    agent: Mapped[str | None] = mapped_column(String(20))
    call_linkedid: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_callback_attempts_callback_id", "callback_id"),)


class SurveyKind(enum.StrEnum):
    FOLLOW_UP = "follow_up"  # 回访: after a repair or installation closed
    POST_CALL = "post_call"  # the caller rates the agent when the agent hangs up


class SurveyAnswer(Base):
    """One survey answered over the keypad: satisfaction 1-5, whether the
    problem was solved (follow-ups), a spoken comment's file; linked to the
    call, the agent, the ticket and its outlet. Written once."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    call_linkedid: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(60))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    outlet_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_outlets.id", ondelete="SET NULL"))
    callback_id: Mapped[int | None] = mapped_column(
        ForeignKey("callbacks.id", ondelete="SET NULL"))
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 1-5; None: not given
    solved: Mapped[bool | None] = mapped_column()
    comment_file: Mapped[str | None] = mapped_column(String(300))  # under the recordings dir
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        _check_in("kind", SurveyKind),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
                        name="satisfaction_range"),
        Index("ix_survey_answers_created_at", "created_at"),
        Index("ix_survey_answers_outlet_id", "outlet_id"),
        Index("ix_survey_answers_call", "call_linkedid"),
    )


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"  # being prepared: contacts imported, nobody called
    RUNNING = "running"  # agents get its contacts as preview calls
    PAUSED = "paused"
    DONE = "done"


class ContactStatus(enum.StrEnum):
    PENDING = "pending"  # to be called
    PREVIEW = "preview"  # an agent has it on screen (claimed: nobody else gets it)
    DONE = "done"  # reached, answers kept
    FAILED = "failed"  # the tries are spent
    SKIPPED = "skipped"  # never called: on the do-not-call list, or the agent skipped it


class Campaign(Base):
    """An outbound survey campaign (a market survey when a product ships): its
    questions are data, answered in the console during preview calls."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default=CampaignStatus.DRAFT.value)
    questions: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (_check_in("status", CampaignStatus),)


class CampaignContact(Base):
    """One number on a campaign's list, claimed by one agent at a time."""

    __tablename__ = "campaign_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default=ContactStatus.PENDING.value)
    agent: Mapped[str | None] = mapped_column(String(60))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    answers: Mapped[dict[str, object] | None] = mapped_column(JSON)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        _check_in("status", ContactStatus),
        Index("uq_campaign_contacts_number", "campaign_id", "number", unique=True),
        Index("ix_campaign_contacts_status", "campaign_id", "status"),
    )


class DoNotCall(Base):
    """A number the hotline never calls out to (callbacks, follow-ups,
    campaigns), whoever asks; kept by its normalised form."""

    __tablename__ = "do_not_call"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[str] = mapped_column(String(40))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One thing a supervisor or admin did to someone else: forced a pause or
    a logout, listened to a call, managed a user. Written, never edited."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(40))  # the user's login
    action: Mapped[str] = mapped_column(String(40))  # e.g. agent.pause, spy.start
    target: Mapped[str] = mapped_column(String(80))  # whom or what: an agent, a call
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class CallWrapUp(Base):
    """What the agent recorded after a call: the disposition, notes and the
    ticket it was about. One per call and agent (a transferred call has one
    from each agent who took it); saved again, it is updated."""

    __tablename__ = "call_wrapups"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_linkedid: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(20))
    disposition: Mapped[str] = mapped_column(String(30))
    notes: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("call_linkedid", "agent", name="uq_call_wrapups_call_linkedid_agent"),
        _check_in("disposition", Disposition),
    )


class AgentInterval(Base):
    """A stretch of time an agent spent in one state (with the pause reason,
    and the call for ringing / on-call / on-hold / wrap-up): the raw material
    of occupancy, AHT's wrap-up part and the pause report."""

    __tablename__ = "agent_intervals"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(String(20))  # the agent's code
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(30))
    started_at: Mapped[dt.datetime] = mapped_column()
    ended_at: Mapped[dt.datetime] = mapped_column()
    call_linkedid: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_agent_intervals_agent_started_at", "agent", "started_at"),
        Index("ix_agent_intervals_started_at", "started_at"),
    )


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=TicketStatus.NEW.value)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    appliance_id: Mapped[int | None] = mapped_column(ForeignKey("appliances.id"))
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("service_outlets.id"))
    summary: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    appointment_start: Mapped[dt.datetime | None] = mapped_column()
    appointment_end: Mapped[dt.datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(20), default="")  # agent code or "ivr"
    # the call it was opened on (a Linkedid): the call's record links back to it
    call_linkedid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column()

    customer: Mapped[Customer] = relationship()
    appliance: Mapped[Appliance | None] = relationship()
    outlet: Mapped[ServiceOutlet | None] = relationship()
    history: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketEvent.id")

    __table_args__ = (
        _check_in("kind", TicketKind),
        _check_in("status", TicketStatus),
        CheckConstraint("appointment_end IS NULL OR appointment_start IS NULL "
                        "OR appointment_end > appointment_start", name="appointment_order"),
        Index("ix_tickets_customer_id_status", "customer_id", "status"),
        Index("ix_tickets_call_linkedid", "call_linkedid"),
        Index("ix_tickets_outlet_id_status", "outlet_id", "status"),
    )


class TicketEvent(Base):
    """One line of a ticket's history: who changed what, when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(20), default="")
    action: Mapped[str] = mapped_column(String(30))  # created, status, outlet, appointment, note
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[Ticket] = relationship(back_populates="history")

    __table_args__ = (Index("ix_ticket_events_ticket_id", "ticket_id"),)


class CallRecord(Base):
    """One row per call, keyed by Asterisk's Linkedid, written once."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    caller_number: Mapped[str] = mapped_column(String(40), default="")
    caller_name: Mapped[str] = mapped_column(String(100), default="")
    dialled: Mapped[str] = mapped_column(String(40), default="")
    started_at: Mapped[dt.datetime] = mapped_column()
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime] = mapped_column()
    ivr_path: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(10), default="")
    queue: Mapped[str | None] = mapped_column(String(60))
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    agent: Mapped[str | None] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(24))
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    holds: Mapped[int] = mapped_column(Integer, default=0)
    hold_seconds: Mapped[float | None] = mapped_column(Float)
    recording_file: Mapped[str | None] = mapped_column(String(300))  # under the recordings dir
    recording_seconds: Mapped[float | None] = mapped_column(Float)  # measured on the file
    disposition: Mapped[str | None] = mapped_column(String(40))
    hangup_cause: Mapped[str | None] = mapped_column(String(80))
    # a callback's call: the callback it served and the first call it was owed to
    callback_id: Mapped[int | None] = mapped_column(Integer)
    callback_of: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    extra: Mapped[dict[str, object] | None] = mapped_column(JSON)

    __table_args__ = (
        _check_in("outcome", CallOutcome),
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_caller_number", "caller_number"),
        Index("ix_calls_queue_started_at", "queue", "started_at"),
        Index("ix_calls_agent_started_at", "agent", "started_at"),
        Index("ix_calls_customer_id", "customer_id"),
        Index("ix_calls_callback_of", "callback_of"),
    )
