"""What Asterisk itself knows of a hotline call: the ledger entry its dialplan
writes when the call hangs up, and the same facts read from a live channel.

The dialplan keeps, on the caller's channel, when the call started, when it
first queued and joined its last queue, app_queue's hold time and the member
who answered (``MEMBERNAME``, ``QEHOLDTIME``), the IVR's path and language.
A hangup handler writes them to AstDB as ``hotline-ledger/<minute>/<Linkedid>``
(asterisk-conf/extensions.conf, ``[hotline-ledger]``: change both together);
the minute the call ended (``YYYYmmddHHMM``, Asterisk's clock) makes a bucket
the server deletes with one action once every call in it is recorded, rather
than one deletion per call.

The server normally learns all of this from events. When it did not see a
call's events (an AMI session dropped by Asterisk, a restart), these facts
complete the call instead of a guess:

* :func:`parse` reads a ledger entry of a call that has ended;
* :func:`entry_of_channel` reads the same facts from a live channel
  (the ``Status`` action with :data:`CHANNEL_VARIABLES`);
* :func:`complete` merges them into a tracked call (the tracker does this at
  a resync, :meth:`cti.calls.tracker.CallTracker.resync`);
* :func:`call_of` builds the whole call of an entry nobody tracked
  (crm_bridge/ledger.py makes it a record).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from cti.ami.parser import AmiMessage
from cti.calls.model import Call, CallState

FAMILY = "hotline-ledger"
FIELDS = ("version", "started", "ended", "queued", "joined", "hold", "member", "agi_status",
          "dialled", "queues", "language", "number", "name", "path")
# the channel variables behind the ledger's fields (the Status action reads them)
CHANNEL_VARIABLES = ("HOTLINE_T0", "HOTLINE_QUEUED_AT", "HOTLINE_JOINED_AT", "QEHOLDTIME",
                     "MEMBERNAME", "AGISTATUS", "HOTLINE_DNID", "HOTLINE_QUEUES",
                     "HOTLINE_LANGUAGE", "HOTLINE_IVR_PATH")
FAILED_AGI = ("FAILURE", "TIMEOUT")  # AGISTATUS of a caller the dialplan sent on without us


class LedgerError(ValueError):
    pass


def key_parts(key: str) -> tuple[str | None, str]:
    """(bucket, Linkedid) of a key under the family: ``<minute>/<Linkedid>``,
    or a bare ``<Linkedid>`` (entries of an older dialplan: no bucket)."""
    bucket, _, linkedid = key.rpartition("/")
    return bucket or None, linkedid


def by_call(values: dict[str, str]) -> dict[str, str]:
    """Linkedid -> value of the family's entries (keys as :func:`key_parts`)."""
    return {key_parts(key)[1]: value for key, value in values.items()}


@dataclass(frozen=True)
class Entry:
    linkedid: str
    started: float
    ended: float  # for a live channel: when it was read
    queued: float | None  # first queue joined
    joined: float | None  # the last queue joined
    hold: float | None  # seconds waited in that queue before an agent answered
    member: str  # the agent who answered, if any
    agi_status: str
    dialled: str
    queues: list[str]
    language: str
    number: str
    name: str
    path: str

    @property
    def answered_at(self) -> float | None:
        """When the member answered (to the second: app_queue's hold time is
        whole seconds)."""
        if not self.member:
            return None
        answered = (self.joined or self.queued or self.started) + (self.hold or 0.0)
        return min(max(answered, self.started), self.ended)


def _time(value: str) -> float | None:
    return float(value) if value else None


def parse(linkedid: str, value: str) -> Entry:
    """One AstDB value (see extensions.conf, ``hotline-ledger``)."""
    parts = value.split("|")
    if len(parts) != len(FIELDS) or parts[0] != "v1":
        raise LedgerError(f"ledger entry {linkedid}: not a v1 entry of {len(FIELDS)} fields")
    f = dict(zip(FIELDS, parts, strict=True))
    try:
        started, ended = float(f["started"]), float(f["ended"])
        queued, joined, hold = _time(f["queued"]), _time(f["joined"]), _time(f["hold"])
    except ValueError as exc:
        raise LedgerError(f"ledger entry {linkedid}: {exc}") from None
    text = urllib.parse.unquote
    return Entry(linkedid=linkedid, started=started, ended=ended, queued=queued,
                 joined=joined, hold=hold, member=f["member"], agi_status=f["agi_status"],
                 dialled=f["dialled"], queues=[q for q in f["queues"].split("+") if q],
                 language=f["language"], number=text(f["number"]), name=text(f["name"]),
                 path=text(f["path"]))


