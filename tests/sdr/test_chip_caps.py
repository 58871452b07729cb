"""Per-chip caps in Redis: reservations never overshoot under concurrency, refunds give back, windows roll over."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from sdr.accounting import counters
from sdr.chip_caps import Caps, chip_usage, refund_send, reserve_send, windows

NOON_UTC = datetime(2026, 11, 22, 12, 30, tzinfo=timezone.utc)


def test_the_hourly_cap_refuses_the_send_after_it_and_says_when_to_retry(rt):
    granted = [reserve_send(rt.redis, 1, Caps(hourly=3), NOON_UTC).granted for _ in range(5)]
    assert granted == [True, True, True, False, False]
    refused = reserve_send(rt.redis, 1, Caps(hourly=3), NOON_UTC)
    assert (refused.full, refused.retry_after) == ("hourly", 30 * 60)
    assert chip_usage(rt.redis, 1, NOON_UTC) == (3, 3)
    next_hour = NOON_UTC.replace(hour=13, minute=0)
    assert reserve_send(rt.redis, 1, Caps(hourly=3), next_hour).granted


def test_the_daily_cap_counts_the_business_day_in_sao_paulo(rt):
    late_evening_sp = datetime(2026, 11, 23, 2, 50, tzinfo=timezone.utc)  # 23:50 on the 22nd in São Paulo
    caps = Caps(hourly=100, daily=2)
    assert reserve_send(rt.redis, 7, caps, NOON_UTC).granted and reserve_send(rt.redis, 7, caps, NOON_UTC).granted
    refused = reserve_send(rt.redis, 7, caps, late_evening_sp)
    assert (refused.granted, refused.full, refused.retry_after) == (False, "daily", 10 * 60)
    after_midnight_sp = datetime(2026, 11, 23, 3, 1, tzinfo=timezone.utc)
    assert reserve_send(rt.redis, 7, caps, after_midnight_sp).granted


def test_a_refund_gives_the_send_back_and_never_goes_below_zero(rt):
    caps = Caps(hourly=1, daily=1)
    first = reserve_send(rt.redis, 2, caps, NOON_UTC)
    assert not reserve_send(rt.redis, 2, caps, NOON_UTC).granted
    refund_send(rt.redis, first)
    assert chip_usage(rt.redis, 2, NOON_UTC) == (0, 0)
    refund_send(rt.redis, first)  # twice (a retried refund): still zero
    assert chip_usage(rt.redis, 2, NOON_UTC) == (0, 0)
    assert reserve_send(rt.redis, 2, caps, NOON_UTC).granted


def test_chips_without_caps_cost_no_round_trip(rt):
    before = counters.snapshot()
    assert reserve_send(rt.redis, 3, Caps(), NOON_UTC).granted
    assert counters.since(before).redis == 0
    before = counters.snapshot()
    reserve_send(rt.redis, 3, Caps(daily=10), NOON_UTC)
    assert counters.since(before).redis == 1


def test_chips_keep_separate_counters_in_one_hash_slot_each():
    a, b = windows(1, NOON_UTC), windows(2, NOON_UTC)
    assert a.hour_key != b.hour_key and a.day_key != b.day_key
    assert "{chip:1}" in a.hour_key and "{chip:1}" in a.day_key


def test_two_chips_under_concurrent_load_never_exceed_their_caps(rt):
    caps = {1: Caps(hourly=37, daily=50), 2: Caps(hourly=80, daily=23)}
    granted = {1: 0, 2: 0}
    lock = threading.Lock()
    barrier = threading.Barrier(24)

    def sender(chip_id: int) -> None:
        barrier.wait(10)
        for _ in range(20):
            if reserve_send(rt.redis, chip_id, caps[chip_id]).granted:
                with lock:
                    granted[chip_id] += 1

    threads = [threading.Thread(target=sender, args=(1 + n % 2,)) for n in range(24)]  # 240 attempts per chip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert granted == {1: 37, 2: 23}
    assert chip_usage(rt.redis, 1) == (37, 37) and chip_usage(rt.redis, 2) == (23, 23)
