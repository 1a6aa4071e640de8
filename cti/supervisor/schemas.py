"""What a supervisor sends: a request to listen in, and a change of mode."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

# a phone Asterisk can ring: PJSIP/<endpoint> or Local/<exten>@<context>[/n]
DEVICE = r"^(PJSIP/[A-Za-z0-9_.+-]{1,60}|Local/[^@/\s]{1,40}@[A-Za-z0-9_-]{1,60}(/[a-z]+)?)$"


class SpyMode(enum.StrEnum):
    LISTEN = "listen"  # hear both sides, nobody hears the supervisor
    WHISPER = "whisper"  # the agent hears the supervisor, the caller does not
    BARGE = "barge"  # all three talk


class SpyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field(pattern=r"^[0-9A-Za-z_-]{1,20}$")
    mode: SpyMode = SpyMode.LISTEN
    device: str = Field(pattern=DEVICE, description="the supervisor's own phone")


class SpyModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: SpyMode
