"""The service database's errors: a stable id each, answered by the web
layer's middleware."""

from __future__ import annotations

from cti.errors import DomainError, FieldError


class CrmError(DomainError):
    error_id = "crm-error"


class NotFoundError(CrmError):
    status = 404
    error_id = "not-found"


class ConflictError(CrmError):
    status = 409
    error_id = "conflict"


class TicketError(FieldError, CrmError):
    """A ticket rule broken, naming the field."""


class TransitionError(ConflictError):
    error_id = "invalid-transition"



class UserNotFound(NotFoundError):
    error_id = "user-not-found"


class UserExists(ConflictError):
    error_id = "user-exists"
