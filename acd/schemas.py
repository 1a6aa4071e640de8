"""Payloads of the ACD's API, validated by pydantic. Unknown fields are refused."""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cti.errors import FieldError
from cti.fields import Day, OneLine


class PauseReason(enum.StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MEETING = "meeting"
    AFTER_CALL_WORK = "after_call_work"


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[0-9A-Za-z_-]{1,20}$")
    name: str = Field(min_length=1, max_length=50)
    skills: dict[str, int] = Field(default_factory=dict)


class AgentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=50)
    skills: dict[str, int] | None = None
    active: bool | None = None


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device: OneLine = Field(min_length=3, max_length=120)


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PauseReason


class WindowQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: Literal["15m", "today"] = "today"


class IntervalQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Day
    minutes: int = 30
    queue: str | None = Field(None, max_length=40)

    @field_validator("minutes")
    @classmethod
    def _size(cls, v: int) -> int:
        if v not in (15, 30, 60):
            raise ValueError("intervals are 15, 30 or 60 minutes")
        return v


MAX_REPORT_DAYS = 366  # a date range of a report: at most a year
MAX_INTERVAL_DAYS = 31  # by 15/30/60-minute intervals: at most a month


class ReportQuery(BaseModel):
    """A report's range, in the site's days, ``from`` to ``to`` inclusive."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: Day = Field(alias="from")
    date_to: Day = Field(alias="to")
    by: Literal["day", "60", "30", "15"] = "day"
    queue: str | None = Field(None, max_length=40)
    agent: str | None = Field(None, max_length=20)
    format: Literal["json", "csv"] = "json"

    def check(self) -> None:
        """The range makes sense (raises FieldError naming the field)."""
        days = (self.date_to - self.date_from).days + 1
        if days < 1:
            raise FieldError("to", f"{self.date_to} is before 'from' {self.date_from}")
        if days > MAX_REPORT_DAYS:
            raise FieldError("to", f"at most {MAX_REPORT_DAYS} days from 'from' ({days} asked)")
        if self.by != "day" and days > MAX_INTERVAL_DAYS:
            raise FieldError("by", f"intervals of {self.by} minutes for at most "
                             f"{MAX_INTERVAL_DAYS} days ({days} asked); use by=day")
