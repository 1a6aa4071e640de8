"""Writing a response: JSON as the API sends it (UTF-8 text, not \\u escapes;
times and other objects as strings)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

# orjson (several times quicker than json) with json's old output for what it
# does not know: str() of dates, datetimes, dataclasses and anything else
_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)


def json_bytes(obj: Any) -> bytes:
    """UTF-8 JSON (no escapes of non-ASCII: Chinese names stay readable)."""
    return orjson.dumps(obj, default=str, option=_OPTIONS)


def json_dumps(obj: Any) -> str:
    return json_bytes(obj).decode()


def ok(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, dumps=json_dumps, headers=headers)
