"""The live calls, kept on disk so that a CTI restart loses no call.

AMI does not replay what happened while nobody was connected. After a
restart, Asterisk's channel list says which calls are still up, but not
which calls ended meanwhile, nor what happened earlier in the calls still up
(IVR path, queue, answer time). So the server saves its live calls here
twice a second when they changed, and at shutdown; at start it loads them
before the first resync. The resync then ends, and the writer records, the
calls that ended while the CTI was away (marked ``end_observed: false``),
and the calls still up carry on with their history.

Nothing of it blocks the event loop, however many calls are up: each call
is serialised once when it changed (:meth:`LiveCallStore.capture` keeps the
JSON of every live call and redoes only the changed ones), and the file is
written, fsynced and renamed in a worker thread (:meth:`LiveCallStore.write`).

Each snapshot is captured at the same instant as the calls that have already
ended are taken for the spool (see ``CallRecordWriter.spool_pending``), and
written after they are spooled, so at any moment a call is in the snapshot,
in the spool, or both: a crash loses at most a call that began less than one
save interval before it and ended before the CTI came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from cti.calls.model import Call, CallState, Leg

log = structlog.get_logger("cti.calls.livestore")

VERSION = 1


_CALL_FIELDS = [f.name for f in dataclasses.fields(Call)
                if f.name not in ("state", "history", "legs", "agent_spans")]
_LEG_FIELDS = [f.name for f in dataclasses.fields(Leg)]


def call_state(call: Call) -> dict[str, Any]:
    """The call as JSON-friendly data (every field; a shallow copy is enough:
    the fields are plain values and lists of them)."""
    data = {name: getattr(call, name) for name in _CALL_FIELDS}
    data["state"] = call.state.value
    data["history"] = [[s.value, at] for s, at in call.history]
    data["legs"] = [{name: getattr(leg, name) for name in _LEG_FIELDS}
                    for leg in call.legs.values()]
    data["agent_spans"] = [list(span) for span in call.agent_spans]
    return data


def call_from_state(data: dict[str, Any]) -> Call:
    fields = {f.name for f in dataclasses.fields(Call)}
    leg_fields = {f.name for f in dataclasses.fields(Leg)}
    values = {k: v for k, v in data.items() if k in fields}
    values["state"] = CallState(data["state"])
    values["history"] = [(CallState(s), float(at)) for s, at in data.get("history", [])]
    legs = [Leg(**{k: v for k, v in leg.items() if k in leg_fields})
            for leg in data.get("legs", [])]
    values["legs"] = {leg.uniqueid: leg for leg in legs}
    values["agent_spans"] = [(str(a), float(f), float(t))
                             for a, f, t in data.get("agent_spans", [])]
    return Call(**values)


class LiveCallStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.saves = 0
        self._json: dict[str, bytes] = {}  # call id -> the call's JSON, as last captured
        self._writing: asyncio.Future[None] | None = None

    @property
    def count(self) -> int:
        """Calls in the last capture."""
        return len(self._json)

    def capture(self, calls: Mapping[str, Call], changed: Iterable[str] | None = None) -> bytes:
        """The snapshot file's bytes for ``calls`` (the live calls by id). Only
        the ``changed`` ones are serialised again (all when None); a changed
        id that is not live any more leaves the snapshot. No I/O."""
        if changed is None:
            self._json = {}
            changed = calls.keys()
        for call_id in changed:
            call = calls.get(call_id)
            if call is None:
                self._json.pop(call_id, None)
            else:
                self._json[call_id] = json.dumps(call_state(call), ensure_ascii=False,
                                                 separators=(",", ":")).encode()
        head = json.dumps({"version": VERSION, "saved_at": time.time()})[:-1].encode()
        return head + b', "calls": [' + b",".join(self._json.values()) + b"]}"

    async def write(self, snapshot: bytes) -> None:
        """Replace the file with ``snapshot`` (write, fsync, rename), in a worker
        thread: the event loop goes on meanwhile. One write at a time: a write
        whose caller was cancelled is finished before the next starts."""
        if self._writing is not None and not self._writing.done():
            with contextlib.suppress(Exception):
                await self._writing
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, snapshot))
        await asyncio.shield(self._writing)
        self.saves += 1

    def _write(self, snapshot: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(snapshot)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def load(self) -> list[Call]:
        """The calls saved last; none if there is no file. A file that cannot be
        read is set aside (renamed ``.bad``) and reported, not fatal: the
        resync still finds the calls that are up."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            payload = json.loads(raw)
            if payload.get("version") != VERSION:
                raise ValueError(f"version {payload.get('version')!r}, expected {VERSION}")
            calls = [call_from_state(c) for c in payload["calls"]]
        except (ValueError, KeyError, TypeError) as exc:
            bad = self.path.with_suffix(".bad")
            os.replace(self.path, bad)
            log.error("live_calls_unreadable", file=str(self.path), moved_to=str(bad),
                      error=f"{type(exc).__name__}: {exc}"[:300])
            return []
        log.info("live_calls_loaded", file=str(self.path), calls=len(calls),
                 saved_at=payload.get("saved_at"))
        return calls
