"""The wallboard's live KPIs per queue: today (site time) and the last 60
minutes, counted from each call as it ends, with the formulas the reports use
(acd/kpi.py), so the board and ``/api/v1/stats/queues`` agree:

    offered          calls whose record names the queue
    service level    answered within T s / (offered - short abandons)
    abandon rate     (abandoned - short abandons) / (offered - short abandons)
    ASA              mean wait of answered calls

A call counts by the time it started, as in the reports ("today" is the
calls that started since midnight). At start the counts are seeded from the
day's call records (:meth:`QueueTally.seed`); a call counted once is never
counted again (by its id), so a record and its live event do not add twice.
Nothing here blocks: a call ended is a few additions; a 60-minute window is a
deque per queue, trimmed as it is read.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from acd.kpi import SHORT_ABANDON
from cti.calls.model import Call

WINDOW = 3600.0  # the sliding window: the last 60 minutes


class Finished(Protocol):
    """A finished call as the tally reads it (a call record or a live call)."""

    @property
    def queue(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def wait_seconds(self) -> float | None: ...


@dataclass(slots=True)
class Counts:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short: int = 0
    within: int = 0
    wait_answered: float = 0.0

    def add(self, outcome: str, wait: float, threshold: float, sign: int = 1) -> None:
        if outcome == "callback_requested":  # counted once: as its callback, when it is made
            return
        self.offered += sign
        if outcome == "answered":
            self.answered += sign
            self.wait_answered += sign * wait
            if wait <= threshold:
                self.within += sign
        elif outcome == "abandoned":
            self.abandoned += sign
            if wait < SHORT_ABANDON:
                self.short += sign

    def kpis(self, threshold: float) -> dict[str, Any]:
        base = self.offered - self.short
        return {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "short_abandons": self.short, "answered_within_threshold": self.within,
            "threshold_seconds": threshold,
            "service_level": round(self.within / base, 4) if base else None,
            "abandon_rate": round((self.abandoned - self.short) / base, 4) if base else None,
            "asa_seconds": round(self.wait_answered / self.answered, 2)
            if self.answered else None,
        }


class QueueTally:
    def __init__(self, thresholds: dict[str, float], *, zone: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.thresholds = thresholds
        self.zone = ZoneInfo(zone)
        self.clock = clock
        self.today: dict[str, Counts] = {}
        self.hour: dict[str, Counts] = {}
        self._recent: dict[str, deque[tuple[float, str, float]]] = {}
        self._seen: set[str] = set()
        self._midnight = self._midnight_of(clock())

    def _midnight_of(self, at: float) -> float:
        day = dt.datetime.fromtimestamp(at, self.zone).date()
        return dt.datetime.combine(day, dt.time(), self.zone).timestamp()

    def _roll(self, now: float) -> None:
        if now - self._midnight >= 86400 and self._midnight_of(now) != self._midnight:
            self._midnight = self._midnight_of(now)
            self.today.clear()
            self._seen.clear()
        for queue, recent in self._recent.items():
            threshold = self.thresholds.get(queue, 20.0)
            while recent and recent[0][0] < now - WINDOW:
                _, outcome, wait = recent.popleft()
                self.hour[queue].add(outcome, wait, threshold, sign=-1)

    def count(self, call_id: str, started_at: float, queue: str | None, outcome: str,
              wait: float | None) -> None:
        if not queue or call_id in self._seen:
            return
        now = self.clock()
        self._roll(now)
        if started_at < self._midnight:
            return
        self._seen.add(call_id)
        threshold = self.thresholds.get(queue, 20.0)
        self.today.setdefault(queue, Counts()).add(outcome, wait or 0.0, threshold)
        if started_at >= now - WINDOW:
            self.hour.setdefault(queue, Counts()).add(outcome, wait or 0.0, threshold)
            recent = self._recent.setdefault(queue, deque())
            recent.append((started_at, outcome, wait or 0.0))
            if len(recent) > 1 and recent[-2][0] > started_at:  # ended out of start order
                ordered = sorted(recent)
                recent.clear()
                recent.extend(ordered)

    # ------------------------------------------------------------------ bus
    def on_call_ended(self, topic: str, call: Call) -> None:
        if call.backfilled:
            return  # an old call found in Asterisk's ledger: counted when seeded
        self.count(call.call_id, call.started_at, call.queue, call.outcome, call.wait_seconds)

    def seed(self, rows: Iterable[tuple[str, float, Finished]]) -> None:
        """Today's records: (call id, started at, record)."""
        for call_id, started_at, row in rows:
            self.count(call_id, started_at, row.queue, row.outcome, row.wait_seconds)

    # ------------------------------------------------------------------ reading
    def view(self, queue: str) -> dict[str, Any]:
        self._roll(self.clock())
        threshold = self.thresholds.get(queue, 20.0)
        return {"today": self.today.get(queue, Counts()).kpis(threshold),
                "last_60_min": self.hour.get(queue, Counts()).kpis(threshold)}
