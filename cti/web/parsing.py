"""Reading a request: the JSON body, the query string, ids in the path.

Bad input is a 4xx naming what is wrong (the body not JSON: 415/400; a field:
422 with each field named, see :func:`cti.errors.validate`)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from cti.errors import FieldError, validate
from cti.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


async def json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError("send the body as application/json", error_id="unsupported-media-type",
                       status=415)
    try:
        return json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(f"the body is not valid JSON: {exc}", error_id="invalid-json") from None


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``."""
    return validate(model, await json_body(request))


def query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``."""
    return validate(model, dict(request.query))


def path_id(request: web.Request, name: str) -> int:
    """A numeric id in the path (``/tickets/{ticket_id}``)."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 12:
        raise FieldError(name, "not an id: a positive integer")
    return int(raw)
