"""Celery app for the pool benchmark: one realistic I/O task (`turn`) and single-call probes.

Started by run.py as `celery -A bench_tasks worker ...` from this directory. All knobs come from
POOLBENCH_* environment variables (set by run.py):

    POOLBENCH_REDIS        redis://127.0.0.1:6379/9   (broker and data)
    POOLBENCH_DB           postgresql+psycopg://postgres@127.0.0.1:5432/sdr_poolbench
    POOLBENCH_FAKE         http://127.0.0.1:18765     (fake_llm.py)
    POOLBENCH_DB_POOL      "10+0"   SQLAlchemy pool_size+max_overflow ("default" = 5+10)
    POOLBENCH_HTTP_POOL    N        keep-alive pool of the openai and requests clients (0 = library defaults)
    POOLBENCH_LLM_POOL     default  openai client keeps its default limits (1000 connections, 100 kept alive)
    POOLBENCH_REDIS_POOL   N        redis-py BlockingConnectionPool size (0 = library default ConnectionPool)
    POOLBENCH_HOLD_DB      1        anti-pattern: keep the DB connection checked out across the LLM call
    POOLBENCH_PREFETCH     1        worker_prefetch_multiplier
    POOLBENCH_LLM_DELAY    5        LLM latency asked of the fake server (default: its own, 1 s)

Each task appends one JSON record to the Redis list `poolbench:rec` (timestamps in epoch seconds)
through `meter`, a separate Redis pool used only for measurement.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import httpx2
import openai
import psycopg
import redis
import requests
import sqlalchemy as sa
from celery import Celery, signals
from requests.adapters import HTTPAdapter

REDIS_URL = os.environ.get("POOLBENCH_REDIS", "redis://127.0.0.1:6379/9")
DB_URL = os.environ.get("POOLBENCH_DB", "postgresql+psycopg://postgres@127.0.0.1:5432/sdr_poolbench")
FAKE_URL = os.environ.get("POOLBENCH_FAKE", "http://127.0.0.1:18765")
DB_POOL = os.environ.get("POOLBENCH_DB_POOL", "10+0")
HTTP_POOL = int(os.environ.get("POOLBENCH_HTTP_POOL", "0"))
REDIS_POOL = int(os.environ.get("POOLBENCH_REDIS_POOL", "50"))
LLM_POOL = os.environ.get("POOLBENCH_LLM_POOL", "")       # "default": openai's own limits whatever HTTP_POOL is
HOLD_DB = os.environ.get("POOLBENCH_HOLD_DB") == "1"
PREFETCH = int(os.environ.get("POOLBENCH_PREFETCH", "1"))
LLM_DELAY = os.environ.get("POOLBENCH_LLM_DELAY")            # None: the fake server's default (1 s)
QUEUE = "poolbench"

app = Celery("poolbench", broker=REDIS_URL)
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=PREFETCH,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

# --- clients: one per worker process, shared by all threads/greenlets --------------------------------
if DB_POOL == "default":
    _db_pool_args: dict = {}                      # SQLAlchemy default: pool_size=5, max_overflow=10
else:
    _size, _overflow = (int(x) for x in DB_POOL.split("+"))
    _db_pool_args = {"pool_size": _size, "max_overflow": _overflow}
engine = sa.create_engine(DB_URL, pool_timeout=30, **_db_pool_args)

metadata = sa.MetaData()
events = sa.Table(
    "bench_events", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("conversation", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Index("bench_events_conv", "conversation", "id"),
)

if REDIS_POOL:
    rds = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
        REDIS_URL, max_connections=REDIS_POOL, timeout=10))
else:
    rds = redis.Redis.from_url(REDIS_URL)          # ConnectionPool, max_connections=100, raises beyond
# Instrumentation (records, lag windows, BLPOP probe) has its own pool so it never competes with `rds`.
meter = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=1000))

if HTTP_POOL and LLM_POOL != "default":
    _limits = httpx2.Limits(max_connections=HTTP_POOL, max_keepalive_connections=HTTP_POOL)
    llm = openai.OpenAI(base_url=f"{FAKE_URL}/v1", api_key="x", max_retries=0, timeout=30,
                        http_client=openai.DefaultHttpxClient(limits=_limits))
else:
    llm = openai.OpenAI(base_url=f"{FAKE_URL}/v1", api_key="x", max_retries=0, timeout=30)

http = requests.Session()
if HTTP_POOL:
    http.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=HTTP_POOL))


def _record(key: str, rec: dict) -> None:
    meter.rpush(key, json.dumps(rec))


# --- the realistic task ---------------------------------------------------------------------------
def _sql(conn, conv: int, i: int) -> list:
    conn.execute(events.insert().values(conversation=conv, body=f"msg {i}"))
    return conn.execute(sa.select(events.c.body).where(events.c.conversation == conv)
                        .order_by(events.c.id.desc()).limit(10)).all()


def _io(conv: int, i: int, history: list, rec: dict, llm_delay: float | str | None = LLM_DELAY) -> None:
    rds.set(f"poolbench:seen:{i}", 1, nx=True, ex=600)
    rds.incr(f"poolbench:conv:{conv}")
    t = time.time()
    reply = llm.chat.completions.create(
        model="fake-sdr",
        messages=[{"role": "system", "content": "You are a solar-energy SDR."},
                  {"role": "user", "content": f"history={len(history)} msg={i}"}],
        extra_headers=None if llm_delay is None else {"X-Delay": str(llm_delay)},
    ).choices[0].message.content
    rec["llm"] = time.time() - t
    resp = http.post(f"{FAKE_URL}/hook", json={"to": conv, "text": reply}, timeout=(5, 30))
    resp.raise_for_status()


@app.task(name="poolbench.turn")
def turn(i: int, t_enq: float) -> None:
    """INSERT + SELECT, 2 Redis calls, one ~1 s LLM call, one HTTP POST: one conversation turn."""
    rec = {"i": i, "enq": t_enq, "start": time.time()}
    conv = i % 50
    try:
        t = time.perf_counter()
        with engine.begin() as conn:            # checkout -> INSERT+SELECT -> COMMIT -> checkin
            rec["db_wait"] = time.perf_counter() - t
            history = _sql(conn, conv, i)
            if HOLD_DB:                         # anti-pattern: connection held across the LLM call
                _io(conv, i, history, rec)
        if not HOLD_DB:
            _io(conv, i, history, rec)
    except Exception as exc:
        rec["err"] = f"{type(exc).__name__}: {exc}"[:300]
        raise
    finally:
        rec["end"] = time.time()
        _record("poolbench:rec", rec)


# --- probes: one blocking-style call per task -------------------------------------------------------
def _unpatched_sleep(seconds: float) -> None:
    """A call that never yields to the gevent hub (stands for CPU work or a non-cooperative C call)."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey
        monkey.get_original("time", "sleep")(seconds)
    else:
        time.sleep(seconds)


