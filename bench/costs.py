"""Per-turn costs of a text-only workload: SQL statements and Redis round trips made by sdr code,
and the Celery broker's Redis commands.

The worker counts sdr's own SQL statements and Redis round trips (``sdr.accounting``) and writes
them to ``SDR_ACCOUNTING_DIR`` on a warm shutdown. To get a figure for text-message turns only,
the worker that served the earlier phases is stopped, a fresh one answers ``cost_leads`` new leads
(one text message each) and is stopped in turn: its counters divided by its turns are the
per-turn costs (its start-up, one statement, is included).

Broker commands come from two sources over the same window: ``INFO commandstats`` deltas (server
wide: every client of the Redis server, sdr's scripts and the commands those scripts run
included) and ``MONITOR`` lines of the run's own database index, where sdr's script calls
(EVALSHA/EVAL/SCRIPT) and the commands run inside scripts (``lua``) are told apart from the rest,
which is Celery's traffic: the web's publishes, the worker's fetches, acks, ETA bookkeeping and
task events, and beat's and the jobs worker's periodic tasks.

Postgres transactions over the same window come from ``pg_stat_database`` for the run's own
database: the worker's and the web's (one INSERT per message), each unit of work being one
transaction, and each connection checkout's pre-ping (``SELECT 1``) another.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench import workload
from bench.rig import Rig

COST_PHASE = 60
COST_RATE = 20.0
STATS_SETTLE = 11.0  # Postgres flushes an idle backend's statistics within 10 s
SDR_COMMANDS = {"evalsha", "eval", "script", "evalsha_ro", "eval_ro"}


@dataclass(frozen=True)
class Accounting:
    files: int
    sql: int
    redis: int


@dataclass(frozen=True)
class CostResult:
    turns: int
    accounting: Accounting
    whole_run: Accounting  # the first worker: every earlier phase, including orphaned messages
    commandstats_total: int  # server-wide delta over the window
    commandstats_top: list[tuple[str, int]]
    monitor: Counter  # our database: "sdr", "lua", and broker commands by name
    monitor_ok: bool
    postgres_xacts: int  # pg_stat_database commits + rollbacks of the run's database over the window

    @property
    def sql_per_turn(self) -> float:
        return self.accounting.sql / self.turns if self.turns else float("nan")

    @property
    def redis_per_turn(self) -> float:
        return self.accounting.redis / self.turns if self.turns else float("nan")

    @property
    def broker_commands(self) -> int:
        return sum(n for name, n in self.monitor.items() if name not in ("sdr", "lua"))

    @property
    def broker_per_turn(self) -> float:
        return self.broker_commands / self.turns if self.turns else float("nan")

    def broker_top(self, n: int = 8) -> list[tuple[str, int]]:
        return [(k, v) for k, v in self.monitor.most_common() if k not in ("sdr", "lua")][:n]


def read_accounting(directory: Path) -> Accounting:
    files = sorted(directory.glob("worker-*.json"))
    totals = [json.loads(path.read_text()) for path in files]
    for path in files:
        path.unlink()
    return Accounting(len(files), sum(t.get("sql", 0) for t in totals), sum(t.get("redis", 0) for t in totals))


def postgres_xacts(rig: Rig) -> int:
    row = rig.sql("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
    return int(row[0][0])


def commandstats(client: redis.Redis) -> Counter:
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()})


@dataclass
class Monitor:
    """Counts the commands MONITOR shows for one database index, in a thread of its own."""

    url: str
    db: int
    counts: Counter = field(default_factory=Counter)
    ok: bool = True

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-monitor", daemon=True)

    def start(self) -> "Monitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=10, socket_connect_timeout=3)
        connection = client.connection_pool.get_connection()
        try:
            connection.send_command("MONITOR")
            connection.read_response()
            while not self._stop.is_set():
                if not connection.can_read(timeout=0.5):
                    continue
                line = connection.read_response()
                self._count(line.decode(errors="replace") if isinstance(line, bytes) else str(line))
        except redis.RedisError:
            self.ok = False
        finally:
            connection.disconnect()
            client.close()

    def _count(self, line: str) -> None:
        # 1700000000.123456 [15 127.0.0.1:5555] "EVALSHA" "..."   or   [15 lua] "hget" ...
        _, _, rest = line.partition(" [")
        info, _, args = rest.partition("] ")
        db, _, client = info.partition(" ")
        if not db.isdigit() or int(db) != self.db or not args.startswith('"'):
            return
        name = args[1:args.find('"', 1)].lower()
        self.counts["lua" if client == "lua" else "sdr" if name in SDR_COMMANDS else name] += 1


def measure_costs(rig: Rig) -> CostResult:
    accounting_dir = rig.workdir / "accounting"
    rig.wait_idle(120)
    rig.fleet.stop("worker")
    whole_run = read_accounting(accounting_dir)
    rig.fleet.start("worker")
    time.sleep(STATS_SETTLE)
    xacts, own = postgres_xacts(rig), rig.queries
    server = redis.Redis.from_url(rig.redis.base + "/0", socket_timeout=10)
    monitor = Monitor(rig.redis.base + "/0", rig.redis.index).start()
    before = commandstats(server)
    messages = workload.steady(COST_PHASE, COST_RATE, rig.params.cost_leads / COST_RATE)
    rig.drive(messages, "costs")
    rig.wait_answered(COST_PHASE, len(messages), rig.params.quiet + 2 * rig.params.llm_latency + 120)
    rig.wait_idle(60)
    delta = commandstats(server) - before
    monitor.stop()
    server.close()
    turns = int(rig.sql("SELECT count(*) FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                        "JOIN leads l ON l.id = c.lead_id WHERE l.address LIKE %s AND t.status = 'done'",
                        workload.phase_prefix(COST_PHASE) + "%")[0][0])
    rig.fleet.stop("worker")
    time.sleep(STATS_SETTLE)
    xacts = postgres_xacts(rig) - xacts - (rig.queries - own)  # minus the benchmark's own queries
    return CostResult(turns, read_accounting(accounting_dir), whole_run, sum(delta.values()),
                      delta.most_common(10), monitor.counts, monitor.ok, xacts)
