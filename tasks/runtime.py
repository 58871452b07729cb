"""Hands each task the process's runtime, and names the transient errors tasks retry on."""

from __future__ import annotations

import random

import redis.exceptions
import sqlalchemy.exc

from sdr.runtime import Runtime, process_runtime

# Infrastructure hiccups worth a retry: the work is idempotent, so a redelivery is harmless.
INFRASTRUCTURE_ERRORS = (sqlalchemy.exc.OperationalError, redis.exceptions.ConnectionError,
                         redis.exceptions.TimeoutError)


def runtime() -> Runtime:
    return process_runtime()


def backoff(retries: int, cap: float) -> float:
    """Exponential backoff with full jitter: 1, 2, 4... seconds, capped."""
    return random.uniform(0.5, 1.0) * min(cap, 2.0 ** retries)


def send_countdown(retries: int, cap: float, rate_limited: bool = False, retry_after: float | None = None) -> float:
    """Seconds before a send is tried again. A rate-limited send waits 1, 4, 16... seconds (Meta's advice,
    4^x) and never less than the provider asked; jitter keeps many conversations from retrying in step."""
    if not rate_limited:
        return backoff(retries, cap)
    floor = min(cap, retry_after or 0.0)
    ceiling = max(floor, min(cap, 4.0 ** retries))
    return random.uniform(max(floor, ceiling / 2), ceiling)
