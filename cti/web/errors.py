"""Errors as JSON: one middleware turns every :class:`~cti.errors.DomainError`
(and aiohttp's own HTTP errors) into ``{"error": {"id", "message",
"details"}}`` with the error's status, never a bare 500 page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from cti.errors import DomainError

log = structlog.get_logger("cti.web")


class ApiError(DomainError):
    """Bad input found by the web layer itself (not JSON, a malformed id ...)."""


class NotFound(ApiError):
    status = 404
    error_id = "not-found"


def error_body(error_id: str, message: str,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"id": error_id, "message": message, "details": details or {}}}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return web.json_response(error_body(exc.error_id, str(exc), exc.details), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return web.json_response(
            error_body(exc.reason.lower().replace(" ", "-"), exc.reason), status=exc.status
        )
    except Exception:
        log.exception("http_handler_failed", path=request.path, method=request.method)
        return web.json_response(error_body("internal-error", "internal error"), status=500)
