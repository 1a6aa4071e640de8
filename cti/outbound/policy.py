"""When the hotline may call out, and when it tries again.

Pure functions of the calendar and the retry policy (cti/outbound/config.py):
``is_open`` says whether a moment is inside the site's opening hours;
``next_open`` finds the first moment at or after one that is; ``next_attempt``
says when a call that did not get through is tried again, or that it is not
(the attempts are spent, or the outcome is final). All times are aware; the
calendar is read in the site's zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from cti.outbound.config import WEEKDAYS, Calendar, RetryPolicy

RETRIED = ("no_answer", "busy", "failed")  # outcomes tried again; answered and refused: not


def _spans(calendar: Calendar, day: dt.date) -> list[tuple[dt.time, dt.time | None]]:
    """The day's opening spans (an end of 24:00 is None: the day's end)."""
    if day in calendar.holidays:
        return []
    weekday = calendar.working_weekends.get(day, WEEKDAYS[day.weekday()])
    out = []
    for span in calendar.hours[weekday]:
        a, b = span.split("-")
        start = dt.time(int(a[:2]), int(a[3:]))
        end = None if b == "24:00" else dt.time(int(b[:2]), int(b[3:]))
        out.append((start, end))
    return sorted(out, key=lambda s: s[0])


def is_open(calendar: Calendar, at: dt.datetime, zone: ZoneInfo) -> bool:
    local = at.astimezone(zone)
    t = local.time()
    return any(start <= t and (end is None or t < end)
               for start, end in _spans(calendar, local.date()))


def next_open(calendar: Calendar, at: dt.datetime, zone: ZoneInfo,
              horizon_days: int = 60) -> dt.datetime | None:
    """The first moment at or after ``at`` inside opening hours (None: none in
    ``horizon_days``, e.g. a calendar that is always closed)."""
    local = at.astimezone(zone)
    for k in range(horizon_days + 1):
        day = local.date() + dt.timedelta(days=k)
        for start, end in _spans(calendar, day):
            begin = dt.datetime.combine(day, start, zone)
            finish = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone) \
                if end is None else dt.datetime.combine(day, end, zone)
            if local < finish:
                return max(local, begin)
    return None


def next_attempt(policy: RetryPolicy, calendar: Calendar, zone: ZoneInfo, outcome: str,
                 attempts_made: int, last_at: dt.datetime) -> dt.datetime | None:
    """When to try again after attempt number ``attempts_made`` ended with
    ``outcome`` at ``last_at``; None: not again."""
    if outcome not in RETRIED:
        return None
    rule = getattr(policy, outcome)
    if attempts_made >= rule.max_attempts:
        return None
    wait = dt.timedelta(minutes=rule.spacing * rule.backoff ** (attempts_made - 1))
    return next_open(calendar, last_at + wait, zone)
