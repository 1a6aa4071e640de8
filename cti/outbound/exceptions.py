"""The outbound side's refusals, each with a stable id."""

from __future__ import annotations

from cti.errors import DomainError


class OutboundError(DomainError):
    status = 409
    error_id = "outbound-error"


class SiteClosed(OutboundError):
    error_id = "site-closed"  # outside the calendar's opening hours: no calls out


class OnDoNotCallList(OutboundError):
    error_id = "on-do-not-call-list"


class NotAtDesk(OutboundError):
    error_id = "not-at-desk"  # the agent is not logged in with a phone
