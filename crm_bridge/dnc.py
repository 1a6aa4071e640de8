"""The do-not-call list: numbers the hotline never calls out to.

Every outbound call the server places for a callback, a follow-up or a
campaign asks :meth:`DoNotCallList.blocked` first. Numbers are kept in their
normalised form (crm_bridge/phones.py), so ``+86 138-0013-8000`` and
``13800138000`` are one entry. A CSV import is all or nothing: one bad row and
nothing is imported, the answer naming each bad line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.exceptions import CrmError, NotFoundError
from crm_bridge.models import DoNotCall, utcnow
from crm_bridge.phones import is_chinese, normalize
from cti.errors import FieldError

MAX_IMPORT_ROWS = 100_000


class ImportRefused(CrmError):
    status = 422
    error_id = "invalid-csv"


def checked(raw: str, local_area_code: str | None = None) -> str:
    """The number normalised, or a FieldError naming ``number``."""
    number = normalize(raw, local_area_code)
    text = raw.strip().replace(" ", "").replace("-", "")
    foreign = (text.startswith("+") and not text.startswith("+86")) or (
        text.startswith("00") and not text.startswith("0086"))
    if foreign or not is_chinese(number):
        raise FieldError("number", f"{raw!r} is not a Chinese phone number (a mobile of 11 "
                                   "digits, or a landline with its area code)")
    return number


def callable_number(raw: str) -> bool:
    """A number a call can be placed to (a Chinese mobile or landline)."""
    try:
        checked(raw)
    except FieldError:
        return False
    return True


def parse_csv(text: str, local_area_code: str | None = None,
              second: str = "reason") -> list[tuple[str, str]]:
    """``number[,<second>]`` rows (a header row ``number,...`` is skipped): the
    (number, second) pairs, or ImportRefused naming every bad line."""
    rows: list[tuple[str, str]] = []
    problems: list[dict[str, Any]] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for line, cells in enumerate(reader, start=1):
        if not cells or not "".join(cells).strip():
            continue
        if line == 1 and cells[0].strip().lower() in ("number", "phone", "号码", "电话"):
            continue
        if len(cells) > 2:
            problems.append({"line": line, "message": f"at most two columns: number, {second}"})
            continue
        reason = cells[1].strip() if len(cells) > 1 else ""
        if len(reason) > 200:
            problems.append({"line": line, "message": f"the {second} is over 200 characters"})
            continue
        try:
            rows.append((checked(cells[0], local_area_code), reason))
        except FieldError as exc:
            problems.append({"line": line, "message": str(exc)})
        if len(rows) > MAX_IMPORT_ROWS:
            raise ImportRefused(f"at most {MAX_IMPORT_ROWS} rows in one import")
    if problems:
        raise ImportRefused(f"{len(problems)} bad rows; nothing imported "
                            f"(first: line {problems[0]['line']}: {problems[0]['message']})",
                            details={"lines": problems[:100]})
    if not rows:
        raise ImportRefused("no numbers in the file; nothing imported", details={"lines": []})
    return rows


class DoNotCallList:
    def __init__(self, engine: AsyncEngine, *, local_area_code: str | None = None) -> None:
        self.engine = engine
        self.local_area_code = local_area_code

    async def blocked(self, raw: str) -> bool:
        number = normalize(raw, self.local_area_code)
        async with self.engine.connect() as conn:
            return (await conn.execute(select(DoNotCall.number).where(
                DoNotCall.number == number))).first() is not None

    async def add(self, raw: str, reason: str, actor: str) -> dict[str, Any]:
        number = checked(raw, self.local_area_code)
        await self._upsert([(number, reason)], actor)
        return {"number": number, "reason": reason, "added_by": actor}

    async def import_csv(self, text: str, actor: str) -> dict[str, Any]:
        rows = parse_csv(text, self.local_area_code)
        await self._upsert(rows, actor)
        return {"imported": len(rows), "numbers": len({n for n, _ in rows})}

    async def _upsert(self, rows: Iterable[tuple[str, str]], actor: str) -> None:
        now = utcnow()
        unique = {n: r for n, r in rows}  # a number twice in a file: the last reason
        values = [{"number": n, "reason": r, "added_by": actor, "added_at": now}
                  for n, r in unique.items()]
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        async with self.engine.begin() as conn:  # one transaction: all or nothing
            stmt = insert(DoNotCall)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["number"], set_={"reason": stmt.excluded.reason,
                                                 "added_by": stmt.excluded.added_by,
                                                 "added_at": stmt.excluded.added_at}), values)

    async def remove(self, raw: str) -> None:
        number = normalize(raw, self.local_area_code)
        async with self.engine.begin() as conn:
            gone = (await conn.execute(delete(DoNotCall).where(DoNotCall.number == number)
                                       .returning(DoNotCall.number))).first()
        if gone is None:
            raise NotFoundError(f"{number} is not on the do-not-call list",
                                error_id="not-on-list", details={"number": number})

    async def entries(self, limit: int = 500, offset: int = 0) -> tuple[list[dict[str, Any]],
                                                                         int]:
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(DoNotCall))
                     ).scalar_one()
            rows = (await conn.execute(select(DoNotCall).order_by(DoNotCall.number)
                                       .limit(limit).offset(offset))).all()
        return [{"number": r.number, "reason": r.reason, "added_by": r.added_by,
                 "added_at": r.added_at} for r in rows], int(total)
