"""How long a failed send waits: rate limits back off by powers of four with jitter, never below what the
provider asked and never beyond the cap (tasks are imported late: the Celery app reads the test broker)."""

from __future__ import annotations


def test_rate_limit_backoff_grows_by_four_respects_retry_after_and_is_jittered(settings):
    from tasks.runtime import send_countdown

    for retries, ceiling in ((0, 1), (1, 4), (2, 16), (3, 60), (6, 60)):
        waits = [send_countdown(retries, 60, rate_limited=True) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits) and len(set(waits)) > 100
    assert all(send_countdown(0, 60, rate_limited=True, retry_after=30) >= 30 for _ in range(50))
    assert send_countdown(0, 20, rate_limited=True, retry_after=300) == 20  # never beyond the cap
    assert all(0 < send_countdown(3, 60) <= 8 for _ in range(50))  # other transient errors: unchanged
