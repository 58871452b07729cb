"""Database access: one engine per process, short transactions, statement accounting.

Sessions are opened only around SQL and never held across an LLM or provider call, so a
pool of a few dozen connections serves hundreds of concurrent turns.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from sdr.accounting import counters
from sdr.settings import Settings

_lock = threading.Lock()
_engine: Engine | None = None
_engine_pid: int | None = None
_factory: sessionmaker[Session] | None = None


def make_engine(database_url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    engine = create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=10,
        # No pre-ping: it costs a round trip per checkout. A connection that died is invalidated
        # (with the rest of the pool) on first use and the task retries on OperationalError.
        pool_recycle=1800,
        # A statement must never outlive the task that issued it.
        connect_args={"connect_timeout": 5, "options": "-c statement_timeout=15000 -c timezone=UTC"},
    )
    event.listen(engine, "before_cursor_execute", _count_statement)
    return engine


def _count_statement(*_args: object) -> None:
    counters.sql += 1


def get_engine(settings: Settings) -> Engine:
    """The process's engine; a forked child gets its own instead of sharing sockets."""
    global _engine, _engine_pid, _factory
    with _lock:
        if _engine is None or _engine_pid != os.getpid():
            pool_size = int(os.environ.get("SDR_DB_POOL_SIZE", "10"))
            _engine = make_engine(settings.database_url, pool_size=pool_size, max_overflow=pool_size * 2)
            _engine_pid = os.getpid()
            _factory = sessionmaker(_engine, expire_on_commit=False)
        return _engine


@contextlib.contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error, always close."""
    get_engine(settings)
    assert _factory is not None
    session = _factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engine() -> None:
    """Drop pooled connections (after fork, or at shutdown)."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.dispose(close=False)
            _engine = None
