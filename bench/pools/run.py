"""Celery pool benchmark for sdr's I/O worker: `--pool threads` vs `--pool gevent`.

Starts fake_llm.py and, per scenario, a fresh `celery -A bench_tasks worker` subprocess; publishes
tasks from this process; reads per-task timestamps back from Redis. Needs Redis (DB 9 is flushed!)
and Postgres (database sdr_poolbench is dropped and re-created). Results and method: docs/pools.md.

    .venv/bin/python bench/pools/run.py                      # all suites, ~45 min
    .venv/bin/python bench/pools/run.py --suite main --repeats 1
    .venv/bin/python bench/pools/run.py --report bench/pools/results.json   # re-print tables only

Suites: main (load matrix), slow (5 s LLM calls), cost (CPU per call type), coop (do blocking calls block
the gevent hub?), limits (time limits), sizing (SQLAlchemy pool size, library-default client pools,
connection held across the LLM call), httppool (openai vs requests keep-alive pool size).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import psutil
import psycopg
import requests

HERE = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/9"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "sdr_poolbench"
DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
LLM_DELAY = 1.0
LOG_DIR = Path(os.environ.get("POOLBENCH_LOGS", "/tmp/poolbench"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAKE_URL = f"http://127.0.0.1:{free_port()}"
os.environ.update(POOLBENCH_REDIS=REDIS_URL, POOLBENCH_DB=DB_URL, POOLBENCH_FAKE=FAKE_URL)
sys.path.insert(0, str(HERE))
import bench_tasks  # noqa: E402  (reads the env above; only its Celery app and Redis client are used)

rds = bench_tasks.meter


# --- infrastructure ---------------------------------------------------------------------------------
def create_db() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    bench_tasks.metadata.create_all(bench_tasks.engine)
    bench_tasks.engine.dispose()


def drop_db() -> None:
    bench_tasks.engine.dispose()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def pg_active_sleeps() -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
            " AND query ILIKE '%%pg_sleep%%'", (DB_NAME,)).fetchone()[0]


class FakeServer:
    def __init__(self) -> None:
        port = FAKE_URL.rsplit(":", 1)[1]
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fake_llm.py"), "--port", port,
                                      "--delay", str(LLM_DELAY)])
        for _ in range(100):
            try:
                requests.get(f"{FAKE_URL}/stats", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("fake server did not start")

    def reset(self) -> None:
        requests.post(f"{FAKE_URL}/reset", timeout=5)

    def stats(self) -> dict:
        return requests.get(f"{FAKE_URL}/stats", timeout=5).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Worker:
    """`procs` × `celery worker --pool POOL -c CONC` subprocesses plus an RSS/CPU sampler (with children)."""

    def __init__(self, pool: str, conc: int, env: dict[str, str] | None = None, name: str = "",
                 procs: int = 1) -> None:
        rds.flushdb()                                          # DB 9 belongs to this benchmark
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_paths, self.procs = [], []
        for k in range(procs):
            slug = "".join(ch if ch.isalnum() or ch in "+-" else "_" for ch in name or "worker")
            log_path = LOG_DIR / f"{slug}-{pool}-{conc}-{k}.log"
            cmd = [sys.executable, "-m", "celery", "-A", "bench_tasks", "worker", "--pool", pool,
                   "-c", str(conc), "-Q", bench_tasks.QUEUE, "-n", f"poolbench{k}-{pool}@%h",
                   "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
            with open(log_path, "w") as log:
                self.procs.append(subprocess.Popen(cmd, cwd=HERE, env={**os.environ, **(env or {})},
                                                   stdout=log, stderr=subprocess.STDOUT))
            self.log_paths.append(log_path)
        deadline = time.time() + 60
        while rds.scard("poolbench:ready") < procs:
            if any(p.poll() is not None for p in self.procs) or time.time() > deadline:
                raise RuntimeError(f"worker did not start, see {self.log_paths}")
            time.sleep(0.1)
        self.info = json.loads(rds.srandmember("poolbench:ready"))
        time.sleep(0.5)                                        # let the consumers settle
        self.ps = [psutil.Process(p.pid) for p in self.procs]
        self.rss_idle = self.rss()
        self.reset_counters()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def reset_counters(self) -> None:
        self.rss_peak = self.rss()
        self.unacked_max = 0
        self.cpu0 = self.cpu()

    def _procs(self) -> list[psutil.Process]:
        out = []
        for p in self.ps:
            try:
                out += [p, *p.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return out

    def rss(self) -> int:
        total = 0
        for p in self._procs():
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu(self) -> float:
        total = 0.0
        for p in self._procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
        return total

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.rss_peak = max(self.rss_peak, self.rss())
            self.unacked_max = max(self.unacked_max, rds.hlen("unacked"))   # kombu's reserved messages

    def measure(self) -> dict:
        """Idle RSS, and peak RSS / CPU / reserved messages since reset_counters(); call before stop()."""
        self._stop.set()
        self._sampler.join()
        return {"rss_idle_mb": self.rss_idle / 2**20, "rss_peak_mb": self.rss_peak / 2**20,
                "cpu_s": self.cpu() - self.cpu0, "unacked_max": self.unacked_max}

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        self._stop.set()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)                  # warm shutdown
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log_lines(self, needle: str) -> list[str]:
        return [ln.strip() for path in self.log_paths for ln in path.read_text().splitlines() if needle in ln]


def wait_records(key: str, n: int, timeout: float) -> list[dict]:
    deadline = time.time() + timeout
    while rds.llen(key) < n and time.time() < deadline:
        time.sleep(0.05)
    return [json.loads(x) for x in rds.lrange(key, 0, -1)]


def max_lag_ms(t0: float, t1: float) -> float:
    windows = [json.loads(x) for x in rds.lrange("poolbench:lag", 0, -1)]
    return 1000 * max((w for t, w in windows if t0 <= t <= t1 + 0.3), default=0.0)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


# --- scenarios --------------------------------------------------------------------------------------
def load_env(conc: int, db_pool: str = "10+0", http_pool: int | None = None, redis_pool: int = 50,
             hold_db: bool = False) -> dict[str, str]:
    return {"POOLBENCH_DB_POOL": db_pool, "POOLBENCH_HTTP_POOL": str(conc if http_pool is None else http_pool),
            "POOLBENCH_REDIS_POOL": str(redis_pool), "POOLBENCH_HOLD_DB": "1" if hold_db else "0"}


def run_load(fake: FakeServer, pool: str, conc: int, n: int, env: dict[str, str], label: str = "",
             procs: int = 1) -> dict:
    """Warm idle workers with one wave of `conc` tasks (total over `procs` processes of conc/procs
    slots), then publish n `turn` tasks and wait for them."""
    worker = Worker(pool, conc // procs, env, name=label or "load", procs=procs)
    try:
        for i in range(conc):                                  # warm-up: lazy imports, keep-alive pools
            bench_tasks.turn.apply_async((-1 - i, time.time()))
        wait_records("poolbench:rec", conc, timeout=120)
        rds.delete("poolbench:rec", "poolbench:lag")
        fake.reset()
        worker.reset_counters()
        t_pub = time.time()
        for i in range(n):
            bench_tasks.turn.apply_async((i, time.time()))
        publish_s = time.time() - t_pub
        recs = wait_records("poolbench:rec", n, timeout=120 + 40 * math.ceil(n / conc))
        res = worker.measure()
        stats = fake.stats()
    finally:
        worker.stop()
    done = [r for r in recs if "end" in r]
    errs = Counter(r["err"].split(":")[0] for r in done if "err" in r)
    t0, t1 = min(r["enq"] for r in done), max(r["end"] for r in done)
    wall = t1 - t0
    delay = float(env.get("POOLBENCH_LLM_DELAY", LLM_DELAY))
    ideal = math.ceil(n / conc) * delay
    lat = [1000 * (r["start"] - r["enq"]) for r in done]
    lat1 = [1000 * (r["start"] - r["enq"]) for r in done if r["i"] < conc]
    db_wait = [1000 * r["db_wait"] for r in done if "db_wait" in r]
    llm = [1000 * r["llm"] for r in done if "llm" in r]
    res.update({
        "label": label, "pool": pool, "prefetch": int(env.get("POOLBENCH_PREFETCH", "1")), "procs": procs,
        "conc": conc, "n": n, "env": env, "completed": len(done),
        "errors": sum(errs.values()) + (n - len(done)), "error_kinds": dict(errs),
        "publish_s": publish_s, "wall_s": wall, "ideal_s": ideal, "overhead_s": wall - ideal,
        "llm_delay": delay, "eff_inflight": n * delay / wall, "server_max_inflight": stats["llm_max_inflight"],
        "tcp_connections": stats["connections"],
        "start_p50_ms": pct(lat, 0.5), "start_p95_ms": pct(lat, 0.95),
        "start1_p50_ms": pct(lat1, 0.5), "start1_p95_ms": pct(lat1, 0.95),
        "db_wait_p95_ms": pct(db_wait, 0.95), "db_wait_max_ms": max(db_wait, default=float("nan")),
        "llm_p50_ms": pct(llm, 0.5), "llm_p95_ms": pct(llm, 0.95),
        "lag_max_ms": max_lag_ms(t0, t1), "cpu_ms_per_task": 1000 * res["cpu_s"] / n,
    })
    print(f"  {label or 'load'} {procs}×{pool:7} c={conc:<4} n={n:<5} wall={wall:5.2f}s "
          f"inflight={stats['llm_max_inflight']:4} rss={res['rss_peak_mb']:5.1f}MB cpu={res['cpu_s']:5.2f}s "
          f"unacked={res['unacked_max']} errors={res['errors']} {dict(errs) or ''}", flush=True)
    return res


def run_probes(pool: str, conc: int, phases: list[list[tuple[str, float, int]]], env: dict[str, str],
               label: str) -> list[dict]:
    """Each phase: a list of (kind, seconds, count) published together; report wall per kind."""
    worker = Worker(pool, conc, env, name=label)
    out = []
    try:
        for phase in phases:
            rds.delete("poolbench:probe")
            total = sum(c for _, _, c in phase)
            t_pub = time.time()
            for kind, seconds, count in phase:
                for _ in range(count):
                    bench_tasks.probe.apply_async((kind, seconds, time.time()))
            recs = wait_records("poolbench:probe", total, timeout=30 + 2 * sum(s * c for _, s, c in phase))
            t_end = max((r["end"] for r in recs), default=time.time())
            for kind, seconds, count in phase:
                mine = [r for r in recs if r["kind"] == kind]
                row = {"label": label, "pool": pool, "conc": conc, "env": env,
                       "phase": " + ".join(f"{c}×{k}({s:g}s)" for k, s, c in phase),
                       "kind": kind, "seconds": seconds, "count": count, "completed": len(mine),
                       "wall_s": max((r["end"] for r in mine), default=float("nan")) - t_pub,
                       "errors": sum(r["outcome"] != "ok" for r in mine) + count - len(mine),
                       "lag_max_ms": max_lag_ms(t_pub, t_end), "psycopg_wait": worker.info["psycopg_wait"]}
                out.append(row)
                print(f"  {label} {pool:7} {row['phase']:<40} {kind:11} wall={row['wall_s']:6.2f}s "
                      f"lag={row['lag_max_ms']:7.1f}ms errors={row['errors']} wait={row['psycopg_wait']}",
                      flush=True)
    finally:
        worker.stop()
    return out


def run_limit_probe(pool: str, kind: str) -> dict:
    """One task that needs 5 s, with soft_time_limit=1 and time_limit=2; then a health check."""
    worker = Worker(pool, 10, load_env(10, db_pool="5+0"), name=f"limits-{kind}")
    try:
        t0 = time.time()
        bench_tasks.probe.apply_async((kind, 5.0, t0), soft_time_limit=1, time_limit=2)
        time.sleep(2.5)
        pg_active = pg_active_sleeps() if kind == "pg_sleep" else None
        rec = wait_records("poolbench:probe", 1, timeout=10)
        rds.delete("poolbench:probe")
        bench_tasks.probe.apply_async(("pg_sleep", 0.0, time.time()))
        bench_tasks.probe.apply_async(("llm", 0.0, time.time()))
        after = wait_records("poolbench:probe", 2, timeout=20)
        time.sleep(0.5)
        row = {
            "pool": pool, "kind": kind,
            "outcome": rec[0]["outcome"] if rec else "no record (killed while recording)",
            "ended_after_s": (rec[0]["end"] - t0) if rec else None,
            "log_hard": worker.log_lines("Hard time limit"), "log_soft": worker.log_lines("Soft time limit"),
            "pg_sleep_still_running_at_2.5s": pg_active,
            "health_after": [r["outcome"] for r in after], "worker_alive": worker.alive(),
        }
    finally:
        worker.stop()
    print(f"  limits {pool:7} {kind:8} outcome={row['outcome']} ended={row['ended_after_s']} "
          f"hard_log={len(row['log_hard'])} soft_log={len(row['log_soft'])} pg_active={pg_active} "
          f"after={row['health_after']}", flush=True)
    return row


# (pool, worker_prefetch_multiplier, worker processes sharing the total concurrency)
MAIN_CONFIGS = [("threads", 1, 1), ("gevent", 1, 1), ("gevent", 2, 1), ("threads", 1, 2), ("gevent", 2, 2)]


def suite_main(fake, pools, concs, repeats) -> list[dict]:
    """Realistic task, N = 2 × concurrency, --repeats runs per configuration."""
    rows = []
    for conc in concs:
        for pool, prefetch, procs in MAIN_CONFIGS:
            if pool not in pools or (procs > 1 and conc < 200):
                continue
            for rep in range(repeats):
                env = {**load_env(conc // procs), "POOLBENCH_PREFETCH": str(prefetch)}
                rows.append(run_load(fake, pool, conc, 2 * conc, env, label=f"main{rep}", procs=procs))
    return rows


def suite_slow(fake, pools) -> list[dict]:
    """Hundreds in flight: 5 s LLM calls, c=500, N=1000 (needs 100 turns/s, the CPU ceiling)."""
    rows = []
    for pool, prefetch, procs in MAIN_CONFIGS:
        if pool in pools and procs == 1:
            env = {**load_env(500), "POOLBENCH_PREFETCH": str(prefetch), "POOLBENCH_LLM_DELAY": "5"}
            rows.append(run_load(fake, pool, 500, 1000, env, label="slow"))
    return rows


def suite_httppool(fake, pools) -> list[dict]:
    """Which HTTP pool costs CPU at c=500: openai's (httpx2) or requests' (urllib3)? 2 runs each."""
    rows = []
    for pool in pools:
        pf = {"POOLBENCH_PREFETCH": "2" if pool == "gevent" else "1"}
        for rep in range(2):
            rows.append(run_load(fake, pool, 500, 1000, {**load_env(500), **pf}, label="both pools 500"))
            rows.append(run_load(fake, pool, 500, 1000, {**load_env(500), **pf, "POOLBENCH_LLM_POOL": "default"},
                                 label="openai default limits, requests 500"))
            rows.append(run_load(fake, pool, 500, 1000, {**load_env(500, http_pool=0), **pf},
                                 label="openai and requests defaults"))
    return rows


def suite_cost(pools) -> list[dict]:
    """CPU per task of each call type in isolation (0 s latency), 500 tasks at -c 50."""
    rows = []
    kinds = [("sleep", "empty task (Celery + measurement record)"), ("redis", "task with 2 Redis calls"),
             ("sql", "task with INSERT + SELECT"), ("llm", "task with one openai chat.completions.create"),
             ("http", "task with one requests POST"), ("turn0", "the whole turn (LLM answers at once)")]
    for pool in pools:
        worker = Worker(pool, 50, {**load_env(50), "POOLBENCH_PREFETCH": "2"}, name="cost")
        try:
            for kind, what in kinds:
                for n in (50, 500):                            # first batch = warm-up
                    rds.delete("poolbench:probe")
                    c0 = worker.cpu()
                    for _ in range(n):
                        bench_tasks.probe.apply_async((kind, 0.0, time.time()))
                    recs = wait_records("poolbench:probe", n, timeout=120)
                cpu_ms = 1000 * (worker.cpu() - c0) / n
                rows.append({"pool": pool, "kind": kind, "what": what, "cpu_ms_per_task": cpu_ms,
                             "errors": sum(r["outcome"] != "ok" for r in recs) + n - len(recs)})
                print(f"  cost {pool:7} {kind:6} {cpu_ms:5.2f} ms CPU/task", flush=True)
            worker.measure()
        finally:
            worker.stop()
    return rows


def suite_coop(pools) -> list[dict]:
    """1 s blocking-style calls ×100 per kind: does any of them block the gevent hub?"""
    rows = []
    env = load_env(200, db_pool="25+0")          # Postgres max_connections=100 is shared: 25 is polite
    phases = [[("pg_sleep", 1, 100)], [("redis_blpop", 1, 100)], [("llm", 1, 100)], [("http", 1, 100)],
              [("pg_sleep", 1, 100), ("llm", 1, 100)]]
    for pool in pools:
        rows += run_probes(pool, 200, phases, env, label="coop")
    if "gevent" in pools:                        # control: force psycopg's blocking C wait under gevent
        rows += run_probes("gevent", 200, [[("pg_sleep", 1, 10), ("llm", 1, 10)]],
                           {**env, "PSYCOPG_WAIT_FUNC": "wait_c"}, label="coop-wait_c")
    return rows


def suite_limits(pools) -> list[dict]:
    """One 5 s call with soft_time_limit=1, time_limit=2, then two quick tasks."""
    return [run_limit_probe(pool, kind) for pool in pools for kind in ("llm", "pg_sleep", "block")]


def suite_sizing(fake, pools) -> list[dict]:
    """One knob at a time at c=500, N=1000 (gevent with prefetch 2, threads with prefetch 1)."""
    rows = []
    for pool in pools:
        pf = {"POOLBENCH_PREFETCH": "2" if pool == "gevent" else "1"}
        for db_pool in ("2+0", "5+0", "10+0", "20+0", "default"):
            rows.append(run_load(fake, pool, 500, 1000, {**load_env(500, db_pool=db_pool), **pf},
                                 label=f"SQLAlchemy pool {db_pool}"))
        rows.append(run_load(fake, pool, 500, 1000, {**load_env(500, http_pool=0), **pf},
                             label="openai/requests default pools"))
        rows.append(run_load(fake, pool, 500, 1000, {**load_env(500, redis_pool=0), **pf},
                             label="redis-py default pool"))
        rows.append(run_load(fake, pool, 200, 400, {**load_env(200, db_pool="10+0", hold_db=True), **pf},
                             label="DB conn held across LLM, pool 10"))
    return rows


# --- report -----------------------------------------------------------------------------------------
def median_rows(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["pool"], r["prefetch"], r["procs"], r["conc"], r["n"]), []).append(r)
    out = []
    for (pool, prefetch, procs, conc, n), rs in groups.items():
        m = {k: statistics.median(r[k] for r in rs) for k, v in rs[0].items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
        m.update(pool=pool, prefetch=prefetch, procs=procs, conc=conc, n=n, errors=sum(r["errors"] for r in rs), runs=len(rs),
                 wall_range=(min(r["wall_s"] for r in rs), max(r["wall_s"] for r in rs)))
        out.append(m)
    return out


def load_table(rows: list[dict], first_col: str = "") -> str:
    head = ("| " + (f"{first_col} | " if first_col else "") + "procs × pool (prefetch) | c total | N | wall s | overhead s | "
            "max in flight | N·1s/wall | enq→start p50/p95 ms (all) | (1st wave) | LLM call p50/p95 ms | DB wait p95 ms | "
            "RSS idle→peak MB | CPU s (ms/task) | max lag ms | reserved max | TCP conns | errors |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        first = f"{r.get('label', '')} | " if first_col else ""
        lines.append(
            f"| {first}{r['procs']} × {r['pool']} ({r['prefetch']}) | {r['conc']} | {r['n']} | {r['wall_s']:.2f} | {r['overhead_s']:.2f} | "
            f"{r['server_max_inflight']:.0f} | {r['eff_inflight']:.0f} | "
            f"{r['start_p50_ms']:.0f} / {r['start_p95_ms']:.0f} | {r['start1_p50_ms']:.0f} / {r['start1_p95_ms']:.0f} | "
            f"{r['llm_p50_ms']:.0f} / {r['llm_p95_ms']:.0f} | "
            f"{r['db_wait_p95_ms']:.0f} | {r['rss_idle_mb']:.0f}→{r['rss_peak_mb']:.0f} | "
            f"{r['cpu_s']:.2f} ({r['cpu_ms_per_task']:.1f}) | {r['lag_max_ms']:.0f} | {r['unacked_max']:.0f} | "
            f"{r['tcp_connections']:.0f} | "
            f"{r['errors']} |")
    return "\n".join(lines)


def report(results: dict) -> None:
    print("\n## machine\n" + json.dumps(results["machine"], indent=1))
    if results.get("main"):
        print("\n## main (median of runs)\n" + load_table(median_rows(results["main"])))
    if results.get("slow"):
        print("\n## slow (5 s LLM calls)\n" + load_table(results["slow"]))
    if results.get("httppool"):
        print("\n## httppool\n" + load_table(results["httppool"], first_col="scenario"))
    if results.get("sizing"):
        print("\n## sizing\n" + load_table(results["sizing"], first_col="scenario"))
        for r in results["sizing"]:
            if r["error_kinds"]:
                print(f"  {r['label']} {r['pool']}: {r['error_kinds']}")
    if results.get("cost"):
        print("\n## cost (CPU ms per task, 0 s latency, -c 50)\n| call | threads | gevent |\n|---|---|---|")
        by = {(r["pool"], r["kind"]): r for r in results["cost"]}
        for r in results["cost"]:
            if r["pool"] == results["cost"][0]["pool"]:
                cells = [f"{by[(p, r['kind'])]['cpu_ms_per_task']:.2f}" if (p, r["kind"]) in by else "—"
                         for p in ("threads", "gevent")]
                print(f"| {r['kind']}: {r['what']} | " + " | ".join(cells) + " |")
    if results.get("coop"):
        print("\n## coop\n| scenario | pool | phase | kind | wall s | max lag ms | errors | psycopg wait |")
        print("|---|---|---|---|---|---|---|---|")
        for r in results["coop"]:
            print(f"| {r['label']} | {r['pool']} | {r['phase']} | {r['kind']} | {r['wall_s']:.2f} | "
                  f"{r['lag_max_ms']:.0f} | {r['errors']} | {r['psycopg_wait']} |")
    if results.get("limits"):
        print("\n## limits (5 s call, soft_time_limit=1, time_limit=2)\n"
              "| pool | call | outcome | ended after s | 'Hard time limit' logged | pg_sleep still running "
              "at 2.5 s | next tasks | worker alive |\n|---|---|---|---|---|---|---|---|")
        for r in results["limits"]:
            ended = "—" if r["ended_after_s"] is None else f"{r['ended_after_s']:.1f}"
            print(f"| {r['pool']} | {r['kind']} | {r['outcome']} | {ended} | {bool(r['log_hard'])} | "
                  f"{r['pg_sleep_still_running_at_2.5s']} | {', '.join(r['health_after'])} | {r['worker_alive']} |")


def machine() -> dict:
    pkgs = ["celery", "kombu", "redis", "psycopg", "SQLAlchemy", "openai", "httpx2", "gevent", "greenlet",
            "requests", "urllib3"]
    with psycopg.connect(PG_ADMIN) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "mem_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "postgres_server": pg, "redis_server": rds.info("server")["redis_version"],
            **{f"{p}-py" if p == "redis" else p: version(p) for p in pkgs}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="main,slow,cost,coop,limits,sizing,httppool")
    parser.add_argument("--pools", default="threads,gevent")
    parser.add_argument("--conc", default="50,200,500")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results.json"))
    parser.add_argument("--report", metavar="JSON", help="only print the tables of a saved run")
    args = parser.parse_args()
    if args.report:
        report(json.loads(Path(args.report).read_text()))
        return
    suites, pools = args.suite.split(","), args.pools.split(",")
    concs = [int(c) for c in args.conc.split(",")]
    results: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    runners = {"main": lambda: suite_main(fake, pools, concs, args.repeats), "slow": lambda: suite_slow(fake, pools),
               "cost": lambda: suite_cost(pools), "coop": lambda: suite_coop(pools),
               "limits": lambda: suite_limits(pools), "sizing": lambda: suite_sizing(fake, pools),
               "httppool": lambda: suite_httppool(fake, pools)}
    create_db()
    fake = FakeServer()
    try:
        for suite in suites:
            print(f"{suite}: {(globals()['suite_' + suite].__doc__ or '').strip()}", flush=True)
            results[suite] = runners[suite]()
            Path(args.out).write_text(json.dumps(results, indent=1))      # keep what is done so far
    finally:
        fake.stop()
        drop_db()
        rds.flushdb()
    report(results)


if __name__ == "__main__":
    main()
