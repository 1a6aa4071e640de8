"""The KPIs supervisors manage by, computed from the call records and the
agents' state intervals. The formulas are in docs/kpi.md; in short:

    offered          calls that joined the queue (a caller who took a callback
                     that keeps their place counts once: as the callback's
                     call, its wait from the first join)
    short abandons   callers who hung up in the queue within 5 s (not counted
                     against the service level: they never really waited)
    service level    answered within T s / (offered - short abandons)
    SL answered-only answered within T s / answered             (labelled so)
    ASA              mean wait of answered calls
    abandon rate     (abandoned - short abandons) / (offered - short abandons)
    AHT              (talk + hold + wrap-up) / answered
    occupancy        time handling calls (ringing, talk, hold, wrap-up) /
                     time available or handling (pauses excluded)

Windows: rolling 15 minutes, today (site time), and 15/30/60-minute intervals.
The rows come from the call records and the agents' intervals in the service
database (:class:`ReportSource`: crm_bridge/reports.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

SHORT_ABANDON = 5.0  # seconds
HANDLING = ("ringing", "on_call", "on_hold", "wrap_up")
STAFFED = ("available", *HANDLING)


class CallRow(Protocol):
    """What a KPI reads of a call record."""

    @property
    def linkedid(self) -> str: ...
    @property
    def queue(self) -> str | None: ...
    @property
    def agent(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def started_at(self) -> dt.datetime: ...
    @property
    def answered_at(self) -> dt.datetime | None: ...
    @property
    def ended_at(self) -> dt.datetime: ...
    @property
    def wait_seconds(self) -> float | None: ...
    @property
    def hold_seconds(self) -> float | None: ...
    @property
    def disposition(self) -> str | None: ...


class IntervalRow(Protocol):
    """What a KPI reads of an agent-state interval."""

    @property
    def agent(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def started_at(self) -> dt.datetime: ...
    @property
    def ended_at(self) -> dt.datetime: ...
    @property
    def call_linkedid(self) -> str | None: ...


class ReportSource(Protocol):
    async def calls(self, start: dt.datetime, end: dt.datetime) -> Sequence[CallRow]:
        """The calls that started in ``[start, end)``."""
        ...

    async def intervals(self, start: dt.datetime, end: dt.datetime) -> Sequence[IntervalRow]:
        """The intervals that overlap ``[start, end)``, clipped to it."""
        ...


def seconds(i: IntervalRow) -> float:
    return max(0.0, (i.ended_at - i.started_at).total_seconds())


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def talk_seconds(c: CallRow) -> float:
    if c.answered_at is None:
        return 0.0
    return max(0.0, (c.ended_at - c.answered_at).total_seconds() - (c.hold_seconds or 0.0))


def handle_seconds(c: CallRow, wrap: dict[str, float]) -> float:
    """What AHT averages: talk + hold + the wrap-up after the call."""
    return talk_seconds(c) + (c.hold_seconds or 0.0) + wrap.get(c.linkedid, 0.0)


def queue_kpis(calls: Iterable[CallRow], intervals: Iterable[IntervalRow],
               threshold: float) -> dict[str, Any]:
    calls = [c for c in calls if c.queue and c.outcome != "callback_requested"]
    wrap = wrapup_by_call(intervals)
    answered = [c for c in calls if c.outcome == "answered"]
    abandoned = [c for c in calls if c.outcome == "abandoned"]
    short = [c for c in abandoned if (c.wait_seconds or 0.0) < SHORT_ABANDON]
    within = [c for c in answered if (c.wait_seconds or 0.0) <= threshold]
    offered = len(calls)
    handle = [handle_seconds(c, wrap) for c in answered]
    return {
        "offered": offered,
        "answered": len(answered),
        "abandoned": len(abandoned),
        "short_abandons": len(short),
        "answered_within_threshold": len(within),
        "threshold_seconds": threshold,
        "service_level": _ratio(len(within), offered - len(short)),
        "service_level_answered_only": _ratio(len(within), len(answered)),
        "asa_seconds": _mean([c.wait_seconds or 0.0 for c in answered]),
        "abandon_rate": _ratio(len(abandoned) - len(short), offered - len(short)),
        "aht_seconds": _mean(handle),
        "talk_seconds": round(sum(talk_seconds(c) for c in answered), 1),
        "hold_seconds": round(sum(c.hold_seconds or 0.0 for c in answered), 1),
        "wrap_up_seconds": round(sum(wrap.get(c.linkedid, 0.0) for c in answered), 1),
        "longest_wait_seconds": max((c.wait_seconds or 0.0 for c in calls), default=0.0),
        "dispositions": dispositions(calls),
    }


def dispositions(calls: Iterable[CallRow]) -> dict[str, int]:
    """How the agents closed the calls (the wrap-up's disposition), by count."""
    out: dict[str, int] = {}
    for c in calls:
        if c.disposition:
            out[c.disposition] = out.get(c.disposition, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def wrapup_by_call(intervals: Iterable[IntervalRow]) -> dict[str, float]:
    out: dict[str, float] = {}
    for i in intervals:
        if i.state == "wrap_up" and i.call_linkedid:
            out[i.call_linkedid] = out.get(i.call_linkedid, 0.0) + seconds(i)
    return out


def agent_kpis(agent: str, calls: Iterable[CallRow],
               intervals: Iterable[IntervalRow]) -> dict[str, Any]:
    mine = [i for i in intervals if i.agent == agent]
    answered = [c for c in calls if c.agent == agent and c.outcome == "answered"]
    wrap = wrapup_by_call(mine)
    by_state: dict[str, float] = {}
    for i in mine:
        by_state[i.state] = by_state.get(i.state, 0.0) + seconds(i)
    handling = sum(by_state.get(s, 0.0) for s in HANDLING)
    staffed = sum(by_state.get(s, 0.0) for s in STAFFED)
    handle = [handle_seconds(c, wrap) for c in answered]
    return {
        "agent": agent,
        "answered": len(answered),
        "aht_seconds": _mean(handle),
        "occupancy": _ratio(handling, staffed),
        "seconds_by_state": {k: round(v, 1) for k, v in sorted(by_state.items())},
    }


# ---------------------------------------------------------------------- windows
def window_bounds(window: str, now: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime,
                                                                          dt.datetime]:
    """Both ends in the site's zone."""
    local = now.astimezone(zone)
    if window == "15m":
        return local - dt.timedelta(minutes=15), local
    if window == "today":
        return dt.datetime.combine(local.date(), dt.time(), zone), local
    raise ValueError(f"unknown window {window!r}")


def buckets(day: dt.date, minutes: int, zone: ZoneInfo) -> list[tuple[dt.datetime,
                                                                     dt.datetime]]:
    """The day's intervals in the site's zone (a day of 23 or 25 hours where
    clocks change has as many intervals as it has)."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    step = dt.timedelta(minutes=minutes)
    out = []
    a = start.astimezone(dt.UTC)
    while a < end.astimezone(dt.UTC):
        out.append((a.astimezone(zone), (a + step).astimezone(zone)))
        a += step
    return out


# what each KPI means, shown beside it on the reports' page and in the API
FORMULAS = {
    "offered": "进线 = 进入该队列的来电 · calls that joined the queue",
    "short_abandons": f"短放弃 = 等待不足 {SHORT_ABANDON:g} 秒就挂机 · hung up within "
                      f"{SHORT_ABANDON:g} s",
    "service_level": "服务水平 = T 秒内接通 / (进线 − 短放弃) · answered within T s / "
                     "(offered − short abandons)",
    "abandon_rate": "放弃率 = (放弃 − 短放弃) / (进线 − 短放弃) · (abandoned − short) / "
                    "(offered − short)",
    "asa_seconds": "平均应答时间 ASA = 接通电话的平均等待 · mean wait of answered calls",
    "aht_seconds": "平均处理时长 AHT = (通话 + 保持 + 话后) / 接通 · (talk + hold + wrap-up) / "
                   "answered",
    "occupancy": "占用率 = 处理通话时间 / (空闲 + 处理时间) · handling / (available + handling)",
}
REPORT_KPIS = ("offered", "answered", "abandoned", "short_abandons",
               "answered_within_threshold", "service_level", "abandon_rate", "asa_seconds",
               "aht_seconds", "talk_seconds", "hold_seconds", "wrap_up_seconds",
               "longest_wait_seconds")


class KpiService:
    def __init__(self, source: ReportSource, *, zone: str, thresholds: dict[str, int],
                 default_threshold: int = 20) -> None:
        self.source = source
        self.zone = ZoneInfo(zone)
        self.thresholds = thresholds
        self.default_threshold = default_threshold

    async def load(self, start: dt.datetime, end: dt.datetime
                   ) -> tuple[Sequence[CallRow], Sequence[IntervalRow]]:
        return await self.source.calls(start, end), await self.source.intervals(start, end)

    async def queues(self, window: str, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or dt.datetime.now(dt.UTC)
        start, end = window_bounds(window, now, self.zone)
        calls, intervals = await self.load(start, end)
        names = sorted({c.queue for c in calls if c.queue} | set(self.thresholds))
        return {"window": window, "from": start.isoformat(), "to": end.isoformat(),
                "queues": [{"queue": q, **queue_kpis(
                    [c for c in calls if c.queue == q], intervals,
                    self.thresholds.get(q, self.default_threshold))} for q in names],
                "all": queue_kpis(calls, intervals, self.default_threshold)}

    async def agents(self, window: str, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or dt.datetime.now(dt.UTC)
        start, end = window_bounds(window, now, self.zone)
        calls, intervals = await self.load(start, end)
        codes = sorted({i.agent for i in intervals} | {c.agent for c in calls if c.agent})
        return {"window": window, "from": start.isoformat(), "to": end.isoformat(),
                "agents": [agent_kpis(a, calls, intervals) for a in codes]}

    async def today_so_far(self, now: dt.datetime | None = None
                           ) -> tuple[Sequence[CallRow], dict[str, tuple[int, float]]]:
        """Today's calls, and each agent's (calls answered, handling seconds),
        from one read (what the live board and wallboard start from)."""
        start, end = window_bounds("today", now or dt.datetime.now(dt.UTC), self.zone)
        calls, intervals = await self.load(start, end)
        codes = sorted({i.agent for i in intervals} | {c.agent for c in calls if c.agent})
        by_agent = {}
        for code in codes:
            k = agent_kpis(code, calls, intervals)
            by_agent[code] = (k["answered"], (k["aht_seconds"] or 0.0) * k["answered"])
        return calls, by_agent

    async def agent_day(self, agent: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """One agent's own day so far (site time): calls answered, AHT, talk,
        hold and pause time, from the records and their state intervals."""
        now = now or dt.datetime.now(dt.UTC)
        start, end = window_bounds("today", now, self.zone)
        calls, intervals = await self.load(start, end)
        mine = [c for c in calls if c.agent == agent and c.outcome == "answered"]
        kpis = agent_kpis(agent, calls, intervals)
        by_state = kpis["seconds_by_state"]
        return {"agent": agent, "from": start.isoformat(), "to": end.isoformat(),
                "answered": kpis["answered"], "aht_seconds": kpis["aht_seconds"],
                "talk_seconds": round(sum(talk_seconds(c) for c in mine), 1),
                "hold_seconds": round(sum(c.hold_seconds or 0.0 for c in mine), 1),
                "pause_seconds": by_state.get("paused", 0.0),
                "wrap_up_seconds": by_state.get("wrap_up", 0.0),
                "occupancy": kpis["occupancy"],
                "dispositions": dispositions(c for c in calls if c.agent == agent)}

    # ------------------------------------------------------------------ reports
    def _days(self, first: dt.date, last: dt.date) -> list[dt.date]:
        return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]

    def _spans(self, day: dt.date, by: str) -> list[tuple[dt.datetime, dt.datetime]]:
        if by == "day":
            return [(dt.datetime.combine(day, dt.time(), self.zone),
                     dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone))]
        return buckets(day, int(by), self.zone)

    async def report_queues(self, first: dt.date, last: dt.date, by: str,
                            queue: str | None = None) -> dict[str, Any]:
        """Per queue, per day or interval, ``first`` to ``last`` (site days):
        read a day at a time, so a year's report never holds more than a day
        of calls and the loop gets a turn between days."""
        rows: list[dict[str, Any]] = []
        totals: dict[str, tuple[list[CallRow], list[IntervalRow]]] = {}
        starts: list[str] = []  # every day or interval of the range, for a chart's axis
        for day in self._days(first, last):
            spans = self._spans(day, by)
            starts.extend(a.isoformat() for a, _ in spans)
            calls, intervals = await self.load(spans[0][0], spans[-1][1])
            calls = [c for c in calls if c.queue and (queue is None or c.queue == queue)]
            for q in sorted({c.queue for c in calls if c.queue}):
                mine = [c for c in calls if c.queue == q]
                kept = totals.setdefault(q, ([], []))
                kept[0].extend(mine)
                wrap_ids = {c.linkedid for c in mine}
                kept[1].extend(i for i in intervals if i.call_linkedid in wrap_ids)
                threshold = self.thresholds.get(q, self.default_threshold)
                for a, b in spans:
                    inside = [c for c in mine if a <= c.started_at < b]
                    if inside or by == "day":
                        rows.append({"from": a.isoformat(), "to": b.isoformat(), "queue": q,
                                     **queue_kpis(inside, intervals, threshold)})
            await asyncio.sleep(0)
        return {"from": first.isoformat(), "to": last.isoformat(), "by": by,
                "zone": self.zone.key, "formulas": FORMULAS, "buckets": starts, "rows": rows,
                "totals": [{"queue": q, **queue_kpis(c, i, self.thresholds.get(
                    q, self.default_threshold))} for q, (c, i) in sorted(totals.items())]}

    async def report_agents(self, first: dt.date, last: dt.date,
                            agent: str | None = None) -> dict[str, Any]:
        """Per agent, per day: answered, AHT, occupancy, time in each state."""
        rows: list[dict[str, Any]] = []
        for day in self._days(first, last):
            (a, b), = self._spans(day, "day")
            calls, intervals = await self.load(a, b)
            codes = sorted({i.agent for i in intervals} | {c.agent for c in calls if c.agent})
            for code in codes:
                if agent is None or code == agent:
                    rows.append({"date": day.isoformat(), **agent_kpis(code, calls, intervals)})
            await asyncio.sleep(0)
        return {"from": first.isoformat(), "to": last.isoformat(), "zone": self.zone.key,
                "formulas": FORMULAS, "rows": rows}

    async def intervals(self, day: dt.date, minutes: int,
                        queue: str | None = None) -> dict[str, Any]:
        spans = buckets(day, minutes, self.zone)
        calls, intervals = await self.load(spans[0][0], spans[-1][1])
        if queue:
            calls = [c for c in calls if c.queue == queue]
        threshold = self.thresholds.get(queue or "", self.default_threshold)
        rows = []
        for a, b in spans:
            inside = [c for c in calls if a <= c.started_at < b]
            rows.append({"from": a.isoformat(), "to": b.isoformat(),
                         **queue_kpis(inside, intervals, threshold)})
        return {"date": day.isoformat(), "minutes": minutes, "queue": queue,
                "intervals": rows}
