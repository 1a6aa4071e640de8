"""A durable, append-only spool of call records (JSON lines).

Every finished call is appended here, and fsynced, before the database is
tried. A separate offset file says how far the database has confirmed. After
a crash or an outage the records past that offset are replayed, in order.
Because the database insert is idempotent on Linkedid, a record replayed
twice (a crash between the commit and the offset update) is still written
once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson

COMPACT_AT = 4 * 1024 * 1024  # bytes: start the file afresh once fully confirmed


class Spool:
    def __init__(self, directory: Path, name: str = "calls") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.jsonl"
        self.offset_path = directory / f"{name}.offset"
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open, closed in close()
        self.committed = self._read_offset()

    def _read_offset(self) -> int:
        try:
            value = int(self.offset_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0
        # an offset past the end (the file was compacted after it was written)
        # means everything is replayed; the database ignores what it has
        return value if value <= self.size else 0

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def pending_bytes(self) -> int:
        return self.size - self.committed

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append records and fsync once (group commit)."""
        if not records:
            return
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        self._fh.write(data)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def read(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` records past the committed offset, and the offset after them.
        A torn last line (a crash mid-write) is left for later, not parsed."""
        records: list[dict[str, Any]] = []
        end = self.committed
        with open(self.path, "rb") as fh:
            fh.seek(self.committed)
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                end += len(line)
                if line.strip():
                    records.append(json.loads(line))
                if len(records) >= limit:
                    break
        return records, end

    def commit(self, offset: int) -> None:
        """Record that everything before ``offset`` is in the database. Not
        fsynced: a crash may lose the latest offset, and the records after the
        one on disk are then replayed, which the database ignores (ON CONFLICT)."""
        tmp = self.offset_path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            fh.write(str(offset))
        os.replace(tmp, self.offset_path)
        self.committed = offset
        if offset == self.size and offset >= COMPACT_AT:
            self._compact()

    def _compact(self) -> None:
        self._fh.close()
        self._fh = open(self.path, "wb")  # noqa: SIM115
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.commit(0)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
