"""The wallboard's live KPIs count as the reports do: the same rows give the
same numbers; a call counted once is not counted again; the 60-minute window
slides; midnight starts a new day."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from acd.kpi import queue_kpis
from acd.tally import QueueTally

ZONE = ZoneInfo("Asia/Shanghai")
NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=ZONE).timestamp()


@dataclass
class Row:
    linkedid: str
    queue: str | None
    outcome: str
    wait_seconds: float | None
    started_at: dt.datetime
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    agent: str | None = None
    hold_seconds: float | None = 0.0
    disposition: str | None = None


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def rows(n: int, since: float, until: float, seed: int = 3) -> list[Row]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = rng.uniform(since, until)
        outcome = rng.choice(["answered", "answered", "answered", "abandoned", "ivr_only",
                              "callback_requested"])
        out.append(Row(f"{at:.3f}.{i}", rng.choice(["tv-zh", "vip", None]), outcome,
                       rng.uniform(0, 60), dt.datetime.fromtimestamp(at, dt.UTC)))
    return out


def test_the_same_calls_give_the_reports_numbers() -> None:
    clock = Clock(NOON)
    tally = QueueTally({"tv-zh": 20, "vip": 10}, zone="Asia/Shanghai", clock=clock)
    day = rows(500, NOON - 12 * 3600, NOON)
    tally.seed((r.linkedid, r.started_at.timestamp(), r) for r in day)
    for queue, threshold in (("tv-zh", 20), ("vip", 10)):
        mine = [r for r in day if r.queue == queue]
        want = queue_kpis(mine, [], threshold)
        got = tally.view(queue)["today"]
        for key in ("offered", "answered", "abandoned", "short_abandons",
                    "answered_within_threshold", "service_level", "abandon_rate",
                    "asa_seconds"):
            assert got[key] == want[key], (queue, key)
        hour = [r for r in mine if r.started_at.timestamp() >= NOON - 3600]
        want = queue_kpis(hour, [], threshold)
        assert tally.view(queue)["last_60_min"]["offered"] == want["offered"]
        assert tally.view(queue)["last_60_min"]["service_level"] == want["service_level"]


def test_a_call_is_counted_once_and_the_window_slides_and_the_day_turns() -> None:
    clock = Clock(NOON)
    tally = QueueTally({"tv-zh": 20}, zone="Asia/Shanghai", clock=clock)
    tally.count("1.1", NOON - 60, "tv-zh", "answered", 5.0)
    tally.count("1.1", NOON - 60, "tv-zh", "answered", 5.0)  # the record after the event
    tally.count("1.2", NOON - 30, "tv-zh", "abandoned", 40.0)
    view = tally.view("tv-zh")
    assert view["today"]["offered"] == view["last_60_min"]["offered"] == 2
    assert view["today"]["service_level"] == 0.5
    clock.t = NOON + 3600 - 45  # the first call slid out of the last hour
    view = tally.view("tv-zh")
    assert (view["today"]["offered"], view["last_60_min"]["offered"]) == (2, 1)
    assert view["last_60_min"]["abandon_rate"] == 1.0
    clock.t = NOON + 12 * 3600 + 60  # past midnight in the site's zone
    view = tally.view("tv-zh")
    assert view["today"]["offered"] == 0 and view["last_60_min"]["offered"] == 0
    tally.count("1.3", NOON + 3600, "tv-zh", "answered", 1.0)  # began yesterday
    assert tally.view("tv-zh")["today"]["offered"] == 0


def test_a_callback_counts_once_with_its_wait_from_the_first_join() -> None:
    """The first call (the caller took a callback) is not offered again; the
    callback's call is, with the whole wait: 200 s is outside a 20 s SL."""
    clock = Clock(NOON)
    tally = QueueTally({"tv-zh": 20}, zone="Asia/Shanghai", clock=clock)
    at = dt.datetime.fromtimestamp(NOON - 600, dt.UTC)
    pair = [Row("1.1", "tv-zh", "callback_requested", 80.0, at),
            Row("1.2", "tv-zh", "answered", 200.0, at + dt.timedelta(seconds=120))]
    tally.seed((r.linkedid, r.started_at.timestamp(), r) for r in pair)
    view = tally.view("tv-zh")["today"]
    assert (view["offered"], view["answered"], view["service_level"]) == (1, 1, 0.0)
    assert queue_kpis(pair, [], 20)["offered"] == 1
