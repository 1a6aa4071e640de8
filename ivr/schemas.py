"""Payloads of the IVR's API, validated by pydantic."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class DayQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date
