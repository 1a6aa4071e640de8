"""Payloads of the CRM API, validated by pydantic. Unknown fields are refused."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_bridge.models import CallOutcome, Disposition, TicketKind, TicketStatus
from crm_bridge.phones import normalize
from cti.fields import Day, DbId
from cti.roles import Role


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PhoneIn(_Strict):
    number: str = Field(min_length=3, max_length=30)
    label: Literal["mobile", "home", "work", "other"] = "mobile"

    @field_validator("number")
    @classmethod
    def _normalise(cls, v: str) -> str:
        n = normalize(v)
        if not 5 <= len(n) <= 20:
            raise ValueError("not a phone number (5 to 20 digits after normalising)")
        return n


class CustomerIn(_Strict):
    name: str = Field(min_length=1, max_length=100)
    vip: bool = False
    region: str = Field("", max_length=50)
    address: str = Field("", max_length=300)
    notes: str = Field("", max_length=2000)
    phones: list[PhoneIn] = Field(min_length=1, max_length=5)


class CustomerPatch(_Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    vip: bool | None = None
    region: str | None = Field(None, max_length=50)
    address: str | None = Field(None, max_length=300)
    notes: str | None = Field(None, max_length=2000)
    phones: list[PhoneIn] | None = Field(None, min_length=1, max_length=5)


class CustomerQuery(_Strict):
    phone: str | None = Field(None, min_length=3, max_length=30)
    name: str | None = Field(None, min_length=1, max_length=100)
    limit: int = Field(20, ge=1, le=200)


class CallQuery(_Strict):
    date_from: Day | None = Field(None, alias="from")
    date_to: Day | None = Field(None, alias="to")
    queue: str | None = Field(None, max_length=60)
    agent: str | None = Field(None, max_length=60)
    outcome: CallOutcome | None = None
    customer_id: DbId | None = None
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0)
    format: Literal["json", "csv"] = "json"

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ---------------------------------------------------------------------- tickets
CALL_ID = r"^\d{1,20}\.\d{1,10}$"  # an Asterisk Linkedid such as 1764000000.42
# who acts: an agent code, "ivr" or "system"
Actor = Annotated[str, Field(max_length=20)]


class _Window(_Strict):
    """An appointment window. Times without a UTC offset are in the site's zone;
    the service checks the pair (both or neither, order, length, not past)."""

    appointment_start: dt.datetime | None = None
    appointment_end: dt.datetime | None = None


class TicketIn(_Window):
    kind: TicketKind
    customer_id: DbId
    appliance_id: DbId | None = None
    outlet_id: DbId | None = None
    summary: str = Field(min_length=1, max_length=200)
    notes: str = Field("", max_length=4000)
    call_id: str | None = Field(None, pattern=CALL_ID)
    actor: Actor = ""


class TicketPatch(_Window):
    status: TicketStatus | None = None
    summary: str | None = Field(None, min_length=1, max_length=200)
    appliance_id: DbId | None = None
    outlet_id: DbId | None = None
    note: str | None = Field(None, min_length=1, max_length=4000)
    actor: Actor = ""


class TicketAssign(_Window):
    outlet_id: DbId
    note: str | None = Field(None, min_length=1, max_length=4000)
    actor: Actor = ""


class TicketClose(_Strict):
    resolution: str = Field(min_length=1, max_length=4000)
    actor: Actor = ""


class TicketQuery(_Strict):
    customer_id: DbId | None = None
    outlet_id: DbId | None = None
    status: TicketStatus | None = None
    kind: TicketKind | None = None
    open: bool | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


# ---------------------------------------------------------------------- wrap-up
class TicketChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: DbId
    change: TicketPatch


class WrapUpIn(BaseModel):
    """What an agent records after a call. The ticket parts are the ticket
    API's own payloads (the same rules, errors named under ``new_ticket.`` /
    ``ticket_update.change.``); the call and the acting agent are set by the
    server."""

    model_config = ConfigDict(extra="forbid")

    disposition: Disposition
    notes: str = Field("", max_length=4000)
    customer_id: DbId | None = None
    ticket_id: DbId | None = None  # a ticket the call was about
    new_ticket: TicketIn | None = None
    ticket_update: TicketChange | None = None


# ---------------------------------------------------------------------- users
LOGIN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"


class UserIn(_Strict):
    login: str = Field(pattern=LOGIN)
    name: str = Field(min_length=1, max_length=50)
    role: Role
    agent: str | None = Field(None, max_length=20)  # the agent number they take calls as
    password: str | None = Field(None, min_length=8, max_length=200)


class UserPatch(_Strict):
    name: str | None = Field(None, min_length=1, max_length=50)
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=200)


class AuditQuery(_Strict):
    date_from: Day = Field(alias="from")
    date_to: Day = Field(alias="to")
    actor: str | None = Field(None, max_length=40)
    target: str | None = Field(None, max_length=80)
    limit: int = Field(500, ge=1, le=5000)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ---------------------------------------------------------------------- do-not-call
class DoNotCallIn(_Strict):
    number: str = Field(min_length=3, max_length=30)
    reason: str = Field("", max_length=200)


class CallbackIn(_Strict):
    """A callback a supervisor books by hand (a caller who wrote in, a
    complaint to call back): it waits its turn in the queue as of now."""

    number: str = Field(min_length=3, max_length=30)
    queue: str | None = Field(None, max_length=40)
    note: str = Field("", max_length=200)


class CallbacksQuery(_Strict):
    status: str = Field("open", pattern=r"^(open|waiting|dialling|done|failed|dropped|all)$")
    limit: int = Field(200, ge=1, le=2000)


class DaysQuery(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Day | None = Field(None, alias="from")
    to: Day | None = None


class PageQuery(_Strict):
    limit: int = Field(500, ge=1, le=5000)
    offset: int = Field(0, ge=0)
