"""Who may do what: the three roles, in rank order.

An agent takes calls at the console; a supervisor also watches and steers the
floor (the wallboard, the agent board, listening in, recordings, reports); an
admin also manages users, agents, skills and queues. A higher role may do all
a lower one may.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


HOMES = {Role.AGENT: "/console", Role.SUPERVISOR: "/supervisor", Role.ADMIN: "/supervisor"}


@dataclass(frozen=True)
class Identity:
    """A signed-in user: login, name, role, and the agent number they take
    calls as (None: they take no calls)."""

    login: str
    name: str
    role: Role
    agent: str | None

    @property
    def home(self) -> str:
        """Where the sign-in page sends them."""
        if self.role == Role.AGENT and self.agent is None:
            return "/sign-in"
        return HOMES[self.role]