def _probe_call(kind: str, seconds: float) -> None:
    if kind == "redis":
        rds.set("poolbench:probe:k", 1, ex=600)
        rds.incr("poolbench:probe:n")
    elif kind == "sql":
        with engine.begin() as conn:
            _sql(conn, 0, 0)
    elif kind == "turn0":
        with engine.begin() as conn:
            history = _sql(conn, 0, 0)
        _io(0, 0, history, {}, llm_delay=0.0)
    elif kind == "pg_sleep":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": seconds})
    elif kind == "redis_blpop":
        meter.blpop(["poolbench:never"], timeout=seconds)
    elif kind == "llm":
        llm.chat.completions.create(model="fake-sdr", messages=[{"role": "user", "content": "hi"}],
                                    extra_headers={"X-Delay": str(seconds)})
    elif kind == "http":
        http.post(f"{FAKE_URL}/hook", params={"delay": seconds}, json={}, timeout=(5, 30)).raise_for_status()
    elif kind == "sleep":
        time.sleep(seconds)
    elif kind == "block":
        _unpatched_sleep(seconds)
    else:
        raise ValueError(kind)


@app.task(name="poolbench.probe")
def probe(kind: str, seconds: float, t_enq: float) -> None:
    rec = {"kind": kind, "seconds": seconds, "enq": t_enq, "start": time.time(), "outcome": "ok"}
    try:
        _probe_call(kind, seconds)
    except BaseException as exc:                # includes gevent.Timeout (hard time limit)
        rec["outcome"] = type(exc).__name__
        raise
    finally:
        rec["end"] = time.time()
        _record("poolbench:probe", rec)


# --- worker-side instrumentation ------------------------------------------------------------------
def _lag_monitor(tick: float = 0.005) -> None:
    """Max overshoot of a 5 ms sleep per 200 ms window, pushed to `poolbench:lag` as [time, seconds]:
    how long the gevent hub (or, with threads, the GIL/scheduler) kept a ready sleeper waiting."""
    worst, window_start = 0.0, time.monotonic()
    while True:
        t = time.monotonic()
        time.sleep(tick)                            # patched under gevent: yields to the hub
        worst = max(worst, time.monotonic() - t - tick)
        if time.monotonic() - window_start >= 0.2:
            meter.rpush("poolbench:lag", json.dumps([time.time(), worst]))
            worst, window_start = 0.0, time.monotonic()


@signals.worker_ready.connect
def _ready(sender=None, **_):
    patched = "gevent.monkey" in sys.modules and sys.modules["gevent.monkey"].is_module_patched("select")
    from psycopg import waiting
    meter.sadd("poolbench:ready", json.dumps({
        "pid": os.getpid(),
        "gevent_patched": bool(patched),
        "psycopg_wait": waiting.wait.__name__,
        "psycopg": psycopg.__version__,
    }))
    threading.Thread(target=_lag_monitor, daemon=True, name="lag-monitor").start()
