"""Live calls carried over a CTI restart: saved, loaded, resumed, or ended."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from crm_bridge.writer import record_of
from cti.bus import EventBus
from cti.calls import livestore
from cti.calls.livestore import LiveCallStore
from cti.calls.model import Call, CallState
from cti.calls.tracker import CallTracker
from tests.unit.test_tracker_replay import messages


async def ended_records(events_a: list, events_b: list | None,
                        tmp_path: Path) -> dict[str, dict]:
    """Feed events_a to one tracker; if events_b is given, save, "restart" (a new
    tracker loads the file) and feed events_b to the new one."""
    out: dict[str, dict] = {}
    bus = EventBus()
    bus.subscribe("call.ended", lambda t, c: out.setdefault(c.call_id, record_of(c)))
    tracker = CallTracker(bus, clock=lambda: 0.0)
    for m in events_a:
        tracker.handle(m)
    if events_b is not None:
        store = LiveCallStore(tmp_path / "live-calls.json")
        await store.write(store.capture(tracker.calls))
        tracker = CallTracker(bus, clock=lambda: 0.0)
        assert tracker.restore(store.load()) > 0
        for m in events_b:
            tracker.handle(m)
    return out


async def test_a_call_carried_over_a_restart_is_recorded_as_if_nothing_happened(
    tmp_path: Path
) -> None:
    events = messages("burst_60_calls")
    whole = await ended_records(events, None, tmp_path)
    half = len(events) // 2
    split = await ended_records(events[:half], events[half:], tmp_path)
    assert len(whole) == 60 and split.keys() == whole.keys()
    for cid, rec in whole.items():
        got = split[cid]
        assert {k: v for k, v in got.items() if k != "extra"} == \
            {k: v for k, v in rec.items() if k != "extra"}, cid
        assert got["extra"]["states"] == rec["extra"]["states"]


async def test_calls_gone_while_the_cti_was_away_are_ended_at_the_first_resync(
    tmp_path: Path
) -> None:
    events = messages("queue_call_answered")
    cut = next(i for i, m in enumerate(events) if m.name == "AgentConnect") + 1
    bus = EventBus()
    tracker = CallTracker(bus, clock=lambda: 0.0)
    for m in events[:cut]:
        tracker.handle(m)
    store = LiveCallStore(tmp_path / "live-calls.json")
    await store.write(store.capture(tracker.calls))
    assert store.count == 1

    ended: list[Call] = []
    bus2 = EventBus()
    bus2.subscribe("call.ended", lambda t, c: ended.append(c))
    after = CallTracker(bus2, clock=lambda: 0.0)
    assert after.restore(store.load()) == 1
    [call] = after.calls.values()
    assert call.restored and call.state is CallState.CONNECTED and call.answered_at
    after.resync([], [], at=2_000_000_000.0)  # Asterisk has no channels any more
    [gone] = ended
    assert gone.ended_at == 2_000_000_000.0 and not gone.end_observed
    record = record_of(gone)
    assert record["outcome"] == "answered" and record["agent"] == "agent-8001"
    assert record["extra"]["end_observed"] is False
    assert record["ivr_path"] == call.ivr_path and record["queue"] == "general-service"


def test_a_call_this_run_saw_end_is_not_taken_back() -> None:
    events = messages("queue_call_answered")
    ended: list[Call] = []
    bus = EventBus()
    bus.subscribe("call.ended", lambda t, c: ended.append(c))
    tracker = CallTracker(bus, clock=lambda: 0.0)
    for m in events:
        tracker.handle(m)
    [done] = ended
    stale = Call(call_id=done.call_id, started_at=0.0, state=CallState.CONNECTED)
    assert tracker.restore([stale, Call(call_id="1.1", started_at=0.0,
                                        state=CallState.ENDED)]) == 0
    assert not tracker.calls


def test_an_unreadable_file_is_set_aside_and_reported(tmp_path: Path) -> None:
    store = LiveCallStore(tmp_path / "live-calls.json")
    assert store.load() == []  # no file yet: a first start
    store.path.write_text('{"version": 1, "calls": [{"call_id": ')
    assert store.load() == []
    assert not store.path.exists() and (tmp_path / "live-calls.bad").exists()
    store.path.write_text('{"version": 99, "calls": []}')
    assert store.load() == []


def test_agent_time_counts_overlaps_once_per_agent_and_survives_a_restart() -> None:
    from cti.calls.livestore import call_from_state, call_state
    from cti.calls.model import Call, Leg

    call = Call(call_id="1.1", started_at=0.0, ended_at=100.0)
    # 8001 talks 10..40, consults 8002 (30..45, both busy), leaves at 45;
    # 8001 also had an overlapping stretch 35..45 (another bridge): once
    call.agent_spans = [("8001", 10.0, 40.0), ("8001", 35.0, 45.0), ("8002", 30.0, 45.0)]
    call.legs["2.2"] = Leg("2.2", "Local/8002@sim-agent-phone-1;1", 30.0, agent="8002",
                           bridged_since=45.0)
    assert call.agent_seconds(now=70.0) == {"8001": 35.0, "8002": 40.0}
    again = call_from_state(call_state(call))
    assert again.agent_spans == call.agent_spans
    assert again.agent_seconds(now=70.0) == call.agent_seconds(now=70.0)


async def test_only_the_changed_calls_are_serialised_again_and_the_disk_is_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store never encodes, writes, syncs or renames on the event loop's
    thread, and a capture copies only the calls that changed (a busy hour
    has thousands of calls up)."""
    loop_thread = threading.get_ident()
    disk: list[tuple[str, bool]] = []
    for name in ("fsync", "replace"):
        real = getattr(os, name)

        def spy(*args: object, _real: object = real, _name: str = name) -> object:
            disk.append((_name, threading.get_ident() == loop_thread))
            return _real(*args)  # type: ignore[operator]

        monkeypatch.setattr(os, name, spy)
    encoded_on_loop: list[bool] = []
    real_encode = LiveCallStore.encode

    def encode(self: LiveCallStore, capture: livestore.Capture) -> bytes:
        encoded_on_loop.append(threading.get_ident() == loop_thread)
        return real_encode(self, capture)

    monkeypatch.setattr(LiveCallStore, "encode", encode)
    dumped: list[str] = []
    real_state = livestore.call_state
    monkeypatch.setattr(livestore, "call_state",
                        lambda c: dumped.append(c.call_id) or real_state(c))
    tracker = CallTracker(EventBus(), clock=lambda: 0.0)
    events = messages("burst_60_calls")
    for m in events[: len(events) // 3]:
        tracker.handle(m)
    store = LiveCallStore(tmp_path / "live-calls.json")
    live = len(tracker.calls)
    assert live >= 5
    await store.write(store.capture(tracker.calls, None))  # the first: every call
    assert len(dumped) == live
    tracker.take_changed()
    some = next(iter(tracker.calls))
    tracker.note_ivr(next(iter(tracker.calls[some].legs)), ["language:1"], "zh")
    dumped.clear()
    await store.write(store.capture(tracker.calls, tracker.take_changed()))
    assert dumped == [some]  # one call changed: one serialised
    assert disk and all(not on_loop for _, on_loop in disk), disk
    assert encoded_on_loop == [False, False]  # the JSON too is made in the worker thread
    assert {c.call_id for c in store.load()} == set(tracker.calls)
    assert next(c for c in store.load() if c.call_id == some).language == "zh"
