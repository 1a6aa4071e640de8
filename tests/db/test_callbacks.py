"""The callbacks the hotline owes, on both databases: one open per number
however many triggers race, the earlier place kept, dropped when the number
gets through by itself, and claimed for dialling by one claimer only."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.callbacks import Callbacks

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


async def test_racing_triggers_for_one_number_make_one_callback_keeping_the_earlier_place(
    engine: AsyncEngine
) -> None:
    store = Callbacks(engine)
    results = await asyncio.gather(*(
        store.open("13800138000", "abandoned", queue="tv-zh",
                   joined_at=T0 + dt.timedelta(seconds=k), call_id=f"1.{k}")
        for k in (5, 0, 9, 3, 7, 1, 8, 2)))
    made = [entry for entry, created in results if created]
    assert len(made) == 1
    assert len({entry["id"] for entry, _ in results}) == 1
    (open_,) = await store.entries()
    assert open_["number"] == "13800138000" and open_["status"] == "waiting"
    assert open_["joined_at"] == T0  # the earliest trigger's place
    other, created = await store.open("13900139000", "keep_place", queue="tv-zh")
    assert created and other["id"] != open_["id"]


async def test_a_number_that_gets_through_drops_its_waiting_callback(engine: AsyncEngine) -> None:
    store = Callbacks(engine)
    entry, _ = await store.open("13800138000", "abandoned", queue="tv-zh", joined_at=T0)
    assert await store.drop_open("13800138000", "called again and was answered") == 1
    assert await store.entries() == []
    dropped = await store.entries(("dropped",))
    assert dropped[0]["note"] == "called again and was answered" and dropped[0]["closed_at"]
    again, created = await store.open("13800138000", "abandoned", queue="tv-zh")
    assert created and again["id"] != entry["id"]  # a new one may open after


async def test_only_one_claimer_dials(engine: AsyncEngine) -> None:
    store = Callbacks(engine)
    entry, _ = await store.open("13800138000", "keep_place", queue="tv-zh", joined_at=T0)
    won = await asyncio.gather(*(store.claim(entry["id"]) for _ in range(8)))
    assert won.count(True) == 1
    assert (await store.entries())[0]["status"] == "dialling"
    # while it is dialled, a new trigger finds it; no drop stops a call under way
    same, created = await store.open("13800138000", "abandoned")
    assert not created and same["id"] == entry["id"]
    assert await store.drop_open("13800138000", "got through") == 0


async def test_every_attempt_is_recorded_and_the_policy_decides_what_follows(
    engine: AsyncEngine
) -> None:
    """No answer, then busy, then answered: three attempts with their outcomes;
    waiting again between them until the time the policy gave; done at the end.
    Another whose tries are spent is failed."""
    store = Callbacks(engine)
    entry, _ = await store.open("13800138000", "keep_place", queue="tv-zh", joined_at=T0)
    retry_at = T0 + dt.timedelta(minutes=30)
    for outcome, then in (("no_answer", retry_at), ("busy", retry_at), ("answered", None)):
        assert await store.claim(entry["id"])
        attempt = await store.attempt_started(entry["id"], agent="8001")
        after = await store.attempt_ended(attempt, outcome, then)
        assert after["last_outcome"] == outcome
        assert after["status"] == ("done" if outcome == "answered" else "waiting")
    assert after["attempts"] == 3 and after["closed_at"] is not None
    tries = await store.attempts_of(entry["id"])
    assert [(a["outcome"], a["agent"]) for a in tries] == [
        ("no_answer", "8001"), ("busy", "8001"), ("answered", "8001")]
    assert all(a["ended_at"] >= a["started_at"] for a in tries)

    spent, _ = await store.open("13900139000", "abandoned", queue="tv-zh")
    assert await store.claim(spent["id"])
    attempt = await store.attempt_started(spent["id"])
    assert (await store.attempt_ended(attempt, "no_answer", None))["status"] == "failed"
    assert not await store.claim(spent["id"])  # a failed callback is never dialled again