def entry_of_channel(status: AmiMessage, now: float) -> Entry | None:
    """The ledger's facts as a live channel holds them now (a ``Status`` event
    asked for :data:`CHANNEL_VARIABLES`); None for a channel that is not a
    hotline caller's (no ``HOTLINE_T0``) or whose values do not read."""
    values = {k: ("" if v == "(null)" else v) for k, v in status.variables("Variable").items()}
    try:
        started = float(values.get("HOTLINE_T0", ""))
        queued = _time(values.get("HOTLINE_QUEUED_AT", ""))
        joined = _time(values.get("HOTLINE_JOINED_AT", ""))
        hold = _time(values.get("QEHOLDTIME", ""))
    except ValueError:
        return None
    number = status.text("CallerIDNum", "")
    name = status.text("CallerIDName", "")
    return Entry(linkedid=status.text("Linkedid", ""), started=started, ended=now,
                 queued=queued, joined=joined, hold=hold, member=values.get("MEMBERNAME", ""),
                 agi_status=values.get("AGISTATUS", ""), dialled=values.get("HOTLINE_DNID", ""),
                 queues=[q for q in values.get("HOTLINE_QUEUES", "").split("+") if q],
                 language=values.get("HOTLINE_LANGUAGE", ""),
                 number="" if number == "<unknown>" else number,
                 name="" if name == "<unknown>" else name,
                 path=values.get("HOTLINE_IVR_PATH", ""))


def complete(call: Call, e: Entry, *, ended: bool) -> bool:
    """Fill in what the tracker missed of ``call`` from Asterisk's facts: the
    queues it joined, who answered and when, the IVR's path and language.
    What the tracker saw itself is kept. ``ended``: the entry is the call's
    last word (a ledger entry), so a queued call nobody answered was
    abandoned. Returns True if anything was filled in."""
    filled = False
    if not call.caller_number and e.number:
        call.caller_number, filled = e.number, True
    if not call.caller_name and e.name:
        call.caller_name, filled = e.name, True
    if not call.dialled and e.dialled:
        call.dialled, filled = e.dialled, True
    if not call.ivr_path and e.path:
        call.ivr_path, filled = e.path, True
    if not call.language and e.language:
        call.language, filled = e.language, True
    if e.agi_status in FAILED_AGI and not call.ivr_fallback:
        call.ivr_fallback, filled = True, True
    if e.queues and len(e.queues) > len(call.queues) and e.queues[:len(call.queues)] == call.queues:
        call.queues, filled = list(e.queues), True
    if e.queues and call.queue is None:
        call.queue, filled = e.queues[0], True
    if e.queues and call.queued_at is None:
        call.queued_at, filled = (e.queued if e.queued is not None else e.started), True
    if call.queued_at is not None and CallState.QUEUED not in call.states:
        _insert_state(call, CallState.QUEUED, call.queued_at)
    answered = e.answered_at
    if answered is not None and call.answered_at is None:
        call.answered_at, call.agent, filled = answered, e.member, True
        if CallState.CONNECTED not in call.states:
            _insert_state(call, CallState.CONNECTED, answered)
        if ended and not any(who == e.member for who, _, _ in call.agent_spans) \
                and not any(lg.agent == e.member for lg in call.legs.values()):
            call.agent_spans.append((e.member, answered, e.ended))
    if ended and e.queues and answered is None and call.answered_at is None \
            and not call.abandoned:
        call.abandoned, filled = True, True
    return filled


def _insert_state(call: Call, state: CallState, at: float) -> None:
    """A state the tracker did not see, in its place by time (the history
    stays in order; the call's current state is not changed)."""
    i = len(call.history)
    while i > 0 and call.history[i - 1][1] > at:
        i -= 1
    call.history.insert(i, (state, at))


def call_of(e: Entry) -> Call:
    """The call as the tracker would have ended it, from what the ledger kept
    (a call the server never saw)."""
    call = Call(call_id=e.linkedid, started_at=e.started, caller_number=e.number,
                caller_name=e.name, dialled=e.dialled)
    call.history.append((CallState.RINGING, e.started))
    call.history.append((CallState.IN_IVR, e.started))
    call.ivr_path, call.language = e.path, e.language
    call.ivr_fallback = e.agi_status in FAILED_AGI
    if e.queues:
        call.queue, call.queues = e.queues[0], list(e.queues)
        call.queued_at = e.queued if e.queued is not None else e.started
        call.history.append((CallState.QUEUED, call.queued_at))
    answered = e.answered_at
    if answered is not None:
        call.agent = e.member
        call.answered_at = answered
        call.history.append((CallState.CONNECTED, answered))
        call.agent_spans.append((e.member, answered, e.ended))
    elif e.queues:
        call.abandoned = True
    call.ended_at = e.ended
    call.state = CallState.ENDED
    call.history.append((CallState.ENDED, e.ended))
    call.backfilled = True
    return call
