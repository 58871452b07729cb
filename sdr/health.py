"""Readiness: can this process reach Postgres, Redis and the broker right now?

The three checks run in parallel, each bounded by a short timeout, so a dead dependency makes
the check fail fast and name the culprit instead of hanging the endpoint.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Callable

import kombu
import redis
from sqlalchemy import text

from sdr.db import get_engine
from sdr.settings import Settings

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=3, thread_name_prefix="ready")


@dataclass(frozen=True)
class Readiness:
    ok: bool
    checks: dict[str, str]  # part -> "ok" or the reason it failed


def _postgres(settings: Settings, timeout: float) -> None:
    with get_engine(settings).connect() as connection:
        connection.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
        connection.execute(text("SELECT 1"))


def _redis(settings: Settings, timeout: float) -> None:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def _broker(settings: Settings, timeout: float) -> None:
    with kombu.Connection(settings.broker_url, connect_timeout=timeout,
                          transport_options={"socket_timeout": timeout}) as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)


CHECKS: dict[str, Callable[[Settings, float], None]] = {"postgres": _postgres, "redis": _redis, "broker": _broker}


def check_readiness(settings: Settings, timeout: float = 2.0) -> Readiness:
    futures = {name: _pool.submit(check, settings, timeout) for name, check in CHECKS.items()}
    results: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout + 0.5)
            results[name] = "ok"
        except concurrent.futures.TimeoutError:
            results[name] = f"timed out after {timeout:.1f}s"
        except Exception as exc:  # any failure of a dependency is a "not ready", with its reason
            results[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return Readiness(ok=all(v == "ok" for v in results.values()), checks=results)
