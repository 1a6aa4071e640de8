"""AMI fuzzing at length: a million mutated frames through the parser, the
call tracker and the agent translator, as the pump feeds them.

    python -m bench.ami_fuzz [--frames 1000000] [--seed 7]

The frames are the 60 recorded hotline calls (tests/fixtures/burst_60_calls.ami)
over and over, each mutated at random the ways a broken or hostile peer would:
a duplicated ``Event:``, a header without a colon, invalid UTF-8, a 1 MB line,
CR inside a value, ids from other calls, headers dropped or shuffled, a
UserEvent with extra headers, and now and then a frame that never ends.
Reads are cut at random sizes. Nothing may raise; the memory held must stay
bounded (RSS at the end against RSS after the first 10 %), and the tracker
must let its ended calls go. Results: bench/results/ami_fuzz.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import sys
import time
from pathlib import Path

import structlog

from cti.ami.parser import AmiParser
from cti.bus import EventBus
from cti.calls.agents import AgentEvents
from cti.calls.tracker import CallTracker
from tests.support.amifuzz import MUTATIONS, mutate

# how often each mutation, in the bench's stream (a 1 MB line is rare, as it
# costs the most to build)
RARER = {"huge": 0.1, "other-ids": 16, "extra-headers": 6, "bad-timestamp": 6}
WEIGHTS = [RARER.get(kind, 12) for kind in MUTATIONS]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIXTURE = ROOT / "tests" / "fixtures" / "burst_60_calls.ami"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(frames: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    recorded = [f for f in FIXTURE.read_bytes().split(b"\r\n\r\n") if f.strip()]
    ids = sorted({part.split(b": ", 1)[1] for f in recorded for part in f.split(b"\r\n")
                  if part.startswith((b"Uniqueid: ", b"Linkedid: "))})[:200] or [b"1.1"]
    bus = EventBus()
    published = [0]
    bus.subscribe("*", lambda topic, payload: published.__setitem__(0, published[0] + 1))
    tracker, agents, parser = CallTracker(bus), AgentEvents(bus), AmiParser()
    errors: dict[str, int] = {}
    fed = handled = 0
    baseline = 0.0
    t0 = time.perf_counter()
    buf = bytearray()
    at = time.time()
    prefix = recorded[0].split(b"Uniqueid: ", 1)[-1][:7] if b"Uniqueid: " in recorded[0] \
        else b"1795507"
    while fed < frames:
        rounds, i = divmod(fed, len(recorded))
        frame = recorded[i]
        if rounds:  # the calls again, as new calls (new ids): the tracker must let them go
            frame = frame.replace(prefix, str(int(prefix) + rounds).encode())
        if rng.random() >= 0.5:  # half of them as Asterisk sent them
            frame = mutate(frame, rng, ids, rng.choices(MUTATIONS, WEIGHTS)[0])
        if rng.random() < 0.0005:  # a frame that never ends (the parser drops it)
            frame += b"\r\nChannel: " + b"B" * (5 << 20)
        buf += frame + b"\r\n\r\n"
        fed += 1
        if len(buf) > 4096 or fed == frames:
            cut = rng.randint(1, len(buf))
            for part in (bytes(buf[:cut]), bytes(buf[cut:])):
                for msg in parser.feed(part):
                    at += 0.001
                    try:
                        tracker.handle(msg, at)
                        agents.handle(msg, at)
                    except Exception as exc:  # counted: the target is none
                        name = type(exc).__name__
                        errors[name] = errors.get(name, 0) + 1
                    handled += 1
            buf.clear()
        if fed == frames // 10:
            baseline = rss_mb()
        if fed % 100_000 == 0:
            sys.stderr.write(f"\rami fuzz  [{'#' * (30 * fed // frames):<30}] {fed}/{frames}"
                             f"  live calls {len(tracker.calls)}  rss {rss_mb():.0f} MB")
    sys.stderr.write("\n")
    seconds = time.perf_counter() - t0
    return {"frames": frames, "messages": handled, "events_published": published[0],
            "errors": errors, "oversized_frames_dropped": parser.oversized,
            "seconds": round(seconds, 1), "frames_per_s": round(frames / seconds),
            "live_calls_at_end": len(tracker.calls), "rss_mb_at_10pct": round(baseline, 1),
            "rss_mb_at_end": round(rss_mb(), 1),
            "rss_growth_ratio": round(rss_mb() / baseline, 3) if baseline else None}


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    result = run(args.frames, args.seed)
    result["targets"] = {"no_errors": not result["errors"],
                         "rss_growth<=1.2": (result["rss_growth_ratio"] or 0) <= 1.2}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ami_fuzz.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    sys.exit(0 if all(result["targets"].values()) else 1)


if __name__ == "__main__":
    main()
