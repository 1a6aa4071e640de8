"""KPI formulas on a small hand-counted day (see docs/kpi.md)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from acd.kpi import agent_kpis, buckets, queue_kpis, window_bounds
from crm_bridge.reports import CallFacts, IntervalFacts  # the rows the records give

T0 = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def s(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def call(cid: str, outcome: str, wait: float, talk_end: float | None = None,
         hold: float = 0.0, agent: str | None = "8101") -> CallFacts:
    answered = s(wait) if outcome == "answered" else None
    ended = s(wait + (talk_end or 0.0))
    return CallFacts(cid, "ac-zh", agent if answered else None, outcome, s(0), answered, ended,
                   wait, hold)


CALLS = [
    call("1", "answered", 5, talk_end=110, hold=10),   # talk 100, hold 10, wrap 10 -> 120
    call("2", "answered", 25, talk_end=60),            # over 20 s; talk 60, wrap 10 -> 70
    call("3", "abandoned", 3),                         # a short abandon
    call("4", "abandoned", 40),
    call("5", "answered", 20, talk_end=50),            # exactly 20 s counts as within
]
INTERVALS = [
    IntervalFacts("8101", "available", s(0), s(100), None),
    IntervalFacts("8101", "ringing", s(100), s(105), "1"),
    IntervalFacts("8101", "on_call", s(105), s(305), "1"),
    IntervalFacts("8101", "wrap_up", s(305), s(315), "1"),
    IntervalFacts("8101", "wrap_up", s(400), s(410), "2"),
    IntervalFacts("8101", "paused", s(500), s(800), None),
]


def test_queue_kpis_match_the_hand_count() -> None:
    k = queue_kpis(CALLS, INTERVALS, threshold=20)
    assert (k["offered"], k["answered"], k["abandoned"], k["short_abandons"]) == (5, 3, 2, 1)
    assert k["answered_within_threshold"] == 2
    assert k["service_level"] == 0.5                      # 2 / (5 - 1)
    assert k["service_level_answered_only"] == 0.6667     # 2 / 3
    assert k["asa_seconds"] == 16.67                      # (5 + 25 + 20) / 3
    assert k["abandon_rate"] == 0.25                      # (2 - 1) / (5 - 1)
    assert k["aht_seconds"] == 80.0                       # (120 + 70 + 50) / 3
    assert (k["talk_seconds"], k["hold_seconds"], k["wrap_up_seconds"]) == (210.0, 10.0, 20.0)


def test_no_calls_gives_no_ratios_rather_than_zero() -> None:
    k = queue_kpis([], [], threshold=20)
    assert k["service_level"] is None and k["asa_seconds"] is None and k["offered"] == 0


def test_agent_occupancy_leaves_pauses_out() -> None:
    k = agent_kpis("8101", CALLS, INTERVALS)
    # handling 5 + 200 + 10 + 10 = 225 s; staffed 225 + 100 available = 325 s
    assert k["occupancy"] == 0.6923
    assert k["answered"] == 3 and k["seconds_by_state"]["paused"] == 300.0


def test_windows_and_intervals_are_in_site_time() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    now = dt.datetime(2026, 11, 24, 1, 30, tzinfo=dt.UTC)  # 09:30 in Hangzhou
    start, end = window_bounds("today", now, zone)
    assert start.isoformat() == "2026-11-24T00:00:00+08:00" and end == now
    start, _ = window_bounds("15m", now, zone)
    assert now - start == dt.timedelta(minutes=15)
    spans = buckets(dt.date(2026, 11, 24), 30, zone)
    assert len(spans) == 48 and spans[19][0].isoformat() == "2026-11-24T09:30:00+08:00"
