"""The console's payloads: what an agent sends (validated by pydantic), and the
screen pop it gets (one object, for the console and the CRM webhook alike)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cti.fields import OneLine

NUMBER = re.compile(r"^\+?\d{3,20}$")


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to: Literal["agent", "queue", "number"]
    target: OneLine = Field(min_length=1, max_length=40)
    notes: str = Field("", max_length=4000)

    @field_validator("target")
    @classmethod
    def _shape(cls, v: str, info: ValidationInfo) -> str:
        to = info.data.get("to")
        if to == "number" and not NUMBER.match(v):
            raise ValueError("an outside number is 3 to 20 digits")
        if to == "agent" and not v.isdigit():
            raise ValueError("an agent number is digits")
        return v


@dataclass(frozen=True)
class ScreenPop:
    """The caller's card on the console of the agent whose phone rings: who
    calls (the service database's card: customer, appliances, open tickets,
    last calls), what they did before (IVR path, language, queue, wait), and
    what earlier agents noted. ``waited_seconds``: the caller's wait from the
    first time they joined a queue (as the call record counts it): so far while
    the phone rings, final once the agent answers. ``event_at``: Asterisk's
    time of the ring; ``received_at``: when the server had it."""

    call_id: str
    agent: str
    queue: str
    caller_number: str
    caller_name: str
    card: dict[str, Any]
    ivr_path: str
    language: str
    waited_seconds: float
    queued_at: float | None
    notes: list[dict[str, Any]]
    event_at: float
    received_at: float
    # the agent answered at (None: still ringing); the wait then is final
    answered_at: float | None = None
    # a callback keeping its place: its id and the first call; answering it
    # calls the customer (the wait counts from the first join, queued_at)
    callback_id: int | None = None
    callback_of: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
