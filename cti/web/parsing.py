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
    except RecursionError:  # [[[[...]]]] 100,000 deep: the parser gives up, so do we
        raise ApiError("the body is nested too deep", error_id="invalid-json") from None


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``."""
    return validate(model, await json_body(request))


def query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``."""
    return validate(model, dict(request.query))


MAX_ID = 2**31 - 1  # the database's integer ids (PostgreSQL's integer)


def path_id(request: web.Request, name: str) -> int:
    """A numeric id in the path (``/tickets/{ticket_id}``): ASCII digits only
    (``isdigit`` alone takes '²' and full-width '１２'), within the database's
    integers."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 0 < int(raw) <= MAX_ID:
        raise FieldError(name, f"not an id: an integer from 1 to {MAX_ID}")
    return int(raw)
