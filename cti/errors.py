"""The one base of errors a client can act on.

Every package's domain errors derive from :class:`DomainError`: a stable
``error_id``, a message, details, and the HTTP status the web layer's single
middleware answers with. Nothing below the web layer builds HTTP responses.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    error_id = "bad-request"

    def __init__(self, message: str, *, error_id: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        if error_id:
            self.error_id = error_id
        if status:
            self.status = status
        self.details = details or {}


class FieldError(DomainError):
    """One input field is wrong: 422 with the field named, as the web layer's
    pydantic errors are."""

    status = 422
    error_id = "invalid-request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}",
                         details={"fields": [{"field": field, "message": message}]})
