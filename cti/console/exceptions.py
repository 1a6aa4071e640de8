"""The console's errors: a stable id each, answered by the web layer's middleware."""

from __future__ import annotations

from cti.errors import DomainError


class ControlError(DomainError):
    """A call control refused, with the reason in its id."""

    status = 409
    error_id = "call-control-refused"


class NoCall(ControlError):
    error_id = "no-call"


class AsteriskRefused(DomainError):
    status = 502
    error_id = "asterisk-refused"


class NotYourCall(DomainError):
    status = 409
    error_id = "not-your-call"
