"""The live calls, kept on disk so that a CTI restart loses no call.

AMI does not replay what happened while nobody was connected. After a
restart, Asterisk's channel list says which calls are still up, but not
which calls ended meanwhile, nor what happened earlier in the calls still up
(IVR path, queue, answer time). So the server saves its live calls here
twice a second when they changed, and at shutdown; at start it loads them
before the first resync. The resync then ends, and the writer records, the
calls that ended while the CTI was away (marked ``end_observed: false``),
and the calls still up carry on with their history.

Each save first spools the calls that have already ended (see
``CallRecordWriter.spool_pending``), so at any moment a call is in the
snapshot, in the spool, or both: a crash loses at most a call that began
less than one save interval before it and ended before the CTI came back.
The file is replaced atomically (write, fsync, rename).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog

from cti.calls.model import Call, CallState, Leg

log = structlog.get_logger("cti.calls.livestore")

VERSION = 1


def call_state(call: Call) -> dict[str, Any]:
    data = dataclasses.asdict(call)
    data["state"] = call.state.value
    data["history"] = [[s.value, at] for s, at in call.history]
    data["legs"] = [dataclasses.asdict(leg) for leg in call.legs.values()]
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

    def save(self, calls: Iterable[Call]) -> int:
        states = [call_state(c) for c in calls]
        payload = {"version": VERSION, "saved_at": time.time(), "calls": states}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.saves += 1
        return len(states)

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
