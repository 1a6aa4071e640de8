"""The dialling policy, from ``cti/outbound/outbound.yaml``: the site's
calendar (opening hours per weekday, holidays, working weekends) and how
calls that did not get through are tried again. A bad file fails at start
naming file, line and key (cti/config/yamlconf.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cti.config.yamlconf import load

DEFAULT_FILE = Path(__file__).with_name("outbound.yaml")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Calendar(_Strict):
    hours: dict[Weekday, list[str]]
    holidays: list[dt.date] = []
    working_weekends: dict[dt.date, Weekday] = {}

    @field_validator("hours")
    @classmethod
    def _spans(cls, hours: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in hours.items():
            ends: list[tuple[int, int]] = []
            for span in spans:
                m = SPAN.match(span)
                if not m:
                    raise ValueError(f"{day}: {span!r} is not HH:MM-HH:MM")
                a = int(m[1]) * 60 + int(m[2])
                b = int(m[3]) * 60 + int(m[4])
                if b <= a or b > 24 * 60:
                    raise ValueError(f"{day}: {span!r} ends before it starts")
                ends.append((a, b))
            ends.sort()
            for (_, b1), (a2, _) in itertools.pairwise(ends):
                if a2 < b1:
                    raise ValueError(f"{day}: spans overlap")
        missing = [d for d in WEEKDAYS if d not in hours]
        if missing:
            raise ValueError(f"no hours for {', '.join(missing)} (give [] for closed)")
        return hours

    @model_validator(mode="after")
    def _weekends(self) -> Calendar:
        for day in self.working_weekends:
            if day.weekday() < 5:
                raise ValueError(f"working_weekends: {day} is not a Saturday or Sunday")
            if day in self.holidays:
                raise ValueError(f"working_weekends: {day} is also a holiday")
        return self


class Retry(_Strict):
    max_attempts: int = Field(ge=1, le=20)
    spacing: float = Field(gt=0, le=7 * 24 * 60)  # minutes before the next try
    backoff: float = Field(1.0, ge=1, le=10)  # each later try waits this many times longer


class RetryPolicy(_Strict):
    no_answer: Retry
    busy: Retry
    failed: Retry


class FollowUp(_Strict):
    """回访: the call after a repair or installation is closed."""

    after_hours: float = Field(default=24.0, ge=0, le=24 * 30)  # after the ticket is closed
    # ivr: the customer answers the survey on the keypad; agent: an agent
    # calls (the callback waits in ``queue`` like any other)
    mode: Literal["ivr", "agent"] = "ivr"
    queue: str | None = None


class OutboundConfig(_Strict):
    calendar: Calendar
    retry: RetryPolicy
    follow_up: FollowUp = Field(default_factory=lambda: FollowUp())


def load_outbound(path: Path = DEFAULT_FILE) -> OutboundConfig:
    return load(path, OutboundConfig)
