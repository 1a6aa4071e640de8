"""Writing a response: JSON as the API sends it (UTF-8 text, not \\u escapes;
times and other objects as strings)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def ok(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, dumps=json_dumps, headers=headers)
