"""The dialling policy: calls go out only in the site's opening hours (never
on a holiday; a working weekend opens), and a call that did not get through is
tried again with its spacing, growing by its backoff, until the attempts are
spent; a bad policy file is refused naming file, line and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cti.config.yamlconf import YamlConfigError
from cti.outbound.config import DEFAULT_FILE, load_outbound
from cti.outbound.policy import is_open, next_attempt, next_open

ZONE = ZoneInfo("Asia/Shanghai")
CONFIG = load_outbound()
CAL = CONFIG.calendar


def at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=ZONE)


@pytest.mark.parametrize(("moment", "open_"), [
    (at("2026-12-01", "09:00"), True),    # a Tuesday, at opening
    (at("2026-12-01", "08:59"), False),
    (at("2026-12-01", "12:30"), False),   # lunch
    (at("2026-12-01", "17:59"), True),
    (at("2026-12-01", "18:00"), False),   # closing is closed
    (at("2026-12-05", "11:00"), True),    # Saturday hours
    (at("2026-12-06", "11:00"), False),   # Sunday: closed
    (at("2026-10-01", "10:00"), False),   # National Day: a holiday on a Thursday
    (at("2026-10-10", "10:00"), True),    # a working Saturday (调休) with Monday's hours
    (at("2026-10-10", "17:00"), True),
])
def test_calls_go_out_only_in_opening_hours(moment: dt.datetime, open_: bool) -> None:
    assert is_open(CAL, moment, ZONE) is open_


def test_the_next_open_moment_skips_lunch_nights_weekends_and_holidays() -> None:
    assert next_open(CAL, at("2026-12-01", "12:10"), ZONE) == at("2026-12-01", "13:00")
    assert next_open(CAL, at("2026-12-01", "10:00"), ZONE) == at("2026-12-01", "10:00")
    assert next_open(CAL, at("2026-12-05", "16:30"), ZONE) == at("2026-12-07", "09:00")
    # the evening before National Day: the 1st and 2nd are holidays, then Saturday opens
    assert next_open(CAL, at("2026-09-30", "19:00"), ZONE) == at("2026-10-03", "10:00")
    # a moment given in UTC is read in the site's zone
    utc = dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Hangzhou
    assert next_open(CAL, utc, ZONE) == at("2026-12-01", "09:00")


def test_retries_follow_spacing_and_backoff_until_the_attempts_are_spent() -> None:
    retry, t0 = CONFIG.retry, at("2026-12-01", "09:00")
    first = next_attempt(retry, CAL, ZONE, "no_answer", 1, t0)
    second = next_attempt(retry, CAL, ZONE, "no_answer", 2, t0)
    assert first == at("2026-12-01", "09:30") and second == at("2026-12-01", "10:00")
    assert next_attempt(retry, CAL, ZONE, "no_answer", 3, t0) is None  # three tries made
    assert next_attempt(retry, CAL, ZONE, "busy", 1, t0) == at("2026-12-01", "09:10")
    assert next_attempt(retry, CAL, ZONE, "answered", 1, t0) is None
    assert next_attempt(retry, CAL, ZONE, "refused", 1, t0) is None
    # a retry that would fall after closing waits for the next opening
    late = at("2026-12-01", "17:45")
    assert next_attempt(retry, CAL, ZONE, "no_answer", 1, late) == at("2026-12-02", "09:00")


def test_a_bad_policy_is_refused_naming_file_line_and_key(tmp_path: Path) -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    for wrong, expect in (
        (text.replace('tue: ["09:00-12:00", "13:00-18:00"]', 'tue: ["13:00-09:00"]'),
         "ends before it starts"),
        (text.replace("busy: {max_attempts: 4", "busy: {max_attempts: 0"), "max_attempts"),
        (text.replace("2026-10-10: mon", "2026-10-09: mon"), "not a Saturday or Sunday"),
        (text.replace("    sun: []\n", ""), "no hours for sun"),
    ):
        bad = tmp_path / "outbound.yaml"
        bad.write_text(wrong, encoding="utf-8")
        with pytest.raises(YamlConfigError) as exc:
            load_outbound(bad)
        assert str(bad) in str(exc.value) and expect in str(exc.value), str(exc.value)
