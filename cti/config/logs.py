"""structlog, configured once: JSON when not on a terminal, readable on one.

``call_id`` and ``agent`` are bound through contextvars
(``structlog.contextvars.bound_contextvars``) or passed as keys.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}



def _json_line(event: Any, **_: Any) -> str:
    """One log line as JSON (orjson: logs are written on the event loop);
    what it cannot encode is written as str()."""
    return orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS).decode()

def configure_logging(level: str = "info",
                      fmt: Literal["auto", "json", "console"] = "auto") -> None:
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if json_out:
        shared += [structlog.processors.format_exc_info]
        renderer = structlog.processors.JSONRenderer(serializer=_json_line)
    else:
        renderer = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # libraries that log through the standard library (aiohttp, asyncio)
    logging.basicConfig(level=max(LEVELS[level], logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
