"""Payloads of the IVR's API, validated by pydantic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cti.errors import FieldError
from cti.fields import Day


class DayQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Day


class RangeQuery(BaseModel):
    """Site days ``from`` to ``to``, inclusive: at most a year."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: Day = Field(alias="from")
    date_to: Day = Field(alias="to")
    format: Literal["json", "csv"] = "json"

    def check(self) -> None:
        days = (self.date_to - self.date_from).days + 1
        if days < 1:
            raise FieldError("to", f"{self.date_to} is before 'from' {self.date_from}")
        if days > 366:
            raise FieldError("to", f"at most 366 days from 'from' ({days} asked)")
