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


def rate_limit_backoff(retries: int, retry_after: float, cap: float) -> float:
    """After a rate limit: no sooner than the provider asked and than the exponential step, plus up
    to 50% jitter so the conversations it throttled do not all come back at the same instant; capped."""
    return min(cap, max(retry_after, 2.0 ** (retries + 1)) * random.uniform(1.0, 1.5))
