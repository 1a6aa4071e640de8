"""Field types the request models share, so that hostile values are refused
where they are parsed (a 422 naming the field), never deeper in (a 500):

* ``DbId``: an id the database can hold (its integer columns are 32-bit on
  PostgreSQL: a larger number is an error in the driver, not an empty answer).
* ``Day``: a calendar day a report or a search can compute with (a range that
  ends on 9999-12-31 overflows when the day after is taken).
* ``OneLine``: a value that may reach an AMI header (a device, a number to
  dial): no control characters, since CR/LF would start a new header.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field

MAX_ID = 2**31 - 1
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"



def site_days(first: dt.date, last: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The site's days ``first``..``last`` as [start, end): midnight to midnight
    in the site's zone."""
    return (dt.datetime.combine(first, dt.time(), zone),
            dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone))


DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
Day = Annotated[dt.date, Field(ge=FIRST_DAY, le=LAST_DAY)]
OneLine = Annotated[str, Field(pattern=ONE_LINE)]
