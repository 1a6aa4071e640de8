"""AMI fuzzing: mutated frames through the parser, the call tracker and the
agent translator, as the pump feeds them. Nothing may raise, and what they
hold stays bounded: a duplicated ``Event:`` header, a header without a colon,
a 1 MB line, invalid UTF-8, a UserEvent with extra headers, events in any
order about any channel. (A longer run: ``python -m bench.ami_fuzz``.)"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from cti.ami.parser import MAX_FRAME, AmiParser
from cti.bus import EventBus
from cti.calls.agents import AgentEvents
from cti.calls.tracker import CallTracker
from tests.support.amifuzz import frames, split_points

SAMPLES = 300  # in the suite; bench/ami_fuzz.py runs 10^6


@settings(max_examples=SAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stream=frames(), cuts=split_points())
def test_mutated_frames_never_crash_the_parser_or_the_translators(
    stream: bytes, cuts: list[int]
) -> None:
    bus = EventBus()
    published: list[str] = []
    bus.subscribe("*", lambda topic, payload: published.append(topic))
    tracker, agents, parser = CallTracker(bus, clock=lambda: 1.0), AgentEvents(bus), AmiParser()
    at = 1.0
    start = 0
    for cut in [*sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]:
        for msg in parser.feed(stream[start:cut]):
            at += 0.01
            tracker.handle(msg, at)
            agents.handle(msg, at)
        start = cut
        assert parser.pending <= MAX_FRAME  # a frame that never ends is not held forever
    assert len(tracker.calls) <= stream.count(b"Event") + 1
