"""Debounce and the per-conversation lock in real Redis: generations, max wait, ownership, lost keys."""

from __future__ import annotations

import time

from sdr.buffer import buffer_key, lock_key
from tests.conftest import with_settings
from tests.factories import flush_redis

CID = 42


def test_note_bumps_the_generation_and_waits_at_most_the_quiet_time(rt):
    first = rt.buffer.note_inbound(CID)
    second = rt.buffer.note_inbound(CID)
    assert (first.generation, second.generation) == ("1", "2")
    for flush in (first, second):
        assert 0 < flush.delay <= rt.settings.buffer_quiet_seconds


def test_generations_are_per_conversation(rt):
    rt.buffer.note_inbound(CID)
    assert rt.buffer.note_inbound(CID + 1).generation == "1"


def test_a_burst_gets_one_turn_from_its_latest_flush(rt):
    flushes = [rt.buffer.note_inbound(CID) for _ in range(3)]
    outcomes = [rt.buffer.try_acquire(CID, f.generation).outcome for f in flushes]
    assert outcomes == ["superseded", "superseded", "acquired"]


def test_acquire_reports_when_the_first_message_waited(rt):
    before = time.time()
    rt.buffer.note_inbound(CID)
    rt.buffer.note_inbound(CID)
    acquired = rt.buffer.try_acquire(CID, "2")
    assert acquired.outcome == "acquired" and acquired.token
    assert acquired.first_waiting_at is not None
    assert abs(acquired.first_waiting_at.timestamp() - before) < 2  # Redis clock and ours agree roughly


def test_an_older_flush_starts_the_turn_once_the_max_wait_is_over(rt):
    quick = with_settings(rt, buffer_quiet_seconds=0.5, buffer_max_seconds=1.0)
    first = quick.buffer.note_inbound(CID)
    time.sleep(0.7)
    late = quick.buffer.note_inbound(CID)
    assert late.delay < quick.settings.buffer_quiet_seconds  # capped by the first message's max wait
    assert quick.buffer.try_acquire(CID, first.generation).outcome == "superseded"
    time.sleep(0.4)
    assert quick.buffer.try_acquire(CID, first.generation).outcome == "acquired"


def test_a_flush_finding_the_lock_taken_is_busy(rt):
    flush = rt.buffer.note_inbound(CID)
    assert rt.buffer.try_acquire(CID, flush.generation).outcome == "acquired"
    newer = rt.buffer.note_inbound(CID)
    assert rt.buffer.try_acquire(CID, newer.generation).outcome == "busy"
    assert rt.buffer.try_acquire(CID, "").outcome == "busy"


def test_only_the_owner_extends_the_lock(rt):
    acquired = rt.buffer.try_acquire(CID, "")
    rt.redis.pexpire(lock_key(CID), 500)
    assert rt.buffer.extend(CID, acquired.token) is True
    assert rt.redis.pttl(lock_key(CID)) > 500  # renewed to the full lock time
    assert rt.buffer.extend(CID, "someone-else") is False
    assert rt.redis.get(lock_key(CID)) == acquired.token


def test_a_stale_token_cannot_release_the_new_owners_lock(rt):
    old = rt.buffer.try_acquire(CID, "")
    rt.redis.delete(lock_key(CID))  # the old owner's lock expired
    new = rt.buffer.try_acquire(CID, "")
    assert new.outcome == "acquired"
    rt.buffer.release(CID, old.token)
    assert rt.redis.get(lock_key(CID)) == new.token
    assert rt.buffer.extend(CID, new.token) is True
    assert rt.buffer.extend(CID, old.token) is False


def test_release_frees_the_lock_and_reports_no_follow_up_when_nothing_arrived(rt):
    flush = rt.buffer.note_inbound(CID)
    acquired = rt.buffer.try_acquire(CID, flush.generation)
    follow = rt.buffer.release(CID, acquired.token)
    assert follow.delay == 0
    assert rt.redis.get(lock_key(CID)) is None
    assert rt.buffer.try_acquire(CID, "").outcome == "acquired"


def test_release_reports_a_follow_up_when_messages_arrived_during_the_turn(rt):
    acquired = rt.buffer.try_acquire(CID, rt.buffer.note_inbound(CID).generation)
    during = rt.buffer.note_inbound(CID)
    follow = rt.buffer.release(CID, acquired.token)
    assert follow.generation == during.generation
    assert 0 < follow.delay <= rt.settings.buffer_quiet_seconds
    assert rt.buffer.try_acquire(CID, follow.generation).outcome == "acquired"


def test_everything_works_after_redis_is_flushed(rt):
    flush = rt.buffer.note_inbound(CID)
    acquired = rt.buffer.try_acquire(CID, flush.generation)
    flush_redis(rt.redis)
    assert rt.redis.exists(buffer_key(CID), lock_key(CID)) == 0
    assert rt.buffer.extend(CID, acquired.token) is False  # the turn learns it lost the lock
    recovery = rt.buffer.try_acquire(CID, "")  # the sweep's flush carries no generation
    assert recovery.outcome == "acquired"
    rt.buffer.release(CID, recovery.token)
    assert rt.buffer.note_inbound(CID).generation == "1"


def test_a_flush_without_generation_acquires_whatever_the_generation(rt):
    for _ in range(3):
        rt.buffer.note_inbound(CID)
    assert rt.buffer.try_acquire(CID, "").outcome == "acquired"


def test_a_flush_for_a_generation_redis_forgot_still_acquires(rt):
    flush = rt.buffer.note_inbound(CID)
    flush_redis(rt.redis)
    assert rt.buffer.try_acquire(CID, flush.generation).outcome == "acquired"


def test_each_buffer_operation_is_one_round_trip(rt):
    from sdr.accounting import counters

    rt.buffer.release(CID, rt.buffer.try_acquire(CID, rt.buffer.note_inbound(CID).generation).token)  # warm up
    before = counters.snapshot()
    flush = rt.buffer.note_inbound(CID)
    acquired = rt.buffer.try_acquire(CID, flush.generation)
    rt.buffer.extend(CID, acquired.token)
    rt.buffer.release(CID, acquired.token)
    assert counters.since(before).redis == 4
