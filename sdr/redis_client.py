"""The process's Redis client, with round trips counted for the query budgets.

Redis holds only timing, locks and caches; Postgres is the source of truth, so every key here
may vanish (FLUSHALL, failover) at the cost of a delay, never of a message.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis

from sdr.accounting import counters
from sdr.settings import Settings

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_pid: int | None = None


class CountingConnection(redis.Connection):
    """Counts each packed send: one command or one whole pipeline is one round trip."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        counters.redis += 1
        super().send_packed_command(command, check_health)


def make_client(url: str, max_connections: int = 200) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url,
        connection_class=CountingConnection,
        max_connections=max_connections,
        timeout=5,  # wait this long for a free connection before failing
        socket_timeout=5,
        socket_connect_timeout=3,
        health_check_interval=30,
        decode_responses=True,
    )
    return redis.Redis(connection_pool=pool)


def get_redis(settings: Settings) -> redis.Redis:
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            _client = make_client(settings.redis_url, int(os.environ.get("SDR_REDIS_POOL_SIZE", "200")))
            _client_pid = os.getpid()
        return _client
