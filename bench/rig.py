"""Everything a measurement needs, set up once per run and torn down on any exit: the throwaway
database, the claimed Redis index, the two stand-ins, the fleet, and ways to drive and observe them.

``open_rig`` registers every teardown step on an ``ExitStack`` as soon as the thing it undoes
exists, so a failure or Ctrl-C at any point stops every process the run started and drops what it
created.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import loadgen, services, workload
from bench.fleet import Fleet, wait_until
from standins.launch import StandIn, start

# Settings from the caller's environment that would change what is measured; the run sets its own.
STRIPPED_PREFIXES = ("SDR_", "OPENAI_", "EVOLUTION_", "CELERY_", "FLOWER_", "WEB_")
STRIPPED = ("DATABASE_URL", "REDIS_URL", "PORT")
EVOLUTION_KEY = "bench-evolution-key"


@dataclass
class Params:
    llm_latency: float = 1.0
    quiet: float = 2.0
    ack_rate: float = 200.0
    ack_seconds: float = 20.0
    ack_burst: int = 4  # messages per lead in the ack phase
    step_rates: tuple[float, ...] = (200, 400, 600, 800, 1000, 1200, 1500, 2000)
    step_seconds: float = 8.0
    conversations: int = 200
    burst_gap: float = 0.3
    intake_rate: float = 50.0
    intake_seconds: float = 60.0
    soak_seconds: float = 180.0
    soak_rate: float = 15.0
    soak_interval: float = 5.0
    cost_leads: int = 100
    env: dict[str, str] = field(default_factory=dict)
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    keep_workdir: bool = False


class Rig:
    def __init__(self, params: Params, workdir: Path) -> None:
        self.params = params
        self.workdir = workdir
        self.database: services.Database
        self.redis: services.RedisIndex
        self.llm: StandIn
        self.evolution: StandIn
        self.fleet: Fleet
        self.env: dict[str, str] = {}
        self._conn: psycopg.Connection[Any] | None = None
        self.queries = 0  # statements the benchmark itself ran (each its own transaction)

    # -- driving ---------------------------------------------------------------------------------------------
    def drive(self, messages: list[workload.Message], name: str,
              instance: str = workload.INSTANCE) -> loadgen.Drive:
        plan = workload.plan(messages, "127.0.0.1", self.fleet.port, self.env["EVOLUTION_WEBHOOK_SECRET"], instance)
        result = loadgen.drive(plan, self.workdir, name)
        self.fleet.check_alive()
        return result

    # -- observing -------------------------------------------------------------------------------------------
    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database.url, autocommit=True, connect_timeout=5)
        self.queries += 1
        return self._conn.execute(query, args).fetchall()  # type: ignore[arg-type]

    def backlog(self) -> tuple[int, int, int]:
        """(running turns, conversations owed an answer, stored messages not yet routed)."""
        row = self.sql("""
            SELECT (SELECT count(*) FROM turns WHERE status = 'running'),
                   (SELECT count(*) FROM conversations WHERE last_inbound_id > watermark_id AND status = 'bot'),
                   (SELECT count(*) FROM messages WHERE conversation_id IS NULL AND status = 'received')""")[0]
        return int(row[0]), int(row[1]), int(row[2])

    def wait_idle(self, timeout: float) -> float:
        """Wait until nothing is running or owed (twice in a row); the seconds it took."""
        began = time.monotonic()
        calm = [0]

        def idle() -> bool:
            self.fleet.check_alive()
            calm[0] = calm[0] + 1 if self.backlog() == (0, 0, 0) else 0
            return calm[0] >= 2

        wait_until(idle, timeout, "the fleet to finish its work", interval=0.5)
        return time.monotonic() - began

    def answered(self, phase: int) -> int:
        """Leads of `phase` whose every routed message has been answered."""
        return int(self.sql("""
            SELECT count(*) FROM conversations c JOIN leads l ON l.id = c.lead_id
            WHERE l.address LIKE %s AND c.last_inbound_id > 0 AND c.watermark_id >= c.last_inbound_id""",
                            workload.phase_prefix(phase) + "%")[0][0])

    def wait_answered(self, phase: int, leads: int, timeout: float) -> None:
        def done() -> bool:
            self.fleet.check_alive()
            return self.answered(phase) >= leads and self.backlog()[2] == 0

        wait_until(done, timeout, f"replies to all {leads} leads of phase {phase}", interval=0.5)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def fleet_env(rig: Rig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_PREFIXES) and k not in STRIPPED}
    env.update({
        "DATABASE_URL": rig.database.url,
        "REDIS_URL": rig.redis.url,
        "OPENAI_API_KEY": "stand-in",
        "OPENAI_BASE_URL": rig.llm.url + "/v1",
        "EVOLUTION_API_URL": rig.evolution.url,
        "EVOLUTION_API_KEY": EVOLUTION_KEY,
        "EVOLUTION_INSTANCE": workload.INSTANCE,
        "EVOLUTION_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "SDR_SANDBOX_SECRET": secrets.token_urlsafe(24),
        "SDR_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "SDR_BUFFER_QUIET_SECONDS": str(rig.params.quiet),
        "SDR_BEAT_SCHEDULE_FILE": str(rig.workdir / "beat-schedule"),
    })
    env.update(rig.params.env)
    return env


def open_rig(params: Params, workdir: Path, stack: contextlib.ExitStack, say: Any) -> Rig:
    rig = Rig(params, workdir)
    say(f"Postgres {services.check_postgres(params.database_url)}, Redis {services.check_redis(params.redis_url)}")
    rig.database = services.throwaway_database(params.database_url)
    stack.callback(rig.database.drop)
    rig.redis = services.claim_redis_index(params.redis_url)
    stack.callback(rig.redis.release)
    say(f"database {rig.database.name}, Redis index {rig.redis.index}")
    rig.llm = stack.enter_context(start("llm", latency=params.llm_latency, max_records=200))
    rig.evolution = stack.enter_context(start("evolution", api_key=EVOLUTION_KEY, max_records=500_000))
    rig.env = fleet_env(rig)
    rig.database.migrate(rig.env)
    stack.callback(rig.close)
    (workdir / "accounting").mkdir(exist_ok=True)
    rig.fleet = Fleet(rig.env, workdir, {"worker": {"SDR_ACCOUNTING_DIR": str(workdir / "accounting")}})
    stack.callback(rig.fleet.stop_all)
    say("starting the fleet: " + ", ".join(rig.fleet.commands))
    rig.fleet.start()
    return rig
