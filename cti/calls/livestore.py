"""The live calls, kept on disk so that a CTI restart loses no call.

AMI does not replay what happened while nobody was connected. After a
restart, Asterisk's channel list says which calls are still up, but not
which calls ended meanwhile, nor what happened earlier in the calls still up
(IVR path, queue, answer time). So the server saves its live calls here
twice a second when they changed, and at shutdown; at start it loads them
before the first resync. The resync then ends, and the writer records, the
calls that ended while the CTI was away (marked ``end_observed: false``),
and the calls still up carry on with their history.

Nothing of it blocks the event loop, however many calls are up: on the loop
only the calls that changed are copied (:meth:`LiveCallStore.capture`, a
shallow copy of each); a worker thread (:meth:`LiveCallStore.write`) encodes
them as JSON, keeping the JSON of every live call so it redoes only the
changed ones, and writes, fsyncs and renames the file.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
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
    data["queues"] = list(call.queues)
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


@dataclass
class Capture:
    """Copies of the live calls' state taken on the loop, for one write:
    by id, None for a call that is not live any more."""

    calls: dict[str, dict[str, Any] | None]
    full: bool  # every live call (the file is rebuilt from these alone)
    at: float = field(default_factory=time.time)


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

    def capture(self, calls: Mapping[str, Call], changed: Iterable[str] | None = None
                ) -> Capture:
        """The live calls (by id) as they are now: the ``changed`` ones are
        copied (shallow: a few microseconds a call), all of them when None; a
        changed id that is not live any more leaves the snapshot. Turning the
        copies into JSON is left to :meth:`write`, off the loop."""
        if changed is None:
            return Capture({cid: call_state(call) for cid, call in calls.items()}, full=True)
        return Capture({cid: (call_state(c) if (c := calls.get(cid)) is not None else None)
                        for cid in changed}, full=False)

    async def write(self, capture: Capture) -> None:
        """Encode the capture and replace the file with it (write, fsync,
        rename), in a worker thread: the event loop goes on meanwhile. One
        write at a time, in the order asked: a write whose caller was
        cancelled is finished before the next starts."""
        if self._writing is not None and not self._writing.done():
            with contextlib.suppress(Exception):
                await self._writing
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._encode_and_write, capture))
        await asyncio.shield(self._writing)
        self.saves += 1

    def encode(self, capture: Capture) -> bytes:
        """The snapshot file's bytes: the captured calls encoded, the others
        as they were encoded last time. No I/O."""
        if capture.full:
            self._json = {}
        for call_id, state in capture.calls.items():
            if state is None:
                self._json.pop(call_id, None)
            else:
                self._json[call_id] = orjson.dumps(state)
        head = json.dumps({"version": VERSION, "saved_at": capture.at})[:-1].encode()
        return head + b', "calls": [' + b",".join(self._json.values()) + b"]}"

    def _encode_and_write(self, capture: Capture) -> None:
        self._write(self.encode(capture))

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
