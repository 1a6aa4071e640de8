"""The supervisor's errors: a stable id each, answered by the web layer's middleware."""

from __future__ import annotations

from cti.errors import DomainError


class SpyError(DomainError):
    status = 409
    error_id = "spy-refused"


class NoCallToSpy(SpyError):
    """The agent is on no call (or it just ended): nothing to listen to."""

    error_id = "no-call"


class NotSpying(SpyError):
    error_id = "not-spying"


class PhoneDidNotAnswer(SpyError):
    status = 502
    error_id = "phone-not-answered"
