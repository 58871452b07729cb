"""Postgres and Redis for a benchmark run: a reachability check with a clear message, a throwaway
database (created, migrated with Alembic, dropped at the end) and a claimed Redis database index
(flushed at the end).

The Redis index is claimed the way the test suite claims one (``SET sdr-test-claim NX``), so a test
run and a benchmark run on the same server never share an index; an index that already holds keys
is skipped even when unclaimed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
CLAIM_KEY = "sdr-test-claim"
CLAIM_SECONDS = 4 * 3600


class ServiceError(RuntimeError):
    """Postgres or Redis is unusable; the message says which and how to fix it."""


def plain_postgres_url(url: str) -> str:
    """psycopg wants postgresql://; accept postgres:// and the SQLAlchemy driver form too."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def with_database(url: str, name: str) -> str:
    base, _, tail = url.rpartition("/")
    query = tail.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def check_postgres(server_url: str) -> str:
    """Connect once; return the server version or raise ServiceError."""
    try:
        with psycopg.connect(plain_postgres_url(server_url), connect_timeout=5, autocommit=True) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except psycopg.Error as exc:
        raise ServiceError(f"Postgres is not reachable at {redact(server_url)}: {exc}".strip()
                           + "\n  start it, or point DATABASE_URL at a server where you may create databases") from None


def check_redis(server_url: str) -> str:
    try:
        client = redis.Redis.from_url(server_url, socket_connect_timeout=3, socket_timeout=5)
        version = str(client.info("server")["redis_version"])
        client.close()
        return version
    except redis.RedisError as exc:
        raise ServiceError(f"Redis is not reachable at {redact(server_url)}: {exc}"
                           "\n  start it, or point REDIS_URL at a Redis server") from None


def redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else url
    return url


@dataclass
class Database:
    server_url: str
    name: str

    @property
    def url(self) -> str:
        return with_database(plain_postgres_url(self.server_url), self.name)

    def create(self) -> None:
        with psycopg.connect(plain_postgres_url(self.server_url), connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def migrate(self, env: dict[str, str]) -> None:
        """`alembic upgrade heads` against this database, as the Procfile's release step runs it."""
        result = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "heads"], cwd=ROOT, capture_output=True,
                                text=True, timeout=180, env={**env, "DATABASE_URL": self.url})
        if result.returncode != 0:
            raise ServiceError(f"migrating {self.name} failed:\n{result.stderr[-3000:]}")

    def drop(self) -> None:
        with psycopg.connect(plain_postgres_url(self.server_url), connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def throwaway_database(server_url: str) -> Database:
    database = Database(server_url, f"sdr_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    database.create()
    return database


def redis_base(url: str) -> str:
    """The server part of a Redis URL (without a database index)."""
    scheme, _, rest = url.partition("://")
    host, _, _ = rest.partition("/")
    return f"{scheme}://{host}"


@dataclass
class RedisIndex:
    base: str
    index: int

    @property
    def url(self) -> str:
        return f"{self.base}/{self.index}"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=3, socket_timeout=10)

    def release(self) -> None:
        client = self.client()
        try:
            client.flushdb()
        finally:
            client.close()


def claim_redis_index(server_url: str) -> RedisIndex:
    base = redis_base(server_url)
    token = f"sdr-bench:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{index}", socket_connect_timeout=3, socket_timeout=5)
        try:
            if client.set(CLAIM_KEY, token, nx=True, ex=CLAIM_SECONDS):
                if client.dbsize() == 1:
                    return RedisIndex(base, index)
                client.delete(CLAIM_KEY)  # unclaimed but in use (a dev fleet?): leave it alone
        finally:
            client.close()
    raise ServiceError(f"no free Redis database index (1-15) on {redact(base)}: each is claimed or holds keys")
