"""Writing a response: JSON as the API sends it (UTF-8 text, not \\u escapes;
times and other objects as strings)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import tzinfo
from typing import Any

import orjson
from aiohttp import web

# orjson (several times quicker than json) with json's old output for what it
# does not know: str() of dates, datetimes, dataclasses and anything else
_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)


def in_zone(value: Any, zone: tzinfo) -> Any:
    """The aware datetimes anywhere in a JSON-like value (dicts, lists), in
    ``zone``: the times a site's users read in their own zone."""
    if isinstance(value, dt.datetime):
        return value.astimezone(zone)
    if isinstance(value, dict):
        return {k: in_zone(v, zone) for k, v in value.items()}
    if isinstance(value, list):
        return [in_zone(v, zone) for v in value]
    return value


def json_bytes(obj: Any) -> bytes:
    """UTF-8 JSON (no escapes of non-ASCII: Chinese names stay readable)."""
    return orjson.dumps(obj, default=str, option=_OPTIONS)


def json_dumps(obj: Any) -> str:
    return json_bytes(obj).decode()


def ok(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, dumps=json_dumps, headers=headers)


# a cell a spreadsheet would run as a formula (OWASP's CSV injection list)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Text a spreadsheet would run (a caller named ``=1+2``) gets a leading
    apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_response(rows: Iterable[Mapping[str, object]], columns: Sequence[str], filename: str,
                 headers: dict[str, str] | None = None) -> web.Response:
    """A CSV download: UTF-8 with a BOM (so spreadsheet programs read Chinese
    names right), formula cells neutralised, only ``columns``."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({k: csv_cell(row.get(k)) for k in columns})
    return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 **(headers or {})})
