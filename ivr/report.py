"""The IVR traversal report: per menu, how many callers entered it, which
keys they chose (``t``: no key before the timeout), and how many hung up
there. Computed from the ``ivr_path`` of the call records: steps
``menu:key``, ``ticket:<digits>``, ``verify:ok|no|t``, ``service:<name>``; ``menu:hangup`` where
the caller hung up, ``error`` when our server failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Protocol
from zoneinfo import ZoneInfo

NOT_MENUS = ("ticket", "verify", "service")


def traversal(paths: Iterable[str]) -> dict[str, Any]:
    nodes: dict[str, dict[str, Any]] = {}
    calls = 0
    for path in paths:
        if not path or path == "direct":
            continue
        calls += 1
        steps = path.split(">")
        seen: set[str] = set()
        last_menu: str | None = None
        for step in steps:
            menu, _, key = step.partition(":")
            if not key or menu in NOT_MENUS:
                continue
            node = nodes.setdefault(menu, {"callers": 0, "visits": 0, "keys": {},
                                           "hangups": 0})
            if menu not in seen:
                node["callers"] += 1
                seen.add(menu)
            node["visits"] += 1
            node["keys"][key] = node["keys"].get(key, 0) + 1
            last_menu = menu
            if key == "hangup":
                node["hangups"] += 1
        if steps[-1] == "hangup" and last_menu is not None:  # hung up between menus
            nodes[last_menu]["hangups"] += 1
    for node in nodes.values():
        node["keys"] = dict(sorted(node["keys"].items()))
    return {"calls": calls, "nodes": dict(sorted(nodes.items()))}


class PathSource(Protocol):
    """The IVR paths of the calls that started in ``[start, end)`` (the call
    records: crm_bridge/reports.py)."""

    async def ivr_paths(self, start: dt.datetime, end: dt.datetime) -> list[str]: ...


class IvrReport:
    def __init__(self, source: PathSource, *, zone: str) -> None:
        self.source = source
        self.zone = ZoneInfo(zone)

    async def day(self, day: dt.date) -> dict[str, Any]:
        """The traversal report of a day, in site time."""
        start = dt.datetime.combine(day, dt.time(), self.zone)
        paths = await self.source.ivr_paths(start, start + dt.timedelta(days=1))
        return {"date": day.isoformat(), **traversal(paths)}

    async def between(self, first: dt.date, last: dt.date) -> dict[str, Any]:
        """The traversal of every call from ``first`` to ``last`` (site days)."""
        start = dt.datetime.combine(first, dt.time(), self.zone)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), self.zone)
        paths = await self.source.ivr_paths(start, end)
        return {"from": first.isoformat(), "to": last.isoformat(), **traversal(paths)}
