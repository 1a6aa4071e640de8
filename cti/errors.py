"""The one base of errors a client can act on.

Every package's domain errors derive from :class:`DomainError`: a stable
``error_id``, a message, details, and the HTTP status the web layer's single
middleware answers with. Nothing below the web layer builds HTTP responses.

Bad input is an :class:`InvalidRequest` (422) naming each wrong field, the
same whether pydantic found it (:func:`validate`) or a rule of a service
did (:class:`FieldError`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


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


class InvalidRequest(DomainError):
    """Input that breaks the payload's rules: 422, ``details.fields`` names
    each field (``a.b.c`` for nested ones) and what is wrong with it."""

    status = 422
    error_id = "invalid-request"


class FieldError(InvalidRequest):
    """One input field is wrong, found by a service's rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}",
                         details={"fields": [{"field": field, "message": message}]})


def _fields(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(body)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append({"field": field, "message": msg})
    return out


def validate(model: type[M], data: Any) -> M:
    """``data`` as a ``model``, or an :class:`InvalidRequest` naming every
    wrong field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = _fields(exc)
        names = ", ".join(f["field"] for f in fields)
        raise InvalidRequest(f"invalid {names}", details={"fields": fields}) from None
