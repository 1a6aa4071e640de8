"""Asterisk's queue_log as the auditor's truth of queue calls.

app_queue writes one line per queue event, ``time|callid|queue|agent|event|...``
(callid: the Uniqueid of the channel in the queue). Each queued call ends
with exactly one of CONNECT (then COMPLETEAGENT / COMPLETECALLER / TRANSFER)
or ABANDON / EXITWITHTIMEOUT / EXITEMPTY / EXITWITHKEY. :func:`read` turns the
lines since an offset into one :class:`QueueCall` per callid; :func:`audit`
holds call records up against them: missing, doubled, wrong outcome or agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENDINGS = ("COMPLETEAGENT", "COMPLETECALLER", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY",
           "EXITWITHKEY", "TRANSFER")


@dataclass
class QueueCall:
    """One call's queue events (its first queue's join, who answered)."""

    joined: float | None = None
    queue: str | None = None
    agent: str | None = None  # the member who answered (the last, after an overflow)
    ended: str | None = None  # how it left the queue: one of ENDINGS
    events: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """What the call's record must say."""
        return "answered" if self.agent else "abandoned"


def read(path: Path, offset: int = 0) -> tuple[dict[str, QueueCall], int]:
    """The calls of the lines from byte ``offset`` on, by callid, and the
    offset to read on from next time."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    calls: dict[str, QueueCall] = {}
    end = data.rfind(b"\n") + 1  # a line being written is read next time
    for line in data[:end].decode("utf-8", "replace").splitlines():
        parts = line.split("|")
        if len(parts) < 5 or parts[1] in ("NONE", ""):
            continue
        call = calls.setdefault(parts[1], QueueCall())
        event = parts[4]
        call.events.append(event)
        if event == "ENTERQUEUE" and call.joined is None:
            call.joined = float(parts[0])
            call.queue = parts[2]
        elif event == "CONNECT":
            call.agent = parts[3]
        elif event in ENDINGS:
            call.ended = event
    return calls, offset + end


@dataclass
class Audit:
    checked: int = 0
    missing: int = 0
    doubled: int = 0
    wrong: int = 0
    unfinished: int = 0  # still in the queue when audited: nothing to judge yet
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.doubled or self.wrong)

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "missing": self.missing, "doubled": self.doubled,
                "wrong": self.wrong, "unfinished": self.unfinished,
                "examples": self.examples}


def audit(pairs: Iterable[tuple[str, str]], truth: Mapping[str, QueueCall],
          records: Mapping[str, list[Mapping[str, Any]]]) -> Audit:
    """``pairs``: (Linkedid of the call, callid of its channel in the queue).
    ``records``: the call records by Linkedid (``outcome``, ``agent``,
    ``queue``). A call that never queued (hung up in the menus) is checked
    for doubles only; one still in the queue (no ending in queue_log yet) is
    counted as unfinished, not judged."""
    out = Audit()

    def example(text: str) -> None:
        if len(out.examples) < 5:
            out.examples.append(text)

    for linkedid, callid in pairs:
        rows = records.get(linkedid, [])
        if len(rows) > 1:
            out.doubled += 1
            example(f"{linkedid}: {len(rows)} records")
        t = truth.get(callid)
        if t is None or t.joined is None:
            continue
        if t.ended is None:
            out.unfinished += 1
            continue
        out.checked += 1
        if not rows:
            out.missing += 1
            example(f"{linkedid}: no record (queue_log {','.join(t.events)})")
            continue
        row = rows[0]
        if row["outcome"] != t.outcome or (t.agent and row["agent"] != t.agent) \
                or row["queue"] != t.queue:
            out.wrong += 1
            example(f"{linkedid}: recorded {row['outcome']}/{row['agent']}/{row['queue']}, "
                    f"queue_log {t.queue}: {','.join(t.events)}")
    return out
